//! A loop's options: the [`Loop`] builder as the runtime reads it. What decides where a loop
//! runs (the worker count asked for, the `if` clause, the report) is read by `exec`; the rest
//! is [`Clauses`], one value the team keeps, whose options shared with the job families
//! (limits, frame size, timeout, retries, cancel, progress) are `child::options::Options`.
//! The forms that run a loop ([`Loop::collect`] and the others) are implemented in
//! `par_loop`, above the team and the workers, which read these options from here.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cancel::Cancel;
use crate::child::options::Options;
use crate::child::place::ProcBind;

use crate::loops::sched::Schedule;

/// A parallel loop: options, then one of the forms ([`collect`](Loop::collect),
/// [`for_each`](Loop::for_each), [`reduce`](Loop::reduce), [`unordered`](Loop::unordered)), each
/// with a fallible `try_` twin that returns [`Error`](crate::Error) instead of panicking.
///
/// The body closure and everything it captures reach the workers by `fork`: they need not be
/// `Send`, `Sync`, `'static` or serializable. Only what the body returns (and reduction
/// partials) travels back, so only that must implement [`Transfer`](crate::Transfer) (serde).
///
/// ```
/// let squares = par::Loop::new().workers(2).collect(0..10u64, |i| i * i);
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// ```
///
/// # Workers and sequential mode
///
/// The worker count defaults to the number of available cores; `PAR_WORKERS=N` in the
/// environment overrides that default and [`Loop::workers`] overrides both.
///
/// Where a loop runs is decided in one place, from its clauses, its input and the mode:
///
/// - A loop that asks for something only a process gives, a [`timeout`](Loop::timeout),
///   [`retries`](Loop::retries), a [`memory_limit`](Loop::memory_limit),
///   [`max_items_per_worker`](Loop::max_items_per_worker),
///   [`parallel(true)`](Loop::parallel) (`if = true`), a [`cancel`](Loop::cancel) handle or
///   `keep_going` (`collect_each`, `reduce_each`: a crash fails only its item), forks at least
///   one worker: with `workers(1)`, on a one-CPU machine, and nested inside a worker's item
///   (it forks its own worker, or `workers(n)` of them).
/// - A loop without such a clause runs inline, in the calling process, when it gets one
///   worker (`workers(1)`, one core), when it is nested in a worker (nested loops never fork
///   again), when it has no items, with `parallel(false)`, and when the `auto` schedule
///   predicts inline is faster (see [`Loop::parallel`]).
/// - The explicit sequential modes, `PAR_WORKERS=1`, [`sequential`](crate::sequential) and a
///   target that cannot fork (non-Unix), run every loop inline and keep none of the clauses
///   above (an item's crash is the caller's, a timeout is not enforced, a memory limit not
///   set; `cancel` is still looked at between items, `keep_going` still gives panics and `Err`s
///   to their items). par says so once per call site on stderr: `par: src/main.rs:42:
///   timeout ignored: PAR_WORKERS=1 runs loops inline`.
///
/// With `PAR_CHECK=1`, sequential mode still round-trips every result through the codec, so
/// a type that does not survive serialization fails without forking.
///
/// # Forking from a multi-threaded program
///
/// `fork` copies only the calling thread. A worker of a multi-threaded parent (a test under
/// `cargo test`, a program with a thread pool) works as long as its body does not take a lock
/// that another thread of the parent held at the moment of the fork: such a lock stays locked
/// forever in the child. par itself takes no such lock in the child and the allocator is
/// fork-safe, but a `Mutex` of your own, `stdout` locked by another thread, or a C library's
/// internal lock may deadlock the worker. A [`timeout`](Loop::timeout) turns such a hang into
/// [`Error::TimedOut`](crate::Error::TimedOut), whose message says the parent was multi-threaded.
///
/// # From async code
///
/// A loop (and `par!`, [`join`](crate::join), a [`Queue`](crate::Queue)...) blocks its caller
/// until its values are in. Called straight from an `async fn`, it blocks the runtime thread
/// it runs on, and the tasks waiting for that thread stop (a 10 ms ticker ticked 17 times in
/// 600 ms). Run it with `tokio::task::spawn_blocking` (async-std and smol have their own
/// `spawn_blocking`): the loop then waits on a thread of the blocking pool and the runtime goes
/// on. The body runs in the forked workers, which hold a copy of the runtime they never use:
/// do not call into the runtime (`Handle::current().block_on`, a channel of it) from a body.
///
/// ```
/// async fn checksums(files: Vec<Vec<u8>>) -> Vec<u64> {
///     tokio::task::spawn_blocking(move || {
///         par::Loop::new().collect(&files, |f| f.iter().map(|&b| b as u64).sum())
///     })
///     .await
///     .expect("the loop ran to its end")
/// }
///
/// let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
/// let sums = rt.block_on(checksums(vec![vec![1, 2, 3], vec![250; 4]]));
/// assert_eq!(sums, [6, 1000]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Loop {
    /// The `workers` option as asked (`workers(0)` is kept as 0): `exec::decide` turns it,
    /// with the mode, into the one worker count a team gets.
    pub(crate) workers: Option<usize>,
    /// `if = ...`: read by `exec::decide` only.
    pub(crate) parallel: Option<bool>,
    /// `report`: read by `exec` (the report's context) only.
    pub(crate) report: bool,
    /// Everything else: what the team (or the inline run) runs the loop with.
    pub(crate) clauses: Clauses,
}

