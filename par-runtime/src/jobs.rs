//! pprocess' `Queue`, `Map` and `pmap` in Rust idiom: each submitted job is a closure run in a
//! forked child, at most `limit` at a time; only its result travels back.
//!
//! One engine ([`Jobs`]) forks, watches and reaps the children; [`Queue`] hands results out as
//! they complete, [`Map`] in submission order.
//!
//! What this module must never do: run more than `limit` children at once, block the caller
//! of `spawn`, or lose a job silently (a child that dies without a result is an `Error`).

use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::codec::{self, Transfer};
use crate::error::{child_vanished, report_error, Death, Error, Result};
use crate::error::{ENCODE, PANICKED};
use crate::forms::panic_message;
use crate::mode;
use crate::progress::Progress;
use crate::sys::{self, Fd, Pid, RawFd, Status, Watch};
use crate::wire::{self, Fill, FrameBuf, FrameReader, Kind, PanicHead, ResultsHead};
use std::time::{Duration, Instant};

type Job<'a, T> = Box<dyn FnOnce() -> T + 'a>;

struct Child<'a, T> {
    job: usize,
    /// The job's closure, kept to fork it again if its child dies and retries are left.
    closure: Option<Job<'a, T>>,
    pid: Pid,
    res: Fd,
    _death: Fd,
    reader: FrameReader,
    outcome: Option<Result<()>>,
}

/// The engine under [`Queue`] and [`Map`]: pending closures, running children, finished results.
struct Jobs<'a, T> {
    limit: usize,
    submitted: usize,
    pending: VecDeque<(usize, Job<'a, T>)>,
    running: Vec<Child<'a, T>>,
    done: VecDeque<(usize, Result<T>)>,
    finished: usize,
    progress: Progress,
    /// Forks again a job whose child died (a signal, `exit`), up to this many times.
    retries: u32,
    attempts: std::collections::HashMap<usize, u32>,
    /// MPI hook (feature `mpi`): calls of `#[parallel]` functions sent to the other ranks
    /// (through a pool whose workers are ranks), and the job index of each of its calls.
    ranks: Option<(crate::Pool<T>, Vec<usize>)>,
}

impl<'a, T: Transfer> Jobs<'a, T> {
    fn new(limit: usize) -> Self {
        Jobs {
            limit: limit.max(1),
            submitted: 0,
            pending: VecDeque::new(),
            running: Vec::new(),
            done: VecDeque::new(),
            finished: 0,
            progress: Progress::off(),
            retries: 0,
            attempts: std::collections::HashMap::new(),
            ranks: None,
        }
    }

