//! The Unix implementation of `sys`: fork, pipes, poll, waitpid, signals, shared mappings,
//! on nix's typed wrappers (`OwnedFd`/`BorrowedFd`, `Pid`, `Signal`). Raw `libc` only where nix
//! has no wrapper or its wrapper does not fit; each such call says why.
//!
//! What this module must never do: allocate or take a lock in a forked child before the child
//! has left the fork window (see [`fork`]), or hand out a raw fd that is not registered.

use std::io;
use std::num::NonZeroUsize;
pub(crate) use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::mman::{MapFlags, ProtFlags};
use nix::sys::signal::SigHandler;
pub(crate) use nix::sys::signal::Signal;
pub(crate) use nix::unistd::Pid;

use super::{Sig, Status, Watch};

/// Every fd par has open in this process. A forked worker closes all of them except its own, so
/// that a worker never holds another worker's (or another loop's, forked concurrently by another
/// thread) pipe ends open, which would hide EOFs. Registering at creation and unregistering
/// before close happen under the same lock that [`fork`] holds, so no fork sees a half state.
static FDS: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<RawFd>> {
    FDS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An fd owned by par (registered; closed and unregistered on drop).
#[derive(Debug)]
pub(crate) struct Fd(Option<OwnedFd>);

impl Fd {
    /// Registers `fd`; the caller holds the registry's lock (`reg`), so no fork sees it
    /// half-made.
    fn register(reg: &mut Vec<RawFd>, fd: OwnedFd) -> Fd {
        reg.push(fd.as_raw_fd());
        Fd(Some(fd))
    }

    /// The fd's number, to tell fds apart (never to do I/O: that takes the `Fd` or a borrow).
    pub(crate) fn raw(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.0 {
            Some(fd) => fd.as_fd(),
            None => unreachable!("an Fd is emptied only by its drop"),
        }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        if let Some(fd) = self.0.take() {
            let mut fds = registry();
            let raw = fd.as_raw_fd();
            fds.retain(|&f| f != raw);
            drop(fd); // close while still holding the lock: the number can't be reused meanwhile
        }
    }
}

/// `fd`'s number (see [`Watch`](super::Watch)).
pub(super) fn fd_number(fd: BorrowedFd<'_>) -> RawFd {
    fd.as_raw_fd()
}

/// An fd made by `make` while the registry's lock is held, registered (so that no fork sees
/// it open and unregistered: a child would keep it open for ever). For `sys`'s other modules.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only memfds use it
pub(super) fn registered(make: impl FnOnce() -> io::Result<OwnedFd>) -> io::Result<Fd> {
    let mut reg = registry();
    let fd = make()?;
    Ok(Fd::register(&mut reg, fd))
}

/// A pipe `(read end, write end)`, both close-on-exec.
pub(crate) fn pipe() -> io::Result<(Fd, Fd)> {
    let mut reg = registry();
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    Ok((Fd::register(&mut reg, r), Fd::register(&mut reg, w)))
}

/// Makes reads and writes on `fd` return `WouldBlock` instead of blocking.
pub(crate) fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    add_flags(fd.as_fd(), OFlag::O_NONBLOCK)
}

/// Adds file status flags (`F_GETFL`, then `F_SETFL`).
fn add_flags(fd: BorrowedFd<'_>, add: OFlag) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | add))?;
    Ok(())
}

/// Grows a pipe's buffer (Linux; a 1 MiB pipe moves several times more bytes per second than
/// the default 64 KiB). Best effort: the system limit may refuse, which is not an error.
pub(crate) fn grow_pipe(fd: impl AsFd, bytes: usize) {
    #[cfg(target_os = "linux")]
    let _ = fcntl(
        fd.as_fd(),
        FcntlArg::F_SETPIPE_SZ(bytes.try_into().unwrap_or(i32::MAX)),
    );
    #[cfg(not(target_os = "linux"))]
    let _ = (fd, bytes);
}

