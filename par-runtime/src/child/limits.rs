//! What a child may use of the machine, set in the child right after the fork, for every
//! family: a memory limit (`RLIMIT_DATA`) and the thread counts of the usual thread pools
//! (environment variables); and how a death that these resources explain is named (a limited
//! child's abort, the kernel's OOM killer) by [`Child::ended`](super::Child::ended).
//!
//! What this module must never do: take a lock in the child. The variables are prepared here,
//! in the parent, and the child merges them into the environment it inherited without a lock
//! (a new `environ` array, one pointer store, see `sys::Environ`), because `setenv` in a child
//! of a multi-threaded parent takes locks (Rust's environment lock, glibc's) that another
//! thread may have held at the fork. (The child allocates that array: glibc's malloc is reset
//! for the child at the fork.)

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::error::Death;
use crate::sys;

/// The signals named here, by number (the same on Linux and macOS).
const SIGABRT: i32 = 6;
const SIGKILL: i32 = 9;

/// The thread-count variables set in workers: joblib/loky's list (`MAX_NUM_THREADS_VARS`:
/// OpenMP, OpenBLAS, MKL, BLIS, Apple's Accelerate, numba, numexpr) and rayon's.
pub(crate) const THREAD_VARS: [&str; 8] = [
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "RAYON_NUM_THREADS",
];

/// The environment variable that sets the threads per worker of every loop and job family
/// that does not set them in code (`0`: leave the environment alone).
pub(crate) const THREADS_ENV: &str = "PAR_THREADS_PER_WORKER";

/// The resources of the children of one family instance (a loop, a `Queue`, a `Pool`): cheap
/// to clone (the prepared environment is shared).
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Bytes of data each child may have (`RLIMIT_DATA`), if limited.
    memory: Option<u64>,
    /// Threads per worker set in code: `Some(0)` leaves the environment alone.
    threads: Option<usize>,
    /// Children running at once, which the default threads per worker divide the cores by.
    workers: usize,
    /// The children's environment, built at the first fork; `None` inside: the parent's own.
    env: Arc<OnceLock<Option<sys::Environ>>>,
}

/// No limits: the child keeps the parent's environment (started channels, background jobs).
impl Default for Limits {
    fn default() -> Self {
        Limits::new(1).threads(Some(0))
    }
}

impl Limits {
    /// The defaults for a family that runs up to `workers` children at once: no memory limit,
    /// threads per worker from `PAR_THREADS_PER_WORKER` or `max(1, cores / workers)`.
    pub(crate) fn new(workers: usize) -> Self {
        Limits {
            memory: None,
            threads: None,
            workers: workers.max(1),
            env: Arc::default(),
        }
    }

    /// True when the code set a memory limit or a thread count: what a call sent to an MPI
    /// rank cannot carry (the rank's serving process is not this family's child).
    pub(crate) fn set_in_code(&self) -> bool {
        self.memory.is_some() || self.threads.is_some()
    }

    /// Each child may have at most `bytes` of data.
    pub(crate) fn memory(mut self, bytes: Option<u64>) -> Self {
        self.memory = bytes;
        self
    }

    /// Threads per worker set in code (`Some(0)`: leave the environment alone).
    pub(crate) fn threads(mut self, n: Option<usize>) -> Self {
        self.threads = n;
        self.env = Arc::default();
        self
    }

    /// The same limits for a family of `workers` children at once (a loop's team, whose
    /// count is known only when it starts).
    pub(crate) fn for_workers(&self, workers: usize) -> Limits {
        Limits::new(workers)
            .memory(self.memory)
            .threads(self.threads)
    }

    /// The memory limit, if any.
    pub(crate) fn memory_limit(&self) -> Option<u64> {
        self.memory
    }

    /// The environment the children get, built (once) in the parent; `None` when they keep
    /// the parent's unchanged.
    pub(crate) fn environ(&self) -> Option<&sys::Environ> {
        self.env
            .get_or_init(|| {
                let explicit = self
                    .threads
                    .or_else(|| parse_threads(std::env::var(THREADS_ENV).ok().as_deref()));
                let set = thread_vars(explicit, cores(), self.workers, |name| {
                    std::env::var_os(name).is_some()
                });
                if set.is_empty() {
                    return None;
                }
                // Only the variables to set: each child merges them into the environment it
                // inherited (see `sys::Environ`).
                Some(sys::Environ::new(
                    set.into_iter().map(|(k, v)| (k.into(), v.into())),
                ))
            })
            .as_ref()
    }
}

/// The cores, looked up once: `available_parallelism` reads cgroup files (about 200 us here),
/// which a loop's start must not pay each time.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(crate::mode::cores)
}

/// `PAR_THREADS_PER_WORKER`'s value as a number of threads (`0`: leave the environment
/// alone); anything else is ignored.
fn parse_threads(value: Option<&str>) -> Option<usize> {
    value?.trim().parse().ok()
}

/// The variables to set in each child and their value: every one of [`THREAD_VARS`] set to
/// `n` when `n` was asked for (in code or `PAR_THREADS_PER_WORKER`; `0` sets none), else to
/// `max(1, cores / workers)` those that the user did not set (`is_set`) — joblib's rule.
pub(crate) fn thread_vars(
    explicit: Option<usize>,
    cores: usize,
    workers: usize,
    is_set: impl Fn(&str) -> bool,
) -> Vec<(&'static str, String)> {
    let (n, override_user) = match explicit {
        Some(0) => return Vec::new(),
        Some(n) => (n, true),
        None => ((cores / workers.max(1)).max(1), false),
    };
    THREAD_VARS
        .iter()
        .filter(|name| override_user || !is_set(name))
        .map(|&name| (name, n.to_string()))
        .collect()
}