/// The options of a [`Loop`] that the team reads as they are, one value it keeps for its
/// whole run (`team::Team` holds a clone; the inline run reads the same value): the schedule,
/// the per-item policies of loops (retrying panics, the stall warning, recycling), the places,
/// and the options loops share with the job families ([`Options`]: limits, frame size,
/// timeout, retries, cancel, progress). Where a loop runs and on how many workers is not
/// here: `exec::decide` resolves that from [`Loop`]'s other fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clauses {
    pub(crate) schedule: Schedule,
    /// The options of every family of children (the job families have the same value).
    pub(crate) common: Options,
    pub(crate) retry_panics: bool,
    pub(crate) stall_after: Option<Duration>,
    pub(crate) max_items_per_worker: Option<usize>,
    pub(crate) proc_bind: Option<ProcBind>,
}

/// The default of [`Loop::stall_after`].
const STALL_AFTER: Duration = Duration::from_secs(10);

impl Clauses {
    /// How long an item may run without CPU before it is reported ([`Loop::stall_after`]).
    pub(crate) fn stall_after(&self) -> Duration {
        self.stall_after.unwrap_or(STALL_AFTER)
    }

    /// True when the loop's cancel handle was cancelled already (the loop then starts nothing).
    pub(crate) fn cancelled(&self) -> bool {
        self.common
            .cancel
            .as_ref()
            .is_some_and(|c| c.is_cancelled())
    }
}

