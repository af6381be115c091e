//! The one error type of par. Every variant says which item failed and in which worker.

use std::fmt;
use std::time::Duration;

/// How a worker process ended when it should not have.
///
/// It is the `death` of [`Error::WorkerDied`]: match on it to tell a crash from an `exit`.
/// (A crash needs a worker to be isolated in: with `PAR_WORKERS=1` a loop runs inline and a
/// crash is the caller's, so this example only classifies.)
///
/// ```
/// use par::{Death, Error};
///
/// fn advice(e: &Error) -> &'static str {
///     match e {
///         Error::WorkerDied { death: Death::Signal(11), .. } => "a segfault: run the item under a debugger",
///         Error::WorkerDied { death: Death::Exit(_), .. } => "the body called exit(): a library gave up",
///         Error::WorkerDied { death: Death::MemoryLimit { .. } | Death::OomKilled, .. } => "out of memory",
///         Error::WorkerDied { .. } => "killed from outside",
///         _ => "not a death",
///     }
/// }
/// let died = Error::WorkerDied { index: Some(2), pid: 4242, death: Death::Exit(3) };
/// assert_eq!(advice(&died), "the body called exit(): a library gave up");
/// assert_eq!(Death::Exit(3).to_string(), "exited with status 3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Death {
    /// Killed by this signal number (e.g. 9 for `SIGKILL`, 6 for `abort()`, 11 for a segfault).
    /// A `SIGKILL` here was not sent by par (its own kills are timeouts and cancellations):
    /// `kill -9`, or the kernel's OOM killer where par could not tell (see [`Death::OomKilled`]).
    Signal(i32),
    /// Called `exit` with this status before finishing its work.
    Exit(i32),
    /// Ended before finishing its work, how is unknown: the system reaped it before par could
    /// (this process ignores `SIGCHLD`, so its children leave no exit status).
    Unknown,
    /// A worker with a memory limit (`Loop::memory_limit`, `Queue::memory_limit`, ...) died by
    /// `signal` (`SIGABRT`) without reporting a panic: Rust's allocator aborts the process when
    /// an allocation fails, as one beyond the limit does. par cannot see the failed allocation
    /// itself (Rust prints "memory allocation of N bytes failed" on the worker's stderr), so
    /// an `abort()` of the body's own in a limited worker is reported this way too.
    MemoryLimit {
        /// The limit, in bytes.
        limit: u64,
        /// The signal that ended the worker.
        signal: i32,
    },
    /// Killed by `SIGKILL` that par did not send while the kernel's OOM killer killed a process
    /// (Linux: the `oom_kill` count of `/proc/vmstat` grew between the worker's fork and its
    /// death). The count is system-wide: another process killed by it at the same moment, and
    /// this worker by a `kill -9`, would look the same; that is rare.
    OomKilled,
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Death::Signal(9) => write!(
                f,
                "was killed by signal 9 (SIGKILL) from outside par (the kernel's OOM killer or a `kill -9`)"
            ),
            Death::Signal(sig) => write!(
                f,
                "was killed by signal {sig} ({})",
                crate::sys::Sig::from_number(sig)
            ),
            Death::Exit(code) => write!(f, "exited with status {code}"),
            Death::Unknown => write!(
                f,
                "ended, its exit status unknown (the system reaped it: SIGCHLD is ignored)"
            ),
            Death::MemoryLimit { limit, signal } => write!(
                f,
                "exceeded its memory limit ({}) (killed by {})",
                Bytes(limit),
                memory_signal(signal)
            ),
            Death::OomKilled => write!(f, "was killed by the kernel's OOM killer (out of memory)"),
        }
    }
}

/// How a limited worker's death by `sig` reads: `SIGABRT: an allocation failed`.
fn memory_signal(sig: i32) -> String {
    match sig {
        6 => "SIGABRT: an allocation failed".to_string(),
        _ => format!("signal {sig} ({})", crate::sys::Sig::from_number(sig)),
    }
}

/// A byte count as people write it: `2 GiB`, `256 MiB`, `1.5 GiB`, `1000 bytes`.
pub(crate) struct Bytes(pub(crate) u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (1 << 40, "TiB"),
            (1 << 30, "GiB"),
            (1 << 20, "MiB"),
            (1 << 10, "KiB"),
        ];
        let n = self.0;
        match UNITS.iter().find(|(size, _)| n >= *size) {
            Some((size, unit)) if n.is_multiple_of(*size) => write!(f, "{} {unit}", n / size),
            Some((size, unit)) => write!(f, "{:.1} {unit}", n as f64 / *size as f64),
            None => write!(f, "{n} bytes"),
        }
    }
}

