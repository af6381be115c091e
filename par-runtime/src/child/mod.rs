//! One forked child of par's, the same for every family (loop workers, `Queue`/`Map` jobs,
//! `Pool` workers, started channels, background jobs): how it is started ([`spawn`]), how it
//! runs and leaves ([`report::run_child`]), how it ends ([`Child`]: kill, reap, the death it
//! stands for, kill-and-reap on drop), and how the parent waits on many ([`wait`]).
//!
//! What this layer guarantees to the families above it:
//! - a child never returns into the code that forked it and never unwinds out of its body: it
//!   leaves by `_exit`, after flushing its stdout;
//! - a child dies with its parent, whatever signals the parent or the body block or ignore
//!   (Linux's parent-death `SIGKILL`, and the death pipe), and a [`Child`] that is dropped is
//!   killed and reaped: no zombie, no orphan, whatever path the parent takes;
//! - a child that vanished before par could reap it (`SIGCHLD` ignored) is a normal end when
//!   its work was complete and a death when it was not ([`Child::ended`]);
//! - a child gets its family's [`Limits`] (memory limit, thread-pool variables) before it
//!   runs anything else, and the deaths they explain are named in one place,
//!   [`Child::ended`].
//!
//! Below it: `wire` (frames), `codec`, `error`, `sys` (the fork itself). `fork` is called here
//! and nowhere else outside `sys`.

pub(crate) mod limits;
pub(crate) mod options;
pub(crate) mod place;
pub(crate) mod report;
pub(crate) mod wait;

use std::io;

pub(crate) use self::limits::Limits;
use crate::error::{Death, Error, Result, is_interruption};
use crate::mode;
use crate::sys::{self, Fd, Pid, RawFd, Status};

/// Bytes a pipe to or from a child is grown to where that pays (loop results, channels): a
/// 1 MiB pipe moved several times more bytes per second than the default 64 KiB one here (the
/// pipe bandwidth floors of benches/compare.rs), and messages up to it never block the sender
/// while the receiver is busy.
pub(crate) const PIPE_BYTES: usize = 1 << 20;

/// Which pipes a child gets besides its result pipe and its death pipe, and its limits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pipes {
    /// A command pipe from the parent (loop chunks, pool calls, channel messages).
    pub(crate) cmd: bool,
    /// The parent's end of the command pipe is non-blocking (the parent polls it).
    pub(crate) cmd_nonblocking: bool,
    /// A pipe that becomes the child's stdout (while a progress bar is drawn).
    pub(crate) stdout: bool,
    /// Grow the command and result pipes to [`PIPE_BYTES`].
    pub(crate) large: bool,
    /// What the child is, for error messages.
    pub(crate) what: What,
    /// Its memory limit and environment, set in the child right after the fork.
    pub(crate) limits: Limits,
    /// The child may outlive the call that forks it and be used from another thread (`Pool`
    /// workers, started channels). Linux's parent-death signal fires when the *thread* that
    /// forked ends, so such a child gets it only when forked on a thread that lasts as long
    /// as the process ([`forking_thread_lasts`]; [`spawn_lasting`] forks on one); otherwise
    /// it dies with its parent by the death pipe alone. The other children (loop workers,
    /// `Queue`/`Map` jobs) are forked by a call that waits for them, or by a value that
    /// cannot leave its thread, and always get it.
    pub(crate) outlives_call: bool,
}

/// The error contexts that name a kind of child (`Error::Io`'s context is a static string).
#[derive(Debug, Clone, Copy)]
pub(crate) struct What {
    pipe: &'static str,
    fork: &'static str,
    nonblocking: &'static str,
}

macro_rules! what {
    ($name:literal) => {
        What {
            pipe: concat!("could not create a pipe for ", $name),
            fork: concat!("could not fork ", $name),
            nonblocking: concat!("could not make a pipe of ", $name, " non-blocking"),
        }
    };
}