impl Loop {
    /// A loop with default options: all cores, automatic schedule, no timeout, no progress bar.
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = par::Loop::new()
    ///     .workers(4)
    ///     .schedule(par::Schedule::Dynamic(8))
    ///     .timeout(Duration::from_secs(30));
    /// assert_eq!(opts.collect(0..3u8, |i| i + 1), [1, 2, 3]);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the loop on `n` worker processes (at least 1; 1 runs it inline, unless a clause
    /// needs a process: then it forks one worker).
    ///
    /// ```
    /// let v = par::Loop::new().workers(3).collect(0..7u32, |i| i * i);
    /// assert_eq!(v, [0, 1, 4, 9, 16, 25, 36]);
    /// // `workers(0)` is `workers(1)`: without a clause that needs a process, the loop runs
    /// // inline, in this process.
    /// let where_run = par::Loop::new().workers(0).collect(0..3u8, |_| par::in_worker());
    /// assert_eq!(where_run, [false, false, false]);
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// How items are divided into chunks and handed to workers; see [`Schedule`].
    ///
    /// ```
    /// use par::Schedule;
    /// let want: Vec<u64> = (0..100u64).map(|i| i % 7).collect();
    /// for s in [Schedule::Auto, Schedule::Static, Schedule::Dynamic(4), Schedule::Guided(2)] {
    ///     // The schedule decides which worker runs which items, never the values or their order.
    ///     let got = par::Loop::new().workers(2).schedule(s).collect(0..100u64, |i| i % 7);
    ///     assert_eq!(got, want, "{s:?}");
    /// }
    /// ```
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.clauses.schedule = schedule;
        self
    }

    /// The schedule named by the environment variable `PAR_SCHEDULE` (OpenMP's
    /// `schedule(runtime)` and `OMP_SCHEDULE`; the clause `schedule = runtime` of `par!`):
    /// `static`, `dynamic`, `dynamic,4`, `guided`, `guided,2` or `auto`, in any case, parsed
    /// as [`Schedule::from_str`](Schedule#impl-FromStr-for-Schedule) says. Unset or empty, the
    /// loop keeps the schedule it has (`auto` unless set before). A value that does not parse
    /// is not an error of the loop: par says once per process on stderr what was wrong and
    /// what it accepts (`par: PAR_SCHEDULE="fast": unknown schedule kind ...; using auto`),
    /// and the loop runs with `auto`, so a typo in a job script slows nothing down silently
    /// and stops nothing.
    ///
    /// ```
    /// // Run as `PAR_SCHEDULE=dynamic,4 ./program` to hand out chunks of 4 items.
    /// let v = par::Loop::new().schedule_from_env().collect(0..10u32, |i| i + 1);
    /// assert_eq!(v, (1..=10).collect::<Vec<_>>());
    /// ```
    pub fn schedule_from_env(mut self) -> Self {
        let Some(value) = std::env::var_os(SCHEDULE_ENV) else {
            return self;
        };
        let value = value.to_string_lossy();
        if value.trim().is_empty() {
            return self;
        }
        self.clauses.schedule = match value.parse::<Schedule>() {
            Ok(s) => s,
            Err(e) => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    eprintln!("par: {SCHEDULE_ENV}={value:?}: {e}; using auto");
                }
                Schedule::Auto
            }
        };
        self
    }

    /// Kills a worker whose current item has run longer than `timeout` and fails the loop with
    /// [`Error::TimedOut`](crate::Error::TimedOut) naming that item. A worker that was sent
    /// items and has not started the first one, without using any CPU for longer than
    /// `timeout`, is killed the same way, naming the item it was sent (looked at about once a
    /// second, see [`Loop::stall_after`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = par::Loop::new().workers(2).timeout(Duration::from_millis(300));
    /// // Items well within the limit: the loop runs as without it.
    /// assert_eq!(opts.collect(0..4u32, |i| i + 1), [1, 2, 3, 4]);
    /// // `PAR_WORKERS=1` runs loops inline, where no timeout is enforced: only look there then.
    /// if par::default_workers() > 1 {
    ///     let r = opts.try_collect(0..4u32, |i| {
    ///         if i == 2 {
    ///             std::thread::sleep(Duration::from_secs(30)); // killed after 300 ms
    ///         }
    ///         Ok::<u32, String>(i)
    ///     });
    ///     assert!(matches!(r, Err(par::Error::TimedOut { index: 2, .. })), "{r:?}");
    /// }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.clauses.common.timeout = Some(timeout);
        self
    }

    /// Shows a progress bar on stderr (items done/total, rate, ETA) when stderr is a terminal,
    /// or always when `PAR_PROGRESS=1`.
    ///
    /// ```
    /// // The bar is drawn on stderr only: the values are the same with it or without it.
    /// let v = par::Loop::new().workers(2).progress(true).collect(0..50u32, |i| i % 3);
    /// assert_eq!(v.iter().sum::<u32>(), 49);
    /// assert_eq!(v, par::Loop::new().workers(2).progress(false).collect(0..50u32, |i| i % 3));
    /// ```
    pub fn progress(mut self, on: bool) -> Self {
        self.clauses.common.progress = on;
        self
    }

    /// What the progress bar says it counts: `progress_label("rows")` draws
    /// `rows [00:00:03] ... 512/2000 items` instead of `par [...]` (and turns the bar on, as
    /// [`progress(true)`](Loop::progress) does; `par!`'s clause is `progress = "rows"`).
    ///
    /// ```
    /// let v = par::Loop::new().workers(2).progress_label("rows").collect(0..20u32, |i| i);
    /// assert_eq!(v.len(), 20);
    /// ```
    pub fn progress_label(mut self, label: impl Into<String>) -> Self {
        self.clauses.common.progress = true;
        self.clauses.common.progress_label = Some(label.into());
        self
    }

    /// Prints the loop's report on stderr when it ends: where it ran and why, wall and busy
    /// times, imbalance, speedup, fork and decode costs, bytes and chunks (the
    /// [`LoopReport`](crate::LoopReport) that [`last_report`](crate::last_report) returns, in
    /// the format the README's "Reports and timelines" section describes). `PAR_REPORT=1` in
    /// the environment does it for every loop; `par!`'s clause is `report`. Loops nested in a
    /// worker never print.
    ///
    /// ```
    /// // Prints on stderr, for example:
    /// // par: src/main.rs:9  100 items  2 workers  forked (auto: the first run here forks and measures)
    /// //      wall 1.2 ms   busy 31 us + 29 us (imbalance 1.03)   speedup ~0.05x of 60 us sequential
    /// //      fork 0.6 ms   results 1.1 KiB in 4 frames (12 us decode)   chunks 4 (auto, 25 items each)   items 50 + 50
    /// let v = par::Loop::new().workers(2).report(true).collect(0..100u32, |i| i + 1);
    /// assert_eq!(v.len(), 100);
    /// ```
    pub fn report(mut self, on: bool) -> Self {
        self.report = on;
        self
    }

    /// OpenMP's `if` clause: `parallel(false)` runs the loop inline, in the calling process;
    /// `parallel(true)` always forks. Without it, the `auto` schedule decides by measurement:
    /// a loop's first run forks, and a later run of the same loop (the same call site) runs
    /// inline when the first showed that forking costs more than it saves, for example a
    /// million items of a few nanoseconds each; each call decides afresh from its own item
    /// count, so a call site that first sees small inputs forks a large one. An inline run
    /// keeps par's semantics but not its isolation: a crash in an item would be a crash of the
    /// caller. Any explicit schedule, a `timeout`, `retries`, a `memory_limit`,
    /// `max_items_per_worker`, `cancel` or `parallel(true)` keeps a loop forking (see "Workers
    /// and sequential mode").
    ///
    /// ```
    /// let n = 3;
    /// let v = par::Loop::new().parallel(n > 1000).collect(0..n, |i| i * 2);
    /// assert_eq!(v, [0, 2, 4]);
    /// ```
    pub fn parallel(mut self, on: bool) -> Self {
        self.parallel = Some(on);
        self
    }

    /// Runs an item again, on a fresh worker, when its worker died (a crash, a signal,
    /// `exit`) or it timed out, up to `n` more times; the loop succeeds if a retry does. Items
    /// whose results were already received never run again; items of the dead worker's chunks
    /// whose results had not left it yet run again (with `retries(0)`, the default, no item
    /// ever runs twice). A panic or an `Err` from the body is the item's answer and is not
    /// retried, unless [`Loop::retry_panics`] says so for panics. When every attempt fails,
    /// the loop fails with [`Error::Retried`](crate::Error::Retried) ("item 17 failed 3 times;
    /// the last time: ..."). Each retry is a `tracing` event with the `tracing` feature.
    ///
    /// Retries apply to `collect`, `for_each` and `reduce` over ranges, vectors and slices;
    /// `unordered` loops and streams do not retry.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// // The first worker to run item 3 dies; the retry, on a new worker, succeeds.
    /// let marker = std::env::temp_dir().join(format!("par-doc-retry-{}", std::process::id()));
    /// let v = par::Loop::new().workers(2).retries(2).collect(0..8u32, |i| {
    ///     if i == 3 && par::in_worker() && std::fs::create_dir(&marker).is_ok() {
    ///         std::process::abort();
    ///     }
    ///     i * 10
    /// });
    /// let _ = std::fs::remove_dir(&marker);
    /// assert_eq!(v, [0, 10, 20, 30, 40, 50, 60, 70]);
    /// # let _ = AtomicBool::new(false).load(Ordering::Relaxed);
    /// ```
    pub fn retries(mut self, n: u32) -> Self {
        self.clauses.common.retries = n;
        self
    }

    /// With [`Loop::retries`], panics are retried too (flaky bodies: a network call, a race in
    /// a C library). A body's `Err` is never retried: it is the item's answer.
    ///
    /// ```
    /// // A flaky body: the first attempt at item 4 (in a worker) panics, the retry succeeds.
    /// let marker = std::env::temp_dir().join(format!("par-doc-retry-panics-{}", std::process::id()));
    /// let opts = par::Loop::new().workers(2).retries(1).retry_panics(true);
    /// let v = opts.collect(0..6u32, |i| {
    ///     if i == 4 && par::in_worker() && std::fs::create_dir(&marker).is_ok() {
    ///         panic!("flaky");
    ///     }
    ///     i + 100
    /// });
    /// let _ = std::fs::remove_dir(&marker);
    /// assert_eq!(v, [100, 101, 102, 103, 104, 105]);
    /// // An `Err` is the item's answer, retried or not.
    /// let r = opts.try_collect(0..4u32, |i| if i == 1 { Err("no") } else { Ok(i) });
    /// assert!(matches!(r, Err(par::Error::Failed { index: 1, .. })), "{r:?}");
    /// ```
    pub fn retry_panics(mut self, on: bool) -> Self {
        self.clauses.retry_panics = on;
        self
    }

    /// How long an item may run without its worker using any CPU before par says so on
    /// stderr (default: 10 s): the worker is then almost surely blocked on a lock or a thread
    /// pool that it inherited from the parent (rayon's global pool, a tokio runtime, a mutex
    /// another thread held at the fork) or on I/O. The warning names the worker, the item, the
    /// parent's thread count at the fork and what to do; the loop goes on (add a
    /// [`timeout`](Loop::timeout) to end it). A hang is never silent: a worker that was sent
    /// items and blocks before the first one starts (while it decodes them, say) is reported
    /// too, naming the item it was sent.
    ///
    /// ```
    /// use std::time::Duration;
    /// // Item 1 sleeps (no CPU) longer than `stall_after`: par may warn on stderr, naming the
    /// // worker and the item, but a warning never stops the loop.
    /// let opts = par::Loop::new().workers(2).stall_after(Duration::from_millis(100));
    /// let v = opts.collect(0..3u32, |i| {
    ///     if i == 1 {
    ///         std::thread::sleep(Duration::from_millis(300));
    ///     }
    ///     i * 2
    /// });
    /// assert_eq!(v, [0, 2, 4]);
    /// ```
    pub fn stall_after(mut self, d: Duration) -> Self {
        self.clauses.stall_after = Some(d);
        self
    }

    /// Recycles workers: a worker that was handed `n` items leaves once they are done, and a
    /// fresh one is forked in its place (Python's `maxtasksperchild`; for C libraries that
    /// leak or fragment memory). Chunks are never split, so a worker runs at most `n` items
    /// plus the rest of the chunk that reached `n`; with `schedule = dynamic(1)`, exactly at
    /// most `n`. Collect, for-each and reduce over ranges, vectors and slices recycle;
    /// `unordered` loops and streams ignore it. A loop with it forks even with one worker, on
    /// one CPU, nested in a worker and where `auto` would run it inline: inline, what the body
    /// leaks would stay in the caller (the explicit sequential modes run it inline and say so).
    ///
    /// ```
    /// use std::collections::HashSet;
    /// let pids = par::Loop::new()
    ///     .workers(2)
    ///     .schedule(par::Schedule::Dynamic(1))
    ///     .max_items_per_worker(5)
    ///     .collect(0..20u32, |_| std::process::id());
    /// let workers: HashSet<u32> = pids.into_iter().collect();
    /// if par::default_workers() > 1 {
    ///     assert!(workers.len() >= 4, "20 items, at most 5 per worker");
    /// }
    /// ```
    pub fn max_items_per_worker(mut self, n: usize) -> Self {
        self.clauses.max_items_per_worker = Some(n.max(1));
        self
    }

    /// Limits each worker's data (heap and other private writable memory) to `bytes`; a
    /// worker whose allocation fails under it dies, and its item is reported as
    /// [`Death::MemoryLimit`](crate::Death::MemoryLimit): "item 17 exceeded the worker memory
    /// limit (2 GiB) in worker 1234 (killed by SIGABRT: an allocation failed)". The other
    /// items go on as after any death ([`retries`](Loop::retries), `keep_going`). Ray's
    /// memory monitor and `ulimit -v` in a Python worker's initializer do this job elsewhere.
    ///
    /// It is `RLIMIT_DATA` (`setrlimit` in the worker right after the fork, Linux 4.7 or
    /// later), so it counts what the worker holds privately, including the heap it inherited
    /// from the parent (shared copy-on-write, but counted): give a parent holding 1 GiB a limit
    /// above that. It does not count address space that is only reserved (`RLIMIT_AS` would:
    /// glibc reserves 64 MiB per thread arena), files mapped read-only, shared memory
    /// ([`SharedVec`](crate::SharedVec)) or the stack. How it is attributed: a limited worker that dies by
    /// `SIGABRT` without reporting a panic is reported as over its limit (Rust's allocator
    /// aborts when an allocation fails, and prints "memory allocation of N bytes failed" on
    /// the worker's stderr); an `abort()` of the body's own in a limited worker reads the same.
    /// A `Vec::try_reserve` that fails returns its `Err` to the body, as usual. A loop with a
    /// memory limit always forks (with one worker too), but the explicit sequential modes
    /// (`PAR_WORKERS=1`, [`sequential`](crate::sequential)) run it inline, unlimited.
    ///
    /// ```
    /// # if cfg!(target_os = "linux") && par::default_workers() > 1 {
    /// let r = par::Loop::new().workers(2).memory_limit(256 << 20).try_collect(0..4u32, |i| {
    ///     let v: Vec<u8> = Vec::with_capacity(if i == 2 { 1 << 30 } else { 1 << 10 });
    ///     Ok::<usize, String>(v.capacity())
    /// });
    /// let e = r.unwrap_err();
    /// assert!(matches!(e, par::Error::WorkerDied { index: Some(2), death: par::Death::MemoryLimit { .. }, .. }));
    /// # }
    /// ```
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.clauses.common.memory_limit(bytes);
        self
    }

    /// Sets the thread count of the usual thread pools in each worker to `n`: the
    /// variables `OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, `MKL_NUM_THREADS`,
    /// `BLIS_NUM_THREADS`, `VECLIB_MAXIMUM_THREADS`, `NUMBA_NUM_THREADS`,
    /// `NUMEXPR_NUM_THREADS` (joblib's list) and `RAYON_NUM_THREADS`, the ones you set too;
    /// `0` leaves the workers' environment as the parent's. Without it (or
    /// `PAR_THREADS_PER_WORKER=n`, the same for every loop and job), each worker gets
    /// `max(1, cores / workers)` in those of the variables you did not set, so that `workers`
    /// processes each running a BLAS or OpenMP pool do not run `workers x cores` threads
    /// (joblib/loky's rule).
    ///
    /// The variables act on what reads them in the worker: a rayon pool first built there,
    /// a library first loaded or initialised there, a program the worker runs. A library
    /// that read them when the parent started (libgomp and OpenBLAS read theirs when they are
    /// loaded) keeps the parent's setting: set those before your program starts, or call the
    /// library's own `set_num_threads` in the body.
    ///
    /// ```
    /// let parent = std::env::var("OMP_NUM_THREADS").ok();
    /// let seen = par::Loop::new().workers(2).threads_per_worker(1).collect(0..2u8, |_| {
    ///     (par::in_worker(), std::env::var("OMP_NUM_THREADS").ok())
    /// });
    /// for (in_worker, omp) in seen {
    ///     if in_worker {
    ///         assert_eq!(omp.as_deref(), Some("1"), "a worker's pools get one thread");
    ///     } else {
    ///         assert_eq!(omp, parent, "inline (`PAR_WORKERS=1`, one core): nothing is set");
    ///     }
    /// }
    /// assert_eq!(std::env::var("OMP_NUM_THREADS").ok(), parent, "the parent's is never changed");
    /// ```
    pub fn threads_per_worker(mut self, n: usize) -> Self {
        self.clauses.common.threads_per_worker(n);
        self
    }

    /// Stops the loop when `handle` is cancelled (see [`Cancel`]).
    ///
    /// ```
    /// let stop = par::Cancel::new();
    /// let opts = par::Loop::new().workers(2).cancel(&stop);
    /// let v = opts.try_collect(0..4u32, |i| Ok::<u32, String>(i * 2));
    /// assert_eq!(v.unwrap(), [0, 2, 4, 6]);
    /// stop.cancel(); // from any clone: another thread, a Ctrl-C handler
    /// let r = opts.try_collect(0..4u32, |i| Ok::<u32, String>(i * 2));
    /// assert!(matches!(r, Err(par::Error::Cancelled)));
    /// ```
    pub fn cancel(mut self, handle: &Cancel) -> Self {
        self.clauses.common.cancel = Some(handle.clone());
        self
    }

    /// Binds each worker to a place (a CPU, a core, a socket: `PAR_PLACES`) with OpenMP's
    /// `proc_bind` policies, [`ProcBind::Close`] or [`ProcBind::Spread`];
    /// [`ProcBind::False`] leaves the workers unbound. Without it, `PAR_PROC_BIND` decides
    /// (`false`, `true`, `close` or `spread`; `close` when only `PAR_PLACES` is set), and
    /// without that the workers are not bound. Workers pin themselves with
    /// `sched_setaffinity` right after the fork, inside the CPUs this process is allowed
    /// (`taskset`, cgroup cpusets); a replacement worker gets its slot's place. Binding does
    /// not make a loop fork: an inline run ignores it (see [`ProcBind`]).
    ///
    /// ```
    /// use par::ProcBind;
    /// // Each worker reports the CPUs it may run on; bound `close` over `PAR_PLACES=threads`
    /// // on two CPUs, worker 0 says `0` and worker 1 says `1`.
    /// let cpus = par::Loop::new().workers(2).proc_bind(ProcBind::Close).collect(0..2u8, |_| {
    ///     std::fs::read_to_string("/proc/self/status")
    ///         .ok()
    ///         .and_then(|s| s.lines().find(|l| l.starts_with("Cpus_allowed_list:")).map(str::to_string))
    /// });
    /// assert_eq!(cpus.len(), 2);
    /// ```
    pub fn proc_bind(mut self, bind: ProcBind) -> Self {
        self.clauses.proc_bind = Some(bind);
        self
    }

    /// The largest frame a worker may send (default 1 GiB); a frame declaring more is
    /// [`Error::Decode`](crate::Error::Decode), never an allocation. Results are split into frames of a few MiB, so
    /// this bounds the encoded size of one result.
    ///
    /// ```
    /// let opts = par::Loop::new().workers(2).max_frame(64 << 10); // 64 KiB
    /// let small = opts.try_collect(0..4u32, |i| Ok::<Vec<u8>, String>(vec![i as u8; 1000]));
    /// assert_eq!(small.unwrap()[3], [3u8; 1000]);
    /// // Inline (`PAR_WORKERS=1`) nothing travels, so no frame is read: only look when forked.
    /// if par::default_workers() > 1 {
    ///     let big = opts.try_collect(0..2u32, |_| Ok::<Vec<u8>, String>(vec![0u8; 256 << 10]));
    ///     assert!(matches!(big, Err(par::Error::Decode { .. })), "{big:?}");
    /// }
    /// ```
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.clauses.common.max_frame = bytes;
        self
    }
}

