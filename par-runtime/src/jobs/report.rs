//! What a job family did ([`Queue`](crate::Queue), [`Map`](crate::Map), [`Pool`](crate::Pool),
//! a [`start`](crate::start)ed [`Channel`](crate::Channel), an [`Exchange`](crate::Exchange),
//! a [`background`](crate::background) job and its [`BackgroundQueue`](crate::BackgroundQueue)),
//! printed on stderr under `PAR_REPORT=1` and written to the `PAR_TRACE` timeline when the
//! family is dropped, as loops do (`loops::report`): jobs and failures, the children or
//! workers forked and the time that took, each one's busy time and jobs, bytes of results,
//! retries, deaths (and how each process died) and timeouts, messages received. The same numbers are a value, [`FamilyReport`]: from the
//! family's `report()` while it runs, and from [`last_family_report`] once it was dropped.
//!
//! The counters are fed by the family's bookkeeping (`limiter`: jobs, failures, retries,
//! deaths, timeouts) and hooks in the families (`forked`, `result`; `message` and `death` for
//! the channels, which have no limiter). Trace events are only collected when `PAR_TRACE` is
//! set; messages are counted, never traced one by one.
//!
//! What this module must never do: print or write the trace from a worker, or from a family
//! nothing was submitted to.

use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::trace::{self, bytes, human, json_str};

/// `PAR_REPORT=1` (read once per process).
fn report_env() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("PAR_REPORT").is_some_and(|v| v == "1"))
}

/// What a job family ([`Queue`](crate::Queue), [`Map`](crate::Map), [`Pool`](crate::Pool),
/// [`Channel`](crate::Channel), [`Exchange`](crate::Exchange), [`Background`](crate::Background),
/// [`BackgroundQueue`](crate::BackgroundQueue)) did so far: the numbers `PAR_REPORT=1` prints when it is dropped, as a value programs and
/// tests can assert on. Read it while the family runs with `report()` on the family, or after
/// it was dropped (a `pmap(...)` consumed by `collect`) with [`last_family_report`]. Its
/// `Display` is the block `PAR_REPORT=1` prints.
///
/// ```
/// #[par::parallel]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let mut pool = par::Pool::new(2);
/// for x in 0..20 {
///     square::spawn(&mut pool, x);
/// }
/// let sum: u64 = pool.by_ref().map(|(_, r)| r.unwrap()).sum();
/// assert_eq!(sum, 2470);
/// let r = pool.report();
/// assert_eq!((r.family, r.jobs, r.failed), ("Pool", 20, 0));
/// if r.inline == 0 {
///     // Forked (with `PAR_WORKERS=1` the calls run inline and no worker is forked).
///     assert!(r.per_worker.len() <= 2, "{r}");
///     assert_eq!(r.per_worker.iter().map(|w| w.jobs).sum::<usize>(), 20);
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FamilyReport {
    /// `"Queue"`, `"Map"`, `"Pool"`, `"Channel"`, `"Exchange"`, `"Background"`,
    /// `"BackgroundQueue"`, or `"par! on ranks"` (feature `mpi`: a `par!` loop whose calls
    /// ran on the MPI ranks, a job per item, a worker per serving rank; its site is the
    /// loop's).
    pub family: &'static str,
    /// Where the family was made, `file:line` (of its `new`, or of the `pmap`, `start`,
    /// `background` or `BackgroundQueue::connect` call).
    pub site: String,
    /// Jobs submitted (spawned or called; a `Channel`'s child is one job, an `Exchange` has
    /// one per child started or channel added, a background job and its collector one).
    pub jobs: usize,
    /// Jobs that finished with an error (a panic, a death, a timeout, a cancel...).
    pub failed: usize,
    /// Jobs run in the calling process (`PAR_WORKERS=1`: nothing is forked).
    pub inline: usize,
    /// Children (`Queue`, `Map`, `Exchange`) or workers (`Pool`) at once, at most (1 for a
    /// `Channel` and a background job).
    pub limit: usize,
    /// One entry per process forked (a `Queue`/`Map` forks a child per job, a `Pool` a
    /// worker per slot, and replacements after a death; a `Channel` its child, an `Exchange`
    /// one per channel, added ones included; `Background` the detached process, whose pid
    /// [`Background::pid`](crate::Background::pid) says), in fork order. A `BackgroundQueue`
    /// forks nothing.
    pub per_worker: Vec<FamilyWorker>,
    /// Wall time from the family's creation to now (to its drop, for
    /// [`last_family_report`]).
    pub wall: Duration,
    /// Time the parent spent forking (pipes and forks, summed).
    pub fork: Duration,
    /// Bytes of results received (`Channel`, `Exchange`, `BackgroundQueue`: of the messages
    /// received), as they travelled: the encoded values, without the frames' 5-byte headers.
    pub result_bytes: u64,
    /// Messages received (by the parent's end of a `Channel` or an `Exchange`'s channels; the
    /// child's end of a `Channel` counts what it received from the parent; a
    /// `BackgroundQueue` receives one, the result). 0 for `Queue`, `Map` and `Pool`, whose
    /// results are counted by `per_worker[..].jobs`.
    pub messages: usize,
    /// Jobs run again after their process died or timed out (`retries`).
    pub retries: usize,
    /// Processes that died while they had a job (a `Channel`'s child that died before its
    /// function returned: a signal, an `exit`; a panic is a failure, not a death; a
    /// background job whose collector's connection ended before the result). How each one
    /// died is in its [`FamilyWorker::died`].
    pub deaths: usize,
    /// Jobs that ran past the family's `timeout`.
    pub timeouts: usize,
}

