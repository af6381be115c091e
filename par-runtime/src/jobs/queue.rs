//! pprocess' `Queue`, `Map` and `pmap` in Rust idiom: each submitted job is a closure run in a
//! forked child, at most `limit` at a time; only its result travels back.
//!
//! One engine ([`Jobs`]) forks, watches and reaps the children; [`Queue`] hands results out as
//! they complete, [`Map`] in submission order.
//!
//! What this module must never do: run more than `limit` children at once, block the caller
//! of `spawn`, or lose a job silently (a child that dies without a result is an `Error`).

use std::collections::{BTreeMap, VecDeque};
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::OnceLock;

use crate::cancel::Cancel;
use crate::child::place::{self, Placement};
use crate::child::report::{panic_error, panicked, run_job};
use crate::child::{self, Child, Pipes, What};
use crate::error::{Error, Result};
use crate::jobs::events::{self, Waited, Watched};
use crate::jobs::limiter::{AfterDeath, Limiter};
use crate::jobs::spawner::Spawner;
use crate::mode;
use crate::sys::{self, Fd};
use crate::wire::codec::{self, Transfer};
use crate::wire::{self, Fill, FrameBuf, FrameReader, Kind};
use std::time::{Duration, Instant};

type Job<'a, T> = Box<dyn FnOnce() -> T + 'a>;

struct Running<'a, T> {
    job: usize,
    /// The job's closure, kept to fork it again if its child dies and retries are left.
    closure: Option<Job<'a, T>>,
    child: Child,
    res: Fd,
    reader: FrameReader,
    outcome: Option<Result<()>>,
    /// When it started (its deadline is this plus the `timeout` option).
    started: Instant,
    /// Its place among the running children (`PAR_PROC_BIND` / `PAR_PLACES`; see
    /// [`place::free_slot`]).
    slot: usize,
}

/// The engine under [`Queue`] and [`Map`]: pending closures, running children, and the
/// family's shared bookkeeping (`limiter`).
struct Jobs<'a, T> {
    pending: VecDeque<(usize, Job<'a, T>)>,
    running: Vec<Running<'a, T>>,
    /// Job numbers, results, progress, and the family's options
    /// (`child::options::Options`, the value loops keep too).
    books: Limiter<T>,
    /// MPI hook (feature `mpi`): calls of `#[parallel]` functions sent to the other ranks
    /// (through a pool whose workers are ranks), and the job index of each of its calls.
    ranks: Option<(crate::Pool<T>, Vec<usize>)>,
    /// Where the children are pinned (`PAR_PROC_BIND` / `PAR_PLACES`), computed at the first
    /// fork for `limit` children.
    placement: OnceLock<Option<Placement>>,
}

/// The family's report, printed when its bookkeeping is dropped (just after this), includes
/// what its calls on the MPI ranks did (their pool's own report is quiet).
impl<T> Drop for Jobs<'_, T> {
    fn drop(&mut self) {
        if let Some((pool, _)) = &mut self.ranks {
            self.books.report.absorb(pool.recorder_mut());
        }
    }
}

impl<'a, T: Transfer> Jobs<'a, T> {
    fn new(limit: usize, family: &'static str, site: &'static Location<'static>) -> Self {
        Jobs {
            pending: VecDeque::new(),
            running: Vec::new(),
            books: Limiter::new(limit, family, site),
            ranks: None,
            placement: OnceLock::new(),
        }
    }