    /// Submits a call of the `#[parallel]` function `name`: to the ranks of an MPI job when
    /// this is rank 0 under `par::main` (feature `mpi`), else as a job like any other.
    fn call<A: Transfer + 'a>(&mut self, name: &'static str, args: A, f: fn(A) -> T) -> usize {
        if crate::mpi::ranks().is_none() {
            return self.spawn(move || f(args));
        }
        let index = self.submitted;
        self.submitted += 1;
        self.progress.grow(1);
        let (pool, indices) = self
            .ranks
            .get_or_insert_with(|| (crate::Pool::new(1), Vec::new()));
        indices.push(index);
        pool.call(name, args, f);
        self.take_from_ranks();
        index
    }

    /// Moves the calls finished on the ranks to `done`.
    fn take_from_ranks(&mut self) {
        while let Some((job, r)) = self.ranks.as_mut().and_then(|(p, _)| p.take_finished()) {
            let index = self.ranks.as_ref().and_then(|(_, i)| i.get(job).copied());
            self.finish(index.unwrap_or(job), r);
        }
    }

    /// [`Jobs::wait_one`] while calls are out on the ranks: one `poll` over the children's
    /// pipes and the ranks' links.
    fn wait_with_ranks(&mut self) -> bool {
        let before = self.done.len();
        self.start_pending();
        while self.done.len() == before {
            let Some((pool, _)) = self.ranks.as_mut() else {
                break;
            };
            let links = pool.answer_fds();
            if links.is_empty() && self.running.is_empty() {
                break;
            }
            let fds = self.running.iter().map(|c| c.res.raw()).chain(links);
            match wait_readable(fds, None) {
                Ok(ready) => {
                    for fd in ready {
                        match self.running.iter().position(|c| c.res.raw() == fd) {
                            Some(i) => self.read(i),
                            None => {
                                if let Some((pool, _)) = self.ranks.as_mut() {
                                    pool.read_answers(fd);
                                }
                            }
                        }
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
            self.take_from_ranks();
            self.start_pending();
        }
        true
    }

    fn show_progress(&mut self, on: bool) {
        self.progress = Progress::new(Some(self.submitted as u64), on);
        self.progress.advance(self.finished as u64);
    }

    /// Records job `index`'s result (or failure).
    fn finish(&mut self, index: usize, r: Result<T>) {
        self.finished += 1;
        self.progress.advance(1);
        self.done.push_back((index, r));
        if self.finished == self.submitted {
            self.progress.finish();
        }
    }

    /// Queues a job (FIFO) and starts it at once if fewer than `limit` are running.
    fn spawn(&mut self, job: impl FnOnce() -> T + 'a) -> usize {
        let index = self.submitted;
        self.submitted += 1;
        self.progress.grow(1);
        self.pending.push_back((index, Box::new(job)));
        self.start_pending();
        index
    }

    fn start_pending(&mut self) {
        while self.running.len() < self.limit {
            let Some((index, job)) = self.pending.pop_front() else {
                return;
            };
            if !sys::CAN_FORK || mode::in_worker() || mode::workers(Some(2)) == 1 {
                // Sequential mode: run it here, with the same codec round trip as a child.
                let pid = sys::getpid();
                // `round_trip` runs the value's `Serialize`: user code, whose panic is the job's.
                let r = match catch_unwind(AssertUnwindSafe(|| codec::round_trip(job()))) {
                    Ok(r) => r.map_err(|e| e.about(index, pid)),
                    Err(p) => Err(Error::Panicked {
                        index,
                        pid,
                        message: panic_message(&*p),
                        location: None,
                    }),
                };
                self.finish(index, r);
                continue;
            }
            match self.fork(index, job) {
                Ok(child) => self.running.push(child),
                Err(e) => self.finish(index, Err(e)),
            }
        }
    }

    fn fork(&mut self, index: usize, job: Job<'a, T>) -> Result<Child<'a, T>> {
        crate::worker::install_panic_hook();
        let (res_r, res_w) =
            sys::pipe().map_err(|e| Error::io("could not create a pipe from a job", e))?;
        let (death_r, death_w) =
            sys::pipe().map_err(|e| Error::io("could not create a death pipe", e))?;
        let (res, death) = (res_w.raw(), death_r.raw());
        // The closure stays here too, to be forked again if the child dies (`retries`).
        let pid = sys::fork_with(&[res, death], &job, move |job| {
            child_main(res, death, index, job)
        })
        .map_err(|e| Error::io("could not fork a job", e))?;
        drop((res_w, death_r));
        sys::set_nonblocking(&res_r)
            .map_err(|e| Error::io("could not make a job pipe non-blocking", e))?;
        Ok(Child {
            job: index,
            closure: Some(job),
            pid,
            res: res_r,
            _death: death_w,
            reader: FrameReader::new(wire::DEFAULT_MAX),
            outcome: None,
        })
    }

    /// Waits until at least one more job has finished (or nothing runs); returns false when
    /// there is nothing left to wait for.
    fn wait_one(&mut self) -> bool {
        // MPI hook: calls out on the ranks are waited for with the children.
        if self.ranks.as_ref().is_some_and(|(p, _)| p.outstanding()) {
            return self.wait_with_ranks();
        }
        if self.running.is_empty() {
            self.start_pending();
            return !self.done.is_empty();
        }
        let before = self.done.len();
        while self.done.len() == before && !self.running.is_empty() {
            let ready = match wait_readable(self.running.iter().map(|c| c.res.raw()), None) {
                Ok(ready) => ready,
                Err(e) => {
                    // Nothing sensible to wait on any more: fail every running job.
                    for c in std::mem::take(&mut self.running) {
                        sys::kill(c.pid);
                        let _ = sys::waitpid(c.pid);
                        let e = std::io::Error::new(e.kind(), e.to_string());
                        self.finish(c.job, Err(Error::io("poll failed", e)));
                    }
                    break;
                }
            };
            for fd in ready {
                if let Some(i) = self.running.iter().position(|c| c.res.raw() == fd) {
                    self.read(i);
                }
            }
        }
        self.start_pending();
        true
    }

    /// Once every result has been taken: reaps the children still exiting (their results
    /// arrived before their end of file), so that none is left a zombie until the drop. One
    /// that has not exited within a second is killed and reaped.
    fn settle(&mut self) {
        let deadline = Some(Instant::now() + Duration::from_secs(1));
        while !self.running.is_empty() {
            let ready = match time_left(deadline) {
                Some(left) => wait_readable(self.running.iter().map(|c| c.res.raw()), left),
                None => Ok(Vec::new()),
            };
            match ready {
                Ok(ready) if time_left(deadline).is_some() => {
                    for fd in ready {
                        if let Some(i) = self.running.iter().position(|c| c.res.raw() == fd) {
                            self.read(i);
                        }
                    }
                }
                _ => {
                    for c in std::mem::take(&mut self.running) {
                        sys::kill(c.pid);
                        let _ = sys::waitpid(c.pid);
                    }
                }
            }
        }
    }

    /// Reads child `i`'s pipe; at end of file reaps it and records its result or failure.
    fn read(&mut self, i: usize) {
        loop {
            let c = &mut self.running[i];
            let fd = c.res.raw();
            match c.reader.fill(|b| sys::read(fd, b)) {
                Ok(Fill::Read(_)) => {
                    if let Some((value, outcome)) = take_frame::<T>(c) {
                        c.outcome = Some(outcome);
                        if let Some(v) = value {
                            let job = c.job;
                            self.finish(job, Ok(v));
                        }
                    }
                }
                Ok(Fill::WouldBlock) => return,
                Ok(Fill::Eof) | Err(_) => break,
            }
        }
        let c = self.running.swap_remove(i);
        let status = sys::waitpid(c.pid);
        let failure = match (c.outcome, status) {
            (Some(Ok(())), _) => None,
            (Some(Err(e)), _) => Some(e),
            (None, Ok(Status::Signaled(sig))) => Some(Error::WorkerDied {
                index: Some(c.job),
                pid: c.pid,
                death: Death::Signal(sig),
            }),
            (None, Ok(Status::Exited(code))) => Some(Error::WorkerDied {
                index: Some(c.job),
                pid: c.pid,
                death: Death::Exit(code),
            }),
            (None, Err(e)) if child_vanished(&e) => Some(Error::WorkerDied {
                index: Some(c.job),
                pid: c.pid,
                death: Death::Unknown,
            }),
            (None, Err(e)) => Some(Error::io("could not reap a job", e)),
        };
        let Some(e) = failure else { return };
        if let (Error::WorkerDied { .. }, Some(job)) = (&e, c.closure) {
            let attempts = self.attempts.entry(c.job).or_insert(0);
            *attempts += 1;
            if *attempts <= self.retries {
                crate::trace::retry(c.job, *attempts, &e);
                match self.fork(c.job, job) {
                    Ok(child) => self.running.push(child),
                    Err(fork_error) => self.finish(c.job, Err(fork_error)),
                }
                return;
            }
            if *attempts > 1 {
                let attempts = *attempts;
                return self.finish(
                    c.job,
                    Err(Error::Retried {
                        index: c.job,
                        attempts,
                        last: Box::new(e),
                    }),
                );
            }
        }
        self.finish(c.job, Err(e));
    }
}

/// Waits until one of `fds` is readable (or at end of file) or `timeout` passes; returns the
/// readable ones.
pub(crate) fn wait_readable(
    fds: impl Iterator<Item = RawFd>,
    timeout: Option<Duration>,
) -> std::io::Result<Vec<RawFd>> {
    let mut watches: Vec<Watch> = fds.map(|fd| Watch::new(fd, true, false)).collect();
    sys::poll(&mut watches, timeout)?;
    Ok(watches
        .iter()
        .filter(|w| w.readable)
        .map(|w| w.fd)
        .collect())
}

/// What is left until `deadline`: `Some(None)` without one, `None` once it has passed.
pub(crate) fn time_left(deadline: Option<Instant>) -> Option<Option<Duration>> {
    match deadline {
        None => Some(None),
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Some(Some(left)),
            _ => None,
        },
    }
}

/// Takes the one frame a child sends: its value, or its panic.
fn take_frame<T: Transfer>(c: &mut Child<'_, T>) -> Option<(Option<T>, Result<()>)> {
    let (job, pid) = (c.job, c.pid);
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
        (Kind::Results, payload) => match wire::parse_results(payload)
            .map_err(bad)
            .and_then(|(_, bytes)| codec::decode_value::<T>(bytes).map_err(|e| e.about(job, pid)))
        {
            Ok(v) => (Some(v), Ok(())),
            Err(e) => (None, Err(e)),
        },
        (Kind::Panic, payload) => (None, Err(panic_error(payload, pid))),
        (kind, _) => (None, Err(bad(format!("a job sent a {kind:?} frame")))),
    })
}