/// One child or worker of a [`FamilyReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FamilyWorker {
    /// Its process id.
    pub pid: i32,
    /// Time it spent running jobs whose results arrived, as it measured (from the job's start
    /// to its result encoded).
    pub busy: Duration,
    /// Jobs whose results it sent.
    pub jobs: usize,
    /// Messages of its that the parent received (`Channel`, `Exchange`; 0 otherwise).
    pub messages: usize,
    /// Bytes of its results or messages that the parent received (encoded, without frame
    /// headers).
    pub bytes: u64,
    /// How it died, if it died while it had a job (counted in [`FamilyReport::deaths`]): the
    /// error's sentence, which names the signal or the exit status.
    pub died: Option<String>,
    /// The MPI rank that served the jobs (feature `mpi`: a `Pool` or a `par!` loop whose calls
    /// ran on the ranks), whose serving process `pid` is; `None` for a process this family
    /// forked.
    pub rank: Option<usize>,
}

impl FamilyReport {
    /// The processes' busy times summed: about what the jobs would take one after another.
    pub fn busy(&self) -> Duration {
        self.per_worker.iter().map(|w| w.busy).sum()
    }

    /// Summed busy time over wall time: about how many jobs ran at once, on average (0.0
    /// before any time passed).
    pub fn speedup(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        self.busy().as_secs_f64() / wall
    }
}

/// The report of the last job family dropped on this thread (in this process), if any (a
/// family par makes for itself, or one nothing was submitted to, leaves none).
///
/// ```
/// let squares: Vec<u64> = par::pmap(|x: u64| x * x, 0..6, 3).map(|r| r.unwrap()).collect();
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25]);
/// let r = par::last_family_report().unwrap();
/// assert_eq!((r.family, r.jobs, r.limit), ("Map", 6, 3));
/// assert_eq!(r.result_bytes > 0, r.inline == 0); // inline jobs send nothing
/// ```
pub fn last_family_report() -> Option<FamilyReport> {
    LAST.try_with(|l| l.borrow().clone()).ok().flatten()
}

thread_local! {
    static LAST: RefCell<Option<FamilyReport>> = const { RefCell::new(None) };
}

/// One child (a `Queue`/`Map` job's) or worker (a `Pool`'s).
#[derive(Debug)]
struct Stat {
    pid: i32,
    busy_ns: u64,
    jobs: usize,
    messages: usize,
    bytes: u64,
    died: Option<String>,
    rank: Option<usize>,
}

