//! Every system call and every `unsafe` block of par, as small safe functions returning
//! `io::Result` (errno converted right after each call). No safe function here takes a raw fd
//! or a raw pointer to act on: fds come as `impl AsFd` (an [`Fd`] or a `BorrowedFd`), pids as
//! nix's `Pid`.
//!
//! `unix` is the real thing. `fallback` (non-Unix targets, or `--cfg par_fallback_sys` to test
//! it on Unix) has no processes: every loop runs inline (see `mode::here`), its process
//! functions only return `Unsupported`, and shared memory is ordinary memory.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::io;
use std::sync::atomic::AtomicU64;

mod affinity;
#[cfg(any(not(unix), par_fallback_sys))]
mod fallback;
pub(crate) mod memfd;
#[cfg(all(unix, not(par_fallback_sys)))]
mod unix;
mod vm;

pub(crate) use affinity::{CpuMask, Group, allowed_cpus, pin, topology_list};
#[cfg(any(not(unix), par_fallback_sys))]
pub(crate) use fallback::*;
#[cfg(all(unix, not(par_fallback_sys)))]
pub(crate) use unix::*;
pub(crate) use vm::{Staging, discard, plain_bytes_mut, prefault_read, prefault_write};

/// One fd to watch in `poll`.
#[cfg_attr(any(not(unix), par_fallback_sys), allow(dead_code))] // never polled without fork
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    /// Only the number, taken from a borrow in [`Watch::new`], so that callers can act on
    /// their fds between polls (poll(2) reads numbers; one closed since is reported, not used).
    fd: RawFd,
    pub(crate) read: bool,
    pub(crate) write: bool,
    /// Set by poll: readable, or end of file / error pending (a read will tell which).
    pub(crate) readable: bool,
    /// Set by poll: writable, or the reader is gone (a write will say EPIPE).
    pub(crate) writable: bool,
}

impl Watch {
    pub(crate) fn new(fd: impl AsFd, read: bool, write: bool) -> Self {
        Watch {
            fd: fd_number(fd.as_fd()),
            read,
            write,
            readable: false,
            writable: false,
        }
    }

    /// The watched fd's number, to find whose it is (compare with [`Fd::raw`]).
    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }
}

/// How a process ended.
#[cfg_attr(any(not(unix), par_fallback_sys), allow(dead_code))] // no children without fork
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Exited(i32),
    Signaled(Sig),
}

/// The signal that ended a process: nix's [`Signal`] where it has one, else its number (the
/// real-time signals, which `Signal` has no variants for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sig {
    Named(Signal),
    Unnamed(i32),
}

impl Sig {
    pub(crate) fn from_number(number: i32) -> Self {
        signal(number).map_or(Sig::Unnamed(number), Sig::Named)
    }

    /// The signal's number, as `kill -l` gives it.
    #[cfg_attr(any(not(unix), par_fallback_sys), allow(dead_code))] // no children without fork
    pub(crate) fn number(self) -> i32 {
        match self {
            Sig::Named(s) => signal_number(s),
            Sig::Unnamed(n) => n,
        }
    }
}

/// The signal's name: `SIGKILL`, `SIGUSR1`, `SIGRTMIN+3`, or `unknown signal`.
impl std::fmt::Display for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Sig::Named(s) => f.write_str(s.as_str()),
            Sig::Unnamed(n) => match realtime_offset(n) {
                Some(0) => f.write_str("SIGRTMIN"),
                Some(k) => write!(f, "SIGRTMIN+{k}"),
                None => f.write_str("unknown signal"),
            },
        }
    }
}

/// True where loops can fork workers.
pub(crate) const CAN_FORK: bool = cfg!(all(unix, not(par_fallback_sys)));

/// Bytes between two progress slots in a [`Shared`] region: two cache lines, so that neither
/// a shared line nor the adjacent-line prefetcher couples two workers.
pub(crate) const SLOT_STRIDE: usize = 128;

/// A zero-filled region created before a fork, so that parent and workers see the same bytes
/// (`MAP_SHARED` on Unix). Used for the per-worker progress slots and the shared-memory output
/// mode.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Shared with the [`SlotReader`]s made from it (none while a mutable view exists).
    map: std::sync::Arc<Mapping>,
    len: usize,
}

