//! Reusable workers (pprocess' `MakeReusable` / `reuse=1`): a [`Pool`] forks at most `limit`
//! workers, once, and sends each call of a `#[parallel]` function to an idle one as a `Call`
//! frame naming the function; the worker finds it in the registry that `#[parallel]` fills at
//! program start, runs it, sends the result back and waits for the next call.
//!
//! What this module must never do: fork more than `limit` workers at once, lose a call (a
//! worker that dies mid-call fails that call with its signal; a new worker takes the next
//! ones), or let a panic in one call end the worker (its state persists for the next calls).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::child::options::Options;
use crate::child::place::{self, Placement};
use crate::child::report::{self, panic_error, panic_frame, panic_message, panicked};
use crate::child::{self, Child, Pipes, What};
use crate::error::{ENCODE, FAILED, PANICKED};
use crate::error::{Error, Result};
use crate::jobs::events::{self, Waited, Watched};
use crate::jobs::limiter::{AfterDeath, Limiter};
use crate::jobs::report::Recorder;
use crate::jobs::spawner::Spawner;
use crate::mode;
use crate::sys::{self, AsFd, BorrowedFd, Fd};
use crate::wire::codec::{self, Transfer};
use crate::wire::{self, Fill, FrameBuf, FrameReader, Kind, ResultsHead};

/// What `#[parallel]` registers for each function: its stable name and a trampoline that
/// decodes the arguments, calls the function and encodes its result. Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct Registered {
    /// `module_path!()::name`.
    pub name: &'static str,
    /// Decodes the arguments tuple, calls the function, encodes the result.
    pub call: Trampoline,
}

/// A registered function's entry point: encoded arguments in, encoded result (or why not) out.
pub(crate) type Trampoline = fn(&[u8]) -> std::result::Result<Vec<u8>, String>;

inventory::collect!(Registered);

/// The trampoline body `#[parallel]` generates: decode `A`, call `f`, encode its result.
#[doc(hidden)]
pub fn trampoline<A: Transfer, T: Transfer>(
    bytes: &[u8],
    f: impl FnOnce(A) -> T,
) -> std::result::Result<Vec<u8>, String> {
    let args: A =
        codec::decode(bytes).map_err(|e| format!("could not decode the arguments: {e}"))?;
    let mut out = Vec::new();
    match codec::encode_value(&f(args), &mut out) {
        Ok(()) => Ok(out),
        Err(Error::Encode { message, .. }) => {
            ENCODE_FAILED.with(|failed| failed.set(true));
            Err(message)
        }
        Err(e) => Err(format!("could not encode the result: {e}")),
    }
}

thread_local! {
    /// Set by [`trampoline`] in a pool worker when the call's result could not be encoded, so
    /// that the worker reports an [`Error::Encode`], not a failure of the function. (The
    /// trampoline's signature is fixed by the code `#[parallel]` generates.)
    static ENCODE_FAILED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Every registered function by name (built once, in the parent before any pool forks).
fn registry() -> &'static HashMap<&'static str, Trampoline> {
    static MAP: OnceLock<HashMap<&'static str, Trampoline>> = OnceLock::new();
    MAP.get_or_init(|| {
        inventory::iter::<Registered>
            .into_iter()
            .map(|r| (r.name, r.call))
            .collect()
    })
}

/// The names of every `#[parallel]` function linked into this program, sorted.
///
/// ```
/// #[par::parallel]
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
/// assert!(par::registered().contains(&double::NAME));
/// ```
pub fn registered() -> Vec<&'static str> {
    let mut names: Vec<_> = registry().keys().copied().collect();
    names.sort_unstable();
    names
}

struct Worker {
    child: Child,
    tx: Fd,
    rx: Fd,
    reader: FrameReader,
    /// The calls sent to it, in the order it runs them: the first is running, the others wait
    /// in its pipe (kept whole, so they can go to another worker if this one dies).
    calls: VecDeque<Call>,
    /// A write to it failed: it is exiting. It gets no more calls; its results are still read
    /// up to its end of file, which retires it.
    broken: bool,
    /// When the call in front of `calls` started (the `timeout` option).
    since: Instant,
    /// Its place among the pool's workers (`PAR_PROC_BIND` / `PAR_PLACES`): the lowest slot
    /// free when it was forked, so a replacement takes the place of the worker it replaces.
    slot: usize,
    /// MPI (feature `mpi`): its link's number when the worker is a rank (0 otherwise).
    link: u64,
}