/// One trace event, kept until the family is dropped.
#[derive(Debug)]
enum Event {
    /// A process forked, or (`rank` set) an MPI rank linked.
    Fork {
        at: Instant,
        took: Duration,
        pid: i32,
        rank: Option<usize>,
    },
    Job {
        pid: i32,
        end: Instant,
        busy_ns: u64,
        job: usize,
    },
    Mark {
        at: Instant,
        name: &'static str,
        pid: i32,
        args: String,
    },
}

/// A family's counters; see the module docs.
#[derive(Debug)]
pub(crate) struct Recorder {
    /// `Queue`, `Map`, `Pool`, `Channel`, `Exchange`, `Background` or `BackgroundQueue`.
    family: &'static str,
    site: &'static Location<'static>,
    started: Instant,
    /// Children (or workers) at once, at most.
    limit: usize,
    /// Off for a family par makes for itself (a `Queue`'s pool of MPI ranks).
    on: bool,
    jobs: usize,
    failed: usize,
    inline: usize,
    workers: Vec<Stat>,
    fork: Duration,
    bytes: u64,
    messages: usize,
    retries: usize,
    deaths: usize,
    timeouts: usize,
    events: Option<Vec<Event>>,
}

impl Recorder {
    /// The recorder of a `family` made at `site`, running at most `limit` at once.
    pub(crate) fn new(
        family: &'static str,
        site: &'static Location<'static>,
        limit: usize,
    ) -> Self {
        Recorder {
            family,
            site,
            started: {
                trace::enabled(); // time 0 of the trace comes first
                Instant::now()
            },
            limit,
            on: true,
            jobs: 0,
            failed: 0,
            inline: 0,
            workers: Vec::new(),
            fork: Duration::ZERO,
            bytes: 0,
            messages: 0,
            retries: 0,
            deaths: 0,
            timeouts: 0,
            events: trace::enabled().then(Vec::new),
        }
    }

    /// The family runs at most `limit` at once after all (a `Pool` that stays off the ranks).
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Neither printed nor traced (a family par makes for itself).
    pub(crate) fn quiet(&mut self) {
        self.on = false;
    }

    /// A job was submitted.
    pub(crate) fn submitted(&mut self) {
        self.jobs += 1;
    }

    /// A job finished with `r`.
    pub(crate) fn finished<T>(&mut self, r: &crate::Result<T>) {
        if r.is_err() {
            self.failed += 1;
        }
    }

    /// A started child's job `job` ended with `r` (its channel is finished): a failure, and a
    /// death with how it died. (The families with a limiter record these through it.)
    pub(crate) fn ended<T>(&mut self, job: usize, r: &crate::Result<T>) {
        self.finished(r);
        if let Err(e @ Error::WorkerDied { .. }) = r {
            self.death(job, e);
        }
    }

    /// A job ran in this process (sequential mode).
    pub(crate) fn ran_inline(&mut self) {
        self.inline += 1;
    }

    /// A child or worker `pid` was forked at `at`, taking `took`.
    pub(crate) fn forked(&mut self, pid: i32, at: Instant, took: Duration) {
        self.started(pid, None, at, took);
    }

    /// MPI rank `rank`, whose serving process is `pid`, was linked at `at`, taking `took`:
    /// it serves the jobs of a worker this family did not fork.
    pub(crate) fn linked(&mut self, rank: usize, pid: i32, at: Instant, took: Duration) {
        self.started(pid, Some(rank), at, took);
    }

    fn started(&mut self, pid: i32, rank: Option<usize>, at: Instant, took: Duration) {
        self.fork += took;
        self.workers.push(Stat {
            pid,
            busy_ns: 0,
            jobs: 0,
            messages: 0,
            bytes: 0,
            died: None,
            rank,
        });
        if let Some(ev) = &mut self.events {
            ev.push(Event::Fork {
                at,
                took,
                pid,
                rank,
            });
        }
    }