    /// Submits a call of the `#[parallel]` function `name`: to the ranks of an MPI job when
    /// this is rank 0 under `par::main` (feature `mpi`), else as a job like any other.
    fn call<A: Transfer + 'a>(&mut self, name: &'static str, args: A, f: fn(A) -> T) -> usize {
        if crate::mpi::ranks().is_none() || self.books.opts.stays_local() {
            return self.spawn(move || f(args));
        }
        let index = self.books.submit();
        let opts = &self.books.opts;
        let (pool, indices) = self.ranks.get_or_insert_with(|| {
            // The family's timeout, retries and cancel handle hold for its calls on the ranks.
            let pool = crate::Pool::new(1).quiet_report();
            (pool.with_job_options(opts.for_ranks()), Vec::new())
        });
        indices.push(index);
        pool.call(name, args, f);
        self.take_from_ranks();
        index
    }

    /// Moves the calls finished on the ranks to `done`.
    fn take_from_ranks(&mut self) {
        while let Some((job, r)) = self.ranks.as_mut().and_then(|(p, _)| p.take_finished()) {
            let index = self.ranks.as_ref().and_then(|(_, i)| i.get(job).copied());
            self.books.finish(index.unwrap_or(job), r);
        }
    }

    /// Queues a job (FIFO) and starts it at once if fewer than `limit` are running.
    fn spawn(&mut self, job: impl FnOnce() -> T + 'a) -> usize {
        let index = self.books.submit();
        self.pending.push_back((index, Box::new(job)));
        self.start_pending();
        index
    }

    fn start_pending(&mut self) {
        if self.books.cancelled() {
            return self.cancel_all();
        }
        while self.running.len() < self.books.limit {
            let Some((index, job)) = self.pending.pop_front() else {
                return;
            };
            if mode::runs_inline() {
                // Sequential mode: run it here, with the same codec round trip as a child.
                let pid = sys::getpid().as_raw();
                // `round_trip` runs the value's `Serialize`: user code, whose panic is the job's.
                let r = match catch_unwind(AssertUnwindSafe(|| codec::round_trip(job()))) {
                    Ok(r) => r.map_err(|e| e.about(index, pid)),
                    Err(p) => Err(panicked(index, pid, &*p)),
                };
                self.books.report.ran_inline();
                self.books.finish(index, r);
                continue;
            }
            match self.fork(index, job) {
                Ok(child) => self.running.push(child),
                Err(e) => self.books.finish(index, Err(e)),
            }
        }
    }

    fn fork(&mut self, index: usize, job: Job<'a, T>) -> Result<Running<'a, T>> {
        let pipes = Pipes {
            what: What::JOB,
            limits: self.books.opts.limits.clone(),
            ..Pipes::default()
        };
        let slot = place::free_slot(self.running.iter().map(|r| r.slot));
        let limit = self.books.limit;
        let pin = self
            .placement
            .get_or_init(|| Placement::for_workers(None, limit))
            .as_ref()
            .and_then(|p| p.mask(slot));
        // The closure stays here too, to be forked again if the child dies (`retries`).
        let at = Instant::now();
        let (child, ends) = child::spawn_with(pipes, &job, move |job, ends| {
            if let Some(mask) = &pin {
                // Fails only if the mask lost every CPU since it was read (a cpuset changed):
                // the job then runs unbound, its value the same.
                let _ = sys::pin(mask);
            }
            // The child: run the job, send its value (or its panic), leave.
            let mut frame = FrameBuf::default();
            if run_job(&mut frame, index, job) && sys::write_all(&ends.res, &frame.buf).is_ok() {
                0
            } else {
                2
            }
        })?;
        self.books.report.forked(child.pid(), at, at.elapsed());
        Ok(Running {
            job: index,
            closure: Some(job),
            child,
            res: ends.res,
            reader: FrameReader::new(self.books.opts.max_frame),
            outcome: None,
            started: Instant::now(),
            slot,
        })
    }

    /// Cancelled: every running child is killed and reaped, and every unfinished job, running
    /// or pending, fails with `Error::Cancelled`.
    fn cancel_all(&mut self) {
        for c in std::mem::take(&mut self.running) {
            // What arrived before the cancel stands: a value is finished already, a panic
            // report is finished here.
            match c.outcome {
                None => self.books.finish(c.job, Err(Error::Cancelled)),
                Some(Err(e)) => self.books.finish(c.job, Err(e)),
                Some(Ok(())) => {}
            }
        }
        for (index, _) in std::mem::take(&mut self.pending) {
            self.books.finish(index, Err(Error::Cancelled));
        }
        // Calls out on the ranks (feature `mpi`): every unfinished one fails the same way.
        if let Some((pool, _)) = self.ranks.as_mut() {
            Watched::cancel_all(pool);
        }
        self.take_from_ranks();
    }

    /// Waits until at least one more job has finished (or nothing runs); returns false when
    /// there is nothing left to wait for. Calls out on the ranks (feature `mpi`) are waited
    /// for with the children.
    fn wait_one(&mut self) -> bool {
        let before = self.books.done.len();
        events::wait(self, None, |j| j.books.done.len() != before) == Waited::Enough
    }

    /// Kills the children whose job ran past its deadline: each fails with `TimedOut`.
    fn time_out(&mut self) {
        let now = Instant::now();
        while let Some(i) = self.running.iter().position(|c| {
            c.outcome.is_none() && self.books.deadline(c.started).is_some_and(|d| d <= now)
        }) {
            let c = self.running.swap_remove(i);
            let e = self.books.timed_out(c.job, c.child.pid());
            drop(c.child); // killed and reaped
            self.books.finish(c.job, Err(e));
        }
    }

    /// Once every result has been taken: reaps the children still exiting (their results
    /// arrived before their end of file), so that none is left a zombie until the drop. One
    /// that has not exited within a second is killed and reaped.
    fn settle(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        if events::wait(self, Some(deadline), |j| j.running.is_empty()) != Waited::Enough {
            self.running.clear(); // each killed and reaped
        }
    }

    /// Reads child `i`'s pipe; at end of file reaps it and records its result or failure.
    fn read(&mut self, i: usize) {
        loop {
            let c = &mut self.running[i];
            let fd = &c.res;
            match c.reader.fill(|b| sys::read(fd, b)) {
                Ok(Fill::Read(_)) => {
                    if let Some((value, outcome)) = take_frame::<T>(c) {
                        c.outcome = Some(outcome);
                        if let Some((v, bytes, busy_ns)) = value {
                            let (job, pid) = (c.job, c.child.pid());
                            self.books.report.result(pid, job, bytes, busy_ns);
                            self.books.finish(job, Ok(v));
                        }
                    }
                }
                Ok(Fill::WouldBlock) => return,
                Ok(Fill::Eof) | Err(_) => break,
            }
        }
        let mut c = self.running.swap_remove(i);
        // Reaped either way; with no frame from it, its end is the job's death.
        let death = c.child.ended(Some(c.job), c.outcome.is_none());
        let failure = match c.outcome {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(e),
            None => death,
        };
        let Some(e) = failure else { return };
        match (self.books.after_failure(c.job, e), c.closure) {
            (AfterDeath::Again, Some(job)) => match self.fork(c.job, job) {
                Ok(child) => self.running.push(child),
                Err(fork_error) => self.books.finish(c.job, Err(fork_error)),
            },
            (AfterDeath::Again, None) => self.books.finish(
                c.job,
                Err(lost(c.job, "its closure is gone: it cannot run again")),
            ),
            (AfterDeath::Fail(e), _) => self.books.finish(c.job, Err(e)),
        }
    }
}