/// A call: job number, function name, encoded arguments.
type Call = (usize, &'static str, Vec<u8>);

/// Calls queued per worker: as many as make about `QUEUED` of work (measured), at least one,
/// at most `MAX_DEPTH`. A deeper queue hides the round trip of short calls; long calls get
/// one each, so that none waits behind another while a worker is idle.
const QUEUED: std::time::Duration = std::time::Duration::from_micros(200);
const MAX_DEPTH: usize = 16;

/// Reusable workers serving calls of `#[parallel]` functions (pprocess' `MakeReusable`): at
/// most `limit` worker processes, forked when first needed and then kept, each running call
/// after call. What a function keeps in statics or thread-locals in a worker persists from one
/// call to the next, and nothing is forked per call.
///
/// Calls are submitted with the companion that `#[parallel]` generates
/// (`f::spawn(&mut pool, args...)`); their arguments travel to the worker as bytes and the
/// function is found by its registered name, so only `#[parallel]` functions can run here
/// (closures need [`Queue`](crate::Queue) or [`Map`](crate::Map), which fork per job).
///
/// The workers die with this process (even by `SIGKILL`, whatever signals a call blocks or
/// ignores), not with the thread that made or used the pool: a pool may move to another
/// thread and outlive the first. Off the main thread they are forked on a thread of par's that
/// lasts as long as the process, so a worker starts with that thread's thread-locals (fresh
/// ones), not the caller's; statics and the heap are the caller's, as with any fork.
///
/// Results come in completion order by iterating (`(job, result)` pairs), or in submission
/// order with [`Pool::ordered`] and [`Pool::get`]. A call that panics yields its
/// [`Error::Panicked`] and the worker goes on; a worker that dies fails the call it was
/// running with [`Error::WorkerDied`] and is replaced for the next calls.
///
/// ```
/// #[par::parallel]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let mut pool = par::Pool::new(2);
/// for x in 0..10 {
///     square::spawn(&mut pool, x);
/// }
/// let squares: Vec<u64> = pool.ordered().map(|r| r.unwrap()).collect();
/// assert_eq!(squares, (0..10).map(|x| x * x).collect::<Vec<_>>());
/// ```
pub struct Pool<T> {
    /// Job numbers, finished results, progress, and the options (`child::options::Options`: retries,
    /// timeout, cancel, the workers' limits and largest frame), shared with `Queue`/`Map`.
    books: Limiter<T>,
    forks: usize,
    workers: Vec<Worker>,
    pending: VecDeque<Call>,
    /// Nanoseconds per call as the workers measured them (exponentially weighted).
    call_ns: Option<f64>,
    /// Results taken out of `done` by `get` / `ordered`, by job number.
    kept: BTreeMap<usize, Result<T>>,
    next: usize,
    inline: bool,
    frame: FrameBuf,
    /// MPI (feature `mpi`): under `par::main` on rank 0, the workers are the other ranks
    /// (unless a memory limit or a thread count keeps them local, see `keep_local`).
    ranks: Option<usize>,
    /// The limit asked for in `new` (the limit is the ranks' count while they are the workers).
    asked: usize,
    /// Where the workers are pinned (`PAR_PROC_BIND` / `PAR_PLACES`), computed at the first
    /// fork.
    placement: OnceLock<Option<Placement>>,
}

impl<T> std::fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("limit", &self.books.limit)
            .field("submitted", &self.books.submitted)
            .field("forks", &self.forks)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

impl<T> Pool<T> {
    /// Its report's counters, for a family that runs its calls on the ranks through this pool
    /// and reports them as its own (`Queue`, `Map`).
    pub(crate) fn recorder_mut(&mut self) -> &mut Recorder {
        &mut self.books.report
    }
}

impl<T: Transfer> Pool<T> {
    /// A pool of at most `limit` workers (at least 1). Nothing is forked until the first call.
    /// With `PAR_WORKERS=1`, inside a worker or where there is no `fork`, calls run inline.
    ///
    /// ```
    /// #[par::parallel]
    /// fn shout(s: String) -> String {
    ///     s.to_uppercase()
    /// }
    /// // At most 2 worker processes, serving calls in turn.
    /// let mut pool = par::Pool::new(2);
    /// assert_eq!(pool.forks(), 0); // nothing forked yet
    /// for s in ["a", "b", "c"] {
    ///     shout::spawn(&mut pool, s.to_string());
    /// }
    /// let mut got: Vec<String> = pool.map(|(_job, r)| r.unwrap()).collect();
    /// got.sort();
    /// assert_eq!(got, ["A", "B", "C"]);
    /// ```
    #[track_caller]
    pub fn new(limit: usize) -> Self {
        registry(); // built here, before any fork, so that workers inherit it
        // MPI hook: under `par::main` on rank 0 of an MPI job, one worker per other rank.
        let ranks = crate::mpi::ranks();
        Pool {
            books: Limiter::with_options(
                ranks.unwrap_or(limit),
                Options::new(limit),
                Recorder::new("Pool", Location::caller(), ranks.unwrap_or(limit)),
            ),
            forks: 0,
            workers: Vec::new(),
            pending: VecDeque::new(),
            call_ns: None,
            kept: BTreeMap::new(),
            next: 0,
            inline: mode::runs_inline(),
            frame: FrameBuf::default(),
            ranks,
            asked: limit.max(1),
            placement: OnceLock::new(),
        }
    }

    /// The options a `Queue`/`Map` sends its calls to the ranks with (see `queue.rs`).
    pub(crate) fn with_job_options(mut self, opts: Options) -> Self {
        self.books.opts = opts;
        self
    }

    /// A memory limit or a thread count was set: a rank's serving process cannot apply them,
    /// so under MPI the workers are this rank's forked children after all, `asked` of them
    /// (as a `par!` loop with those clauses stays local).
    fn keep_local(&mut self) {
        if self.ranks.take().is_some() {
            self.books.limit = self.asked;
            self.books.report.set_limit(self.asked);
        }
    }

    /// Shows a progress bar of finished calls (see the `progress` option of loops).
    ///
    /// ```
    /// #[par::parallel]
    /// fn work(i: u32) -> u32 {
    ///     i + 1
    /// }
    /// let mut pool = par::Pool::new(2).progress(true);
    /// for i in 0..10 {
    ///     work::spawn(&mut pool, i);
    /// }
    /// assert_eq!(pool.count(), 10);
    /// ```
    pub fn progress(mut self, on: bool) -> Self {
        self.books.show_progress(on);
        self
    }

    /// What the progress bar says it counts: `progress_label("calls")` draws
    /// `calls [00:00:03] ... 12/40 items` instead of `par [...]`, and turns the bar on as
    /// [`progress(true)`](Pool::progress) does (see
    /// [`Loop::progress_label`](crate::Loop::progress_label)).
    ///
    /// ```
    /// #[par::parallel]
    /// fn inc(i: u32) -> u32 {
    ///     i + 1
    /// }
    /// let mut pool = par::Pool::new(2).progress_label("calls");
    /// for i in 0..10 {
    ///     inc::spawn(&mut pool, i);
    /// }
    /// assert_eq!(pool.count(), 10);
    /// ```
    pub fn progress_label(mut self, label: impl Into<String>) -> Self {
        self.books.label_progress(label.into());
        self
    }

    /// Runs a call again, on a new worker, when the worker running it dies (a signal, `exit`),
    /// up to `n` more times; a call that died every time yields [`Error::Retried`]. A panic is
    /// the call's answer and is not retried.
    ///
    /// ```
    /// #[par::parallel]
    /// fn flaky(marker: std::path::PathBuf) -> u8 {
    ///     // Dies the first time it runs in a worker (a crash, not a panic), works the second.
    ///     if par::in_worker() && std::fs::File::create_new(&marker).is_ok() {
    ///         std::process::abort();
    ///     }
    ///     5
    /// }
    /// let marker = std::env::temp_dir().join(format!("par-doc-retries-{}", std::process::id()));
    /// let mut pool = par::Pool::new(2).retries(1);
    /// let job = flaky::spawn(&mut pool, marker.clone());
    /// assert_eq!(pool.get(job).unwrap().as_ref().unwrap(), &5);
    /// # let _ = std::fs::remove_file(&marker);
    /// ```
    pub fn retries(mut self, n: u32) -> Self {
        self.books.opts.retries = n;
        self
    }

    /// Kills the worker running a call that takes longer than `limit`: the call yields
    /// [`Error::TimedOut`], the calls queued behind it go to other workers, and a new worker
    /// takes the killed one's place.
    ///
    /// ```
    /// use std::time::Duration;
    /// #[par::parallel]
    /// fn nap(ms: u64) -> u64 {
    ///     std::thread::sleep(Duration::from_millis(ms));
    ///     ms
    /// }
    /// let mut pool = par::Pool::new(2).timeout(Duration::from_millis(500));
    /// let slow = nap::spawn(&mut pool, 60_000);
    /// let quick = nap::spawn(&mut pool, 1);
    /// assert!(matches!(pool.get(slow), Some(Err(par::Error::TimedOut { .. }))));
    /// assert_eq!(pool.get(quick).unwrap().as_ref().unwrap(), &1);
    /// ```
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.books.opts.timeout = Some(limit);
        self
    }

    /// Stops the calls when `handle` is cancelled (see [`Cancel`]): no new call starts, the
    /// workers are killed and reaped, and every unfinished call yields `Err(Error::Cancelled)`.
    ///
    /// ```
    /// #[par::parallel]
    /// fn one(x: u8) -> u8 {
    ///     x
    /// }
    /// let stop = par::Cancel::new();
    /// let mut pool = par::Pool::new(2).cancel(&stop);
    /// stop.cancel();
    /// let job = one::spawn(&mut pool, 1);
    /// assert!(matches!(pool.get(job), Some(Err(par::Error::Cancelled))));
    /// ```
    pub fn cancel(mut self, handle: &Cancel) -> Self {
        self.books.opts.cancel = Some(handle.clone());
        self
    }

    /// Limits each worker to `bytes` of data; the call during which an allocation fails under
    /// it yields [`Death::MemoryLimit`](crate::Death::MemoryLimit) and its worker is replaced
    /// (see [`Loop::memory_limit`](crate::Loop::memory_limit)). Under MPI (`par::main`) a
    /// pool with a memory limit (or [`threads_per_worker`](Pool::threads_per_worker)) forks
    /// its workers on this rank instead of using the other ranks, whose serving processes
    /// could not apply it.
    ///
    /// ```
    /// #[par::parallel]
    /// fn sum_of(n: usize) -> u64 {
    ///     vec![1u64; n].iter().sum()
    /// }
    /// let mut pool = par::Pool::new(2).memory_limit(1 << 30); // 1 GiB per worker
    /// let job = sum_of::spawn(&mut pool, 1000);
    /// assert_eq!(pool.get(job).unwrap().as_ref().unwrap(), &1000);
    /// ```
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.books.opts.memory_limit(bytes);
        self.keep_local();
        self
    }

    /// The largest frame a worker may send, that is the encoded size of a call's result
    /// (default 1 GiB, as [`Loop::max_frame`](crate::Loop::max_frame)): a larger one fails
    /// that call with [`Error::Decode`], which names the setting and the size, never an
    /// allocation (the worker is replaced for the next calls). Applies to workers already
    /// forked too.
    ///
    /// ```
    /// #[par::parallel]
    /// fn filled(n: usize) -> Vec<u8> {
    ///     vec![1; n]
    /// }
    /// let mut pool = par::Pool::new(1).max_frame(64 << 10); // 64 KiB
    /// let small = filled::spawn(&mut pool, 1000);
    /// let big = filled::spawn(&mut pool, 256 << 10);
    /// assert_eq!(pool.get(small).unwrap().as_ref().unwrap().len(), 1000);
    /// // Inline (`PAR_WORKERS=1`) nothing travels, so no frame is read: only look when forked.
    /// if par::default_workers() > 1 {
    ///     let e = pool.get(big).unwrap().as_ref().unwrap_err();
    ///     assert!(matches!(e, par::Error::Decode { .. }), "{e}");
    ///     assert!(e.to_string().contains("max_frame"), "{e}");
    /// }
    /// ```
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.books.opts.max_frame = bytes;
        for w in &mut self.workers {
            w.reader.set_max(bytes);
        }
        self
    }

    /// The thread count of the usual thread pools in each worker (see
    /// [`Loop::threads_per_worker`](crate::Loop::threads_per_worker)); by default
    /// `max(1, cores / limit)` where you did not set them.
    ///
    /// ```
    /// #[par::parallel]
    /// fn threads() -> Option<String> {
    ///     std::env::var("OMP_NUM_THREADS").ok()
    /// }
    /// let mut pool = par::Pool::new(2).threads_per_worker(1);
    /// let job = threads::spawn(&mut pool);
    /// let seen = pool.get(job).unwrap().as_ref().unwrap();
    /// // In a worker the usual pools are told to use 1 thread (inline, `PAR_WORKERS=1`, nothing is set).
    /// assert!(seen.is_none() || seen.as_deref() == Some("1"));
    /// ```
    pub fn threads_per_worker(mut self, n: usize) -> Self {
        self.books.opts.threads_per_worker(n);
        self.keep_local();
        self
    }

    /// Reported as `family` made at `site` (a `par!` loop on the MPI ranks, which runs its
    /// calls through a pool: the report names the loop, not this file). Before any call.
    pub(crate) fn reported_as(
        mut self,
        family: &'static str,
        site: &'static Location<'static>,
    ) -> Self {
        self.books.report = Recorder::new(family, site, self.ranks.unwrap_or(self.asked));
        self
    }

    /// Not reported (`PAR_REPORT`, `PAR_TRACE`): a pool par makes for itself.
    pub(crate) fn quiet_report(mut self) -> Self {
        self.books.report.quiet();
        self
    }

    /// Worker processes forked so far (replacements of dead workers included).
    ///
    /// ```
    /// #[par::parallel]
    /// fn id(x: u64) -> u64 {
    ///     x
    /// }
    /// let mut pool = par::Pool::new(2);
    /// for x in 0..100 {
    ///     id::spawn(&mut pool, x);
    /// }
    /// assert_eq!(pool.by_ref().count(), 100);
    /// assert!(pool.forks() <= 2); // 100 calls, at most 2 forks (with `PAR_WORKERS=1`: 0, inline)
    /// assert!(pool.workers() <= 2);
    /// ```
    pub fn forks(&self) -> usize {
        self.forks
    }

    /// Worker processes alive now (never more than the limit).
    ///
    /// ```
    /// let pool = par::Pool::<u8>::new(3);
    /// assert_eq!(pool.workers(), 0); // workers are forked by the first calls
    /// ```
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// What the pool did so far: calls, workers forked and each one's busy time and calls,
    /// bytes of results, retries, deaths and timeouts (what `PAR_REPORT=1` prints when it is
    /// dropped; see [`FamilyReport`](crate::FamilyReport), whose example is a pool's).
    pub fn report(&self) -> crate::FamilyReport {
        self.books.report.snapshot()
    }

    /// Not available: a pool runs only `#[parallel]` functions. This method exists so that
    /// `pool.spawn(|| ...)` fails to compile with a message that says why and what to write
    /// ([`NotAPoolJob`] has no implementations, so it can never be called).
    #[doc(hidden)]
    pub fn spawn<F: NotAPoolJob>(&mut self, _job: F) -> usize {
        unreachable!("`NotAPoolJob` is sealed and implemented by no type")
    }

    /// Submits a call of the registered function `name` with `args` (its arguments tuple);
    /// returns the job number. Never blocks. Normally called through `f::spawn(&mut pool, ...)`.
    ///
    /// ```
    /// #[par::parallel]
    /// fn add(a: u32, b: u32) -> u32 {
    ///     a + b
    /// }
    /// let mut pool = par::Pool::new(1);
    /// // What `add::spawn(&mut pool, 2, 3)` writes: the name, the arguments as a tuple, the function.
    /// let job = pool.call(add::NAME, (2u32, 3u32), |(a, b)| add(a, b));
    /// assert_eq!(pool.get(job).unwrap().as_ref().unwrap(), &5);
    /// ```
    pub fn call<A: Transfer>(&mut self, name: &'static str, args: A, f: fn(A) -> T) -> usize {
        let job = self.books.submit();
        if self.books.cancelled() {
            self.finish(job, Err(Error::Cancelled));
            return job;
        }
        if self.inline {
            let pid = sys::getpid().as_raw();
            let r = match catch_unwind(AssertUnwindSafe(|| codec::round_trip(args).map(f))) {
                // `round_trip` of the value runs its `Serialize`: user code, whose panic is
                // the call's.
                Ok(Ok(v)) => match catch_unwind(AssertUnwindSafe(|| codec::round_trip(v))) {
                    Ok(r) => r.map_err(|e| e.about(job, pid)),
                    Err(p) => Err(panicked(job, pid, &*p)),
                },
                Ok(Err(e)) => Err(e.about(job, pid)),
                Err(p) => Err(panicked(job, pid, &*p)),
            };
            self.books.report.ran_inline();
            self.finish(job, r);
            return job;
        }
        let mut bytes = Vec::new();
        match codec::encode_into(&args, &mut bytes) {
            Ok(()) => self.pending.push_back((job, name, bytes)),
            Err(e) => self.finish(job, Err(e.about(job, sys::getpid().as_raw()))),
        }
        self.dispatch();
        job
    }

    fn finish(&mut self, job: usize, r: Result<T>) {
        self.books.finish(job, r);
    }

    /// How many calls a worker may have queued (see `QUEUED`).
    fn depth(&self) -> usize {
        // MPI hook: a rank always holds its next call, so the round trip through MPI (tens of
        // microseconds to a millisecond) is hidden behind the running one.
        let least = if self.ranks.is_some() { 2 } else { 1 };
        match self.call_ns {
            Some(ns) => ((QUEUED.as_nanos() as f64 / ns.max(1.0)) as usize).clamp(least, MAX_DEPTH),
            None => least,
        }
    }

    /// Sends waiting calls to idle workers, forking workers up to the limit, then queues more
    /// on the least busy workers while calls are short (see `depth`).
    fn dispatch(&mut self) {
        let depth = self.depth();
        // A broken worker with no call left has nothing more to say: reap it now.
        while let Some(at) = self
            .workers
            .iter()
            .position(|w| w.broken && w.calls.is_empty())
        {
            self.retire(at, None);
        }
        while let Some(call) = self.pending.pop_front() {
            let least = (0..self.workers.len())
                .filter(|&i| !self.workers[i].broken)
                .min_by_key(|&i| self.workers[i].calls.len());
            let at = match least {
                Some(at) if self.workers[at].calls.is_empty() => at,
                _ if self.workers.len() < self.books.limit => match self.fork() {
                    Ok(w) => {
                        self.workers.push(w);
                        self.workers.len() - 1
                    }
                    Err(e) => {
                        self.finish(call.0, Err(e));
                        continue;
                    }
                },
                Some(at) if self.workers[at].calls.len() < depth => at,
                _ => {
                    self.pending.push_front(call);
                    return;
                }
            };
            self.frame.clear();
            let (job, name, args) = &call;
            let sent = self
                .frame
                .call(*job as u64, name, args)
                .and_then(|()| sys::write_all(&self.workers[at].tx, &self.frame.buf));
            if sent.is_ok() {
                let w = &mut self.workers[at];
                if w.calls.is_empty() {
                    w.since = Instant::now(); // it starts this call now
                }
                w.calls.push_back(call);
            } else {
                // The worker is exiting, perhaps after finishing calls whose results are still
                // in its pipe: they are read, and its end of file tells how it ended (`read`).
                self.workers[at].broken = true;
                self.pending.push_front(call);
                if self.workers[at].calls.is_empty() {
                    self.retire(at, None);
                }
            }
        }
    }

    /// Worker `at` is gone (or must go): kills and reaps it, fails the call it was running
    /// (with `error`, or with how it died), and puts the calls queued behind it back first in
    /// line for other workers.
    fn retire(&mut self, at: usize, error: Option<Error>) {
        let mut w = self.workers.swap_remove(at);
        if error.is_some() || w.calls.is_empty() {
            w.child.kill();
        }
        // Else its pipe ended while it ran a call: `ended` tells how, and kills it only if it
        // runs on without its pipe (code in the call dup2'd over par's fds: `Error::Lost`).
        let running = w.calls.pop_front();
        while let Some(call) = w.calls.pop_back() {
            self.pending.push_front(call);
        }
        if let Some(call) = running {
            let job = call.0;
            let pid = w.child.pid();
            let e = error
                .or_else(|| w.child.ended(Some(job), true))
                .unwrap_or_else(|| lost(job, Some(pid)));
            match self.books.after_failure(job, e) {
                AfterDeath::Again => self.pending.push_front(call),
                AfterDeath::Fail(e) => self.finish(job, Err(e)),
            }
        }
    }

    fn fork(&mut self) -> Result<Worker> {
        // MPI hook: the worker is the next rank not yet linked, instead of a forked child.
        if self.ranks.is_some() {
            let rank = (1..)
                .find(|r| self.workers.iter().all(|w| w.child.rank_of() != Some(*r)))
                .unwrap_or(1);
            let at = Instant::now();
            let link = crate::mpi::connect(rank)?;
            self.books
                .report
                .linked(link.rank, link.pid.as_raw(), at, at.elapsed());
            self.forks += 1;
            return Ok(Worker {
                child: Child::rank(link.rank, link.pid),
                tx: link.tx,
                rx: link.rx,
                reader: FrameReader::new(self.books.opts.max_frame),
                calls: VecDeque::new(),
                broken: false,
                since: Instant::now(),
                slot: 0,
                link: link.id,
            });
        }
        let slot = place::free_slot(self.workers.iter().map(|w| w.slot));
        let limit = self.books.limit;
        let pin = self
            .placement
            .get_or_init(|| Placement::for_workers(None, limit))
            .as_ref()
            .and_then(|p| p.mask(slot));
        let pipes = Pipes {
            cmd: true,
            what: What::POOL_WORKER,
            limits: self.books.opts.limits.clone(),
            ..Pipes::default()
        };
        // A pool lives on after this call, maybe on another thread than this one: its workers
        // are forked on a thread that lasts (see `child::spawn_lasting`).
        let at = Instant::now();
        let (child, ends) = child::spawn_lasting(pipes, move |ends| match &ends.cmd {
            Some(cmd) => {
                if let Some(mask) = &pin {
                    // Fails only if the mask lost every CPU since it was read (a cpuset
                    // changed): the worker then runs unbound, its results the same.
                    let _ = sys::pin(mask);
                }
                serve(cmd.as_fd(), ends.res.as_fd())
            }
            None => 1,
        })?;
        self.books.report.forked(child.pid(), at, at.elapsed());
        self.forks += 1;
        let Some(tx) = ends.cmd else {
            unreachable!("a command pipe was asked for")
        };
        Ok(Worker {
            child,
            tx,
            rx: ends.res,
            reader: FrameReader::new(self.books.opts.max_frame),
            calls: VecDeque::new(),
            broken: false,
            since: Instant::now(),
            slot,
            link: 0,
        })
    }

    /// Waits until at least one more call has finished; false when none is outstanding.
    fn wait_one(&mut self) -> bool {
        // Counted before dispatching (the loop's first step): a call that could not start (a
        // fork refused) is done.
        let before = self.books.done.len();
        events::wait(self, None, |p| p.books.done.len() != before) == Waited::Enough
    }

    /// Retires the workers whose running call passed its deadline: the call fails with
    /// `TimedOut`, the calls queued behind it go to other workers.
    fn time_out(&mut self) {
        let Some(limit) = self.books.opts.timeout else {
            return;
        };
        while let Some(at) = self
            .workers
            .iter()
            .position(|w| !w.calls.is_empty() && w.since.elapsed() >= limit)
        {
            let w = &self.workers[at];
            let e = self.books.timed_out(w.calls[0].0, w.child.pid());
            let e = crate::mpi::at_rank(w.child.rank_of(), e); // MPI: say which rank
            self.retire(at, Some(e));
        }
    }

    /// Cancelled: every worker is killed and reaped, and every unfinished call fails with
    /// `Error::Cancelled` (results that arrived before stand).
    fn cancel_all(&mut self) {
        for w in std::mem::take(&mut self.workers) {
            // Dropped: killed and reaped.
            for (job, _, _) in w.calls {
                self.finish(job, Err(Error::Cancelled));
            }
        }
        for (job, _, _) in std::mem::take(&mut self.pending) {
            self.finish(job, Err(Error::Cancelled));
        }
    }

    /// Reads worker `at`'s results; at end of file (or garbage) retires it: the call it was
    /// running fails, the calls queued behind it go to other workers.
    fn read(&mut self, at: usize) {
        loop {
            let w = &mut self.workers[at];
            let fd = &w.rx;
            match w.reader.fill(|b| sys::read(fd, b)) {
                Ok(Fill::Read(_)) => {
                    let mut got = Vec::new();
                    let mut corrupt = None;
                    let pid = w.child.pid();
                    while let Some((job, r, elapsed, fatal, bytes)) = take_result::<T>(w) {
                        if fatal {
                            // Frames can't be told apart any more: this worker is done.
                            corrupt = Some(r);
                            break;
                        }
                        if w.calls.front().is_some_and(|c| c.0 == job) {
                            w.calls.pop_front();
                            w.since = Instant::now(); // the next call starts
                        }
                        got.push((job, r, elapsed, bytes));
                    }
                    let (rank, link) = (w.child.rank_of(), w.link);
                    for (job, r, elapsed, bytes) in got {
                        // MPI: say which rank, and which process there ran the call.
                        let r = crate::mpi::on_rank_call(rank, link, job, r);
                        if r.is_ok() {
                            let busy_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
                            self.books.report.result(pid, job, bytes, busy_ns);
                        }
                        let ns = elapsed.as_nanos() as f64;
                        self.call_ns = Some(self.call_ns.map_or(ns, |old| 0.7 * old + 0.3 * ns));
                        self.finish(job, r);
                    }
                    if let Some(r) = corrupt {
                        self.retire(at, crate::mpi::on_rank(rank, r).err());
                        return;
                    }
                }
                Ok(Fill::WouldBlock) => return,
                Ok(Fill::Eof) | Err(_) => break,
            }
        }
        self.retire(at, None);
    }

    /// Takes the next finished call's result, in completion order (`None`: all are taken).
    fn next_done(&mut self) -> Option<(usize, Result<T>)> {
        loop {
            if let Some(r) = self.books.done.pop_front() {
                return Some(r);
            }
            if !self.wait_one() {
                return None;
            }
        }
    }

    /// Waits for call `job` and returns its result (`None` if no such call was submitted, or
    /// it was already taken by iteration).
    ///
    /// ```
    /// #[par::parallel]
    /// fn cube(x: i64) -> i64 {
    ///     x * x * x
    /// }
    /// let mut pool = par::Pool::new(2);
    /// let jobs: Vec<usize> = (0..4).map(|x| cube::spawn(&mut pool, x)).collect();
    /// assert_eq!(pool.get(jobs[3]).unwrap().as_ref().unwrap(), &27);
    /// assert!(pool.get(99).is_none()); // never submitted
    /// ```
    pub fn get(&mut self, job: usize) -> Option<&Result<T>> {
        if job >= self.books.submitted || job < self.next {
            return None;
        }
        while !self.kept.contains_key(&job) {
            match self.next_done() {
                Some((j, r)) => {
                    self.kept.insert(j, r);
                }
                None => break,
            }
        }
        self.kept.get(&job)
    }

    /// The results in submission order (waiting for each), from the first not yet taken.
    ///
    /// ```
    /// #[par::parallel]
    /// fn slow_first(i: u64) -> u64 {
    ///     std::thread::sleep(std::time::Duration::from_millis(if i == 0 { 100 } else { 0 }));
    ///     i
    /// }
    /// let mut pool = par::Pool::new(2);
    /// for i in 0..4 {
    ///     slow_first::spawn(&mut pool, i);
    /// }
    /// let in_order: Vec<u64> = pool.ordered().map(|r| r.unwrap()).collect();
    /// assert_eq!(in_order, [0, 1, 2, 3]); // submission order, whatever finished first
    /// ```
    pub fn ordered(&mut self) -> Ordered<'_, T> {
        Ordered { pool: self }
    }
}