/// Writes a `Panic` frame (ended) for job `index`, in place of whatever `frame` held:
/// `failed` is [`PANICKED`] (the location is taken from the panic hook),
/// [`FAILED`](crate::error::FAILED) or [`ENCODE`], with `message`.
pub(crate) fn panic_frame(frame: &mut FrameBuf, index: usize, failed: u8, message: &str) -> bool {
    frame.clear();
    frame.panic(PanicHead {
        index: index as u64,
        failed,
    });
    let location = if failed == PANICKED {
        crate::worker::take_panic_location()
    } else {
        None
    };
    codec::encode_into(&(message, location), &mut frame.buf).is_ok() && frame.end().is_ok()
}

/// The error a `Panic` frame from process `pid` reports (or what is wrong with the frame).
pub(crate) fn panic_error(payload: &[u8], pid: i32) -> Error {
    let decoded = wire::parse_panic(payload).and_then(|(head, bytes)| {
        codec::decode::<(String, Option<String>)>(bytes)
            .map(|m| (head, m))
            .map_err(|e| e.to_string())
    });
    match decoded {
        Ok((head, (message, location))) => {
            report_error(head.failed, head.index as usize, pid, message, location)
        }
        Err(message) => Error::Decode {
            index: None,
            pid: Some(pid),
            message,
        },
    }
}