/// `read(2)`, retrying on EINTR. `Ok(0)` is end of file.
#[inline]
pub(crate) fn read(fd: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    let fd = fd.as_fd();
    loop {
        match nix::unistd::read(fd, buf) {
            Err(Errno::EINTR) => continue,
            r => return Ok(r?),
        }
    }
}

/// `write(2)`, retrying on EINTR. Writing to a pipe whose reader is gone is `EPIPE` (par
/// ignores `SIGPIPE` in workers; Rust programs ignore it at start-up).
#[inline]
pub(crate) fn write(fd: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    let fd = fd.as_fd();
    loop {
        match nix::unistd::write(fd, buf) {
            Err(Errno::EINTR) => continue,
            r => return Ok(r?),
        }
    }
}

/// Writes all of `buf` to a blocking fd.
pub(crate) fn write_all(fd: impl AsFd, mut buf: &[u8]) -> io::Result<()> {
    let fd = fd.as_fd();
    while !buf.is_empty() {
        match write(fd, buf)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// Waits until one of `watches` is ready or `timeout` passes (`None`: no limit). EINTR returns
/// early with nothing ready, so a signal handler's flag can be looked at by the caller.
pub(crate) fn poll(watches: &mut [Watch], timeout: Option<Duration>) -> io::Result<()> {
    // Raw `libc::poll`, not nix's: nix's `PollFd<'fd>` borrows each fd for the call, and a
    // `Watch` keeps only the number (made from a borrow, see `Watch::new`) so that callers can
    // act on their fds between polls. poll(2) only reads the numbers: one closed since is
    // reported as POLLNVAL, never touched.
    let mut fds: Vec<libc::pollfd> = watches
        .iter()
        .map(|w| libc::pollfd {
            fd: w.fd(),
            events: (if w.read { libc::POLLIN } else { 0 })
                | (if w.write { libc::POLLOUT } else { 0 }),
            revents: 0,
        })
        .collect();
    let ms = timeout.map_or(-1, |d| {
        d.as_millis()
            .clamp(if d.is_zero() { 0 } else { 1 }, i32::MAX as u128) as libc::c_int
    });
    // SAFETY: `fds` is a valid, initialised array of `fds.len()` pollfd structs.
    match Errno::result(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) }) {
        Err(Errno::EINTR) => {}
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    for (w, p) in watches.iter_mut().zip(&fds) {
        let bad = p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0;
        w.readable = w.read && (p.revents & libc::POLLIN != 0 || bad);
        w.writable = w.write && (p.revents & libc::POLLOUT != 0 || bad);
    }
    Ok(())
}

/// This process' id.
pub(crate) fn getpid() -> Pid {
    nix::unistd::getpid()
}

/// Forks a worker process that runs `child` and never returns.
///
/// Before forking, stdout's and stderr's locks are taken and both are flushed (so a line
/// printed before the loop is not printed again by every worker at its exit, and no other
/// thread holds either lock at the fork: the child may print and flush), and the fd registry is
/// locked. In the child, every registered fd
/// not in `keep` is closed (`keep` holds numbers, as [`Fd::raw`] gives them: nothing is done
/// with them but sparing those fds), the signal mask is cleared, the signals par relies on
/// (`SIGINT`, `SIGTERM`, `SIGIO`) get their default action back (so Ctrl-C stops workers even
/// if the parent handles, ignores or blocks it, and the death pipe's `SIGIO` ends them),
/// `SIGPIPE` is ignored, and then `child` runs. The others keep the parent's dispositions (a
/// `nohup` parent's workers ignore `SIGHUP` too).
///
/// # What the child may do
///
/// Only the forking thread exists in the child. Anything that takes a lock another thread of
/// the parent held at the fork stays blocked forever; see the crate docs on multi-threaded
/// parents. The locks the child may take: stdout's and stderr's (held by the forking thread
/// at the fork), the fd registry's (likewise), the allocator's. The allocator (glibc) is fork-safe. `child` must end with [`exit_now`].
#[allow(unreachable_code)] // `child` never returns: its type says so
pub(crate) fn fork(
    keep: &[RawFd],
    child: impl FnOnce() -> std::convert::Infallible,
) -> io::Result<Pid> {
    use nix::unistd::ForkResult;
    use std::io::Write;
    // stdout's and stderr's locks are held across the fork, so that no other thread of the
    // parent holds them at that moment: the child, which flushes stdout before it exits, would
    // wait for ever for a lock whose owner does not exist there. Both processes release them
    // (the child is the same thread, so it owns its copy of each lock).
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let _ = out.flush();
    let _ = err.flush();
    let mut reg = registry();
    // SAFETY: fork has no memory-safety preconditions in the parent; the child only runs
    // `child`, whose rules are documented above, and leaves by `_exit`.
    let forked = unsafe { nix::unistd::fork() };
    drop((out, err));
    match forked? {
        ForkResult::Parent { child } => return Ok(child),
        ForkResult::Child => {}
    }
    let kept = |fd: &RawFd| keep.contains(fd);
    for &fd in reg.iter().filter(|fd| !kept(fd)) {
        // By number: the `OwnedFd` of each registered fd is the parent's copy, which this child
        // never drops (it leaves by `_exit`) and never uses, so closing the number is closing
        // its one copy here.
        let _ = nix::unistd::close(fd);
    }
    reg.retain(kept); // the child's registry lists only what it has open
    drop(reg); // this thread holds it; unlocking the child's copy of the futex is sound
    // The mask is inherited: a parent that blocks every signal (signalfd and sigwait programs
    // do) would otherwise fork workers that Ctrl-C, `SIGTERM` and the death pipe's `SIGIO`
    // never reach. The child starts with none blocked.
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    for (signal, action) in [
        (Signal::SIGINT, SigHandler::SigDfl),
        (Signal::SIGTERM, SigHandler::SigDfl),
        // Not SIGHUP: a parent that ignores it (`nohup`) must not lose its workers when the
        // terminal closes.
        (Signal::SIGIO, SigHandler::SigDfl),
        (Signal::SIGPIPE, SigHandler::SigIgn),
    ] {
        // SAFETY: SIG_DFL / SIG_IGN are valid dispositions and no handler code is involved.
        let _ = unsafe { nix::sys::signal::signal(signal, action) };
    }
    // `child` never returns; if it unwinds, the guard's drop leaves at once instead of letting
    // the unwind run the parent's code in the child. (Each caller catches its own panics;
    // this is the last line.)
    let _leave = ExitOnUnwind;
    match child() {}
}

/// Dropped only by an unwind out of a forked child's code: exits the child with 101 (see
/// [`fork`]).
struct ExitOnUnwind;

impl Drop for ExitOnUnwind {
    fn drop(&mut self) {
        exit_now(101)
    }
}

/// [`fork`], handing the child its own copy of `value` by value while the parent keeps `value`
/// (so that, say, a job's closure can be forked again if its child dies).
pub(crate) fn fork_with<T>(
    keep: &[RawFd],
    value: &T,
    child: impl FnOnce(T) -> std::convert::Infallible,
) -> io::Result<Pid> {
    fork(keep, || {
        // SAFETY: this runs only in the child, in its own copy of the parent's memory: reading
        // `*value` moves the child's copy out. The owner of that copy in the child is never
        // dropped or used again, because `fork`'s child never returns (it leaves by `_exit`),
        // so the value has exactly one owner in this process; the parent's is untouched.
        let value = unsafe { std::ptr::read(value) };
        child(value)
    })
}

/// Makes this process' stdout refer to what `fd` refers to.
pub(crate) fn redirect_stdout(fd: impl AsFd) -> io::Result<()> {
    Ok(nix::unistd::dup2_stdout(fd)?)
}

/// Ends this process at once with `code`: no destructors, no atexit handlers, no flushing of
/// the parent's stdio buffers (a worker flushes its own stdout first).
pub(crate) fn exit_now(code: i32) -> ! {
    // Raw `libc::_exit`: nix has no wrapper, and `std::process::exit` runs atexit handlers and
    // flushes the parent's stdio buffers, which a forked child must not.
    // SAFETY: `_exit` has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}

/// Waits for the child `pid` (never any other: a program's other children are not ours).
pub(crate) fn waitpid(pid: Pid) -> io::Result<Status> {
    // Raw `libc::waitpid`: nix's `waitpid` reaps the child and then fails with EINVAL when the
    // signal that killed it has no `Signal` variant (a real-time signal), losing the status.
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid int for waitpid to fill.
        match Errno::result(unsafe { libc::waitpid(pid.as_raw(), &mut status, 0) }) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => break,
        }
    }
    if libc::WIFSIGNALED(status) {
        Ok(Status::Signaled(Sig::from_number(libc::WTERMSIG(status))))
    } else {
        Ok(Status::Exited(libc::WEXITSTATUS(status)))
    }
}