/// The workers' result pipes in the family's one event loop.
impl<T: Transfer> Watched for Pool<T> {
    fn fds(&self) -> impl Iterator<Item = &Fd> {
        self.workers.iter().map(|w| &w.rx)
    }

    fn busy(&self) -> bool {
        self.workers.iter().any(|w| !w.calls.is_empty())
    }

    fn read(&mut self, fd: sys::RawFd) {
        if let Some(at) = self.workers.iter().position(|w| w.rx.raw() == fd) {
            Pool::read(self, at);
        }
    }

    fn poll_failed(&mut self, e: &std::io::Error) {
        for w in std::mem::take(&mut self.workers) {
            // Dropped: killed and reaped.
            for (job, _, _) in w.calls {
                self.finish(job, Err(Error::io("poll failed", events::again(e))));
            }
        }
    }

    fn deadlines(&self) -> impl Iterator<Item = Instant> {
        let timeout = self.books.opts.timeout;
        self.workers
            .iter()
            .filter(|w| !w.calls.is_empty())
            .filter_map(move |w| timeout.map(|t| w.since + t))
    }

    fn cancel(&self) -> Option<&Cancel> {
        self.books.opts.cancel.as_ref()
    }

    fn cancel_all(&mut self) {
        Pool::cancel_all(self);
    }