impl What {
    pub(crate) const WORKER: What = what!("a worker");
    pub(crate) const JOB: What = what!("a job");
    pub(crate) const POOL_WORKER: What = what!("a pool worker");
    pub(crate) const STARTED: What = what!("a started child");
    pub(crate) const LAUNCHER: What = what!("a background job's launcher");
}

impl Default for What {
    fn default() -> Self {
        What::WORKER
    }
}

/// One side's ends of a child's pipes. In the parent: write `cmd`, read `res` and `stdout`
/// (both non-blocking). In the child: read `cmd`, write `res` (blocking).
#[derive(Debug)]
pub(crate) struct Ends {
    pub(crate) cmd: Option<Fd>,
    pub(crate) res: Fd,
    pub(crate) stdout: Option<Fd>,
}

/// A forked child, owned by the parent until it is reaped. Dropping it kills and reaps it.
#[derive(Debug)]
pub(crate) struct Child {
    pid: Pid,
    /// The parent's end of the child's death pipe: the child dies when it closes, so it is
    /// dropped only once the child is reaped (or with the parent).
    death: Option<Fd>,
    reaped: bool,
    killed: bool,
    /// It still ran after its pipe to the parent closed, owing work, and was killed for it
    /// ([`Child::ended`]).
    cut_off: bool,
    /// The memory limit it was forked with: its abort is reported as that limit.
    memory: Option<u64>,
    /// The kernel's OOM-kill count when it was forked (`limits::oom_kills_before_fork`).
    oom_kills: Option<u64>,
    /// MPI (feature `mpi`): this link is to a rank of an MPI job, not to a forked child: it is
    /// never signalled or waited for here, and its end means the link closed.
    rank: Option<usize>,
}

/// Forks a child that runs `body` with its ends of the pipes `pipes` asks for, after marking
/// itself a worker and arming its death with the parent; returns the child and the parent's
/// ends. `body` returns the child's exit code; if it unwinds, the child exits with 101. Either
/// way the child flushes its stdout and leaves by `_exit`.
pub(crate) fn spawn(pipes: Pipes, body: impl FnOnce(Ends) -> i32) -> Result<(Child, Ends)> {
    spawn_keeping(pipes, &[], body)
}

/// [`spawn`], with `keep`: other fds of par's that the child keeps open (a background job's
/// listening socket).
pub(crate) fn spawn_keeping(
    pipes: Pipes,
    keep: &[RawFd],
    body: impl FnOnce(Ends) -> i32,
) -> Result<(Child, Ends)> {
    fork_child(pipes, keep, &(), move |(), ends| body(ends))
}

/// [`spawn`], handing the child its own copy of `value` by value while the parent keeps
/// `value` (so that a job's closure can be forked again if its child dies).
pub(crate) fn spawn_with<T>(
    pipes: Pipes,
    value: &T,
    body: impl FnOnce(T, Ends) -> i32,
) -> Result<(Child, Ends)> {
    fork_child(pipes, &[], value, body)
}

/// [`spawn`] for a child that outlives the call (see [`Pipes::outlives_call`], set here): on a
/// thread that lasts as long as the process, so that the child's parent-death signal fires
/// when the process ends, not when the thread that happened to fork it does (a `Pool` made
/// on a thread that exits while the pool lives on, moved to another). Off the main thread the
/// fork happens on par's forking thread, started at the first such fork, while the caller
/// waits.
pub(crate) fn spawn_lasting(
    mut pipes: Pipes,
    body: impl FnOnce(Ends) -> i32 + Send + 'static,
) -> Result<(Child, Ends)> {
    pipes.outlives_call = true;
    if forking_thread_lasts() {
        return spawn(pipes, body);
    }
    let what = pipes.what;
    forker::run(move || spawn(pipes, body)).unwrap_or_else(|| {
        Err(Error::io(
            what.fork,
            io::Error::other("par's forking thread could not be started or ended"),
        ))
    })
}