/// [`waitpid`] without waiting: `None` while the child `pid` still runs.
pub(crate) fn try_waitpid(pid: Pid) -> io::Result<Option<Status>> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid int for waitpid to fill.
        match Errno::result(unsafe { libc::waitpid(pid.as_raw(), &mut status, libc::WNOHANG) }) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(0) => return Ok(None),
            Ok(_) => break,
        }
    }
    if libc::WIFSIGNALED(status) {
        Ok(Some(Status::Signaled(Sig::from_number(libc::WTERMSIG(
            status,
        )))))
    } else {
        Ok(Some(Status::Exited(libc::WEXITSTATUS(status))))
    }
}

/// True when `e` is `ECHILD`: the child waited for is not there (any more).
pub(crate) fn no_such_child(e: &io::Error) -> bool {
    e.raw_os_error() == Some(Errno::ECHILD as i32)
}

/// Sends `SIGKILL` to `pid`. Errors (already gone) are ignored: the caller reaps it anyway.
/// `pid` must be our own unreaped child, so that the pid cannot have been reused.
pub(crate) fn kill(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
}

/// Nix's name for signal `number`, if it has one.
pub(super) fn signal(number: i32) -> Option<Signal> {
    Signal::try_from(number).ok()
}

pub(super) fn signal_number(s: Signal) -> i32 {
    s as i32
}