    /// `pid` sent job `job`'s result: `bytes` bytes, after `busy_ns` of work as it measured.
    pub(crate) fn result(&mut self, pid: i32, job: usize, bytes: usize, busy_ns: u64) {
        self.bytes += bytes as u64;
        if let Some(s) = self.worker(pid) {
            s.busy_ns = s.busy_ns.saturating_add(busy_ns);
            s.jobs += 1;
            s.bytes += bytes as u64;
        }
        if let Some(ev) = &mut self.events {
            ev.push(Event::Job {
                pid,
                end: Instant::now(),
                busy_ns,
                job,
            });
        }
    }

    /// `pid` sent a message of `bytes` bytes (a channel's; a background job's result).
    pub(crate) fn message(&mut self, pid: i32, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
        if let Some(s) = self.worker(pid) {
            s.messages += 1;
            s.bytes += bytes as u64;
        }
    }

    /// Messages and bytes received so far.
    pub(crate) fn received(&self) -> (usize, u64) {
        (self.messages, self.bytes)
    }

    /// `messages` more messages of `bytes` bytes in all from `pid` (what a channel of an
    /// exchange received in one `recv`, counted by the channel's own recorder).
    pub(crate) fn messages(&mut self, pid: i32, messages: usize, bytes: u64) {
        self.messages += messages;
        self.bytes += bytes;
        if let Some(s) = self.worker(pid) {
            s.messages += messages;
            s.bytes += bytes;
        }
    }

    /// Takes over what `other` recorded (an `Exchange` adopting a channel's child: its fork,
    /// its messages so far, its end if it ended); `other` is then quiet and forgets its
    /// processes, and the jobs stay counted by the caller.
    pub(crate) fn adopt(&mut self, other: &mut Recorder) {
        other.quiet();
        self.fork += other.fork;
        self.workers.append(&mut other.workers);
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.failed += other.failed;
        self.deaths += other.deaths;
        if let (Some(mine), Some(theirs)) = (&mut self.events, &mut other.events) {
            mine.append(theirs);
        }
    }

    /// Takes over what `other` counted for this family's calls that it ran (a `Queue`'s or
    /// `Map`'s calls on the MPI ranks, run through a pool of its own): its processes, forks,
    /// bytes, retries, deaths and timeouts, and its trace events; `other` is then quiet. Jobs
    /// and failures stay the caller's, who counted them as they finished.
    pub(crate) fn absorb(&mut self, other: &mut Recorder) {
        other.quiet();
        self.workers.append(&mut other.workers);
        self.fork += other.fork;
        self.bytes += other.bytes;
        self.retries += other.retries;
        self.deaths += other.deaths;
        self.timeouts += other.timeouts;
        if let (Some(mine), Some(theirs)) = (&mut self.events, &mut other.events) {
            mine.append(theirs);
        }
    }

    /// The latest process with pid `pid` (a pid may come again after a death).
    fn worker(&mut self, pid: i32) -> Option<&mut Stat> {
        self.workers.iter_mut().rev().find(|s| s.pid == pid)
    }

    /// Job `job` runs again (attempt `attempt` died with `e`).
    pub(crate) fn retry(&mut self, job: usize, attempt: u32, e: &Error) {
        self.retries += 1;
        let pid = e.pid().unwrap_or(0);
        self.mark("retry", pid, || {
            format!(
                "{{\"job\":{job},\"attempt\":{attempt},\"error\":{}}}",
                json_str(&e.to_string())
            )
        });
    }

    /// A child or worker died while it had job `job` (`e` says how).
    pub(crate) fn death(&mut self, job: usize, e: &Error) {
        self.deaths += 1;
        let pid = e.pid().unwrap_or(0);
        if let Some(s) = self.worker(pid) {
            s.died = Some(e.to_string());
        }
        self.mark("death", pid, || {
            format!("{{\"job\":{job},\"error\":{}}}", json_str(&e.to_string()))
        });
    }

    /// Job `job` ran past the timeout in `pid`.
    pub(crate) fn timed_out(&mut self, job: usize, pid: i32) {
        self.timeouts += 1;
        self.mark("timeout", pid, || format!("{{\"job\":{job}}}"));
    }