    fn time_out(&mut self) {
        Pool::time_out(self);
    }

    fn refill(&mut self) {
        self.dispatch();
    }
}

fn lost(job: usize, pid: Option<i32>) -> Error {
    Error::Lost {
        index: Some(job),
        pid,
        message: "the worker exited without sending the call's result".into(),
    }
}

/// One result frame from a pool worker, if a complete one is buffered: the job, its result,
/// the time the worker spent on it, `true` when the stream is corrupt beyond it, and the
/// frame's size.
#[allow(clippy::type_complexity)]
fn take_result<T: Transfer>(w: &mut Worker) -> Option<(usize, Result<T>, Duration, bool, usize)> {
    let pid = w.child.pid();
    let current = w.calls.front().map_or(0, |c| c.0);
    let bad = |job: usize, message: String| Error::Decode {
        index: Some(job),
        pid: Some(pid),
        message,
    };
    let zero = Duration::ZERO;
    Some(match w.reader.next() {
        Ok(None) => return None,
        Ok(Some((Kind::Results, payload))) => match wire::parse_results(payload) {
            Ok((head, bytes)) if head.first as usize == current => (
                current,
                codec::decode_value::<T>(bytes).map_err(|e| e.about(current, pid)),
                Duration::from_nanos(head.elapsed_ns),
                false,
                payload.len(),
            ),
            Ok((head, _)) => (
                current,
                Err(bad(
                    current,
                    format!("a result for job {} arrived", head.first),
                )),
                zero,
                true,
                0,
            ),
            Err(m) => (current, Err(bad(current, m)), zero, true, 0),
        },
        Ok(Some((Kind::Panic, payload))) => {
            let e = panic_error(payload, pid);
            let fatal = e.index() != Some(current);
            (current, Err(e), zero, fatal, 0)
        }
        Ok(Some((kind, _))) => (
            current,
            Err(bad(current, format!("a pool worker sent a {kind:?} frame"))),
            zero,
            true,
            0,
        ),
        Err(m) => (current, Err(bad(current, m)), zero, true, 0),
    })
}

