//! Whether a loop forks or runs inline, and how many workers it gets.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

static IN_WORKER: AtomicBool = AtomicBool::new(false);

thread_local! {
    static SEQUENTIAL: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` with every parallel loop inside it (on this thread) running inline, sequentially,
/// in the calling process. Useful to debug a body with a debugger, or to compare results.
///
/// ```
/// let v = par::sequential(|| par::Loop::new().workers(4).collect(0..3u8, |i| std::process::id() + i as u32));
/// assert_eq!(v[0], std::process::id());
/// ```
pub fn sequential<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SEQUENTIAL.with(|s| s.set(s.get() - 1));
        }
    }
    SEQUENTIAL.with(|s| s.set(s.get() + 1));
    let _reset = Reset;
    f()
}

/// True in a par worker process. Loops started in a worker run inline (no fork bombs).
pub fn in_worker() -> bool {
    IN_WORKER.load(Ordering::Relaxed)
}

pub(crate) fn mark_worker() {
    IN_WORKER.store(true, Ordering::Relaxed);
}

static DETACHED: AtomicBool = AtomicBool::new(false);

/// Marks a detached background process: not a worker (its loops fork), but its panics are
/// reported to the collector, not printed.
pub(crate) fn mark_detached() {
    DETACHED.store(true, Ordering::Relaxed);
}

/// True where a panic is reported through a pipe or socket rather than printed.
pub(crate) fn captures_panics() -> bool {
    in_worker() || DETACHED.load(Ordering::Relaxed)
}

/// The number of worker processes a loop without a `workers` option gets here and now:
/// `PAR_WORKERS`, else the number of cores; 1 when loops run inline (inside a worker, inside
/// [`sequential`], on a non-Unix target).
///
/// ```
/// assert!(par::default_workers() >= 1);
/// assert_eq!(par::sequential(par::default_workers), 1);
/// ```
pub fn default_workers() -> usize {
    workers(None)
}

/// The number of workers a loop gets: 1 means "run inline".
pub(crate) fn workers(requested: Option<usize>) -> usize {
    if !crate::sys::CAN_FORK || in_worker() || SEQUENTIAL.with(|s| s.get() > 0) {
        return 1;
    }
    let env = env_usize("PAR_WORKERS");
    if env == Some(1) {
        return 1;
    }
    requested
        .or(env)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// `PAR_CHECK=1`: sequential mode round-trips results through the codec.
pub(crate) fn check() -> bool {
    std::env::var_os("PAR_CHECK").is_some_and(|v| v == "1")
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    /// Without fork (non-Unix, or `--cfg par_fallback_sys`) every loop runs inline.
    #[cfg(any(not(unix), par_fallback_sys))]
    #[test]
    fn without_fork_every_loop_runs_inline() {
        assert_eq!(super::default_workers(), 1);
        let pids = crate::Loop::new()
            .workers(8)
            .collect(0..5u8, |_| std::process::id());
        assert!(pids.iter().all(|&p| p == std::process::id()));
        let v = crate::SharedVec::<u32>::new(4).unwrap();
        crate::Loop::new()
            .workers(2)
            .for_each(0..4usize, |i| v.set(i, i as u32 * 3));
        assert_eq!(v.to_vec(), vec![0, 3, 6, 9]);
    }

    #[test]
    fn sequential_forces_one_worker() {
        assert_eq!(crate::sequential(super::default_workers), 1);
    }
}