    fn mark(&mut self, name: &'static str, pid: i32, args: impl FnOnce() -> String) {
        if let Some(ev) = &mut self.events {
            ev.push(Event::Mark {
                at: Instant::now(),
                name,
                pid,
                args: args(),
            });
        }
    }

    /// The family is dropped: prints its report and writes its trace events as asked.
    pub(crate) fn end(&mut self) {
        if !self.on || self.jobs == 0 || crate::mode::in_worker() {
            return;
        }
        self.on = false; // once
        let wall = self.started.elapsed();
        let report = self.report_at(wall);
        if report_env() {
            eprint!("{report}");
        }
        if let Some(events) = &self.events {
            trace::write_loop(&self.trace_events(wall, events));
        }
        let _ = LAST.try_with(|l| *l.borrow_mut() = Some(report));
    }

    /// What the family did until now (`wall` is the time since it was made).
    pub(crate) fn snapshot(&self) -> FamilyReport {
        self.report_at(self.started.elapsed())
    }

    fn report_at(&self, wall: Duration) -> FamilyReport {
        FamilyReport {
            family: self.family,
            site: format!("{}:{}", self.site.file(), self.site.line()),
            jobs: self.jobs,
            failed: self.failed,
            inline: self.inline,
            limit: self.limit,
            per_worker: self
                .workers
                .iter()
                .map(|s| FamilyWorker {
                    pid: s.pid,
                    busy: Duration::from_nanos(s.busy_ns),
                    jobs: s.jobs,
                    messages: s.messages,
                    bytes: s.bytes,
                    died: s.died.clone(),
                    rank: s.rank,
                })
                .collect(),
            wall,
            fork: self.fork,
            result_bytes: self.bytes,
            messages: self.messages,
            retries: self.retries,
            deaths: self.deaths,
            timeouts: self.timeouts,
        }
    }

    /// The family's events as Chrome-trace JSON objects without their `pid` (the trace's
    /// process number, given by `trace::write_loop`).
    fn trace_events(&self, wall: Duration, events: &[Event]) -> Vec<String> {
        let us = |at: Instant| at.saturating_duration_since(trace::epoch()).as_nanos() as f64 / 1e3;
        let dur = |d: Duration| d.as_nanos() as f64 / 1e3;
        let parent = crate::sys::getpid().as_raw();
        let mut out = Vec::with_capacity(events.len() + self.workers.len() + 3);
        let name = format!(
            "par {} {}:{} ({} jobs)",
            self.family,
            self.site.file(),
            self.site.line(),
            self.jobs
        );
        out.push(format!(
            "\"tid\":{parent},\"ph\":\"M\",\"ts\":0,\"name\":\"process_name\",\"args\":{{\"name\":{}}}",
            json_str(&name)
        ));
        out.push(format!(
            "\"tid\":{parent},\"ph\":\"M\",\"ts\":0,\"name\":\"thread_name\",\"args\":{{\"name\":\"parent {parent}\"}}"
        ));
        let what = if self.family == "Pool" {
            "worker"
        } else {
            "child"
        };
        for s in &self.workers {
            out.push(format!(
                "\"tid\":{},\"ph\":\"M\",\"ts\":0,\"name\":\"thread_name\",\"args\":{{\"name\":\"{what} {}\"}}",
                s.pid, s.pid
            ));
        }
        out.push(format!(
            "\"tid\":{parent},\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"name\":{},\"cat\":\"par\",\"args\":{{\"jobs\":{},\"failed\":{},\"limit\":{},\"forks\":{},\"bytes\":{},\"messages\":{},\"retries\":{},\"deaths\":{},\"timeouts\":{}}}",
            us(self.started),
            dur(wall),
            json_str(self.family),
            self.jobs,
            self.failed,
            self.limit,
            self.workers.len(),
            self.bytes,
            self.messages,
            self.retries,
            self.deaths,
            self.timeouts
        ));
        for e in events {
            out.push(match e {
                Event::Fork {
                    at,
                    took,
                    pid,
                    rank,
                } => {
                    // A rank is linked, not forked: its span says which.
                    let (name, more) = match rank {
                        None => ("fork".to_string(), String::new()),
                        Some(r) => (format!("link rank {r}"), format!(",\"rank\":{r}")),
                    };
                    format!(
                        "\"tid\":{parent},\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"name\":\"{name}\",\"cat\":\"par\",\"args\":{{\"worker\":{pid}{more}}}",
                        us(*at),
                        dur(*took)
                    )
                }
                Event::Job {
                    pid,
                    end,
                    busy_ns,
                    job,
                } => {
                    // The child measured how long it ran the job; the parent saw it end.
                    let busy = Duration::from_nanos(*busy_ns);
                    let begin = end.checked_sub(busy).unwrap_or(*end).max(self.started);
                    format!(
                        "\"tid\":{pid},\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"name\":\"job {job}\",\"cat\":\"job\",\"args\":{{\"job\":{job}}}",
                        us(begin),
                        dur(busy)
                    )
                }
                Event::Mark {
                    at,
                    name,
                    pid,
                    args,
                } => format!(
                    "\"tid\":{pid},\"ph\":\"i\",\"s\":\"t\",\"ts\":{:.3},\"name\":\"{name}\",\"cat\":\"par\",\"args\":{args}",
                    us(*at)
                ),
            });
        }
        out
    }
}