/// The children's result pipes, and (feature `mpi`) the links of the ranks that run calls
/// sent through a pool, in the family's one event loop.
impl<T: Transfer> Watched for Jobs<'_, T> {
    fn fds(&self) -> impl Iterator<Item = &Fd> {
        let ranks = self.ranks.iter().flat_map(|(pool, _)| pool.answer_fds());
        self.running.iter().map(|c| &c.res).chain(ranks)
    }

    fn busy(&self) -> bool {
        let ranks = self
            .ranks
            .as_ref()
            .is_some_and(|(pool, _)| pool.outstanding() && pool.answer_fds().next().is_some());
        !self.running.is_empty() || ranks
    }

    fn read(&mut self, fd: sys::RawFd) {
        match self.running.iter().position(|c| c.res.raw() == fd) {
            Some(i) => self.read(i),
            None => {
                if let Some((pool, _)) = self.ranks.as_mut() {
                    pool.read_answers(fd);
                }
            }
        }
    }

    fn poll_failed(&mut self, e: &std::io::Error) {
        // Nothing sensible to wait on any more: fail every running job.
        for c in std::mem::take(&mut self.running) {
            drop(c.child); // killed and reaped
            self.books
                .finish(c.job, Err(Error::io("poll failed", events::again(e))));
        }
        if self.ranks.is_some() {
            // The ranks' links stay: look again shortly.
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn deadlines(&self) -> impl Iterator<Item = Instant> {
        // A child whose value (or panic) arrived is only exiting: no deadline.
        let ranks = self
            .ranks
            .iter()
            .flat_map(|(pool, _)| Watched::deadlines(pool));
        self.running
            .iter()
            .filter(|c| c.outcome.is_none())
            .filter_map(|c| self.books.deadline(c.started))
            .chain(ranks)
    }

    fn cancel(&self) -> Option<&Cancel> {
        self.books.opts.cancel.as_ref()
    }

    fn cancel_all(&mut self) {
        Jobs::cancel_all(self);
    }

    fn time_out(&mut self) {
        Jobs::time_out(self);
        if let Some((pool, _)) = self.ranks.as_mut() {
            Watched::time_out(pool); // calls on the ranks past the family's timeout
        }
        self.take_from_ranks();
    }

    fn refill(&mut self) {
        if let Some((pool, _)) = self.ranks.as_mut() {
            pool.hand_out();
        }
        self.take_from_ranks();
        self.start_pending();
    }
}

/// A job that par could not finish (a bug if it happens: never silent).
fn lost(job: usize, message: &str) -> Error {
    Error::Lost {
        index: Some(job),
        pid: None,
        message: message.into(),
    }
}

/// Takes the one frame a child sends: its value (with the frame's size and the time the
/// child spent on the job), or its panic.
#[allow(clippy::type_complexity)]
fn take_frame<T: Transfer>(
    c: &mut Running<'_, T>,
) -> Option<(Option<(T, usize, u64)>, Result<()>)> {
    let (job, pid) = (c.job, c.child.pid());
    let bad = |message: String| Error::Decode {
        index: Some(job),
        pid: Some(pid),
        message,
    };
    let frame = match c.reader.next() {
        Ok(Some(f)) => f,
        Ok(None) => return None,
        Err(m) => return Some((None, Err(bad(m)))),
    };
    Some(match frame {
        (Kind::Results, payload) => {
            match wire::parse_results(payload)
                .map_err(bad)
                .and_then(|(head, bytes)| {
                    let v = codec::decode_value::<T>(bytes).map_err(|e| e.about(job, pid))?;
                    Ok((v, payload.len(), head.elapsed_ns))
                }) {
                Ok(v) => (Some(v), Ok(())),
                Err(e) => (None, Err(e)),
            }
        }
        (Kind::Panic, payload) => (None, Err(panic_error(payload, pid))),
        (kind, _) => (None, Err(bad(format!("a job sent a {kind:?} frame")))),
    })
}

/// The builder methods and views [`Queue`] and [`Map`] share (one engine, [`Jobs`], under
/// both), and their [`Spawner`] (how `f::spawn(&mut jobs, ...)` submits a `#[parallel]`
/// call). Each option is a field of the one `child::options::Options` (as for
/// [`Pool`](crate::Pool), and loops), which each method sets; the macro only writes the
/// methods once per type, so that each doc example runs on the type it documents.
macro_rules! family_options {
    ($family:ident, $result:literal) => {
        impl<T: Transfer> crate::jobs::spawner::sealed::Sealed for $family<'_, T> {}
        impl<'a, T: Transfer + 'a> Spawner<'a, T> for $family<'a, T> {
            fn spawn_call<A: Transfer + 'a>(
                &mut self,
                name: &'static str,
                args: A,
                f: fn(A) -> T,
            ) -> usize {
                self.jobs.call(name, args, f) // MPI hook: to the ranks under `par::main`
            }
        }

        impl<'a, T: Transfer> $family<'a, T> {
            /// Jobs running right now (never more than the limit).
            ///
            /// ```
            #[doc = concat!("let mut jobs = par::", stringify!($family), "::new(2);")]
            /// for _ in 0..5 {
            ///     jobs.spawn(|| std::thread::sleep(std::time::Duration::from_millis(50)));
            /// }
            /// assert!(jobs.running() <= 2); // the limit is never overshot
            /// assert_eq!(jobs.count(), 5);
            /// ```
            pub fn running(&self) -> usize {
                self.jobs.running.len()
            }

            /// What the family did so far: jobs, children forked and each one's busy time,
            /// bytes of results, retries, deaths and timeouts (what `PAR_REPORT=1` prints when
            /// it is dropped; see [`FamilyReport`](crate::FamilyReport)).
            ///
            /// ```
            #[doc = concat!("let mut jobs = par::", stringify!($family), "::new(2);")]
            /// for i in 0..4u32 {
            ///     jobs.spawn(move || i);
            /// }
            /// assert_eq!(jobs.by_ref().count(), 4);
            /// let r = jobs.report();
            /// assert_eq!((r.jobs, r.failed), (4, 0));
            /// // One child per job (none with `PAR_WORKERS=1`: the jobs ran inline).
            /// assert_eq!(r.per_worker.len() + r.inline, 4);
            /// ```
            pub fn report(&self) -> crate::FamilyReport {
                let own = self.jobs.books.report.snapshot();
                match &self.jobs.ranks {
                    Some((pool, _)) => own.with(pool.report()),
                    None => own,
                }
            }

            /// Shows a progress bar of finished jobs out of those submitted (see the
            /// `progress` option of loops: stderr, only on a terminal unless
            /// `PAR_PROGRESS=1`). For [`pmap`]: `par::pmap(f, items, limit).progress(true)`.
            ///
            /// ```
            #[doc = concat!("let mut jobs = par::", stringify!($family), "::new(2).progress(true);")]
            /// for i in 0..4u32 {
            ///     jobs.spawn(move || i);
            /// }
            /// assert_eq!(jobs.count(), 4);
            /// ```
            pub fn progress(mut self, on: bool) -> Self {
                self.jobs.books.show_progress(on);
                self
            }

            /// What the progress bar says it counts: `progress_label("files")` draws
            /// `files [00:00:03] ... 12/40 items` instead of `par [...]`, and turns the bar
            /// on as [`progress(true)`](Self::progress) does (see
            /// [`Loop::progress_label`](crate::Loop::progress_label)).
            ///
            /// ```
            #[doc = concat!("let mut jobs = par::", stringify!($family), "::new(2).progress_label(\"files\");")]
            /// for i in 0..4u32 {
            ///     jobs.spawn(move || i);
            /// }
            /// assert_eq!(jobs.count(), 4);
            /// ```
            pub fn progress_label(mut self, label: impl Into<String>) -> Self {
                self.jobs.books.label_progress(label.into());
                self
            }

            /// Forks a job again when its child dies (a signal, `exit`), up to `n` more times;
            /// a job that died every time yields [`Error::Retried`]. A panic, an error or a
            /// timeout is the job's answer and is not retried. The job's closure is kept in
            /// this process until it finishes, to be forked again. Deaths are handled when
            /// results are read, so it also applies to jobs already spawned:
            /// `par::pmap(f, items, 4).retries(2)`.
            ///
            /// ```
            /// let marker = std::env::temp_dir().join(format!("par-doc-retry-{}", std::process::id()));
            #[doc = concat!("let mut jobs = par::", stringify!($family), "::new(2).retries(1);")]
            /// let m = marker.clone();
            /// // The first child to run it dies; the second attempt succeeds.
            /// let job = jobs.spawn(move || {
            ///     if par::in_worker() && std::fs::create_dir(&m).is_ok() {
            ///         std::process::abort();
            ///     }
            ///     7u32
            /// });
            #[doc = concat!("let got = ", $result, ";")]
            /// let _ = std::fs::remove_dir(&marker);
            /// assert_eq!(got.unwrap(), 7);
            /// ```
            pub fn retries(mut self, n: u32) -> Self {
                self.jobs.books.opts.retries = n;
                self
            }

            /// Kills a job's child when it runs longer than `limit`: the job yields
            /// [`Error::TimedOut`] (joblib's `timeout`, `concurrent.futures`'
            /// `result(timeout)` without the leaked worker) and the others go on. Applies to
            /// jobs already running too: `par::pmap(f, items, 4).timeout(limit)`.
            ///
            /// ```
            /// use std::time::Duration;
            /// // Sequential mode (`PAR_WORKERS=1`) runs jobs inline, where no timeout is
            /// // enforced: look only when forked.
            /// if par::default_workers() > 1 {
            #[doc = concat!("    let mut jobs = par::", stringify!($family), "::new(2).timeout(Duration::from_millis(300));")]
            ///     let job = jobs.spawn(|| {
            ///         std::thread::sleep(Duration::from_secs(30));
            ///         1u8
            ///     });
            #[doc = concat!("    let got = ", $result, ";")]
            ///     assert!(matches!(got, Err(par::Error::TimedOut { .. })));
            /// }
            /// ```
            pub fn timeout(mut self, limit: std::time::Duration) -> Self {
                self.jobs.books.opts.timeout = Some(limit);
                self
            }

            /// Stops the jobs when `handle` is cancelled (see [`Cancel`]): no new job
            /// starts, running children are killed and reaped, and every unfinished job
            /// yields `Err(Error::Cancelled)`; results that arrived before stand.
            ///
            /// ```
            /// let stop = par::Cancel::new();
            #[doc = concat!("let mut jobs = par::", stringify!($family), "::new(2).cancel(&stop);")]
            /// stop.cancel();
            /// let job = jobs.spawn(|| 1u8);
            #[doc = concat!("let got = ", $result, ";")]
            /// assert!(matches!(got, Err(par::Error::Cancelled)));
            /// ```
            pub fn cancel(mut self, handle: &Cancel) -> Self {
                self.jobs.books.opts.cancel = Some(handle.clone());
                self
            }

            /// Limits each job's child to `bytes` of data; a job whose allocation fails under
            /// it yields [`Death::MemoryLimit`](crate::Death::MemoryLimit) (see
            /// [`Loop::memory_limit`](crate::Loop::memory_limit)).
            ///
            /// ```
            /// // Sequential mode (`PAR_WORKERS=1`) runs jobs inline, unlimited: look only when forked.
            /// if cfg!(target_os = "linux") && par::default_workers() > 1 {
            #[doc = concat!("    let mut jobs = par::", stringify!($family), "::new(2).memory_limit(256 << 20);")]
            ///     let job = jobs.spawn(|| Vec::<u8>::with_capacity(1 << 30).capacity());
            #[doc = concat!("    let got = ", $result, ";")]
            ///     assert!(
            ///         matches!(got, Err(par::Error::WorkerDied { death: par::Death::MemoryLimit { .. }, .. })),
            ///         "{got:?}"
            ///     );
            /// }
            /// ```
            pub fn memory_limit(mut self, bytes: u64) -> Self {
                self.jobs.books.opts.memory_limit(bytes);
                self
            }

            /// The thread count of the usual thread pools in each child (see
            /// [`Loop::threads_per_worker`](crate::Loop::threads_per_worker)); by default
            /// `max(1, cores / limit)` where you did not set them.
            ///
            /// ```
            /// let parent = std::env::var("OMP_NUM_THREADS").ok();
            #[doc = concat!("let mut jobs = par::", stringify!($family), "::new(2).threads_per_worker(1);")]
            /// let job = jobs.spawn(|| (par::in_worker(), std::env::var("OMP_NUM_THREADS").ok()));
            #[doc = concat!("let got = ", $result, ";")]
            /// let (in_child, omp) = got.unwrap();
            /// if in_child {
            ///     assert_eq!(omp.as_deref(), Some("1"), "a child's pools get one thread");
            /// } else {
            ///     assert_eq!(omp, parent, "inline (`PAR_WORKERS=1`): nothing is set");
            /// }
            /// ```
            pub fn threads_per_worker(mut self, n: usize) -> Self {
                self.jobs.books.opts.threads_per_worker(n);
                self
            }

            /// The largest frame a job's child may send, that is the encoded size of its
            /// value (default 1 GiB, as [`Loop::max_frame`](crate::Loop::max_frame)): a
            /// larger one is that job's [`Error::Decode`](crate::Error::Decode), which names
            /// the setting and the size, never an allocation. Raise it for larger values,
            /// lower it to refuse them early. Applies to jobs already running too.
            ///
            /// ```
            #[doc = concat!("let mut jobs = par::", stringify!($family), "::new(2).max_frame(64 << 10); // 64 KiB")]
            /// let job = jobs.spawn(|| vec![7u8; 256 << 10]);
            #[doc = concat!("let got = ", $result, ";")]
            /// // Inline (`PAR_WORKERS=1`) nothing travels, so no frame is read: only look when forked.
            /// if par::default_workers() > 1 {
            ///     let e = got.unwrap_err();
            ///     assert!(matches!(e, par::Error::Decode { .. }), "{e}");
            ///     assert!(e.to_string().contains("max_frame"), "{e}");
            /// }
            /// ```
            pub fn max_frame(mut self, bytes: usize) -> Self {
                self.jobs.books.opts.max_frame = bytes;
                for c in &mut self.jobs.running {
                    c.reader.set_max(bytes);
                }
                self
            }
        }
    };
}