/// `SIGRTMIN+n`'s `n` if `number` is a real-time signal (nix's `Signal` has no variants for
/// those; libc knows the range, which glibc sets at run time).
pub(super) fn realtime_offset(number: i32) -> Option<i32> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&number)
        .then(|| number - libc::SIGRTMIN());
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return {
        let _ = number;
        None
    };
}

/// Number of threads in this process (Linux: `/proc/self/task`), 1 if unknown.
pub(crate) fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count().max(1))
}

/// CPU time (user + system) that process `pid` has used so far (Linux `/proc`), if known.
pub(crate) fn cpu_time(pid: Pid) -> Option<Duration> {
    use nix::unistd::{SysconfVar, sysconf};
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...: comm may hold spaces, so count fields after the last ')'.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = sysconf(SysconfVar::CLK_TCK).ok()??;
    let ticks = u64::try_from(ticks).ok().filter(|&t| t > 0)?;
    Some(Duration::from_nanos(
        (utime + stime).saturating_mul(1_000_000_000) / ticks,
    ))
}

/// Where process `pid` waits in the kernel (Linux `/proc/<pid>/wchan`: `futex_do_wait` for a
/// lock, `pipe_read` or `do_epoll_wait` for I/O), if the kernel says (it may say `0`).
pub(crate) fn wait_channel(pid: Pid) -> Option<String> {
    let w = std::fs::read_to_string(format!("/proc/{pid}/wchan")).ok()?;
    let w = w.trim();
    (!w.is_empty() && w != "0").then(|| w.to_string())
}

/// The names of this process' threads (Linux `/proc/self/task/*/comm`), where readable.
pub(crate) fn thread_names() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