/// The block `PAR_REPORT=1` prints (see the README's "Reports and timelines").
impl fmt::Display for FamilyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PAD: &str = "     ";
        write!(
            f,
            "par: {} {}  {}",
            self.family,
            self.site,
            count(self.jobs, "job")
        )?;
        if self.failed > 0 {
            write!(f, " ({} failed)", self.failed)?;
        }
        write!(f, "  limit {}  ", self.limit)?;
        // The ranks that served (MPI) were linked, not forked: they are counted apart.
        let ranks = self.per_worker.iter().filter(|w| w.rank.is_some()).count();
        let forked = self.per_worker.len() - ranks;
        let pool = matches!(self.family, "Pool" | "par! on ranks");
        let what = match (pool, forked == 1) {
            (true, true) => "worker",
            (true, false) => "workers",
            (false, true) => "child",
            (false, false) => "children",
        };
        if self.inline > 0 {
            write!(f, "{} inline (one worker)  ", self.inline)?;
        }
        match (forked, ranks) {
            (_, 0) => writeln!(f, "{forked} {what} forked")?,
            (0, _) => writeln!(f, "{} serving", count(ranks, "rank"))?,
            _ => writeln!(
                f,
                "{forked} {what} forked, {} serving",
                count(ranks, "rank")
            )?,
        }
        // Linking a rank is this family's cost of starting a worker there, as a fork is here.
        let start = if forked == 0 && ranks > 0 {
            "link"
        } else {
            "fork"
        };
        if self.talks() {
            // Channels: no jobs measured by their processes, but messages.
            write!(
                f,
                "{PAD}wall {}   received {} ({})",
                human(self.wall),
                count(self.messages, "message"),
                bytes(self.result_bytes)
            )?;
            if (2..=4).contains(&self.per_worker.len()) {
                let each: Vec<String> = self
                    .per_worker
                    .iter()
                    .map(|w| format!("{} ({})", w.messages, bytes(w.bytes)))
                    .collect();
                write!(f, " = {}", each.join(" + "))?;
            }
            writeln!(f)?;
            writeln!(
                f,
                "{PAD}{start} {}   deaths {}",
                human(self.fork),
                self.deaths
            )?;
        } else {
            write!(
                f,
                "{PAD}wall {}   busy {}",
                human(self.wall),
                human(self.busy())
            )?;
            if (1..=4).contains(&self.per_worker.len()) {
                let each: Vec<String> = self
                    .per_worker
                    .iter()
                    .map(|w| format!("{} ({})", human(w.busy), count(w.jobs, "job")))
                    .collect();
                write!(f, " = {}", each.join(" + "))?;
            }
            writeln!(f, "   speedup ~{:.2}x", self.speedup())?;
            writeln!(
                f,
                "{PAD}{start} {}   results {}   retries {}   deaths {}   timeouts {}",
                human(self.fork),
                bytes(self.result_bytes),
                self.retries,
                self.deaths,
                self.timeouts
            )?;
        }
        for w in &self.per_worker {
            if let Some(how) = &w.died {
                writeln!(f, "{PAD}{} died: {how}", w.pid)?;
            }
        }
        Ok(())
    }
}