/// Where an item was when something went wrong: `Some(i)` is the item index in iteration order.
fn item(index: Option<usize>) -> String {
    match index {
        Some(i) => format!("item {i}"),
        None => "no item (between items)".to_string(),
    }
}

/// The signals a terminal sends to its whole foreground process group and that end a process
/// by default: `SIGHUP` (1), `SIGINT` (2), `SIGQUIT` (3). A worker ended by one while its
/// parent lives was interrupted ([`Error::Interrupted`]), it did not crash.
pub(crate) fn is_interruption(signal: i32) -> bool {
    matches!(signal, 1..=3)
}

/// A loop worker `pid` whose result pipe closed while it still ran (code in an item closed,
/// or `dup2`ed `/dev/null` over, fds it does not own) and that went on without it until it
/// ended (`how`): [`Error::Lost`] about `running`, the item par saw running when the pipe
/// closed (if it saw one), listing the items in `missing` (`start..end` ranges, the first one
/// the chunk it ran) whose values never arrived. The item that closed the pipe is `running`
/// or one before it whose value was not sent yet (values leave in batches): from the first
/// missing one.
pub(crate) fn pipe_lost(
    pid: i32,
    running: Option<usize>,
    missing: &[std::ops::Range<usize>],
    how: &str,
) -> Error {
    let span = |r: &std::ops::Range<usize>| match r.len() {
        1 => format!("item {}", r.start),
        _ => format!("items {} to {}", r.start, r.end - 1),
    };
    let missing: Vec<_> = missing.iter().filter(|r| !r.is_empty()).cloned().collect();
    let first = missing.first().map(|r| r.start);
    let listed = missing.iter().map(span).collect::<Vec<_>>().join(", ");
    let when = match (running, first) {
        (Some(i), Some(f)) if f < i => format!(
            "while item {i} ran (the item that closed it is one of {})",
            span(&(f..i + 1))
        ),
        (Some(i), _) => format!("while item {i} ran"),
        (None, _) => format!("between items (the item that closed it is one of {listed})"),
    };
    Error::Lost {
        index: running.or(first),
        pid: Some(pid),
        message: format!(
            "its result pipe closed {when}: code in an item closed, or dup2'd over, fds it does \
             not own; the worker ran on without it and {how}. These values never arrived: {}",
            if listed.is_empty() { "none" } else { &listed }
        ),
    }
}

/// What a `Panic` frame reports (its `PanicHead::failed`): the body panicked ...
pub(crate) const PANICKED: u8 = 0;
/// ... the body returned `Err` ...
pub(crate) const FAILED: u8 = 1;
/// ... or the value could not be encoded (its `Serialize` returned `Err`).
pub(crate) const ENCODE: u8 = 2;
/// MPI (feature `mpi`): the rank's serving process died during the call; the message is
/// `signal N`, `exit N` or `unknown` ...
pub(crate) const DIED: u8 = 3;
/// ... or was killed when the call ran past the timeout; the message is the timeout in
/// nanoseconds.
pub(crate) const TIMED_OUT: u8 = 4;

/// The error a decoded `Panic` frame's report stands for (see [`PANICKED`]).
pub(crate) fn report_error(
    failed: u8,
    index: usize,
    pid: i32,
    message: String,
    location: Option<String>,
) -> Error {
    match failed {
        FAILED => Error::Failed {
            index,
            pid,
            message,
        },
        ENCODE => Error::Encode {
            index: Some(index),
            pid: Some(pid),
            message,
        },
        DIED => Error::WorkerDied {
            index: Some(index),
            pid,
            death: match message.split_once(' ') {
                Some(("signal", n)) => n.parse().map_or(Death::Unknown, Death::Signal),
                Some(("exit", n)) => n.parse().map_or(Death::Unknown, Death::Exit),
                _ => Death::Unknown,
            },
        },
        TIMED_OUT => Error::TimedOut {
            index,
            pid,
            timeout: Duration::from_nanos(message.parse().unwrap_or(0)),
            parent_threads: 1,
        },
        _ => Error::Panicked {
            index,
            pid,
            message,
            location,
        },
    }
}

