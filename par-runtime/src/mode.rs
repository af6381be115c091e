//! The mode a loop starts in: an explicit sequential mode, inside a worker, or a parent that
//! may fork (with `PAR_WORKERS`). The worker count itself is resolved from this in one place,
//! `loops::exec::workers`.

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
///
/// ```
/// assert!(!par::in_worker()); // the caller
/// let inside = par::Loop::new().workers(2).collect(0..2u8, |_| par::in_worker());
/// // In workers (unless the loop ran inline: `PAR_WORKERS=1`).
/// assert!(inside.iter().all(|&w| w) || par::default_workers() == 1);
/// ```
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
    IN_WORKER.store(false, Ordering::Relaxed);
    DETACHED.store(true, Ordering::Relaxed);
}

/// True where a panic is reported through a pipe or socket rather than printed.
pub(crate) fn captures_panics() -> bool {
    in_worker() || DETACHED.load(Ordering::Relaxed)
}

/// An explicit sequential mode: every loop runs inline, whatever its clauses ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sequential {
    /// `PAR_WORKERS=1`.
    EnvOne,
    /// Inside [`sequential`].
    Scope,
    /// A target without `fork` (non-Unix, or `--cfg par_fallback_sys`).
    CannotFork,
}

impl std::fmt::Display for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sequential::EnvOne => "PAR_WORKERS=1",
            Sequential::Scope => "par::sequential",
            Sequential::CannotFork => "this target cannot fork and",
        })
    }
}

/// Where a loop is started, as far as its worker count goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Here {
    /// An explicit sequential mode: inline, whatever the loop asks.
    Sequential(Sequential),
    /// Inside a worker: a nested loop runs inline unless a clause needs a process.
    InWorker,
    /// A parent that may fork; `PAR_WORKERS` if it is set (a number above 1). A loop's
    /// count is resolved from this, its `workers` option and [`cores`] in one place,
    /// `exec::workers` (the cores only looked up when nothing else gives the count).
    Workers(Option<usize>),
}

/// The mode here and now: whether loops may fork, and the worker count of a loop that does
/// not ask for one.
pub(crate) fn here() -> Here {
    if !crate::sys::CAN_FORK {
        return Here::Sequential(Sequential::CannotFork);
    }
    if SEQUENTIAL.with(|s| s.get() > 0) {
        return Here::Sequential(Sequential::Scope);
    }
    if in_worker() {
        return Here::InWorker;
    }
    match env_workers() {
        // PAR_WORKERS=1 runs every loop inline, a `workers` clause included.
        Some(1) => Here::Sequential(Sequential::EnvOne),
        env => Here::Workers(env),
    }
}

/// True where every loop without a clause that needs a process runs inline, whatever its
/// `workers` option (the job families ask this to know whether they fork at all).
pub(crate) fn runs_inline() -> bool {
    !matches!(here(), Here::Workers(_))
}

/// Says once per call site on stderr that `clause` is ignored because `why` runs loops inline.
pub(crate) fn warn_ignored(
    site: &'static std::panic::Location<'static>,
    clause: &str,
    why: Sequential,
) {
    static WARNED: std::sync::Mutex<Vec<(&'static str, u32, u32)>> =
        std::sync::Mutex::new(Vec::new());
    let key = (site.file(), site.line(), site.column());
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !warned.contains(&key) {
        warned.push(key);
        eprintln!(
            "par: {}:{}: {clause} ignored: {why} runs loops inline",
            site.file(),
            site.line()
        );
    }
}

/// The cores this process may use (at least 1). std's `available_parallelism` counts, on
/// Linux, the CPUs of the process's affinity mask (`sched_getaffinity`: `taskset`, cpusets)
/// and caps that by a cgroup v1 or v2 CPU quota (`cpu.max`, where sysfs shows it);
/// tests/placement.rs checks the affinity half under `taskset`.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `PAR_WORKERS` takes at most this many workers per core (more only oversubscribe the
/// machine and fork a process per item of a small loop); a loop's own `workers = n` clause is
/// not capped.
///
/// ```
/// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
/// assert!(par::default_workers() <= cores * par::MAX_WORKERS_PER_CORE);
/// ```
pub const MAX_WORKERS_PER_CORE: usize = 4;

/// `PAR_WORKERS`, checked: a value that is not a positive number is ignored with a one-line
/// warning on stderr (the default, one worker per core, applies); a value above
/// [`MAX_WORKERS_PER_CORE`] times the cores is capped there, with a warning. Each warning is
/// printed once per value.
fn env_workers() -> Option<usize> {
    let raw = std::env::var("PAR_WORKERS").ok()?;
    let cap = MAX_WORKERS_PER_CORE * cores();
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=cap).contains(&n) => Some(n),
        Ok(n) if n > cap => {
            warn_once(
                &raw,
                &format!(
                    "par: PAR_WORKERS={n} is more than {MAX_WORKERS_PER_CORE} workers per core; using {cap} (a loop's `workers = n` clause is not capped)"
                ),
            );
            Some(cap)
        }
        _ => {
            warn_once(
                &raw,
                &format!(
                    "par: PAR_WORKERS={raw:?} is not a positive number of workers; using the default, one per core ({})",
                    cores()
                ),
            );
            None
        }
    }
}

/// Prints `message` on stderr unless it was printed for this `PAR_WORKERS` value already.
fn warn_once(value: &str, message: &str) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !warned.iter().any(|v| v == value) {
        warned.push(value.to_string());
        eprintln!("{message}");
    }
}

/// `PAR_CHECK=1`: sequential mode round-trips results through the codec.
pub(crate) fn check() -> bool {
    std::env::var_os("PAR_CHECK").is_some_and(|v| v == "1")
}

#[cfg(test)]
mod tests {
    /// Without fork (non-Unix, or `--cfg par_fallback_sys`) every loop runs inline.
    #[cfg(any(not(unix), par_fallback_sys))]
    #[test]
    fn without_fork_every_loop_runs_inline() {
        assert_eq!(crate::default_workers(), 1);
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
        assert_eq!(crate::sequential(crate::default_workers), 1);
    }
}