family_options!(Queue, "jobs.find(|(j, _)| *j == job).unwrap().1");
family_options!(Map, "jobs.nth(job).unwrap()");

/// Results in **completion order** (pprocess' `Queue`): submit closures with
/// [`Queue::spawn`]; each runs in a forked child, at most `limit` at a time (the rest wait,
/// FIFO, without blocking the caller); iterate to get `(job, result)` pairs as they finish.
///
/// The closure and what it captures reach the child by `fork` (no bounds); only its result
/// travels, so it must be [`Transfer`]. A job that panics or dies yields `Err` with its
/// submission number, pid and message or signal; the other jobs go on.
///
/// ```
/// let mut queue = par::Queue::new(2);
/// for i in 0..6u32 {
///     queue.spawn(move || i * 10);
/// }
/// let mut got: Vec<(usize, u32)> = queue.map(|(job, r)| (job, r.unwrap())).collect();
/// got.sort();
/// assert_eq!(got, (0..6).map(|i| (i as usize, i * 10)).collect::<Vec<_>>());
/// ```
pub struct Queue<'a, T: Transfer> {
    jobs: Jobs<'a, T>,
}

impl<'a, T: Transfer> Queue<'a, T> {
    /// A queue running at most `limit` jobs at once (at least 1).
    ///
    /// ```
    /// // A queue of jobs that each return a `String`, at most 4 running at once.
    /// let queue: par::Queue<String> = par::Queue::new(4);
    /// assert_eq!(queue.running(), 0);
    /// ```
    #[track_caller]
    pub fn new(limit: usize) -> Self {
        Queue {
            jobs: Jobs::new(limit, "Queue", Location::caller()),
        }
    }