/// A zero-filled `MAP_SHARED` mapping of `len` bytes, shared with the processes forked
/// after it was made; unmapped on drop. Only [`Shared`](super::Shared) holds one.
#[derive(Debug)]
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    len: NonZeroUsize,
}

impl Mapping {
    /// Maps `len` bytes (at least one), page-aligned.
    pub(super) fn new(len: usize) -> io::Result<Self> {
        let len = NonZeroUsize::new(len).unwrap_or(NonZeroUsize::MIN);
        // SAFETY: an anonymous mapping with no address hint touches no existing memory.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }?;
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The first byte (page-aligned); valid for `len` bytes while `self` lives.
    pub(super) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, unmapped only here, once; the
        // references handed out by `Shared` borrow it, so none outlives this drop.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len.get()) };
    }
}

/// Makes this worker die with its parent, `parent` (its pid, read before the fork).
///
/// First line (Linux, when `pdeathsig`): `PR_SET_PDEATHSIG` with `SIGKILL`, which the body can
/// neither block nor ignore, and then a look at `getppid`, in case the parent died before the
/// setting was made. The kernel sends it when the *thread* that forked this process ends, not
/// the process, so the caller asks for it only where that thread outlives the child (see
/// `child::fork_child`).
///
/// Second line, everywhere: `fd` is the read end of this worker's own death pipe, whose write
/// end only the parent holds: when the parent dies (even by `SIGKILL`) the kernel closes it,
/// and with `O_ASYNC` and `F_SETOWN` set here the pipe sends this process `SIGIO`, whose
/// default action ends it (the body could block or ignore it; the first line covers that). No
/// thread is needed (one cost ~100 us per worker here).
///
/// If arming fails, a thread blocked reading a copy of `fd` does the same job. Either way `fd`
/// should stay open while the worker lives (a closed read end sends no `SIGIO`): it is a
/// forked child's kept fd, which the child never closes.
///
/// Without the first line (`pdeathsig` false: a child that outlives the call, forked on a
/// thread that may end before it, e.g. `par::start` off the main thread), `SIGIO` alone would
/// be the body's to defeat (blocking every signal, or ignoring `SIGIO`): such a child gets the
/// thread first, which no mask or disposition stops (about 100 us, only for these children),
/// and `SIGIO` only where no thread can start (a low `RLIMIT_NPROC` counts threads too). A
/// child that has neither exits with status 71 before its body runs, rather than risk
/// outliving its parent.
///
/// The thread takes an end of file (or a read error) for the parent's death only when
/// `getppid` agrees: a body that points its fds elsewhere (`dup2` of `/dev/null` over them)
/// makes the copy read as closed while the parent lives, and the thread then looks at
/// `getppid` every [`WATCH_POLL`] instead (so the worker is not killed for its body's
/// mistake, which par reports as such).
pub(crate) fn die_with_parent(fd: impl AsFd, parent: Pid, pdeathsig: bool) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if pdeathsig {
        // Setting it fails only for an invalid signal; the second line is there anyway.
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
        if nix::unistd::getppid() != parent {
            exit_now(70); // the parent is gone already: this process was adopted
        }
    }
    let fd = fd.as_fd();
    // The first watcher that starts is the one: the thread first without the first line.
    let thread_first = !pdeathsig;
    let watched = (thread_first && watch_in_thread(fd, parent).is_ok())
        || arm_sigio(fd).is_ok()
        || (!thread_first && watch_in_thread(fd, parent).is_ok());
    if !watched {
        // Without a watcher a worker could outlive its parent; refuse to run instead.
        exit_now(71);
    }
    // The parent may have died before the pipe was armed (or the thread started): look once.
    if nix::unistd::getppid() != parent {
        exit_now(70);
    }
}

/// How often the death-watch thread looks at `getppid` once its pipe can no longer tell it
/// (see [`die_with_parent`]).
const WATCH_POLL: Duration = Duration::from_millis(50);