/// A pool worker's life: serve calls until the parent closes the command pipe. Returns the
/// exit code: 0, 1 when the parent sent garbage, 2 when a result could not be written.
pub(crate) fn serve(cmd: BorrowedFd<'_>, res: BorrowedFd<'_>) -> i32 {
    use std::io::Write;
    report::set_result_fd(res);
    let mut reader = FrameReader::new(wire::DEFAULT_MAX);
    let mut frame = FrameBuf::default();
    loop {
        let (job, name, args) = match reader.next() {
            Ok(Some((Kind::Call, payload))) => match wire::parse_call(payload) {
                Ok(call) => call,
                Err(_) => return 1,
            },
            Ok(Some(_)) | Err(_) => return 1,
            Ok(None) => match reader.fill(|b| sys::read(cmd, b)) {
                Ok(Fill::Read(_)) => continue,
                Ok(_) | Err(_) => return 0, // the pool is done with us
            },
        };
        let index = job as usize;
        let started = Instant::now();
        ENCODE_FAILED.with(|failed| failed.set(false));
        let outcome = match registry().get(name) {
            Some(call) => {
                catch_unwind(AssertUnwindSafe(|| call(args))).map_err(|p| panic_message(&*p))
            }
            None => Ok(Err(format!(
                "no `#[parallel]` function named `{name}` is registered in this program"
            ))),
        };
        let ok = match outcome {
            Ok(Ok(bytes)) => {
                frame.results(ResultsHead {
                    first: job,
                    items: 1,
                    values: 1,
                    elapsed_ns: started.elapsed().as_nanos() as u64,
                    last: 1,
                });
                frame.buf.extend_from_slice(&bytes);
                frame.end().is_ok()
            }
            Ok(Err(message)) if ENCODE_FAILED.with(|failed| failed.get()) => {
                panic_frame(&mut frame, index, ENCODE, &message)
            }
            Ok(Err(message)) => panic_frame(&mut frame, index, FAILED, &message),
            Err(message) => panic_frame(&mut frame, index, PANICKED, &message),
        };
        let _ = std::io::stdout().flush();
        if !ok {
            return 2;
        }
        // Each result leaves at once, even with more calls waiting in the pipe: a later call
        // that crashes this worker must not take finished calls' results with it.
        if sys::write_all(res, &frame.buf).is_err() {
            return 2;
        }
        frame.clear();
    }
}