/// Everything that can make a parallel loop or call fail.
///
/// Each variant carries the item index (position in iteration order, or the job's submission
/// number for queues) and the pid of the worker process where they are known, so a failure can
/// be reproduced by running that one item sequentially.
///
/// Its `Display` says all of it in one line, ready for a log:
///
/// ```
/// use par::{Error, Loop};
///
/// let r = Loop::new().workers(2).try_collect(0..10u32, |i| {
///     if i == 7 {
///         return Err(format!("no square root for {i}"));
///     }
///     Ok(i * i)
/// });
/// let err = r.unwrap_err();
/// assert_eq!(err.index(), Some(7));
/// assert!(err.to_string().contains("item 7"), "{err}");
/// match err {
///     Error::Failed { index, pid, message } => {
///         assert_eq!(index, 7);
///         assert!(pid > 0);
///         assert_eq!(message, "no square root for 7");
///     }
///     other => panic!("unexpected {other}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The body panicked. `location` is `file:line:column` of the panic.
    Panicked {
        /// Index of the item whose body panicked.
        index: usize,
        /// Worker process that ran it (the parent's own pid in sequential mode).
        pid: i32,
        /// The panic message (the payload if it was a string, else a placeholder).
        message: String,
        /// `file:line:col` where the panic happened, if known.
        location: Option<String>,
    },
    /// The body returned an error (fallible bodies of the `try` forms, `?` in a `par!(try, ...)`).
    Failed {
        /// Index of the item whose body failed.
        index: usize,
        /// Worker process that ran it.
        pid: i32,
        /// The error's `Display` text (errors travel between processes as text).
        message: String,
    },
    /// A worker process died: killed by a signal (`SIGKILL`, `abort()`, a segfault) or `exit()`.
    WorkerDied {
        /// The item it was running, if it was running one.
        index: Option<usize>,
        /// The worker process.
        pid: i32,
        /// Signal or exit status.
        death: Death,
    },
    /// A worker was ended by a signal that a terminal sends to its whole foreground process
    /// group (`SIGINT` for Ctrl-C, `SIGQUIT` for Ctrl-\\, `SIGHUP` when the terminal closes),
    /// or that someone sent it with `kill`, while the parent lived on (it handles, ignores or
    /// blocks that signal): an interruption from outside, not a crash of the item. It is never
    /// retried, and it stops the loop (no new item starts). Where a [`Cancel`](crate::Cancel)
    /// is attached, the handle is cancelled and the loop, queue or pool reports
    /// [`Error::Cancelled`] instead.
    ///
    /// ```
    /// let e = par::Error::Interrupted { index: Some(3), pid: 4242, signal: 2 };
    /// assert_eq!(
    ///     e.to_string(),
    ///     "worker 4242 was interrupted by signal 2 (SIGINT: a Ctrl-C, or a kill) while running item 3; not retried"
    /// );
    /// assert_eq!(e.index(), Some(3));
    /// ```
    Interrupted {
        /// The item it was running, if it was running one.
        index: Option<usize>,
        /// The worker process.
        pid: i32,
        /// The signal's number (2 `SIGINT`, 3 `SIGQUIT`, 1 `SIGHUP`).
        signal: i32,
    },
    /// An item ran longer than the loop's per-item timeout; its worker was killed.
    TimedOut {
        /// The item that did not finish in time.
        index: usize,
        /// The worker process that was killed.
        pid: i32,
        /// The timeout that was exceeded.
        timeout: Duration,
        /// Threads the parent had when it forked: above 1, the worker may have been blocked on a
        /// lock that another thread held at the fork.
        parent_threads: usize,
    },
    /// A value could not be encoded: its `Serialize` returned an error (a custom impl or a
    /// `serialize_with` function that fails, a sequence that does not say its length, ...).
    /// The value never left the process that computed it; the other items go on. (A
    /// `Serialize` that panics is the item's [`Error::Panicked`].)
    Encode {
        /// The item (or job) whose value it was, if known.
        index: Option<usize>,
        /// The process that tried to encode it, if known.
        pid: Option<i32>,
        /// serde's message.
        message: String,
    },
    /// Bytes from a worker could not be decoded: a corrupt, truncated or oversized frame, or a
    /// value that does not decode as the expected type.
    Decode {
        /// The item the bytes were about, if known.
        index: Option<usize>,
        /// The worker that sent them, if known.
        pid: Option<i32>,
        /// What was wrong with them.
        message: String,
    },
    /// A result never arrived: its worker ended without sending it, or the workers covered
    /// fewer items than the loop has. After a worker's death an `ordered` loop hands it out in
    /// the place of the first item without a value, and an `unordered` one at the failed item
    /// with every other item of the dead worker's chunks whose value never arrived named in
    /// `message` (a chunk's values are sent together), so that every item handed out is a
    /// value or named in the error.
    Lost {
        /// The item (or job) whose result is missing, if one is known.
        index: Option<usize>,
        /// The worker that should have sent it, if known.
        pid: Option<i32>,
        /// What is missing.
        message: String,
    },
    /// An item failed on every attempt the loop's `retries` allowed; `last` is how it failed
    /// the last time (a death, a timeout, or with `retry_panics`, a panic).
    Retried {
        /// The item.
        index: usize,
        /// How many times it was run.
        attempts: u32,
        /// The last failure.
        last: Box<Error>,
    },
    /// The loop was stopped by its [`Cancel`](crate::Cancel) handle: no new item was started
    /// after that, every worker was killed and reaped.
    Cancelled,
    /// A call failed on another rank of an MPI job (feature `mpi`, see [`crate::mpi`]):
    /// `source` says how, as it would for a local worker (its pid is the process on the rank
    /// that ran the call: the rank's serving child).
    OnRank {
        /// The rank that ran the call.
        rank: usize,
        /// The node it runs on, as MPI names it.
        host: String,
        /// What went wrong there.
        source: Box<Error>,
    },
    /// A system call failed (fork, pipe, poll, ...).
    Io {
        /// What par was doing.
        context: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// The index of the item (or job) this error is about, if it is about one.
    ///
    /// ```
    /// let err = par::Loop::new().workers(2)
    ///     .try_for_each(0..5u32, |i| if i == 3 { Err("three") } else { Ok(()) })
    ///     .unwrap_err();
    /// assert_eq!(err.index(), Some(3));
    /// assert_eq!(par::Error::Cancelled.index(), None);
    /// ```
    pub fn index(&self) -> Option<usize> {
        match *self {
            Error::Panicked { index, .. }
            | Error::Failed { index, .. }
            | Error::TimedOut { index, .. } => Some(index),
            Error::WorkerDied { index, .. }
            | Error::Interrupted { index, .. }
            | Error::Encode { index, .. }
            | Error::Decode { index, .. }
            | Error::Lost { index, .. } => index,
            Error::Retried { index, .. } => Some(index),
            Error::OnRank { ref source, .. } => source.index(),
            Error::Cancelled | Error::Io { .. } => None,
        }
    }

    /// The MPI rank where the failure happened, if it happened on another rank (feature `mpi`).
    ///
    /// ```
    /// // A local worker's failure happened on no other rank.
    /// let err = par::Loop::new().workers(2)
    ///     .try_for_each(0..2u32, |i| if i == 1 { Err("one") } else { Ok(()) })
    ///     .unwrap_err();
    /// assert_eq!(err.rank(), None);
    /// ```
    pub fn rank(&self) -> Option<usize> {
        match *self {
            Error::OnRank { rank, .. } => Some(rank),
            Error::Retried { ref last, .. } => last.rank(),
            _ => None,
        }
    }

    /// The pid of the worker process involved, if one was and it is known (never `Some(0)`).
    ///
    /// ```
    /// let err = par::Loop::new().workers(2)
    ///     .try_for_each(0..4u32, |i| if i == 2 { Err("two") } else { Ok(()) })
    ///     .unwrap_err();
    /// // The worker's pid (this process's own where the loop ran inline, `PAR_WORKERS=1`).
    /// assert!(err.pid().unwrap() > 0);
    /// ```
    pub fn pid(&self) -> Option<i32> {
        match *self {
            Error::Panicked { pid, .. }
            | Error::Failed { pid, .. }
            | Error::TimedOut { pid, .. }
            | Error::WorkerDied { pid, .. }
            | Error::Interrupted { pid, .. } => Some(pid),
            Error::Encode { pid, .. } | Error::Decode { pid, .. } | Error::Lost { pid, .. } => pid,
            Error::Retried { ref last, .. } => last.pid(),
            Error::OnRank { ref source, .. } => source.pid(),
            Error::Cancelled | Error::Io { .. } => None,
        }
    }

    /// Fills in the item (or job) and the process of an error that the codec raised without
    /// knowing them; the ones already known are kept.
    pub(crate) fn about(mut self, item: usize, process: i32) -> Self {
        if let Error::Encode { index, pid, .. }
        | Error::Decode { index, pid, .. }
        | Error::Lost { index, pid, .. } = &mut self
        {
            index.get_or_insert(item);
            pid.get_or_insert(process);
        }
        self
    }

    /// `self`, said to have happened in `process`: a call on an MPI rank, whose failure rank
    /// 0 would otherwise name by the rank's own pid, not by its serving child's that ran it.
    #[cfg(feature = "mpi")]
    pub(crate) fn ran_in(mut self, process: i32) -> Self {
        match &mut self {
            Error::Panicked { pid, .. }
            | Error::Failed { pid, .. }
            | Error::WorkerDied { pid, .. }
            | Error::Interrupted { pid, .. }
            | Error::TimedOut { pid, .. } => *pid = process,
            Error::Encode { pid, .. } | Error::Decode { pid, .. } | Error::Lost { pid, .. } => {
                *pid = Some(process);
            }
            Error::Retried { last, .. } => {
                let inner = std::mem::replace(&mut **last, Error::Cancelled);
                **last = inner.ran_in(process);
            }
            _ => {}
        }
        self
    }

    pub(crate) fn io(context: &'static str, source: std::io::Error) -> Self {
        Error::Io { context, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Panicked {
                index,
                pid,
                message,
                location,
            } => {
                write!(f, "item {index} panicked in worker {pid}")?;
                if let Some(loc) = location {
                    write!(f, " at {loc}")?;
                }
                write!(f, ": {message}")
            }
            Error::Failed {
                index,
                pid,
                message,
            } => {
                write!(f, "item {index} failed in worker {pid}: {message}")
            }
            Error::WorkerDied {
                index,
                pid,
                death: Death::MemoryLimit { limit, signal },
            } => {
                let (limit, how) = (Bytes(*limit), memory_signal(*signal));
                match index {
                    Some(i) => write!(
                        f,
                        "item {i} exceeded the worker memory limit ({limit}) in worker {pid} (killed by {how})"
                    ),
                    None => write!(
                        f,
                        "worker {pid} exceeded its memory limit ({limit}) between items (killed by {how})"
                    ),
                }
            }
            Error::WorkerDied { index, pid, death } => {
                write!(f, "worker {pid} {death} while running {}", item(*index))
            }
            Error::Interrupted { index, pid, signal } => {
                let how = match *signal {
                    2 | 3 => ": a Ctrl-C, or a kill",
                    1 => ": the terminal closed, or a kill",
                    _ => "",
                };
                write!(
                    f,
                    "worker {pid} was interrupted by signal {signal} ({}{how}) while running {}; not retried",
                    crate::sys::Sig::from_number(*signal),
                    item(*index)
                )
            }
            Error::TimedOut {
                index,
                pid,
                timeout,
                parent_threads,
            } => {
                write!(
                    f,
                    "item {index} timed out after {timeout:?} in worker {pid}; the worker was killed"
                )?;
                if *parent_threads > 1 {
                    write!(
                        f,
                        " (the parent had {parent_threads} threads when it forked: a lock held by another thread at the fork stays locked forever in a worker)"
                    )?;
                }
                Ok(())
            }
            Error::Encode {
                index,
                pid,
                message,
            } => {
                match index {
                    Some(i) => write!(f, "could not encode the value of item {i}")?,
                    None => write!(f, "could not encode a value")?,
                }
                if let Some(pid) = pid {
                    write!(f, " in process {pid}")?;
                }
                write!(f, ": {message}")
            }
            Error::Decode {
                index,
                pid,
                message,
            } => {
                match pid {
                    Some(pid) => write!(f, "could not decode a frame from worker {pid}")?,
                    None => write!(f, "could not decode a frame from a worker")?,
                }
                write!(f, " about {}: {message}", item(*index))
            }
            Error::Lost {
                index,
                pid,
                message,
            } => {
                match index {
                    Some(i) => write!(f, "the result of item {i} never arrived")?,
                    None => write!(f, "results never arrived")?,
                }
                if let Some(pid) = pid {
                    write!(f, " from worker {pid}")?;
                }
                write!(f, ": {message}")
            }
            Error::Retried {
                index,
                attempts,
                last,
            } => write!(
                f,
                "item {index} failed {attempts} times; the last time: {last}"
            ),
            Error::OnRank { rank, host, source } => write!(f, "on rank {rank} ({host}): {source}"),
            Error::Cancelled => write!(f, "the loop was cancelled"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::OnRank { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

/// `Result` with [`Error`].
///
/// ```
/// fn squares(n: u64) -> par::Result<Vec<u64>> {
///     par::Loop::new().try_collect(0..n, |i| Ok::<_, String>(i * i))
/// }
/// assert_eq!(squares(4)?, [0, 1, 4, 9]);
/// # Ok::<(), par::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
