//! The staging region of an in-place loop over plain numbers: a [`Shared`] mapping with room
//! for every element of the caller's slice, made before the fork, that the workers change
//! their chunks in and the parent copies back from once the loop has succeeded (see
//! `loops::in_place`). Only the element types listed in [`is_plain`] get one: their values are
//! their bytes, so a value written by a worker is as valid in the parent, and the zeroed
//! region holds valid values before anything is written.

use std::any::TypeId;
use std::io;
use std::marker::PhantomData;

use super::Shared;

/// True if `T` is one of the plain element types an in-place loop stages in shared memory:
/// the integers and floats, and the small arrays of them that pixels and points are made of.
/// (Compares `TypeId`s, which fold at compile time.)
pub(crate) fn is_plain<T: 'static>() -> bool {
    macro_rules! any_of {
        ($($t:ty),* $(,)?) => { false $(|| TypeId::of::<T>() == TypeId::of::<$t>())* };
    }
    macro_rules! with_arrays {
        ($($t:ty)*) => { false $(|| any_of!($t, [$t; 2], [$t; 3], [$t; 4]))* };
    }
    with_arrays!(u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize f32 f64)
}

/// A zero-filled shared region of `len` values of a plain type `T` (see [`is_plain`]), shared
/// with the workers forked after it was made.
#[derive(Debug)]
pub(crate) struct Staging<T> {
    region: Shared,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: 'static> Staging<T> {
    /// A region for `len` values of `T`; `Ok(None)` if `T` is not a plain type, an error if
    /// the system refuses the mapping.
    pub(crate) fn new(len: usize) -> io::Result<Option<Self>> {
        if !is_plain::<T>() {
            return Ok(None);
        }
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| io::Error::other("staging size overflows"))?;
        let region = Shared::new(bytes)?;
        Ok(Some(Staging {
            region,
            len,
            _t: PhantomData,
        }))
    }

    /// All `len` values, mutably (the borrow of `self` keeps any other view out of this
    /// process while the slice lives).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        assert!(
            self.len * std::mem::size_of::<T>() <= self.region.len(),
            "staging slice out of bounds"
        );
        // SAFETY: `T` is one of the plain types of `is_plain` (checked in `new`, the only
        // constructor): every bit pattern, all zeros included, is a valid `T`, and it has no
        // drop glue. The region is page-aligned (so aligned for `T`), holds `len` values
        // (asserted), and lives as long as `self`; `&mut self` makes this the only view of it
        // in this process. Other processes write it only in ranges this process does not use
        // meanwhile (the in-place loop's protocol), and cannot make a value invalid.
        unsafe { std::slice::from_raw_parts_mut(self.region.ptr().cast::<T>(), self.len) }
    }
}

/// The bytes of `s` if `T` is a plain type (see [`is_plain`]): what lets a copy of plain
/// values be split over threads whatever `T` is.
pub(crate) fn plain_bytes_mut<T: 'static>(s: &mut [T]) -> Option<&mut [u8]> {
    if !is_plain::<T>() {
        return None;
    }
    let len = std::mem::size_of_val(s);
    // SAFETY: plain types have no padding (every byte is initialised) and every bit pattern
    // is a valid value, so any bytes written through the view leave valid `T`s; u8 has
    // alignment 1, and the view borrows `s` mutably, for its exact size in bytes.
    Some(unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<u8>(), len) })
}

/// Gives the system back the pages of a shared region that lie wholly inside `s`
/// (`MADV_REMOVE`): they read as zeros afterwards, in every process that maps them. For a
/// staging region that has been copied out, so that unmapping it later costs nothing and its
/// memory is freed by the thread that used it. Nothing happens elsewhere (private memory,
/// kernels without it).
pub(crate) fn discard(s: &mut [u8]) {
    #[cfg(all(target_os = "linux", not(par_fallback_sys)))]
    {
        let page = page_size();
        let addr = s.as_mut_ptr() as usize;
        let first = addr.next_multiple_of(page);
        let end = (addr + s.len()) & !(page - 1);
        if end <= first {
            return;
        }
        let Some(ptr) = std::ptr::NonNull::new(first as *mut std::ffi::c_void) else {
            return;
        };
        // SAFETY: the range is whole pages inside `s`, which is borrowed mutably: removing them
        // is as if this process wrote zeros over those bytes (valid for bytes), and nothing
        // outside `s` is touched. Other processes mapping the region are done with it (the
        // caller's protocol); an error leaves the pages as they were.
        let _ = unsafe {
            nix::sys::mman::madvise(ptr, end - first, nix::sys::mman::MmapAdvise::MADV_REMOVE)
        };
    }
    #[cfg(not(all(target_os = "linux", not(par_fallback_sys))))]
    let _ = s;
}