    /// Submits a job; returns its submission number. Never blocks.
    ///
    /// The closure sees everything in scope, with no `Send` or `'static` bound, because the child is
    /// a fork of this process:
    ///
    /// ```
    /// let words = vec!["par", "forks", "processes"]; // borrowed by the jobs, never copied
    /// let mut queue = par::Queue::new(2);
    /// for i in 0..words.len() {
    ///     let words = &words;
    ///     queue.spawn(move || words[i].len());
    /// }
    /// let mut lens: Vec<usize> = queue.map(|(_job, len)| len.unwrap()).collect();
    /// lens.sort();
    /// assert_eq!(lens, [3, 5, 9]);
    /// ```
    ///
    /// A job that panics yields `Err` with its submission number; the others go on:
    ///
    /// ```
    /// let mut queue = par::Queue::new(2);
    /// let bad = queue.spawn(|| -> u32 { panic!("no") });
    /// queue.spawn(|| 7);
    /// for (job, r) in queue {
    ///     if job == bad {
    ///         assert_eq!(r.unwrap_err().index(), Some(bad));
    ///     } else {
    ///         assert_eq!(r.unwrap(), 7);
    ///     }
    /// }
    /// ```
    pub fn spawn(&mut self, job: impl FnOnce() -> T + 'a) -> usize {
        self.jobs.spawn(job)
    }
}