/// The variable [`Loop::schedule_from_env`] reads.
const SCHEDULE_ENV: &str = "PAR_SCHEDULE";

/// The forms `Schedule::from_str` accepts, as its errors list them.
const SCHEDULE_FORMS: &str = "`static`, `static,N`, `dynamic`, `dynamic,N`, `guided`, `guided,N` or `auto` (N a positive number of items)";

/// Parses a schedule as `OMP_SCHEDULE` writes it: a kind, optionally followed by `,N` with
/// `N` a positive number of items, in any case and with spaces around the parts allowed.
///
/// | text | schedule |
/// |---|---|
/// | `auto` | [`Schedule::Auto`] |
/// | `static` | [`Schedule::Static`] |
/// | `static,N` | [`Schedule::Dynamic(N)`](Schedule::Dynamic): chunks of N items (par hands fixed-size chunks out on demand, not round-robin) |
/// | `dynamic`, `dynamic,N` | [`Schedule::Dynamic`] of 1, of N |
/// | `guided`, `guided,N` | [`Schedule::Guided`] of at least 1, of at least N items |
///
/// ```
/// use par::Schedule;
/// assert_eq!("dynamic,4".parse::<Schedule>().unwrap(), Schedule::Dynamic(4));
/// assert_eq!("GUIDED".parse::<Schedule>().unwrap(), Schedule::Guided(1));
/// assert_eq!(" static , 8 ".parse::<Schedule>().unwrap(), Schedule::Dynamic(8));
/// let e = "dynamic,0".parse::<Schedule>().unwrap_err();
/// assert!(e.to_string().contains("expected `static`"), "{e}");
/// ```
impl FromStr for Schedule {
    type Err = ParseScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ParseScheduleError {
            text: text.to_string(),
            reason,
        };
        let (kind, chunk) = match text.split_once(',') {
            Some((kind, chunk)) => (kind, Some(chunk.trim())),
            None => (text, None),
        };
        let chunk = match chunk {
            None => None,
            Some(c) => match c.parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(err(format!(
                        "the chunk size `{c}` is not a positive number of items"
                    )));
                }
            },
        };
        match (kind.trim().to_ascii_lowercase().as_str(), chunk) {
            ("auto", None) => Ok(Schedule::Auto),
            ("auto", Some(_)) => Err(err("`auto` takes no chunk size".to_string())),
            ("static", None) => Ok(Schedule::Static),
            ("static", Some(n)) | ("dynamic", Some(n)) => Ok(Schedule::Dynamic(n)),
            ("dynamic", None) => Ok(Schedule::Dynamic(1)),
            ("guided", n) => Ok(Schedule::Guided(n.unwrap_or(1))),
            ("", _) => Err(err("no schedule kind".to_string())),
            (other, _) => Err(err(format!("unknown schedule kind `{other}`"))),
        }
    }
}