/// Runs par's own code in a child (`f` returns the exit code): whatever happens, the child
/// leaves by `_exit`, never by unwinding into the code that forked it (it would run the
/// parent's code in the child). A panic of par's own code exits with 101, which the parent
/// reports as a death. User code runs under its own `catch_unwind` inside `f`.
pub(crate) fn run_child(f: impl FnOnce() -> i32) -> std::convert::Infallible {
    let code = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(payload) => {
            // Dropping the payload could panic again (a payload type's own `Drop`).
            std::mem::forget(payload);
            101
        }
    };
    sys::exit_now(code)
}

/// Encodes `value` (the result of job `index`) into `frame` as a results frame; when its
/// `Serialize` returns `Err` or panics, the frame reports that instead ([`ENCODE`] with
/// serde's message, or the panic). False if not even that could be framed.
pub(crate) fn encode_result<T: Transfer>(
    frame: &mut FrameBuf,
    index: usize,
    elapsed_ns: u64,
    value: &T,
) -> bool {
    frame.results(ResultsHead {
        first: index as u64,
        items: 1,
        values: 1,
        elapsed_ns,
        last: 1,
    });
    match catch_unwind(AssertUnwindSafe(|| {
        codec::encode_value(value, &mut frame.buf)
    })) {
        Ok(Ok(())) => frame.end().is_ok(),
        Ok(Err(Error::Encode { message, .. })) => panic_frame(frame, index, ENCODE, &message),
        Ok(Err(e)) => panic_frame(frame, index, ENCODE, &e.to_string()),
        Err(p) => panic_frame(frame, index, PANICKED, &panic_message(&*p)),
    }
}

