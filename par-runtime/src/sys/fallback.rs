//! `sys` where there is no `fork` (non-Unix targets; on Unix with `--cfg par_fallback_sys`, to
//! test this path). Loops never get here (`mode::here` says `Sequential(CannotFork)`, so they
//! run inline), so the process functions only say `Unsupported`; shared memory is ordinary
//! zeroed memory.

use std::alloc::Layout;
use std::io;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

use super::{Status, Watch};

/// A file descriptor number (never a real one here).
pub(crate) type RawFd = i32;

/// A process id (only this process' own exists here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Pid(i32);

impl Pid {
    pub(crate) fn from_raw(pid: i32) -> Self {
        Pid(pid)
    }

    pub(crate) fn as_raw(self) -> i32 {
        self.0
    }
}

impl std::fmt::Display for Pid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// No process is ever signalled here: this type has no values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {}

impl Signal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {}
    }
}

pub(super) fn signal_number(s: Signal) -> i32 {
    match s {}
}

pub(super) fn signal(_: i32) -> Option<Signal> {
    None
}

pub(super) fn realtime_offset(_: i32) -> Option<i32> {
    None
}

/// Stands in for `std::os::fd::BorrowedFd` (which non-Unix targets lack); no fd exists here,
/// so this type has no values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BorrowedFd<'a>(Never, PhantomData<&'a ()>);

#[derive(Debug, Clone, Copy)]
enum Never {}

/// Stands in for `std::os::fd::AsFd`.
pub(crate) trait AsFd {
    fn as_fd(&self) -> BorrowedFd<'_>;
}

impl<T: AsFd + ?Sized> AsFd for &T {
    fn as_fd(&self) -> BorrowedFd<'_> {
        (**self).as_fd()
    }
}

impl AsFd for BorrowedFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        *self
    }
}

pub(super) fn fd_number(fd: BorrowedFd<'_>) -> RawFd {
    match fd.0 {}
}

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "par runs loops inline on this platform: worker processes need fork(2)",
    )
}

/// An fd owned by par (none exist here: this type has no values).
#[derive(Debug)]
pub(crate) struct Fd(Never);

impl Fd {
    pub(crate) fn raw(&self) -> RawFd {
        match self.0 {}
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self.0 {}
    }
}

impl Drop for Fd {
    // Mirrors `unix::Fd`, which closes its fd: callers drop fds to close them.
    fn drop(&mut self) {}
}

pub(crate) fn pipe() -> io::Result<(Fd, Fd)> {
    Err(unsupported())
}

pub(crate) fn set_nonblocking(_: impl AsFd) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn grow_pipe(_: impl AsFd, _: usize) {}

pub(crate) fn read(_: impl AsFd, _: &mut [u8]) -> io::Result<usize> {
    Err(unsupported())
}

pub(crate) fn write(_: impl AsFd, _: &[u8]) -> io::Result<usize> {
    Err(unsupported())
}

pub(crate) fn write_all(_: impl AsFd, _: &[u8]) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn poll(_: &mut [Watch], _: Option<Duration>) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn getpid() -> Pid {
    Pid(std::process::id() as i32)
}

#[allow(dead_code)] // the same API as the Unix `sys`, whose `fork` its tests call
pub(crate) fn fork(_: &[RawFd], _: impl FnOnce() -> std::convert::Infallible) -> io::Result<Pid> {
    Err(unsupported())
}

pub(crate) fn redirect_stdout(_: impl AsFd) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn exit_now(code: i32) -> ! {
    std::process::exit(code)
}

pub(crate) fn waitpid(_: Pid) -> io::Result<Status> {
    Err(unsupported())
}

pub(crate) fn try_waitpid(_: Pid) -> io::Result<Option<Status>> {
    Err(unsupported())
}

pub(crate) fn kill(_: Pid) {}

/// No children here, so no error says one is gone.
pub(crate) fn no_such_child(_: &io::Error) -> bool {
    false
}

pub(crate) fn thread_count() -> usize {
    1
}

pub(crate) fn die_with_parent(_: impl AsFd, _: Pid, _: bool) {}

pub(crate) fn on_main_thread() -> bool {
    true
}

pub(crate) fn set_result_fd(_: impl AsFd) {}

/// No workers here, so no result pipe.
#[cfg(feature = "testing")]
pub(crate) fn with_result_fd<R>(_: impl FnOnce(BorrowedFd<'_>) -> R) -> Option<R> {
    None
}

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

/// Zeroed, page-aligned heap memory standing in for a shared mapping (nothing is forked here);
/// freed on drop.
#[derive(Debug)]
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Mapping {
    pub(super) fn new(len: usize) -> io::Result<Self> {
        let layout = Layout::from_size_align(len.max(1), PAGE)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `layout` has a non-zero size (at least one byte).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok(Mapping { ptr, layout })
    }

    pub(super) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with this same layout and is freed once, here;
        // the references handed out by `Shared` borrow it, so none outlives this drop.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
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

pub(crate) fn limit_data(_: u64) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn oom_kills() -> Option<u64> {
    None
}

/// Mirrors `unix::Environ`; there are no children to give it to here.
#[derive(Debug)]
pub(crate) struct Environ;

impl Environ {
    pub(crate) fn new(
        _: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Self {
        Environ
    }

    pub(crate) fn install(&self) {}
}