/// Puts the crash signals (`SIGABRT`, `SIGBUS`, `SIGFPE`, `SIGILL`, `SIGSEGV`) back to their
/// default action in this (forked) process: an MPI rank's serving child, where Open MPI's
/// handlers, installed by `MPI_Init` in the rank, would print their own backtrace before the
/// child dies and par reports how (the child never calls MPI, so they serve nothing there).
#[cfg(feature = "mpi")]
pub(crate) fn default_crash_signals() {
    for signal in [
        Signal::SIGABRT,
        Signal::SIGBUS,
        Signal::SIGFPE,
        Signal::SIGILL,
        Signal::SIGSEGV,
    ] {
        // SAFETY: SIG_DFL is a valid disposition; no handler code is involved.
        let _ = unsafe { nix::sys::signal::signal(signal, SigHandler::SigDfl) };
    }
}

/// True on the process' main thread (its thread id is its pid), where a thread's end is the
/// process' end. Linux only; elsewhere true (nothing depends on the thread there).
pub(crate) fn on_main_thread() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return nix::unistd::gettid() == getpid();
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return true;
}

fn arm_sigio(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: SIG_DFL is a valid disposition; no handler code is involved.
    unsafe { nix::sys::signal::signal(Signal::SIGIO, SigHandler::SigDfl) }?;
    // Raw `libc::fcntl(F_SETOWN)`: nix's `FcntlArg` has no `F_SETOWN`.
    // SAFETY: F_SETOWN takes a pid and has no memory-safety preconditions; the fd is borrowed,
    // so open for the call.
    Errno::result(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETOWN, getpid().as_raw()) })?;
    add_flags(fd, OFlag::O_ASYNC | OFlag::O_NONBLOCK)
}

fn watch_in_thread(fd: BorrowedFd<'_>, parent: Pid) -> io::Result<()> {
    // The thread needs the fd for the rest of the process' life, longer than the borrow: it
    // gets a copy of its own (CLOEXEC; unregistered, as a read end held open by a later fork
    // of this worker hides no EOF from it).
    let fd = fd.try_clone_to_owned()?;
    std::thread::Builder::new()
        .name("par-death-watch".into())
        .spawn(move || {
            let mut b = [0u8; 1];
            loop {
                match read(&fd, &mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            // The pipe reads as closed: the parent's death, or the body's `dup2` over the copy.
            while nix::unistd::getppid() == parent {
                std::thread::sleep(WATCH_POLL);
            }
            exit_now(70)
        })?;
    Ok(())
}

/// The number of this process' result pipe (-1: none), for [`with_result_fd`]: what the
/// tests' `child::report::send_raw` (feature `testing`) writes to.
static RESULT_FD: AtomicI32 = AtomicI32::new(-1);

/// Records `fd` as this process' result pipe: a worker's, or a started child's channel to its
/// parent.
pub(crate) fn set_result_fd(fd: impl AsFd) {
    RESULT_FD.store(fd.as_fd().as_raw_fd(), Ordering::Relaxed);
}

/// Runs `f` on the fd recorded by [`set_result_fd`] if it is still open (its `Fd` not dropped),
/// holding the fd registry's lock meanwhile, so that it stays open until `f` returns.
#[cfg(feature = "testing")]
pub(crate) fn with_result_fd<R>(f: impl FnOnce(BorrowedFd<'_>) -> R) -> Option<R> {
    let reg = registry();
    let fd = RESULT_FD.load(Ordering::Relaxed);
    if fd == -1 || !reg.contains(&fd) {
        return None;
    }
    // SAFETY: a registered number belongs to a live `Fd` of this process (a forked child keeps
    // only its kept ones registered, see `fork`), and an `Fd` is unregistered and closed only
    // under the registry's lock, which is held until the borrow ends.
    let r = f(unsafe { BorrowedFd::borrow_raw(fd) });
    drop(reg);
    Some(r)
}

/// Starts a new session with this process as its leader: it leaves the terminal's process group
/// (Ctrl-C in the terminal no longer reaches it) and has no controlling terminal.
pub(crate) fn setsid() -> io::Result<()> {
    nix::unistd::setsid()?;
    Ok(())
}

/// Points stdin, stdout and stderr at `/dev/null`, as a daemon does: a detached process must
/// not hold its starter's pipes open (a `program | tee log` would wait for it to end).
pub(crate) fn detach_stdio() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    nix::unistd::dup2_stdin(&null)?;
    nix::unistd::dup2_stdout(&null)?;
    nix::unistd::dup2_stderr(&null)?;
    Ok(())
}

/// A listening Unix socket (background jobs wait at one for their collector).
pub(crate) type Listener = std::os::unix::net::UnixListener;
/// A connected Unix socket.
pub(crate) type Stream = std::os::unix::net::UnixStream;

/// Binds and listens at `path`.
///
/// The socket is private to this user whatever the umask: it is bound inside a new directory
/// only the user may enter (0700), made 0600, and then moved to `path`, so there is no moment
/// when another user could connect to it.
pub(crate) fn listen(path: &std::path::Path) -> io::Result<Listener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let parent = parent.unwrap_or_else(|| std::path::Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a socket path needs a file name",
        )
    })?;
    let private = parent.join(format!(
        ".{}.par-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let staged = private.join("socket");
    let bound = Listener::bind(&staged).and_then(|l| {
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path)?;
        Ok(l)
    });
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    bound
}