/// True when this thread lasts as long as the process: the main thread, or par's forking
/// thread.
pub(crate) fn forking_thread_lasts() -> bool {
    sys::on_main_thread() || forker::is_forker()
}

/// par's forking thread: one thread per process, started at the first fork of a lasting
/// child off the main thread, that never ends. It runs one fork at a time for callers that
/// wait for it.
mod forker {
    use std::cell::Cell;
    use std::sync::mpsc::{self, Sender};
    use std::sync::{Mutex, PoisonError};

    use crate::sys::{self, Pid};

    type Task = Box<dyn FnOnce() + Send>;

    /// The forking thread's queue, and the process it belongs to: a forked child inherits
    /// this static but not the thread, and starts its own when it needs one. The lock is held
    /// only to clone or set the queue, never across a fork; a child forked while another
    /// thread held it would wait for ever here, but only if that child itself used a pool
    /// off its main thread (a known limit, not seen).
    static FORKER: Mutex<Option<(Pid, Sender<Task>)>> = Mutex::new(None);

    /// The stack of the forking thread, which becomes a forked child's only stack: a main
    /// thread's usual size (Linux's default `ulimit -s`), not a spawned thread's 2 MiB.
    const STACK: usize = 8 << 20;

    thread_local! {
        static IS_FORKER: Cell<bool> = const { Cell::new(false) };
    }

    pub(super) fn is_forker() -> bool {
        IS_FORKER.with(Cell::get)
    }

    /// Runs `f` on the forking thread and returns its result; `None` if the thread could not
    /// be started or `f` panicked there.
    pub(super) fn run<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
        let (done, result) = mpsc::sync_channel(1);
        let task: Task = Box::new(move || {
            let _ = done.send(f());
        });
        let queue = {
            let mut forker = FORKER.lock().unwrap_or_else(PoisonError::into_inner);
            let me = sys::getpid();
            match &*forker {
                Some((pid, queue)) if *pid == me => queue.clone(),
                _ => {
                    let queue = start()?;
                    *forker = Some((me, queue.clone()));
                    queue
                }
            }
        };
        queue.send(task).ok()?;
        result.recv().ok()
    }

    fn start() -> Option<Sender<Task>> {
        let (queue, tasks) = mpsc::channel::<Task>();
        std::thread::Builder::new()
            .name("par-forker".into())
            .stack_size(STACK)
            .spawn(move || {
                IS_FORKER.with(|f| f.set(true));
                for task in tasks {
                    // A panic of one fork is that caller's (its result channel closes), not
                    // the end of the thread.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
                }
            })
            .ok()?;
        Some(queue)
    }
}

/// Starts a detached process (a background job, from its launcher, which then exits so that
/// init adopts it): not a worker (its loops fork), its panics captured, `keep` its only fd of
/// par's. It runs `body` and leaves by `_exit` with its code; nobody reaps it but init.
pub(crate) fn detach(keep: RawFd, body: impl FnOnce() -> i32) -> io::Result<Pid> {
    fork(&[keep], &(), move |()| {
        mode::mark_detached();
        body()
    })
}

/// The one call of `sys::fork` above `sys`: the child runs `body` under [`report::run_child`]
/// (so it leaves by `_exit`, whatever happens) with its own copy of `value`.
fn fork<T>(keep: &[RawFd], value: &T, body: impl FnOnce(T) -> i32) -> io::Result<Pid> {
    sys::fork_with(keep, value, move |value| {
        report::run_child(move || body(value))
    })
}