/// The OOM killer's count (see `sys::oom_kills`) at most this old is used as a child's
/// count at its birth: reading it costs about 80 us, a fork 150-250 us.
const OOM_COUNT_AGE: Duration = Duration::from_secs(1);

/// The system's OOM-kill count as of at most [`OOM_COUNT_AGE`] ago, to compare with the
/// count at a child's unexplained `SIGKILL`.
pub(crate) fn oom_kills_before_fork() -> Option<u64> {
    static LAST: Mutex<Option<(Instant, Option<u64>)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    match *last {
        Some((at, count)) if at.elapsed() < OOM_COUNT_AGE => count,
        _ => {
            let count = sys::oom_kills();
            *last = Some((Instant::now(), count));
            count
        }
    }
}

/// What killed a child by `signal`, given whether par killed it, its memory limit and the
/// OOM killer's count at its birth (`before`) and now (`after`, read only when it matters):
/// - an abort (`SIGABRT`) of a child with a memory limit is the limit: Rust's allocator aborts
///   when an allocation fails (a panic or an `Err` would have been reported as such);
/// - a `SIGKILL` that par did not send, while the system's OOM-kill count grew, is the
///   kernel's OOM killer (another process' OOM kill at the same moment would look the same:
///   the count is system-wide);
/// - anything else is the signal itself.
pub(crate) fn signal_death(
    signal: i32,
    killed_by_par: bool,
    memory: Option<u64>,
    before: Option<u64>,
    after: impl FnOnce() -> Option<u64>,
) -> Death {
    match (signal, memory) {
        (SIGABRT, Some(limit)) => Death::MemoryLimit { limit, signal },
        (SIGKILL, _) if !killed_by_par => match (before, after()) {
            (Some(b), Some(a)) if a > b => Death::OomKilled,
            _ => Death::Signal(signal),
        },
        _ => Death::Signal(signal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unexplained_sigkill_is_the_oom_killer_only_when_its_count_grew() {
        let kill = |by_par, before, after: Option<u64>| {
            signal_death(SIGKILL, by_par, None, before, || after)
        };
        assert_eq!(kill(false, Some(3), Some(4)), Death::OomKilled);
        assert_eq!(
            kill(false, Some(3), Some(3)),
            Death::Signal(9),
            "no OOM kill"
        );
        assert_eq!(
            kill(false, None, Some(4)),
            Death::Signal(9),
            "count unknown"
        );
        assert_eq!(
            kill(false, Some(3), None),
            Death::Signal(9),
            "count unknown"
        );
        assert_eq!(
            kill(true, Some(3), Some(4)),
            Death::Signal(9),
            "par's own kill"
        );
        let sigsegv = signal_death(11, false, None, Some(1), || Some(2));
        assert_eq!(sigsegv, Death::Signal(11));
    }

    #[test]
    fn a_limited_child_s_abort_is_its_memory_limit() {
        let limit = Some(256 << 20);
        let abort = signal_death(SIGABRT, false, limit, None, || None);
        assert_eq!(
            abort,
            Death::MemoryLimit {
                limit: 256 << 20,
                signal: SIGABRT
            }
        );
        let unlimited = signal_death(SIGABRT, false, None, None, || None);
        assert_eq!(unlimited, Death::Signal(6));
        let segv = signal_death(11, false, limit, None, || None);
        assert_eq!(segv, Death::Signal(11), "a crash, not the limit");
        let messages = [
            Death::OomKilled.to_string(),
            Death::Signal(9).to_string(),
            abort.to_string(),
        ];
        assert_eq!(
            messages,
            [
                "was killed by the kernel's OOM killer (out of memory)",
                "was killed by signal 9 (SIGKILL) from outside par (the kernel's OOM killer or a `kill -9`)",
                "exceeded its memory limit (256 MiB) (killed by SIGABRT: an allocation failed)",
            ]
        );
    }

    #[test]
    fn thread_vars_follow_joblib_s_rule() {
        let none_set = |_: &str| false;
        let omp_set = |name: &str| name == "OMP_NUM_THREADS";
        // Default: cores / workers, at least 1, for the variables the user did not set.
        let v = thread_vars(None, 8, 2, none_set);
        assert_eq!(v.len(), THREAD_VARS.len());
        assert!(v.iter().all(|(_, n)| n == "4"));
        assert!(
            thread_vars(None, 2, 8, none_set)
                .iter()
                .all(|(_, n)| n == "1")
        );
        let v = thread_vars(None, 8, 2, omp_set);
        assert!(
            !v.iter().any(|(k, _)| *k == "OMP_NUM_THREADS"),
            "the user's"
        );
        assert_eq!(v.len(), THREAD_VARS.len() - 1);
        // Asked for: every variable, the user's too; 0 leaves the environment alone.
        let v = thread_vars(Some(3), 8, 2, omp_set);
        assert_eq!(v.len(), THREAD_VARS.len());
        assert!(v.iter().all(|(_, n)| n == "3"));
        assert!(thread_vars(Some(0), 8, 2, none_set).is_empty());
        assert_eq!(parse_threads(Some(" 2 ")), Some(2));
        assert_eq!(parse_threads(Some("0")), Some(0));
        assert_eq!(parse_threads(Some("many")), None);
        assert_eq!(parse_threads(None), None);
    }
}
