//! Spill files: the memory file (Linux `memfd`) through which a worker hands the parent a
//! large results frame without the pipe (see `par-runtime/src/wire/README.md`, "Large frames").
//!
//! The parent makes one per team before the first fork, so every worker holds it, and gives
//! each worker its own range of offsets ([`REGION`]). A worker appends each
//! large frame's payload at a fresh page-aligned offset of its range (`pwrite`) and then sends a small frame
//! naming the offset and length through its pipe; the parent reads the payload with `pread`,
//! straight into the values' own memory where they are plain numbers, and gives the pages back
//! (`FALLOC_FL_PUNCH_HOLE`) as it goes. Offsets never repeat, so the worker never waits for the
//! parent and the parent never reads bytes that are still being written.
//!
//! Nothing here maps the file: a worker that shrinks, grows or rewrites it can make the parent
//! read zeros or fail a read, never fault (`SIGBUS` is what a mapping past a shrunk end gives),
//! and never race with the parent's memory. The file is sealed against shrinking besides, so
//! holes punched by the parent are the only way its pages go.
//!
//! Elsewhere than Linux (and with `--cfg par_fallback_sys`) there is no spill file:
//! [`spill_file`] says `None` and every frame takes the pipe.

use std::io;

use super::{AsFd, Fd, Pod};

/// Bytes read or written per system call, so that the parent gives the pages it has read back
/// while a large payload still comes in (the file never holds a whole second copy of it).
#[cfg_attr(not(all(target_os = "linux", not(par_fallback_sys))), allow(dead_code))]
const STEP: usize = 64 << 20;

/// The alignment of every payload in a spill file: a page, so that a payload's pages are its
/// own and punching them out leaves its neighbours whole.
pub(crate) const ALIGN: u64 = 4096;

#[cfg(all(target_os = "linux", not(par_fallback_sys)))]
mod imp {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

    use nix::errno::Errno;
    use nix::fcntl::{FallocateFlags, FcntlArg, SealFlag, fallocate, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};

    use super::{ALIGN, Fd, STEP};