/// The one fork of a child with pipes (see [`spawn`]).
fn fork_child<T>(
    pipes: Pipes,
    also_keep: &[RawFd],
    value: &T,
    body: impl FnOnce(T, Ends) -> i32,
) -> Result<(Child, Ends)> {
    let what = pipes.what;
    report::install_panic_hook();
    // Where the forking thread may end before the child, the child must not die with it.
    let pdeathsig = !pipes.outlives_call || forking_thread_lasts();
    let parent = sys::getpid();
    // Built here, in the parent: the child only installs them (no lock, no allocation there).
    let memory = pipes.limits.memory_limit();
    let environ = pipes.limits.environ();
    let oom_kills = limits::oom_kills_before_fork();
    let pipe = || sys::pipe().map_err(|e| Error::io(what.pipe, e));
    let cmd = if pipes.cmd { Some(pipe()?) } else { None };
    let (res_r, res_w) = pipe()?;
    let (death_r, death_w) = pipe()?;
    let out = if pipes.stdout { Some(pipe()?) } else { None };
    if pipes.large {
        sys::grow_pipe(&res_r, PIPE_BYTES);
        if let Some((_, w)) = &cmd {
            sys::grow_pipe(w, PIPE_BYTES);
        }
    }
    let (cmd_r, cmd_w) = cmd.unzip();
    let (out_r, out_w) = out.unzip();
    let keep: Vec<RawFd> = [Some(&res_w), Some(&death_r), cmd_r.as_ref(), out_w.as_ref()]
        .into_iter()
        .flatten()
        .map(Fd::raw)
        .chain(also_keep.iter().copied())
        .collect();
    let child_ends = Ends {
        cmd: cmd_r,
        res: res_w,
        stdout: out_w,
    };
    // The child's ends move into the closure; in the parent `fork` drops (closes) them.
    let pid = fork(&keep, value, move |value| {
        mode::mark_worker();
        if let Some(env) = environ {
            env.install();
        }
        if let Some(bytes) = memory {
            // The soft limit is clamped to the hard one, so this fails only if the kernel
            // refuses `setrlimit` itself: the child then never runs unlimited (status 1).
            if sys::limit_data(bytes).is_err() {
                return 1;
            }
        }
        if let Some(out) = &child_ends.stdout
            && sys::redirect_stdout(out).is_err()
        {
            return 1;
        }
        sys::die_with_parent(&death_r, parent, pdeathsig);
        let code = body(value, child_ends);
        report::flush_stdout();
        code
    })
    .map_err(|e| Error::io(what.fork, e))?;
    let child = Child {
        pid,
        death: Some(death_w),
        reaped: false,
        killed: false,
        cut_off: false,
        memory,
        oom_kills,
        rank: None,
    };
    let nonblocking =
        |fd: &Fd| sys::set_nonblocking(fd).map_err(|e| Error::io(what.nonblocking, e));
    nonblocking(&res_r)?;
    if let Some(r) = &out_r {
        nonblocking(r)?;
    }
    if let (Some(w), true) = (&cmd_w, pipes.cmd_nonblocking) {
        nonblocking(w)?;
    }
    Ok((
        child,
        Ends {
            cmd: cmd_w,
            res: res_r,
            stdout: out_r,
        },
    ))
}

impl Child {
    /// MPI: a pool worker that is a rank of an MPI job (its process `pid` runs on its own
    /// node). Killing and reaping it does nothing; its end is the link's (see `crate::mpi`).
    pub(crate) fn rank(rank: usize, pid: Pid) -> Child {
        Child {
            pid,
            death: None,
            reaped: false,
            killed: false,
            cut_off: false,
            memory: None,
            oom_kills: None,
            rank: Some(rank),
        }
    }

    /// MPI: the rank this is a link to, `None` for a forked child.
    pub(crate) fn rank_of(&self) -> Option<usize> {
        self.rank
    }

    /// The child's pid, as errors report it.
    pub(crate) fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// The child's process id, for `sys` (its CPU time, where it waits).
    pub(crate) fn process(&self) -> Pid {
        self.pid
    }

    /// True once [`Child::kill`] was called before the child was reaped.
    pub(crate) fn was_killed(&self) -> bool {
        self.killed
    }

    /// True once reaped.
    pub(crate) fn is_reaped(&self) -> bool {
        self.reaped
    }