impl<T: Transfer> Iterator for Queue<'_, T> {
    type Item = (usize, Result<T>);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.jobs.books.done.pop_front() {
                return Some(r);
            }
            if !self.jobs.wait_one() {
                return None;
            }
        }
    }
}

/// Results in **submission order** (pprocess' `Map`): like [`Queue`], but iteration yields job
/// 0, 1, 2, ... (waiting for each), and [`Map::get`] waits for one job. A job that died yields
/// its `Err` in its place: iteration never stops silently at a missing result.
///
/// ```
/// let mut map = par::Map::new(3);
/// for i in 0..5u64 {
///     map.spawn(move || i * i);
/// }
/// assert_eq!(map.get(3).unwrap().as_ref().unwrap(), &9);
/// let all: Vec<u64> = map.map(|r| r.unwrap()).collect();
/// assert_eq!(all, [0, 1, 4, 9, 16]);
/// ```
pub struct Map<'a, T: Transfer> {
    jobs: Jobs<'a, T>,
    results: BTreeMap<usize, Result<T>>,
    next: usize,
}

impl<'a, T: Transfer> Map<'a, T> {
    /// A map running at most `limit` jobs at once (at least 1).
    ///
    /// ```
    /// let map: par::Map<Vec<u8>> = par::Map::new(4);
    /// assert_eq!(map.running(), 0);
    /// ```
    #[track_caller]
    pub fn new(limit: usize) -> Self {
        Map {
            jobs: Jobs::new(limit, "Map", Location::caller()),
            results: BTreeMap::new(),
            next: 0,
        }
    }