/// Why a text is not a [`Schedule`] (see `Schedule::from_str`): its `Display` says what was
/// wrong and the forms that are accepted.
///
/// ```
/// let e = "fastest".parse::<par::Schedule>().unwrap_err();
/// assert_eq!(e.text(), "fastest");
/// assert_eq!(
///     e.to_string(),
///     "invalid schedule `fastest`: unknown schedule kind `fastest`; expected `static`, \
///      `static,N`, `dynamic`, `dynamic,N`, `guided`, `guided,N` or `auto` (N a positive \
///      number of items)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseScheduleError {
    text: String,
    reason: String,
}

impl ParseScheduleError {
    /// The text that did not parse.
    ///
    /// ```
    /// let e = "dynamic,0".parse::<par::Schedule>().unwrap_err();
    /// assert_eq!(e.text(), "dynamic,0");
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ParseScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid schedule `{}`: {}; expected {SCHEDULE_FORMS}",
            self.text, self.reason
        )
    }
}

impl std::error::Error for ParseScheduleError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_in_any_case_and_bad_ones_say_why() {
        for (text, want) in [
            ("auto", Schedule::Auto),
            ("AUTO", Schedule::Auto),
            ("static", Schedule::Static),
            ("Static", Schedule::Static),
            ("static,8", Schedule::Dynamic(8)),
            ("dynamic", Schedule::Dynamic(1)),
            ("dynamic,4", Schedule::Dynamic(4)),
            ("DYNAMIC, 16", Schedule::Dynamic(16)),
            ("guided", Schedule::Guided(1)),
            ("guided,2", Schedule::Guided(2)),
            ("  guided ,3 ", Schedule::Guided(3)),
        ] {
            assert_eq!(text.parse::<Schedule>(), Ok(want), "{text:?}");
        }
        for (text, why) in [
            ("", "no schedule kind"),
            (",4", "no schedule kind"),
            ("fast", "unknown schedule kind `fast`"),
            ("dynamic,0", "`0` is not a positive number"),
            ("dynamic,-2", "`-2` is not a positive number"),
            ("guided,x", "`x` is not a positive number"),
            ("dynamic,", "`` is not a positive number"),
            ("auto,4", "`auto` takes no chunk size"),
            ("dynamic,4,5", "`4,5` is not a positive number"),
        ] {
            let e = text.parse::<Schedule>().unwrap_err();
            let shown = e.to_string();
            assert!(shown.contains(why), "{text:?}: {shown}");
            assert!(shown.contains(SCHEDULE_FORMS), "{text:?}: {shown}");
            assert_eq!(e.text(), text);
        }
    }
}
