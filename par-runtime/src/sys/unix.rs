//! The Unix implementation of `sys`: fork, pipes, poll, waitpid, signals, shared mappings.
//!
//! What this module must never do: allocate or take a lock in a forked child before the child
//! has left the fork window (see [`fork`]), or hand out a raw fd that is not registered.

use std::io;
pub(crate) use std::os::fd::RawFd;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{Status, Watch};

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
    pub(crate) fn raw(&self) -> RawFd {
        self.0.as_ref().map_or(-1, |fd| fd.as_raw_fd())
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

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// A pipe `(read end, write end)`, both close-on-exec.
pub(crate) fn pipe() -> io::Result<(Fd, Fd)> {
    let mut fds = [0 as libc::c_int; 2];
    let mut reg = registry();
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    reg.extend_from_slice(&fds);
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((Fd(Some(r)), Fd(Some(w))))
}

/// Makes reads and writes on `fd` return `WouldBlock` instead of blocking.
pub(crate) fn set_nonblocking(fd: &Fd) -> io::Result<()> {
    // SAFETY: F_GETFL has no memory-safety preconditions; a bad fd is EBADF.
    let flags = cvt(unsafe { libc::fcntl(fd.raw(), libc::F_GETFL) })?;
    // SAFETY: as above, F_SETFL only changes file status flags.
    cvt(unsafe { libc::fcntl(fd.raw(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

/// Grows a pipe's buffer (Linux; a 1 MiB pipe moves several times more bytes per second than
/// the default 64 KiB). Best effort: the system limit may refuse, which is not an error.
pub(crate) fn grow_pipe(fd: &Fd, bytes: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: F_SETPIPE_SZ takes an int and has no memory-safety preconditions.
    let _ = unsafe { libc::fcntl(fd.raw(), libc::F_SETPIPE_SZ, bytes as libc::c_int) };
    #[cfg(not(target_os = "linux"))]
    let _ = (fd, bytes);
}

/// `read(2)`, retrying on EINTR. `Ok(0)` is end of file.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        match cvt_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// `write(2)`, retrying on EINTR. Writing to a pipe whose reader is gone is `EPIPE` (par
/// ignores `SIGPIPE` in workers; Rust programs ignore it at start-up).
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        match cvt_size(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Writes all of `buf` to a blocking fd.
pub(crate) fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
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
    let mut fds: Vec<libc::pollfd> = watches
        .iter()
        .map(|w| libc::pollfd {
            fd: w.fd,
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
    match cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) }) {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    for (w, p) in watches.iter_mut().zip(&fds) {
        let bad = p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0;
        w.readable = w.read && (p.revents & libc::POLLIN != 0 || bad);
        w.writable = w.write && (p.revents & libc::POLLOUT != 0 || bad);
    }
    Ok(())
}

/// A process id.
pub(crate) type Pid = i32;

/// This process' id.
pub(crate) fn getpid() -> Pid {
    std::process::id() as Pid
}

/// Forks a worker process that runs `child` and never returns.
///
/// Before forking, stdout's and stderr's locks are taken and both are flushed (so a line
/// printed before the loop is not printed again by every worker at its exit, and no other
/// thread holds either lock at the fork: the child may print and flush), and the fd registry is
/// locked. In the child, every registered fd
/// not in `keep` is closed, `SIGINT`/`SIGTERM` are reset to their default action (so Ctrl-C
/// stops workers even if the parent handles it), `SIGPIPE` is ignored, and then `child` runs.
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
    use std::io::Write;
    // stdout's and stderr's locks are held across the fork, so that no other thread of the
    // parent holds them at that moment: the child, which flushes stdout before it exits, would
    // wait for ever for a lock whose owner does not exist there. Both processes release them
    // (the child is the same thread, so it owns its copy of each lock).
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let _ = out.flush();
    let _ = err.flush();
    let reg = registry();
    // SAFETY: fork has no memory-safety preconditions in the parent; the child only runs
    // `child`, whose rules are documented above, and leaves by `_exit`.
    let pid = cvt(unsafe { libc::fork() });
    drop((out, err));
    let pid = pid?;
    if pid != 0 {
        return Ok(pid);
    }
    for &fd in reg.iter().filter(|fd| !keep.contains(fd)) {
        // SAFETY: `fd` is one of par's own fds, inherited by this child, which never uses it.
        unsafe { libc::close(fd) };
    }
    drop(reg); // this thread holds it; unlocking the child's copy of the futex is sound
               // SAFETY: SIG_DFL / SIG_IGN are valid dispositions and no handler code is involved.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
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

/// Makes `target` (e.g. 1, stdout) refer to what `fd` refers to.
pub(crate) fn dup2(fd: RawFd, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 only changes this process' fd table; `target` is a standard stream the
    // caller means to replace.
    cvt(unsafe { libc::dup2(fd, target) }).map(drop)
}

/// Ends this process at once with `code`: no destructors, no atexit handlers, no flushing of
/// the parent's stdio buffers (a worker flushes its own stdout first).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}

/// Waits for the child `pid` (never any other: a program's other children are not ours).
pub(crate) fn waitpid(pid: Pid) -> io::Result<Status> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid int for waitpid to fill.
        match cvt(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    if libc::WIFSIGNALED(status) {
        Ok(Status::Signaled(libc::WTERMSIG(status)))
    } else {
        Ok(Status::Exited(libc::WEXITSTATUS(status)))
    }
}

/// Sends `SIGKILL` to `pid`. Errors (already gone) are ignored: the caller reaps it anyway.
pub(crate) fn kill(pid: Pid) {
    // SAFETY: kill has no memory-safety preconditions; `pid` is our own unreaped child, so the
    // pid cannot have been reused by another process.
    let _ = unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Number of threads in this process (Linux: `/proc/self/task`), 1 if unknown.
pub(crate) fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count().max(1))
}

/// CPU time (user + system) that process `pid` has used so far (Linux `/proc`), if known.
pub(crate) fn cpu_time(pid: Pid) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...: comm may hold spaces, so count fields after the last ')'.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
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

/// Maps `len` bytes of zero-filled memory shared with the processes forked later.
pub(super) fn map_shared(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous mapping with a null hint touches no existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(ptr.cast())
}

/// Unmaps what [`map_shared`] returned.
pub(super) fn unmap_shared(ptr: *mut u8, len: usize) {
    // SAFETY: `ptr`/`len` are exactly what mmap returned, and the caller holds no reference
    // into the region any more.
    unsafe { libc::munmap(ptr.cast(), len) };
}

/// Makes this worker die with its parent. `fd` is the read end of this worker's own death pipe,
/// whose write end only the parent holds: when the parent dies (even by `SIGKILL`) the kernel
/// closes it, and with `O_ASYNC` and `F_SETOWN` set here the pipe sends this process `SIGIO`,
/// whose default action ends it. No thread is needed (one cost ~100 us per worker here).
///
/// If arming fails, a thread blocked reading `fd` does the same job.
pub(crate) fn die_with_parent(fd: RawFd) {
    if arm_sigio(fd).is_err() {
        watch_in_thread(fd);
        return;
    }
    // The parent may have died before the pipe was armed: look once.
    let mut b = [0u8; 1];
    if let Ok(0) = read(fd, &mut b) {
        exit_now(70);
    }
}

fn arm_sigio(fd: RawFd) -> io::Result<()> {
    // SAFETY: SIG_DFL is a valid disposition; no handler code is involved.
    if unsafe { libc::signal(libc::SIGIO, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: F_SETOWN takes a pid and has no memory-safety preconditions.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETOWN, libc::getpid()) })?;
    // SAFETY: F_GETFL/F_SETFL only read and change file status flags.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_ASYNC | libc::O_NONBLOCK) })?;
    Ok(())
}

fn watch_in_thread(fd: RawFd) {
    let spawned = std::thread::Builder::new()
        .name("par-death-watch".into())
        .spawn(move || {
            let mut b = [0u8; 1];
            loop {
                match read(fd, &mut b) {
                    Ok(0) | Err(_) => exit_now(70),
                    Ok(_) => {}
                }
            }
        });
    if spawned.is_err() {
        // Without a watcher a worker could outlive its parent; refuse to run instead.
        exit_now(71);
    }
}

/// Starts a new session with this process as its leader: it leaves the terminal's process group
/// (Ctrl-C in the terminal no longer reaches it) and has no controlling terminal.
pub(crate) fn setsid() -> io::Result<()> {
    // SAFETY: setsid has no memory-safety preconditions.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// Points stdin, stdout and stderr at `/dev/null`, as a daemon does: a detached process must
/// not hold its starter's pipes open (a `program | tee log` would wait for it to end).
pub(crate) fn detach_stdio() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for target in 0..3 {
        dup2(null.as_raw_fd(), target)?;
    }
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
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` is the size of `cred`, as
    // getsockopt(SO_PEERCRED) requires; the fd belongs to `stream`, alive for the call.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    cvt(r)?;
    Ok(cred.uid)
}

/// This process' effective user id.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Connects to the socket at `path`.
pub(crate) fn connect(path: &std::path::Path) -> io::Result<Stream> {
    Stream::connect(path)
}

/// Waits for the next connection.
pub(crate) fn accept(l: &Listener) -> io::Result<Stream> {
    l.accept().map(|(s, _)| s)
}

/// The fd of a listener, to keep it open across [`fork`].
pub(crate) fn listener_fd(l: &Listener) -> RawFd {
    l.as_raw_fd()
}