    /// Submits a job; returns its index. Never blocks.
    ///
    /// ```
    /// let names = ["a", "bb", "ccc"];
    /// let mut map = par::Map::new(2);
    /// for name in &names {
    ///     map.spawn(move || name.repeat(2));
    /// }
    /// let doubled: Vec<String> = map.map(|r| r.unwrap()).collect();
    /// assert_eq!(doubled, ["aa", "bbbb", "cccccc"]);
    /// ```
    pub fn spawn(&mut self, job: impl FnOnce() -> T + 'a) -> usize {
        self.jobs.spawn(job)
    }

    /// Waits for job `index` and returns its result (`None` if no such job was submitted, or
    /// it was already taken by iteration).
    ///
    /// ```
    /// let mut map = par::Map::new(2);
    /// for i in 0..4u32 {
    ///     map.spawn(move || i * 3);
    /// }
    /// assert_eq!(map.get(2).unwrap().as_ref().unwrap(), &6); // waits for job 2 only
    /// assert!(map.get(9).is_none()); // never submitted
    /// ```
    pub fn get(&mut self, index: usize) -> Option<&Result<T>> {
        if index >= self.jobs.books.submitted || index < self.next {
            return None;
        }
        while !self.results.contains_key(&index) {
            self.collect_done();
            if self.results.contains_key(&index) || !self.jobs.wait_one() {
                break;
            }
        }
        self.collect_done();
        self.results.get(&index)
    }