/// The child: run the job, send its value (or its panic), flush stdout, leave.
fn child_main<T: Transfer>(
    res: sys::RawFd,
    death: sys::RawFd,
    index: usize,
    job: Job<'_, T>,
) -> std::convert::Infallible {
    run_child(|| {
        mode::mark_worker();
        sys::die_with_parent(death);
        let mut frame = FrameBuf::default();
        let sent = match catch_unwind(AssertUnwindSafe(job)) {
            Ok(v) => {
                let sent = encode_result(&mut frame, index, 0, &v);
                // The value's own `Drop` is user code too: its panic must not lose the result.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(v)));
                sent
            }
            Err(p) => panic_frame(&mut frame, index, PANICKED, &panic_message(&*p)),
        };
        let ok = sent && sys::write_all(res, &frame.buf).is_ok();
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if ok {
            0
        } else {
            2
        }
    })
}

impl<T> Drop for Jobs<'_, T> {
    fn drop(&mut self) {
        for c in self.running.drain(..) {
            sys::kill(c.pid);
            let _ = sys::waitpid(c.pid);
        }
    }
}

/// Where a call of a `#[parallel]` function can be submitted: [`Queue`] and [`Map`] (which run
/// `f(args)` in a forked child) and [`Pool`](crate::Pool) (which sends `name` and the encoded
/// `args` to a reusable worker). The companion `spawn` that `#[parallel]` generates takes any
/// `Spawner`.
pub trait Spawner<'a, T: Transfer> {
    /// Submits a call of the function registered as `name`, which is `f`, with `args` (its
    /// arguments as a tuple); returns the job number. Never blocks.
    fn spawn_call<A: Transfer + 'a>(&mut self, name: &'static str, args: A, f: fn(A) -> T)
        -> usize;
}

impl<'a, T: Transfer + 'a> Spawner<'a, T> for Queue<'a, T> {
    fn spawn_call<A: Transfer + 'a>(
        &mut self,
        name: &'static str,
        args: A,
        f: fn(A) -> T,
    ) -> usize {
        self.jobs.call(name, args, f) // MPI hook: to the ranks under `par::main`
    }
}