    pub(crate) fn spill_file() -> io::Result<Option<Fd>> {
        let made = super::super::unix::registered(|| {
            let fd = memfd_create(
                c"par-results",
                MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
            )?;
            // Sealed before any other process holds it: it can grow, never shrink.
            fcntl(
                &fd,
                FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_SEAL),
            )?;
            Ok(fd)
        });
        match made {
            Ok(fd) => Ok(Some(fd)),
            // Kernels before 3.17, or without tmpfs or sealing: no spill file, the pipe it is.
            Err(e) if [Errno::ENOSYS, Errno::EINVAL].contains(&errno(&e)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn errno(e: &io::Error) -> Errno {
        Errno::from_raw(e.raw_os_error().unwrap_or(0))
    }

    fn offset(at: u64) -> io::Result<libc::off_t> {
        libc::off_t::try_from(at)
            .map_err(|_| io::Error::other(format!("spill file offset {at} is out of range")))
    }

    pub(crate) fn write_at(fd: BorrowedFd<'_>, mut at: u64, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = buf.len().min(STEP);
            // Raw `libc::pwrite`: nix's needs its `uio` feature, which par does not build.
            // SAFETY: `buf` is a live slice of at least `n` readable bytes; `fd` is borrowed
            // open for the call; pwrite only reads the buffer.
            let wrote =
                unsafe { libc::pwrite(fd.as_raw_fd(), buf.as_ptr().cast(), n, offset(at)?) };
            match wrote {
                w if w < 0 => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
                0 => return Err(io::ErrorKind::WriteZero.into()),
                w => {
                    let w = w as usize;
                    buf = &buf[w..];
                    at += w as u64;
                }
            }
        }
        Ok(())
    }

    /// Fills `len` bytes at `dst` from the file at `at`, punching out the pages read behind
    /// it when `discard`.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `len` bytes (initialised or not) and not be read or
    /// written by anything else during the call.
    pub(crate) unsafe fn read_raw(
        fd: BorrowedFd<'_>,
        at: u64,
        dst: *mut u8,
        len: usize,
        discard: bool,
    ) -> io::Result<()> {
        let mut done = 0usize;
        let mut punched = at;
        while done < len {
            let n = (len - done).min(STEP);
            let from = at + done as u64;
            // Raw `libc::pread`: the destination may be uninitialised capacity, which a
            // `&mut [u8]` (what nix's wrapper takes) must not point at.
            // SAFETY: `dst + done .. dst + done + n` lies inside the `len` bytes the caller
            // guarantees writable and unaliased; the kernel writes at most `n` bytes there.
            let got =
                unsafe { libc::pread(fd.as_raw_fd(), dst.add(done).cast(), n, offset(from)?) };
            match got {
                g if g < 0 => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the spill file ends {} bytes before the frame it was said to hold",
                            len - done
                        ),
                    ));
                }
                g => done += g as usize,
            }
            if discard {
                let end = (at + done as u64) & !(ALIGN - 1);
                if end > punched {
                    punch(fd, punched, end - punched);
                    punched = end;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn punch(fd: BorrowedFd<'_>, at: u64, len: u64) {
        let (Ok(at), Ok(len)) = (libc::off_t::try_from(at), libc::off_t::try_from(len)) else {
            return;
        };
        if len == 0 {
            return;
        }
        // Best effort: a refusal leaves the pages to be freed with the file.
        let _ = fallocate(
            fd.as_fd(),
            FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
            at,
            len,
        );
    }

    pub(crate) fn unread(fd: BorrowedFd<'_>, from: u64, to: u64) -> io::Result<u64> {
        use nix::unistd::{Whence, lseek};
        match lseek(fd, offset(from)?, Whence::SeekData) {
            // The first byte still held at or after `from`.
            Ok(first) => Ok(to.saturating_sub(u64::try_from(first).unwrap_or(u64::MAX))),
            // None held past `from`.
            Err(Errno::ENXIO) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(not(all(target_os = "linux", not(par_fallback_sys))))]
mod imp {
    use std::io;

    use super::super::BorrowedFd;
    use super::Fd;

    fn none() -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, "no spill files here")
    }

    pub(crate) fn spill_file() -> io::Result<Option<Fd>> {
        Ok(None)
    }

    pub(crate) fn write_at(_: BorrowedFd<'_>, _: u64, _: &[u8]) -> io::Result<()> {
        Err(none())
    }

    /// # Safety
    /// None needed: nothing is written.
    pub(crate) unsafe fn read_raw(
        _: BorrowedFd<'_>,
        _: u64,
        _: *mut u8,
        _: usize,
        _: bool,
    ) -> io::Result<()> {
        Err(none())
    }

    pub(crate) fn punch(_: BorrowedFd<'_>, _: u64, _: u64) {}

    pub(crate) fn unread(_: BorrowedFd<'_>, _: u64, _: u64) -> io::Result<u64> {
        Err(none())
    }
}

/// A new spill file, registered and close-on-exec, sealed against shrinking; `None` where the
/// system has none (then results take the pipe).
pub(crate) fn spill_file() -> io::Result<Option<Fd>> {
    imp::spill_file()
}

/// Writes all of `buf` at offset `at` of a spill file (growing it as needed).
pub(crate) fn write_at(fd: impl AsFd, at: u64, buf: &[u8]) -> io::Result<()> {
    imp::write_at(fd.as_fd(), at, buf)
}

/// Fills `buf` from offset `at` of a spill file; the file ending first is an error.
pub(crate) fn read_at(fd: impl AsFd, at: u64, buf: &mut [u8]) -> io::Result<()> {
    // SAFETY: `buf` is a live, exclusively borrowed slice of `buf.len()` writable bytes.
    unsafe { imp::read_raw(fd.as_fd(), at, buf.as_mut_ptr(), buf.len(), false) }
}

/// `n` plain values read from offset `at` of a spill file, in their native representation,
/// straight into the new `Vec`'s memory (no zero-filling, no intermediate buffer); the pages
/// read are punched out of the file as the read goes on. The file ending first is an error,
/// and so is a `Vec` that cannot be allocated.
pub(crate) fn read_vec_at<T: Pod>(fd: impl AsFd, at: u64, n: usize) -> io::Result<Vec<T>> {
    let size = n
        .checked_mul(std::mem::size_of::<T>())
        .ok_or_else(|| io::Error::other(format!("{n} values overflow the address space")))?;
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(n).map_err(|e| {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("{size} bytes for decoded values: {e}"),
        )
    })?;
    // SAFETY: the capacity holds `n` values, `size` bytes, owned by `v` and seen by nothing
    // else during the call.
    unsafe { imp::read_raw(fd.as_fd(), at, v.as_mut_ptr().cast::<u8>(), size, true)? };
    // SAFETY: `read_raw` returned `Ok`, so all `size` bytes are written; `T` is `Pod`, so any
    // bytes make valid values.
    unsafe { v.set_len(n) };
    Ok(v)
}

/// Gives back the pages of `len` bytes at `at` (rounded out to whole pages: payloads are
/// page-aligned, see [`ALIGN`]); they read as zeros afterwards. Best effort.
pub(crate) fn punch(fd: impl AsFd, at: u64, len: u64) {
    let start = at & !(ALIGN - 1);
    let end = at.saturating_add(len).next_multiple_of(ALIGN);
    imp::punch(fd.as_fd(), start, end - start);
}

/// Bytes of `from..to` of a spill file from the first one still held (not punched out) to
/// `to`; 0 if none is. A worker's payloads lie back to back in its region and the parent reads
/// and punches them out in order, so this is what the worker wrote that the parent has not read
/// yet: what keeps a worker from running far ahead of a parent that reads slowly.
pub(crate) fn unread(fd: impl AsFd, from: u64, to: u64) -> io::Result<u64> {
    imp::unread(fd.as_fd(), from, to)
}

/// Bytes of the spill file's offsets that each worker (each forked worker, replacements
/// included) has for its payloads: a worker's region is `k * REGION..(k + 1) * REGION` for the
/// `k`-th worker a team forks. The file is sparse: only what is written and not punched out
/// takes memory.
pub(crate) const REGION: u64 = 1 << 40;

/// Regions of one spill file (offsets stay below 2^63).
pub(crate) const REGIONS: u64 = 1 << 22;

#[cfg(all(test, target_os = "linux", not(par_fallback_sys)))]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_their_pages_go_back() {
        let f = spill_file().unwrap().expect("Linux has memfd");
        let data: Vec<u64> = (0..300_000u64).collect();
        let bytes = super::super::as_bytes(&data);
        write_at(&f, ALIGN, bytes).unwrap();
        let end = ALIGN + bytes.len() as u64;
        assert_eq!(unread(&f, 0, end).unwrap(), bytes.len() as u64);
        let mut head = [0u8; 16];
        read_at(&f, ALIGN, &mut head).unwrap();
        assert_eq!(&head, &bytes[..16]);
        let back: Vec<u64> = read_vec_at(&f, ALIGN, data.len()).unwrap();
        assert_eq!(back, data);
        punch(&f, ALIGN, bytes.len() as u64);
        assert_eq!(unread(&f, 0, end).unwrap(), 0, "every page was given back");
        // Reading past the end is an error, not zeros or a fault.
        let e = read_vec_at::<u8>(&f, ALIGN, bytes.len() + 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    }
}