#[cfg(all(target_os = "linux", not(par_fallback_sys)))]
fn page_size() -> usize {
    use std::sync::OnceLock;
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|p| usize::try_from(p).ok())
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096)
    })
}

/// Makes the pages of `s` present and writable now, in one system call, instead of one page
/// fault per page at the first write to each (a fresh shared mapping has no page yet, and a
/// fork write-protects every page of the parent's, so both would take a fault per 4 KiB).
/// Changes no byte. Only a hint: nothing happens where the kernel lacks `MADV_POPULATE_WRITE`
/// (before Linux 5.14) or refuses it.
pub(crate) fn prefault_write<T>(s: &mut [T]) {
    populate(s.as_ptr().cast(), std::mem::size_of_val(s), true);
}

/// [`prefault_write`] for reading: maps the pages of `s` that exist elsewhere (a shared
/// region the workers wrote) into this process in one call.
pub(crate) fn prefault_read<T>(s: &[T]) {
    populate(s.as_ptr().cast(), std::mem::size_of_val(s), false);
}

#[cfg(all(target_os = "linux", not(par_fallback_sys)))]
fn populate(start: *const u8, len: usize, write: bool) {
    use nix::sys::mman::{MmapAdvise, madvise};
    let page = page_size();
    if len == 0 {
        return;
    }
    let addr = start as usize;
    let first = addr & !(page - 1);
    let end = (addr + len).next_multiple_of(page);
    let Some(ptr) = std::ptr::NonNull::new(first as *mut std::ffi::c_void) else {
        return;
    };
    let advice = if write {
        MmapAdvise::MADV_POPULATE_WRITE
    } else {
        MmapAdvise::MADV_POPULATE_READ
    };
    // SAFETY: the range is the whole pages holding a live slice, all mapped (the slice's bytes
    // are) and readable, and writable for `write` (the caller holds the slice mutably). The
    // populate advice only faults the pages in as a read or write access would: it writes no
    // byte, so nothing in the range (the slice, or its neighbours on its first and last page)
    // changes or is invalidated. Errors (an old kernel, memory pressure) leave it as it was.
    let _ = unsafe { madvise(ptr, end - first, advice) };
}

#[cfg(not(all(target_os = "linux", not(par_fallback_sys))))]
fn populate(_: *const u8, _: usize, _: bool) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_types_get_a_region() {
        assert!(is_plain::<f64>() && is_plain::<u8>() && is_plain::<[f32; 3]>());
        assert!(!is_plain::<String>() && !is_plain::<(u32, u32)>() && !is_plain::<bool>());
        assert!(Staging::<String>::new(10).unwrap().is_none());
        let mut s = Staging::<u32>::new(1000).unwrap().unwrap();
        let v = s.as_mut_slice();
        assert_eq!(v.len(), 1000);
        assert!(v.iter().all(|&x| x == 0));
        v[999] = 7;
        prefault_write(&mut v[3..900]);
        prefault_read(&v[..]);
        assert_eq!(v[999], 7);
        let bytes = plain_bytes_mut(v).unwrap();
        assert_eq!(bytes.len(), 4000);
        bytes[..4].copy_from_slice(&5u32.to_ne_bytes());
        discard(bytes);
        // Only whole pages inside the slice go, and 4000 bytes hold none.
        let v = s.as_mut_slice();
        assert_eq!((v[0], v[999]), (5, 7));
        assert!(plain_bytes_mut(&mut [String::new()][..]).is_none());
        let mut pages = Staging::<u8>::new(3 * 4096).unwrap().unwrap();
        pages.as_mut_slice().fill(1);
        discard(&mut pages.as_mut_slice()[100..]);
        let p = pages.as_mut_slice();
        assert!(
            p[..4096].iter().all(|&b| b == 1),
            "a page partly outside stays"
        );
        if cfg!(target_os = "linux") && !cfg!(par_fallback_sys) {
            assert!(
                p[4096..].iter().all(|&b| b == 0),
                "whole pages inside are removed"
            );
        }
        let mut empty = Staging::<f64>::new(0).unwrap().unwrap();
        assert!(empty.as_mut_slice().is_empty());
    }
}