impl<'a, T: Transfer + 'a> Spawner<'a, T> for Map<'a, T> {
    fn spawn_call<A: Transfer + 'a>(
        &mut self,
        name: &'static str,
        args: A,
        f: fn(A) -> T,
    ) -> usize {
        self.jobs.call(name, args, f) // MPI hook: to the ranks under `par::main`
    }
}

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
    pub fn new(limit: usize) -> Self {
        Queue {
            jobs: Jobs::new(limit),
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

    /// Jobs running right now (never more than the limit).
    ///
    /// ```
    /// let mut queue = par::Queue::new(2);
    /// for _ in 0..5 {
    ///     queue.spawn(|| std::thread::sleep(std::time::Duration::from_millis(50)));
    /// }
    /// assert!(queue.running() <= 2); // the limit is never overshot
    /// assert_eq!(queue.count(), 5);
    /// ```
    pub fn running(&self) -> usize {
        self.jobs.running.len()
    }

    /// Shows a progress bar of finished jobs out of those submitted (see the `progress` option
    /// of loops: stderr, only on a terminal unless `PAR_PROGRESS=1`).
    ///
    /// ```
    /// let mut queue = par::Queue::new(2).progress(true);
    /// for i in 0..4u32 {
    ///     queue.spawn(move || i);
    /// }
    /// assert_eq!(queue.count(), 4);
    /// ```
    pub fn progress(mut self, on: bool) -> Self {
        self.jobs.show_progress(on);
        self
    }

    /// Forks a job again when its child dies (a signal, `exit`), up to `n` more times; a job
    /// that died every time yields [`Error::Retried`]. A panic is the job's answer and is not
    /// retried. The job's closure is kept in this process until it finishes, to be forked again.
    ///
    /// ```
    /// let marker = std::env::temp_dir().join(format!("par-doc-queue-retry-{}", std::process::id()));
    /// let mut queue = par::Queue::new(2).retries(1);
    /// let m = marker.clone();
    /// // The first child to run it dies; the second attempt succeeds.
    /// queue.spawn(move || {
    ///     if par::in_worker() && std::fs::create_dir(&m).is_ok() {
    ///         std::process::abort();
    ///     }
    ///     7u32
    /// });
    /// let got: Vec<u32> = queue.map(|(_, r)| r.unwrap()).collect();
    /// let _ = std::fs::remove_dir(&marker);
    /// assert_eq!(got, [7]);
    /// ```
    pub fn retries(mut self, n: u32) -> Self {
        self.jobs.retries = n;
        self
    }
}

impl<T: Transfer> Iterator for Queue<'_, T> {
    type Item = (usize, Result<T>);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.jobs.done.pop_front() {
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
    pub fn new(limit: usize) -> Self {
        Map {
            jobs: Jobs::new(limit),
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

    /// Jobs running right now (never more than the limit).
    ///
    /// ```
    /// let mut map = par::Map::new(3);
    /// for i in 0..5u8 {
    ///     map.spawn(move || i);
    /// }
    /// assert!(map.running() <= 3);
    /// ```
    pub fn running(&self) -> usize {
        self.jobs.running.len()
    }

    /// Shows a progress bar of finished jobs out of those submitted (see [`Queue::progress`]).
    /// For [`pmap`]: `par::pmap(f, items, limit).progress(true)`.
    ///
    /// ```
    /// let done: Vec<u32> = par::pmap(|x: u32| x + 1, 0..4, 2)
    ///     .progress(true)
    ///     .map(|r| r.unwrap())
    ///     .collect();
    /// assert_eq!(done, [1, 2, 3, 4]);
    /// ```
    pub fn progress(mut self, on: bool) -> Self {
        self.jobs.show_progress(on);
        self
    }

    /// Forks a job again when its child dies, up to `n` more times (see [`Queue::retries`]).
    /// Deaths are handled when the map is read, so it also applies to jobs already spawned:
    /// `par::pmap(f, items, 4).retries(2)`.
    pub fn retries(mut self, n: u32) -> Self {
        self.jobs.retries = n;
        self
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
        if index >= self.jobs.submitted || index < self.next {
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
        let range = range.start.max(self.next)..range.end.min(self.jobs.submitted);
        for index in range.clone() {
            self.get(index);
        }
        self.results.range(range).map(|(_, r)| r).collect()
    }

    fn collect_done(&mut self) {
        self.results.extend(self.jobs.done.drain(..));
    }
}

impl<T: Transfer> Iterator for Map<'_, T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        if self.next >= self.jobs.submitted {
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
                return Some(Err(Error::Lost {
                    index: Some(index),
                    pid: None,
                    message: "no child holds the job any more".into(),
                }));
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

#[cfg(all(test, unix, not(par_fallback_sys)))]
mod tests {
    use super::*;

    /// An unwind never leaves a forked child: `run_child` turns a panic of par's own code into
    /// exit status 101, and so does `sys::fork` itself for a child that has no guard of its own.
    #[test]
    fn a_panic_in_par_s_own_child_code_exits_the_child() {
        let guarded = sys::fork(&[], || {
            run_child(|| panic!("par's own child code panicked"))
        });
        let bare = sys::fork(&[], || panic!("a child with no guard of its own panicked"));
        for pid in [guarded, bare] {
            let pid = pid.expect("fork");
            assert!(
                matches!(sys::waitpid(pid), Ok(Status::Exited(101))),
                "child {pid}"
            );
        }
    }
}