impl Shared {
    /// A zero-filled shared region of at least `len` bytes, page-aligned.
    // `Mapping` is not `Send`/`Sync`: the `Arc` crosses threads only inside a `SlotReader`,
    // which may (see its `unsafe impl`s); a `Shared` itself stays on its thread.
    #[allow(clippy::arc_with_non_send_sync)]
    pub(crate) fn new(len: usize) -> io::Result<Self> {
        let len = len.max(1);
        Ok(Shared {
            map: std::sync::Arc::new(Mapping::new(len)?),
            len,
        })
    }

    /// A handle that another thread of this process may hold, to load the region's progress
    /// slots while this one is busy (a stream's watchdog); it keeps the mapping alive.
    pub(crate) fn reader(&self) -> SlotReader {
        SlotReader {
            map: self.map.clone(),
            len: self.len,
        }
    }

    /// Slot `i` of a region made of [`SLOT_STRIDE`]-byte slots: an atomic u64 alone on its
    /// cache line (and the adjacent-line prefetch pair), so that one worker storing into its
    /// slot on every item never takes the line from another worker's core (false sharing made
    /// a 2-worker float sum 2-3x slower than with padded slots).
    pub(crate) fn slot(&self, i: usize) -> &AtomicU64 {
        let at = i.checked_mul(SLOT_STRIDE).expect("slot index overflows");
        assert!(at + 8 <= self.len, "slot {i} out of bounds");
        // SAFETY: in bounds (asserted); `at` is a multiple of 128 from a page-aligned base, so
        // the pointer is aligned for AtomicU64; the region is zero-filled (a valid u64) and
        // lives as long as `self`; AtomicU64 allows shared mutation through `&`, and every
        // access from any process goes through atomics.
        unsafe { &*self.ptr().add(at).cast::<AtomicU64>() }
    }

    /// The writing end of slot `i`, for the one worker that owns it (see [`SlotWriter`]).
    pub(crate) fn writer(&self, i: usize) -> SlotWriter {
        let slot = self.slot(i);
        SlotWriter {
            ptr: std::ptr::NonNull::from(slot).cast::<u64>(),
        }
    }

    /// The region's first byte, page-aligned, valid for `len` bytes while `self` lives.
    fn ptr(&self) -> *mut u8 {
        self.map.ptr().as_ptr()
    }

    /// Size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The region's first `n` values of `T`, read-only. Taking `&mut self` guarantees that no
    /// [`Shared::with_mut`] view exists in this process while the slice lives.
    pub(crate) fn as_slice<T: Pod>(&mut self, n: usize) -> &[T] {
        assert!(
            n * std::mem::size_of::<T>() <= self.len,
            "shared slice out of bounds"
        );
        // SAFETY: in bounds (asserted), page-aligned so aligned for any Pod type, every bit
        // pattern is a valid Pod value, and `&mut self` excludes mutable views here (a
        // `SlotReader` only loads, through atomics).
        unsafe { std::slice::from_raw_parts(self.ptr().cast::<T>(), n) }
    }

    /// Runs `f` on values `start..start + n` of `T`, mutably. `&mut self` makes the view
    /// exclusive within this process; other processes writing the same range is a logic error
    /// of the caller (the values are then unspecified, never invalid: `T` is `Pod`).
    pub(crate) fn with_mut<T: Pod, R>(
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
        assert!(
            std::sync::Arc::strong_count(&self.map) == 1,
            "a mutable view of a region that a SlotReader can read"
        );
        // SAFETY: in bounds and aligned (asserted above; page-aligned base), every bit pattern
        // is a valid `T`, `&mut self` ensures no other view of the region in this process, and
        // no `SlotReader` of it exists (asserted; none can be made while `&mut self` is held).
        let s = unsafe { std::slice::from_raw_parts_mut(self.ptr().cast::<T>().add(start), n) };
        f(s)
    }
}

/// A second handle on a [`Shared`] region of progress slots ([`Shared::reader`]), for another
/// thread: it only loads slots, atomically, and keeps the mapping alive while it lives.
#[derive(Debug)]
pub(crate) struct SlotReader {
    map: std::sync::Arc<Mapping>,
    len: usize,
}