/// What a `Queue` or `Map` needs to wait on calls it sends to the ranks of an MPI job through
/// a pool (feature `mpi`, see `queue.rs`) together with its own children.
impl<T: Transfer> Pool<T> {
    /// True while a submitted call has not finished.
    pub(crate) fn outstanding(&self) -> bool {
        !self.pending.is_empty() || self.workers.iter().any(|w| !w.calls.is_empty())
    }

    /// Hands waiting calls to the workers (see [`Pool::answer_fds`]).
    pub(crate) fn hand_out(&mut self) {
        self.dispatch();
    }

    /// The pipes its workers answer on.
    pub(crate) fn answer_fds(&self) -> impl Iterator<Item = &Fd> {
        self.workers.iter().map(|w| &w.rx)
    }

    /// Reads the answers waiting on `fd` (one of [`Pool::answer_fds`]).
    pub(crate) fn read_answers(&mut self, fd: sys::RawFd) {
        if let Some(at) = self.workers.iter().position(|w| w.rx.raw() == fd) {
            self.read(at);
        }
        self.dispatch();
    }

    /// The next finished call, `(pool job, result)`, without waiting.
    pub(crate) fn take_finished(&mut self) -> Option<(usize, Result<T>)> {
        self.books.done.pop_front()
    }
}

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        // Idle workers exit when their command pipe closes; busy ones are killed.
        for mut w in self.workers.drain(..) {
            if !w.calls.is_empty() {
                w.child.kill();
            }
            drop(w.tx);
            let _ = w.child.reap();
        }
    }
}