impl FamilyReport {
    /// This report with `other`'s processes and counts in (see [`Recorder::absorb`]): a
    /// `Queue`'s or `Map`'s report while some of its calls run on the MPI ranks.
    pub(crate) fn with(mut self, other: FamilyReport) -> Self {
        self.per_worker.extend(other.per_worker);
        self.fork += other.fork;
        self.result_bytes += other.result_bytes;
        self.retries += other.retries;
        self.deaths += other.deaths;
        self.timeouts += other.timeouts;
        self
    }

    /// A family whose processes send messages, not results of jobs.
    fn talks(&self) -> bool {
        matches!(
            self.family,
            "Channel" | "Exchange" | "Background" | "BackgroundQueue"
        )
    }
}

/// `1 job`, `2 jobs`.
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_counts_jobs_workers_and_failures() {
        let mut r = Recorder::new("Pool", Location::caller(), 2);
        for _ in 0..3 {
            r.submitted();
        }
        r.forked(10, Instant::now(), Duration::from_micros(300));
        r.result(10, 0, 100, 2_000_000);
        r.result(10, 1, 28, 1_000_000);
        r.finished::<u8>(&Err(Error::Cancelled));
        r.timed_out(2, 10);
        let text = r.report_at(Duration::from_millis(6)).to_string();
        assert!(text.starts_with("par: Pool "), "{text}");
        assert!(
            text.contains("3 jobs (1 failed)  limit 2  1 worker forked"),
            "{text}"
        );
        assert!(text.contains("busy 3.0 ms = 3.0 ms (2 jobs)"), "{text}");
        assert!(text.contains("speedup ~0.50x"), "{text}");
        assert!(
            text.contains("results 128 B   retries 0   deaths 0   timeouts 1"),
            "{text}"
        );
    }

    /// Ranks that served a family's jobs are linked, not forked, and the report says so (it
    /// said "2 workers forked" for two serving ranks).
    #[test]
    fn serving_ranks_are_not_counted_as_forked() {
        let mut r = Recorder::new("par! on ranks", Location::caller(), 2);
        r.linked(1, 20, Instant::now(), Duration::from_micros(50));
        r.linked(2, 21, Instant::now(), Duration::from_micros(50));
        let report = r.report_at(Duration::from_millis(1));
        let ranks: Vec<_> = report.per_worker.iter().map(|w| w.rank).collect();
        assert_eq!(ranks, [Some(1), Some(2)]);
        let text = report.to_string();
        assert!(text.contains("limit 2  2 ranks serving\n"), "{text}");
        assert!(text.contains("link 0.1 ms"), "{text}");
        assert!(!text.contains("forked"), "{text}");
        // A pool that forked one local worker beside a rank says both.
        let mut r = Recorder::new("Pool", Location::caller(), 2);
        r.forked(10, Instant::now(), Duration::from_micros(300));
        r.linked(1, 20, Instant::now(), Duration::from_micros(50));
        let text = r.report_at(Duration::from_millis(1)).to_string();
        assert!(text.contains("1 worker forked, 1 rank serving"), "{text}");
        assert!(text.contains("fork 0.3 ms"), "{text}");
        // Its trace names the fork a fork and the link a link, with the rank.
        r.events = Some(Vec::new());
        r.forked(10, Instant::now(), Duration::from_micros(300));
        r.linked(1, 20, Instant::now(), Duration::from_micros(50));
        let events = r.events.take().unwrap_or_default();
        let json = r.trace_events(Duration::from_millis(1), &events).join("\n");
        assert!(
            json.contains(r#""name":"fork","cat":"par","args":{"worker":10}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""name":"link rank 1","cat":"par","args":{"worker":20,"rank":1}"#),
            "{json}"
        );
    }
}