// SAFETY: a `SlotReader` gives access to the mapping only through `AtomicU64` loads (`load`),
// which any thread may do at once; the mapping is freed by whichever thread drops the last
// `Arc` (munmap or dealloc act on the process, not a thread); `Shared::with_mut`, the one
// non-atomic writer in this process, refuses to run while a reader exists (a `SlotWriter`
// writes only in the worker it was made for, another process: see its docs).
unsafe impl Send for SlotReader {}
// SAFETY: as for `Send`: `&SlotReader` only ever loads atomically.
unsafe impl Sync for SlotReader {}

impl SlotReader {
    /// The value of slot `i` (see [`Shared::slot`]).
    pub(crate) fn load(&self, i: usize) -> u64 {
        let at = i.checked_mul(SLOT_STRIDE).expect("slot index overflows");
        assert!(at + 8 <= self.len, "slot {i} out of bounds");
        // SAFETY: as in `Shared::slot`: in bounds (asserted), aligned (a multiple of 128 from a
        // page-aligned base), zero-filled or written through atomics only, alive while the
        // `Arc` is held.
        let slot = unsafe { &*self.map.ptr().as_ptr().add(at).cast::<AtomicU64>() };
        slot.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The bytes of a slice of plain values (for copying them into a frame in one piece).
pub(crate) fn as_bytes<T: Pod>(values: &[T]) -> &[u8] {
    // SAFETY: `Pod` types have no padding and no pointers, so every byte of the slice is
    // initialised; u8 has alignment 1 and the length is the slice's size in bytes.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    }
}

/// A `Vec` of `n` plain values made from the first `n * size_of::<T>()` bytes of `bytes` in
/// one copy, without zero-filling the new buffer first (`bytes` holds the values' native
/// representation; callers check endianness). Panics if `bytes` is too short.
pub(crate) fn vec_from_bytes<T: Pod>(bytes: &[u8], n: usize) -> Vec<T> {
    let size = n
        .checked_mul(std::mem::size_of::<T>())
        .expect("size overflows");
    let bytes = &bytes[..size];
    let mut v: Vec<T> = Vec::with_capacity(n);
    // SAFETY: the capacity holds `n` values, i.e. `size` bytes, and `bytes` has exactly `size`
    // bytes in a different allocation; `T` is `Pod`, so any bytes are a valid `T` and the
    // first `n` values are initialised once copied, which is when the length is set.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr().cast::<u8>(), size);
        v.set_len(n);
    }
    v
}

/// A caller's `&mut [T]` from which disjoint parts are handed out as `&mut` one at a time,
/// each element at most once per process: what an in-place loop gives its body (the parent's
/// slice inline, the worker's copy of it after the fork, at the same address). Claims are
/// checked against a bitmap of the elements already handed out, so two live `&mut` to one
/// element can never exist, whatever order the claims come in.
pub(crate) struct Disjoint<'a, T> {
    ptr: std::ptr::NonNull<T>,
    len: usize,
    /// One bit per element: handed out already.
    claimed: std::cell::RefCell<Vec<u64>>,
    _slice: std::marker::PhantomData<&'a mut [T]>,
}