/// The user id of the process at the other end of a Unix socket (`SO_PEERCRED`).
pub(crate) fn peer_uid(stream: &Stream) -> io::Result<u32> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    Ok(getsockopt(stream, PeerCredentials)?.uid())
}

/// This process' effective user id.
pub(crate) fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Connects to the socket at `path`.
pub(crate) fn connect(path: &std::path::Path) -> io::Result<Stream> {
    Stream::connect(path)
}

/// Waits for the next connection.
pub(crate) fn accept(l: &Listener) -> io::Result<Stream> {
    l.accept().map(|(s, _)| s)
}

/// The fd number of a listener, to keep it open across [`fork`].
pub(crate) fn listener_fd(l: &Listener) -> RawFd {
    l.as_raw_fd()
}

/// Limits this process' data (its private writable memory: heap, `mmap`ed anonymous memory,
/// thread stacks) to `bytes`, or to the hard limit if that is lower: an allocation beyond it
/// fails (`malloc` returns null, so Rust's allocator aborts the process). `RLIMIT_DATA`, not
/// `RLIMIT_AS`: the address space also counts what is only reserved (glibc reserves 64 MiB of
/// address space per thread arena: a child with 8 threads measured 531 MiB of address space
/// for 17 MiB of data), file mappings and shared memory; since Linux 4.7 `RLIMIT_DATA` counts
/// every private writable mapping, not only `brk`. Called in a forked child; no allocation.
pub(crate) fn limit_data(bytes: u64) -> io::Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_DATA)?;
    setrlimit(Resource::RLIMIT_DATA, bytes.min(hard), hard)?;
    Ok(())
}