    /// Waits for every job in `range` and returns their results in order (pprocess'
    /// `results[a:b]`). Jobs not submitted, or already taken by iteration, are left out.
    ///
    /// ```
    /// let mut map = par::Map::new(2);
    /// for i in 0..6u32 {
    ///     map.spawn(move || i + 100);
    /// }
    /// let row: Vec<u32> = map.get_range(2..5).into_iter().map(|r| *r.as_ref().unwrap()).collect();
    /// assert_eq!(row, [102, 103, 104]);
    /// ```
    pub fn get_range(&mut self, range: std::ops::Range<usize>) -> Vec<&Result<T>> {
        let range = range.start.max(self.next)..range.end.min(self.jobs.books.submitted);
        for index in range.clone() {
            self.get(index);
        }
        self.results.range(range).map(|(_, r)| r).collect()
    }

    fn collect_done(&mut self) {
        self.results.extend(self.jobs.books.done.drain(..));
    }
}

impl<T: Transfer> Iterator for Map<'_, T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        if self.next >= self.jobs.books.submitted {
            self.jobs.settle();
            return None;
        }
        loop {
            self.collect_done();
            if let Some(r) = self.results.remove(&self.next) {
                self.next += 1;
                return Some(r);
            }
            if !self.jobs.wait_one() {
                // Cannot happen (every job ends in `done`), but never hang or stop silently.
                let index = self.next;
                self.next += 1;
                return Some(Err(lost(index, "no child holds the job any more")));
            }
        }
    }
}

/// An ordered, lazy parallel map (pprocess' `pmap`): `f` runs on every item in a forked child,
/// at most `limit` at a time; results come back in input order.
///
/// ```
/// let squares: Vec<u32> = par::pmap(|x: u32| x * x, 0..6, 2).map(|r| r.unwrap()).collect();
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25]);
/// ```
#[track_caller]
pub fn pmap<'a, I, T, F>(f: F, items: I, limit: usize) -> Map<'a, T>
where
    I: IntoIterator,
    I::Item: 'a,
    T: Transfer,
    F: Fn(I::Item) -> T + Clone + 'a,
{
    let mut map = Map::new(limit);
    for item in items {
        let f = f.clone();
        map.spawn(move || f(item));
    }
    map
}
