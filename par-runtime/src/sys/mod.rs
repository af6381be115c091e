//! Every system call and every `unsafe` block of par, as small safe functions returning
//! `io::Result` (errno converted right after each call).
//!
//! `unix` is the real thing. `fallback` (non-Unix targets, or `--cfg par_fallback_sys` to test
//! it on Unix) has no processes: every loop runs inline (see `mode::workers`), its process
//! functions only return `Unsupported`, and shared memory is ordinary memory.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::io;
use std::sync::atomic::AtomicU64;

#[cfg(any(not(unix), par_fallback_sys))]
mod fallback;
#[cfg(all(unix, not(par_fallback_sys)))]
mod unix;

#[cfg(any(not(unix), par_fallback_sys))]
pub(crate) use fallback::*;
#[cfg(all(unix, not(par_fallback_sys)))]
pub(crate) use unix::*;

/// One fd to watch in `poll`.
#[cfg_attr(any(not(unix), par_fallback_sys), allow(dead_code))] // never polled without fork
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    pub(crate) fd: RawFd,
    pub(crate) read: bool,
    pub(crate) write: bool,
    /// Set by poll: readable, or end of file / error pending (a read will tell which).
    pub(crate) readable: bool,
    /// Set by poll: writable, or the reader is gone (a write will say EPIPE).
    pub(crate) writable: bool,
}

impl Watch {
    pub(crate) fn new(fd: RawFd, read: bool, write: bool) -> Self {
        Watch {
            fd,
            read,
            write,
            readable: false,
            writable: false,
        }
    }
}

/// How a process ended.
#[cfg_attr(any(not(unix), par_fallback_sys), allow(dead_code))] // no children without fork
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Exited(i32),
    Signaled(i32),
}

/// True where loops can fork workers.
pub(crate) const CAN_FORK: bool = cfg!(all(unix, not(par_fallback_sys)));

/// A zero-filled region created before a fork, so that parent and workers see the same bytes
/// (`MAP_SHARED` on Unix). Used for the per-worker progress slots and the shared-memory output
/// mode.
#[derive(Debug)]
pub(crate) struct Shared {
    ptr: *mut u8,
    len: usize,
}

impl Shared {
    /// A zero-filled shared region of at least `len` bytes, page-aligned.
    pub(crate) fn new(len: usize) -> io::Result<Self> {
        let len = len.max(1);
        Ok(Shared {
            ptr: map_shared(len)?,
            len,
        })
    }

    /// The region as `n` atomic u64 slots (`n * 8 <= len`).
    pub(crate) fn slots(&self) -> &[AtomicU64] {
        let n = self.len / 8;
        // SAFETY: the region is page-aligned, zero-filled and valid for `len` bytes for as long
        // as `self` lives; AtomicU64 allows shared mutation through `&`, and every access from
        // any process goes through atomics.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<AtomicU64>(), n) }
    }

    /// Size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The region's first `n` values of `T`, read-only. Taking `&mut self` guarantees that no
    /// [`Shared::with_mut`] view exists in this process while the slice lives.
    pub(crate) fn as_slice<T: Plain>(&mut self, n: usize) -> &[T] {
        assert!(
            n * std::mem::size_of::<T>() <= self.len,
            "shared slice out of bounds"
        );
        // SAFETY: in bounds (asserted), page-aligned so aligned for any Plain type, every bit
        // pattern is a valid Plain value, and `&mut self` excludes mutable views here.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<T>(), n) }
    }

    /// Runs `f` on values `start..start + n` of `T`, mutably. `&mut self` makes the view
    /// exclusive within this process; other processes writing the same range is a logic error
    /// of the caller (the values are then unspecified, never invalid: `T` is `Plain`).
    pub(crate) fn with_mut<T: Plain, R>(
        &mut self,
        start: usize,
        n: usize,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> R {
        let end = start.checked_add(n).expect("shared slice range overflows");
        assert!(
            end * std::mem::size_of::<T>() <= self.len,
            "shared slice out of bounds"
        );
        // SAFETY: in bounds and aligned (asserted above; page-aligned base), every bit pattern
        // is a valid `T`, and `&mut self` ensures no other view of the region in this process.
        let s = unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<T>().add(start), n) };
        f(s)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        unmap_shared(self.ptr, self.len);
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A plain value type for [`SharedVec`](crate::SharedVec): `Copy`, no padding, no pointers,
/// and every bit pattern valid (integers, floats, and arrays of them).
pub trait Plain: Copy + Default + 'static + sealed::Sealed {}

macro_rules! plain {
    ($($t:ty)*) => {$(
        impl sealed::Sealed for $t {}
        impl Plain for $t {}
    )*};
}
plain!(u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize f32 f64);
impl<T: Plain, const N: usize> sealed::Sealed for [T; N] {}
impl<T: Plain, const N: usize> Plain for [T; N] where [T; N]: Default {}