/// How many processes the kernel's OOM killer has killed since boot (`oom_kill` in
/// `/proc/vmstat`, Linux 4.13 and later), if known. System-wide, and slow to read (the kernel
/// sums per-CPU counters: about 80 us here), so callers read it rarely.
pub(crate) fn oom_kills() -> Option<u64> {
    let vmstat = std::fs::read_to_string("/proc/vmstat").ok()?;
    vmstat
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// Variables to set in forked children, prepared in the parent (where allocation and the
/// environment lock are allowed) and merged into the child's inherited environment by
/// [`Environ::install`], which takes no lock: `setenv` in a child of a multi-threaded parent
/// could wait for ever on a lock (Rust's environment lock, glibc's) another thread held at the
/// fork. Only the few variables travel this way: the parent neither copies nor rewrites its own
/// environment (a copy per loop cost a fresh 4 KiB allocation, and with it page faults and
/// `malloc_consolidate`, in the parent while its children ran).
#[derive(Debug)]
pub(crate) struct Environ {
    /// The `NAME=value` C strings to set.
    vars: Vec<std::ffi::CString>,
}

impl Environ {
    /// These variables (names without `=` or NUL, values without NUL; others are left out).
    pub(crate) fn new(
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Self {
        use std::os::unix::ffi::OsStrExt;
        let vars = vars
            .into_iter()
            .filter(|(k, _)| !k.is_empty() && !k.as_bytes().contains(&b'='))
            .filter_map(|(k, v)| {
                let mut entry = k.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(v.as_bytes());
                std::ffi::CString::new(entry).ok()
            })
            .collect();
        Environ { vars }
    }

    /// Sets these variables in the calling process, replacing entries of the same names: a new
    /// `environ` array (the inherited entries, but those, then these) stored with one write,
    /// no lock taken. Only for a forked child: it has one thread (nothing reads or changes
    /// `environ` meanwhile), it keeps `self` alive until it exits (it never returns into the
    /// code that owns `self`, and leaves by `_exit`), and its allocator is usable (glibc's
    /// malloc is reset for the child at the fork).
    pub(crate) fn install(&self) {
        let sets: Vec<&[u8]> = self
            .vars
            .iter()
            .map(|v| {
                let bytes = v.as_bytes();
                // The name with its `=`: what an inherited entry must start with to be replaced.
                &bytes[..bytes.iter().position(|&b| b == b'=').map_or(0, |at| at + 1)]
            })
            .collect();
        let mut ptrs: Vec<*const libc::c_char> = Vec::with_capacity(64 + self.vars.len());
        // SAFETY: the child has one thread, so the inherited `environ` array and its strings
        // do not change while they are read; the array is null-terminated and each entry is a
        // C string, as the C runtime keeps them.
        unsafe {
            let mut at = current_environ();
            while !at.is_null() && !(*at).is_null() {
                let entry = std::ffi::CStr::from_ptr(*at).to_bytes();
                if !sets.iter().any(|name| entry.starts_with(name)) {
                    ptrs.push(*at);
                }
                at = at.add(1);
            }
        }
        ptrs.extend(self.vars.iter().map(|v| v.as_ptr()));
        ptrs.push(std::ptr::null());
        // The array must outlive the child: it leaves by `_exit`, never freeing it.
        let ptrs = std::mem::ManuallyDrop::new(ptrs);
        set_environ(ptrs.as_ptr());
    }
}

/// The process' `environ` array (null-terminated; null itself if there is none).
#[cfg(not(target_vendor = "apple"))]
fn current_environ() -> *const *const libc::c_char {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: reading the pointer value of the C runtime's `environ`; the caller is a child
    // with one thread, so no other thread writes it meanwhile.
    unsafe { environ }
}

/// `environ` (`_NSGetEnviron` on Apple platforms).
#[cfg(target_vendor = "apple")]
fn current_environ() -> *const *const libc::c_char {
    // SAFETY: `_NSGetEnviron` returns the address of the process' `environ` variable, read
    // here in a child with one thread.
    unsafe { (*libc::_NSGetEnviron()).cast_const().cast() }
}

/// Makes `array` (null-terminated, of `NAME=value` C strings that outlive the process) the
/// process' environment: one store. For [`Environ::install`] only (a single-threaded child).
fn set_environ(array: *const *const libc::c_char) {
    #[cfg(target_vendor = "apple")]
    // SAFETY: `_NSGetEnviron` returns the address of `environ`; the caller is a child with one
    // thread and the array lives as long as the process (see `Environ::install`).
    unsafe {
        *libc::_NSGetEnviron() = array.cast_mut().cast();
    }
    #[cfg(not(target_vendor = "apple"))]
    {
        unsafe extern "C" {
            static mut environ: *const *const libc::c_char;
        }
        // SAFETY: the caller is a child with one thread, so nothing reads `environ` during the
        // store; the array is null-terminated, its strings are `NAME=value` C strings, and
        // both outlive the child. libc's `setenv`/`unsetenv` work on it afterwards (glibc
        // copies an array it did not allocate before growing it).
        unsafe {
            environ = array;
        }
    }
}
