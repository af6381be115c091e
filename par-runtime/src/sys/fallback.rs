//! `sys` where there is no `fork` (non-Unix targets; on Unix with `--cfg par_fallback_sys`, to
//! test this path). Loops never get here with more than one worker (`mode::workers` says 1), so
//! the process functions only say `Unsupported`; shared memory is ordinary zeroed memory.

use std::alloc::Layout;
use std::io;
use std::time::Duration;

use super::{Status, Watch};

/// A file descriptor number (never a real one here).
pub(crate) type RawFd = i32;
/// A process id.
pub(crate) type Pid = i32;

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "par runs loops inline on this platform: worker processes need fork(2)",
    )
}

/// An fd owned by par (none exist here).
#[derive(Debug)]
pub(crate) struct Fd(RawFd);

impl Fd {
    pub(crate) fn raw(&self) -> RawFd {
        self.0
    }
}

impl Drop for Fd {
    // Mirrors `unix::Fd`, which closes its fd: callers drop fds to close them.
    fn drop(&mut self) {}
}

pub(crate) fn pipe() -> io::Result<(Fd, Fd)> {
    Err(unsupported())
}

pub(crate) fn set_nonblocking(_: &Fd) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn grow_pipe(_: &Fd, _: usize) {}

pub(crate) fn read(_: RawFd, _: &mut [u8]) -> io::Result<usize> {
    Err(unsupported())
}

pub(crate) fn write(_: RawFd, _: &[u8]) -> io::Result<usize> {
    Err(unsupported())
}

pub(crate) fn write_all(_: RawFd, _: &[u8]) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn poll(_: &mut [Watch], _: Option<Duration>) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn getpid() -> Pid {
    std::process::id() as Pid
}

#[allow(dead_code)] // the same API as the Unix `sys`, whose `fork` its tests call
pub(crate) fn fork(_: &[RawFd], _: impl FnOnce() -> std::convert::Infallible) -> io::Result<Pid> {
    Err(unsupported())
}

pub(crate) fn dup2(_: RawFd, _: RawFd) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn exit_now(code: i32) -> ! {
    std::process::exit(code)
}

pub(crate) fn waitpid(_: Pid) -> io::Result<Status> {
    Err(unsupported())
}

pub(crate) fn kill(_: Pid) {}

pub(crate) fn thread_count() -> usize {
    1
}

pub(crate) fn die_with_parent(_: RawFd) {}

/// No child processes here: nothing waits.
#[allow(dead_code)] // the same API as the Unix `sys`
pub(crate) fn wait_channel(_: Pid) -> Option<String> {
    None
}

/// Not known here.
pub(crate) fn thread_names() -> Vec<String> {
    Vec::new()
}

/// No child processes here: nothing to measure.
pub(crate) fn cpu_time(_: Pid) -> Option<std::time::Duration> {
    None
}

const PAGE: usize = 4096;

/// Zeroed, page-aligned heap memory standing in for a shared mapping (nothing is forked here).
pub(super) fn map_shared(len: usize) -> io::Result<*mut u8> {
    let layout = Layout::from_size_align(len, PAGE)
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `layout` has a non-zero size (callers ask for at least one byte).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(io::Error::from(io::ErrorKind::OutOfMemory));
    }
    Ok(ptr)
}

/// Frees what [`map_shared`] returned.
pub(super) fn unmap_shared(ptr: *mut u8, len: usize) {
    if let Ok(layout) = Layout::from_size_align(len, PAGE) {
        // SAFETY: `ptr` came from `alloc_zeroed` with this same layout and is freed once.
        unsafe { std::alloc::dealloc(ptr, layout) };
    }
}

pub(crate) fn setsid() -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn detach_stdio() -> io::Result<()> {
    Err(unsupported())
}

/// No Unix sockets here: these types have no values.
#[derive(Debug)]
pub(crate) enum Listener {}
/// No Unix sockets here: these types have no values.
#[derive(Debug)]
pub(crate) enum Stream {}

impl io::Read for Stream {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match *self {}
    }
}

impl io::Write for Stream {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        match *self {}
    }
    fn flush(&mut self) -> io::Result<()> {
        match *self {}
    }
}

impl Stream {
    pub(crate) fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        match *self {}
    }
}

pub(crate) fn listen(_: &std::path::Path) -> io::Result<Listener> {
    Err(unsupported())
}

pub(crate) fn connect(_: &std::path::Path) -> io::Result<Stream> {
    Err(unsupported())
}

pub(crate) fn accept(l: &Listener) -> io::Result<Stream> {
    match *l {}
}

pub(crate) fn listener_fd(l: &Listener) -> RawFd {
    match *l {}
}

pub(crate) fn fork_with<T>(
    _: &[RawFd],
    _: &T,
    _: impl FnOnce(T) -> std::convert::Infallible,
) -> io::Result<Pid> {
    Err(unsupported())
}

pub(crate) fn peer_uid(s: &Stream) -> io::Result<u32> {
    match *s {}
}

pub(crate) fn euid() -> u32 {
    0
}