impl<'a, T> Disjoint<'a, T> {
    pub(crate) fn new(slice: &'a mut [T]) -> Self {
        let len = slice.len();
        Disjoint {
            ptr: std::ptr::NonNull::from(slice).cast::<T>(),
            len,
            claimed: std::cell::RefCell::new(vec![0; len.div_ceil(64)]),
            _slice: std::marker::PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Elements `range`, mutably, or `None` if the range is out of bounds or any of its
    /// elements was handed out before.
    pub(crate) fn claim(&self, range: std::ops::Range<usize>) -> Option<&'a mut [T]> {
        if range.start > range.end || range.end > self.len {
            return None;
        }
        let mut claimed = self.claimed.borrow_mut();
        let word = |i: usize| (i / 64, 1u64 << (i % 64));
        // Whole words where the range covers them, single bits at its ends.
        let mut i = range.start;
        while i < range.end {
            let (w, bit) = word(i);
            if i.is_multiple_of(64) && i + 64 <= range.end {
                if claimed[w] != 0 {
                    return None;
                }
                i += 64;
            } else {
                if claimed[w] & bit != 0 {
                    return None;
                }
                i += 1;
            }
        }
        let mut i = range.start;
        while i < range.end {
            let (w, bit) = word(i);
            if i.is_multiple_of(64) && i + 64 <= range.end {
                claimed[w] = !0;
                i += 64;
            } else {
                claimed[w] |= bit;
                i += 1;
            }
        }
        // SAFETY: the range is in bounds of the slice this was made from, which is borrowed
        // mutably for `'a`, so nothing else accesses it meanwhile; its elements were never
        // handed out before (the bitmap, checked and set above under its `RefCell`), so this
        // `&mut` aliases no other one handed out by `self`.
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(range.start), range.len())
        })
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A worker's end of its progress slot: the item it is running, read by the parent (with an
/// atomic load, from its own mapping) to report a death or a timeout at the right item.
///
/// Two kinds of store, so that the per-item path costs nothing measurable:
/// - [`SlotWriter::mark`] is a volatile store: it always reaches memory, in program order.
///   Used where a chunk or a reduction grain starts and ends.
/// - [`SlotWriter::set`] is a plain store, one `mov` to a line no other core writes (slots are
///   [`SLOT_STRIDE`] apart). It is per item. The compiler may keep it in a register inside a
///   loop that makes no call and touches no other memory (a pure arithmetic fold) and store
///   only the last value at the loop's end: such a loop can neither crash nor block on
///   anything but itself, and it vectorises as if the store were not there. Where the body
///   calls anything (which may panic, crash or sleep), the store happens before the call, so
///   the parent sees the exact item.
///
/// The writer is the only accessor of the slot in the worker process; the parent only loads.
#[derive(Debug)]
pub(crate) struct SlotWriter {
    ptr: std::ptr::NonNull<u64>,
}

impl SlotWriter {
    /// Publishes `value` now (a volatile store).
    #[inline]
    pub(crate) fn mark(&mut self, value: u64) {
        // SAFETY: `ptr` points at an 8-aligned u64 inside a live shared mapping (see
        // `Shared::slot`; the mapping outlives the worker, which never unmaps it), and in this
        // process nothing else accesses it while `&mut self` is held.
        unsafe { self.ptr.as_ptr().write_volatile(value) }
    }

    /// Records `value` with a plain store (see the type's docs for when it reaches memory).
    #[inline(always)]
    pub(crate) fn set(&mut self, value: u64) {
        // SAFETY: as in `mark`. Another process reading the location concurrently is outside
        // this process' memory model: this process is its only accessor, and an aligned 8-byte
        // store is never torn on the targets par forks on.
        unsafe { self.ptr.as_ptr().write(value) }
    }
}

/// A type whose values are their bytes: `Copy`, no padding, no pointers, and every bit pattern
/// valid (integers, floats, and arrays of them). What makes the `unsafe` views of this module
/// sound; users know it as [`Plain`](crate::Plain), its public name (`Pod` itself cannot be
/// named outside the crate, and `Sealed` keeps other types out).
pub trait Pod: Copy + Default + 'static + sealed::Sealed {}

macro_rules! plain {
    ($($t:ty)*) => {$(
        impl sealed::Sealed for $t {}
        impl Pod for $t {}
    )*};
}
plain!(u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize f32 f64);
impl<T: Pod, const N: usize> sealed::Sealed for [T; N] {}
impl<T: Pod, const N: usize> Pod for [T; N] where [T; N]: Default {}

/// Test support: the unit-test binary's allocator, `System` recording the largest single
/// allocation made on each thread, so that tests can assert that hostile input allocates no
/// more than its bound.
#[cfg(test)]
pub(crate) mod alloc_probe {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    struct Counting;

    thread_local! {
        static LARGEST: Cell<usize> = const { Cell::new(0) };
    }

    fn note(size: usize) {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    }

    // SAFETY: every call is forwarded unchanged to `System`; the bookkeeping allocates nothing.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            // SAFETY: forwarded with the caller's layout, which meets `alloc`'s contract.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System` with this layout (every allocation goes there).
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            // SAFETY: as in `dealloc`; `new_size` is the caller's, per `realloc`'s contract.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// Runs `f` and returns the largest single allocation it made on this thread.
    pub(crate) fn largest_allocation<R>(f: impl FnOnce() -> R) -> (usize, R) {
        LARGEST.with(|l| l.set(0));
        let r = f();
        (LARGEST.with(|l| l.get()), r)
    }
}