    /// Sends it `SIGKILL` unless it is reaped already (its pid could be another's by now).
    pub(crate) fn kill(&mut self) {
        if !self.reaped && self.rank.is_none() {
            sys::kill(self.pid);
            self.killed = true;
        }
    }

    /// Waits for it to end and closes its death pipe; `None` if it was reaped already.
    pub(crate) fn reap(&mut self) -> Option<io::Result<Status>> {
        if self.reaped {
            return None;
        }
        if self.rank.is_some() {
            // MPI: not our child; nothing to wait for.
            self.reaped = true;
            return Some(Ok(Status::Exited(0)));
        }
        let status = sys::waitpid(self.pid);
        self.reaped = true;
        self.death = None;
        crate::trace::worker_exited(self.pid.as_raw(), &status);
        Some(status)
    }

    /// Reaps a child whose pipe to this process has closed while it owed work: it has
    /// exited, or is about to (a process closes its fds on its way out, after its memory is
    /// freed, so only a few steps remain), or code in it closed or replaced its fds and it
    /// runs on. Waiting for that one would hang this process (and its timeouts) for as long
    /// as it runs, so one still running after [`CUT_OFF_GRACE`] is killed (`cut_off`).
    fn reap_after_eof(&mut self) -> Option<io::Result<Status>> {
        if self.reaped || self.rank.is_some() {
            return self.reap();
        }
        let start = std::time::Instant::now();
        loop {
            match sys::try_waitpid(self.pid) {
                Ok(None) if start.elapsed() < CUT_OFF_GRACE => {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                Ok(None) => {
                    // Not `kill`: a process that was dying anyway keeps its own status (and
                    // its OOM kill stays one), and `cut_off` says who sent a SIGKILL.
                    sys::kill(self.pid);
                    self.cut_off = true;
                    return self.reap();
                }
                Ok(Some(status)) => {
                    self.reaped = true;
                    self.death = None;
                    let status = Ok(status);
                    crate::trace::worker_exited(self.pid.as_raw(), &status);
                    return Some(status);
                }
                Err(_) => return self.reap(),
            }
        }
    }

    /// True once the child was killed for running on after its pipe to this process closed
    /// (see [`Child::ended`]).
    pub(crate) fn was_cut_off(&self) -> bool {
        self.cut_off
    }

    /// Kills and reaps it (an early end: its work is abandoned).
    pub(crate) fn kill_and_reap(&mut self) {
        self.kill();
        let _ = self.reap();
    }

    /// Reaps it and tells what its end means: `None` for a normal end, or the death of the
    /// child that was running item or job `index`. `work_left` says whether it still owed
    /// work (a value, a frame, a `Done`): an `exit(0)` or a vanished child (reaped by the
    /// system because `SIGCHLD` is ignored) is a normal end without work left and a death
    /// with it. `None` too if it was reaped already (its end was reported then).
    ///
    /// This is where a death is named (`limits::signal_death`): the abort of a child with a
    /// memory limit is [`Death::MemoryLimit`], a `SIGKILL` par did not send while the kernel's
    /// OOM-kill count grew is [`Death::OomKilled`]; a `SIGINT`, `SIGQUIT` or `SIGHUP` is no
    /// death but [`Error::Interrupted`]. A child that still runs [`CUT_OFF_GRACE`] after its
    /// pipe closed, owing work, is killed and is [`Error::Lost`] (its fds were closed or
    /// replaced by code in it).
    pub(crate) fn ended(&mut self, index: Option<usize>, work_left: bool) -> Option<Error> {
        if let Some(rank) = self.rank {
            // MPI: the link to the rank closed (the job is ending).
            let _ = self.reap()?;
            return work_left.then(|| crate::mpi::link_lost(rank, index, self.pid.as_raw()));
        }
        let status = if work_left {
            self.reap_after_eof()?
        } else {
            self.reap()?
        };
        if !work_left && ended_normally(&status) {
            return None;
        }
        let death = match status {
            Ok(Status::Signaled(sig)) if self.cut_off && sig.number() == SIGKILL => {
                return Some(Error::Lost {
                    index,
                    pid: Some(self.pid.as_raw()),
                    message: "its pipe to par closed while it still ran (code in it closed, \
                              or dup2'd over, fds it does not own); par killed it"
                        .into(),
                });
            }
            // A Ctrl-C (or the like) that reached the child while this parent lives on (par
            // itself only ever sends `SIGKILL`).
            Ok(Status::Signaled(sig)) if is_interruption(sig.number()) => {
                return Some(Error::Interrupted {
                    index,
                    pid: self.pid.as_raw(),
                    signal: sig.number(),
                });
            }
            Ok(Status::Exited(code)) => Death::Exit(code),
            Ok(Status::Signaled(sig)) => limits::signal_death(
                sig.number(),
                self.killed,
                self.memory,
                self.oom_kills,
                sys::oom_kills,
            ),
            Err(e) if sys::no_such_child(&e) => Death::Unknown,
            Err(e) => return Some(Error::io("could not reap a child process", e)),
        };
        Some(Error::WorkerDied {
            index,
            pid: self.pid.as_raw(),
            death,
        })
    }
}

/// How long a child whose pipe closed while it owed work may take to be seen exited before it
/// is taken for one that runs on without its pipe and is killed (see `Child::reap_after_eof`):
/// far more than the few steps of an exit that has closed its fds.
const CUT_OFF_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

const SIGKILL: i32 = 9;

/// An exit status 0, or a child the system reaped for us.
fn ended_normally(status: &io::Result<Status>) -> bool {
    match status {
        Ok(Status::Exited(0)) => true,
        Ok(_) => false,
        Err(e) => sys::no_such_child(e),
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

#[cfg(all(test, unix, not(par_fallback_sys)))]
mod tests {
    use super::*;

    /// An unwind never leaves a forked child: `run_child` turns a panic of par's own code into
    /// exit status 101, and so does `sys::fork` itself for a child that has no guard of its own;
    /// a body that panics under [`spawn`] does too.
    #[test]
    fn a_panic_in_par_s_own_child_code_exits_the_child() {
        let guarded = sys::fork(&[], || {
            report::run_child(|| panic!("par's own child code panicked"))
        });
        let bare = sys::fork(&[], || panic!("a child with no guard of its own panicked"));
        for pid in [guarded, bare] {
            let pid = pid.expect("fork");
            assert!(
                matches!(sys::waitpid(pid), Ok(Status::Exited(101))),
                "child {pid}"
            );
        }
        let (mut child, _ends) = spawn(Pipes::default(), |_| panic!("a body panicked")).unwrap();
        let e = child.ended(Some(3), true).expect("a death");
        assert!(
            matches!(
                e,
                Error::WorkerDied {
                    index: Some(3),
                    death: Death::Exit(101),
                    ..
                }
            ),
            "{e}"
        );
    }

    /// A child whose work is complete and that exited 0 ended normally; the same exit with
    /// work left is its item's death; a second look finds it reaped and says nothing.
    #[test]
    fn an_end_is_a_death_only_with_work_left() {
        let (mut done, _ends) = spawn(Pipes::default(), |_| 0).unwrap();
        assert!(done.ended(Some(0), false).is_none());
        assert!(done.ended(Some(0), true).is_none(), "reaped already");
        let (mut early, _ends) = spawn(Pipes::default(), |_| 0).unwrap();
        let e = early.ended(Some(1), true).expect("a death");
        assert!(matches!(
            e,
            Error::WorkerDied {
                death: Death::Exit(0),
                ..
            }
        ));
    }

    /// Dropping a child kills and reaps it: no zombie is left behind.
    #[test]
    fn a_dropped_child_is_killed_and_reaped() {
        let (child, _ends) = spawn(Pipes::default(), |_| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        })
        .unwrap();
        let pid = child.pid();
        drop(child);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} is still there"
        );
    }
}