impl<T: Transfer> Iterator for Pool<T> {
    type Item = (usize, Result<T>);
    /// The next finished call, in completion order, as `(job, result)`.
    fn next(&mut self) -> Option<(usize, Result<T>)> {
        if let Some(job) = self.kept.keys().next().copied() {
            let r = self.kept.remove(&job)?;
            return Some((job, r));
        }
        self.next_done()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Implemented by no type: the bound of `Pool::spawn`, whose only purpose is this message.
#[diagnostic::on_unimplemented(
    message = "a `par::Pool` cannot run a closure: its workers were forked before the closure existed",
    label = "a closure (or other value) given to a `Pool`",
    note = "mark the function `#[par::parallel]` and submit calls with `f::spawn(&mut pool, args...)`; or use a `par::Queue` / `par::Map`, which fork a child per closure"
)]
pub trait NotAPoolJob: sealed::Sealed {}

/// The results of a [`Pool`] in submission order: see [`Pool::ordered`].
///
/// ```
/// #[par::parallel]
/// fn cube(x: u64) -> u64 {
///     x * x * x
/// }
/// let mut pool = par::Pool::new(2);
/// for x in 1..=4 {
///     cube::spawn(&mut pool, x);
/// }
/// let cubes: Vec<u64> = pool.ordered().map(|r| r.unwrap()).collect();
/// assert_eq!(cubes, [1, 8, 27, 64]);
/// ```
#[derive(Debug)]
pub struct Ordered<'p, T> {
    pool: &'p mut Pool<T>,
}

impl<T: Transfer> Iterator for Ordered<'_, T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        let pool = &mut *self.pool;
        if pool.next >= pool.books.submitted {
            return None;
        }
        let job = pool.next;
        if pool.get(job).is_none() {
            // Cannot happen (every call ends in a result), but never hang or stop silently.
            pool.next += 1;
            return Some(Err(lost(job, None)));
        }
        pool.next += 1;
        pool.kept.remove(&job)
    }
}

impl<T: Transfer> crate::jobs::spawner::sealed::Sealed for Pool<T> {}
impl<T: Transfer> Spawner<'static, T> for Pool<T> {
    fn spawn_call<A: Transfer + 'static>(
        &mut self,
        name: &'static str,
        args: A,
        f: fn(A) -> T,
    ) -> usize {
        self.call(name, args, f)
    }
}
