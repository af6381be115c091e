//! What a loop did, as a value ([`LoopReport`], [`last_report`]), as a block on stderr
//! (`PAR_REPORT=1`, [`Loop::report`](crate::Loop::report), the `report` clause) and as events
//! of the Chrome-trace timeline (`PAR_TRACE=path.json`, written by `trace`).
//!
//! How a report is put together: `exec` decides where a loop runs and makes a [`Context`]
//! (call site, items, the decision and its reason). An inline run ends with [`inline_done`].
//! A forked run hands the context to the team it starts ([`expect_team`]; the team takes it in
//! `Team::start` with [`take_pending`]), whose [`Recorder`] counts what the parent sees
//! (forks, frames, bytes, decode time, per-worker busy time and items, chunks, retries,
//! deaths); when the team is dropped the recorder is stashed and `exec` finishes the report
//! with the loop's result ([`team_finished`]); a team behind an iterator (`unordered`,
//! `ordered`) finishes its report when it is dropped.
//!
//! Costs with no report and no trace asked for: a handful of counters per result frame and
//! one small allocation per loop (the last report, kept per thread). The trace's events are
//! only collected when `PAR_TRACE` is set (the environment is read once).
//!
//! What this module must never do: print or write the trace from a worker (a loop nested in
//! a worker's item is reported to [`last_report`] only).

use std::cell::RefCell;
use std::fmt;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::loops::learn::Site;
use crate::loops::sched::Schedule;
use crate::trace;
// The people- and JSON-formatting helpers live in `trace`, shared with the job families.
use crate::trace::bytes;
pub(crate) use crate::trace::{human, json_str};

/// What one loop did: where it ran and why, how long it took, where the time went.
///
/// Every loop form ([`Loop::collect`](crate::Loop::collect), `par!`, `for_each`, `reduce`,
/// `collect_each`...) leaves one behind, read with [`last_report`]; `PAR_REPORT=1` or
/// [`Loop::report(true)`](crate::Loop::report) also print it on stderr when the loop ends (its
/// [`Display`](fmt::Display) form; the README's "Reports and timelines" section says what each
/// line means). Times measured in the workers (`busy`) are the workers' wall time on their
/// chunks; everything else is measured by the parent.
///
/// ```
/// let v = par::Loop::new().workers(2).collect(0..1000u64, |i| i * i);
/// assert_eq!(v.len(), 1000);
/// let r = par::last_report().expect("a loop ran on this thread");
/// assert_eq!(r.items, 1000);
/// assert!(r.site.contains(".rs:"), "{}", r.site); // file:line of the `collect` call
/// if r.inline {
///     // PAR_WORKERS=1 or one core: the reason says so, and no worker was forked.
///     assert!(r.per_worker.is_empty(), "{r}");
/// } else {
///     assert_eq!(r.per_worker.iter().map(|w| w.items).sum::<usize>(), 1000);
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoopReport {
    /// The loop's call site, `file:line` (of the `par!` or of the `Loop` form's call).
    pub site: String,
    /// Items the loop ran (for a stream, how many it pulled; for a loop ended early by a
    /// failure or a search, the items whose values arrived).
    pub items: usize,
    /// True when the loop ran in the calling process, without forking.
    pub inline: bool,
    /// Workers the team ran at once (0 inline); with replacements (after a death, a retry,
    /// `max_items_per_worker`) more processes were forked, see
    /// [`per_worker`](LoopReport::per_worker).
    pub workers: usize,
    /// Why it ran where it ran: the clause, the mode, or `auto`'s predicted times
    /// (`"if = false"`, `"one worker"`, `"timeout needs a worker process"`,
    /// `"auto: inline 40 us, forked 0.9 ms predicted"`, `"auto: the first run here forks and
    /// measures"`, `"forks: schedule static (only auto learns to run inline)"`...).
    pub reason: String,
    /// The schedule asked for (`auto` unless set).
    pub schedule: Schedule,
    /// Wall time from the decision to the last value (forks and reaping included); for an
    /// `unordered` or `ordered` iterator, to the iterator's drop.
    pub wall: Duration,
    /// One entry per worker process forked, replacements included, in fork order (empty for
    /// an inline run).
    pub per_worker: Vec<WorkerReport>,
    /// Time the parent spent forking the team (its pipes and forks, replacements included).
    pub fork: Duration,
    /// Bytes of results received from the workers (frame payloads).
    pub result_bytes: u64,
    /// Result frames received.
    pub frames: u64,
    /// Time the parent spent decoding results.
    pub decode: Duration,
    /// An in-place loop (`for x in v.iter_mut()`, `chunks_mut`...) that forked: the time the
    /// parent spent writing the workers' changes into the caller's slice once the loop had
    /// succeeded, after the team (part of `wall`), and the bytes written (zero for any other
    /// loop, or inline).
    pub write_back: Duration,
    /// See [`write_back`](LoopReport::write_back).
    pub write_back_bytes: u64,
    /// Chunks handed out, and the fewest and most items in one (0 when none).
    pub chunks: usize,
    /// See [`chunks`](LoopReport::chunks).
    pub chunk_min: usize,
    /// See [`chunks`](LoopReport::chunks).
    pub chunk_max: usize,
    /// Items run again after their worker died or timed out (`retries`).
    pub retries: usize,
    /// Workers that died (a crash, a signal, an `exit`) while they had work.
    pub deaths: usize,
    /// The loop's error, as [`Error`]'s message, when it failed.
    pub error: Option<String>,
}

/// One worker process of a [`LoopReport`]: its pid, how long it was busy and how much of the
/// loop it ran (the `per_worker` list is empty when the loop ran inline).
///
/// ```
/// let v = par::Loop::new().workers(2).collect(0..200u64, |i| i + 1);
/// assert_eq!(v.len(), 200);
/// let r = par::last_report().expect("a loop ran on this thread");
/// for w in &r.per_worker {
///     assert!(w.pid > 0 && w.chunks >= 1, "{w:?}");
///     println!("worker {}: {} items in {} chunks, busy {:?}", w.pid, w.items, w.chunks, w.busy);
/// }
/// assert_eq!(r.per_worker.iter().map(|w| w.items).sum::<usize>(), if r.inline { 0 } else { 200 });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Its process id.
    pub pid: i32,
    /// Time it spent running its chunks, as it measured (from its first item to the last
    /// value of each chunk encoded).
    pub busy: Duration,
    /// Items whose values it sent.
    pub items: usize,
    /// Chunks it finished.
    pub chunks: usize,
}

impl LoopReport {
    /// The workers' busy times summed: about what the loop would take sequentially.
    pub fn busy(&self) -> Duration {
        self.per_worker.iter().map(|w| w.busy).sum()
    }

    /// The longest busy time over the mean (1.0: perfectly balanced; 0.0 when no worker ran).
    pub fn imbalance(&self) -> f64 {
        let n = self.per_worker.len();
        let sum = self.busy().as_secs_f64();
        if n == 0 || sum <= 0.0 {
            return 0.0;
        }
        let max = self
            .per_worker
            .iter()
            .map(|w| w.busy)
            .max()
            .unwrap_or_default();
        max.as_secs_f64() / (sum / n as f64)
    }

    /// Summed busy time over wall time: how many times faster than a sequential run (of the
    /// same body, without par's costs) the loop was, about. 1.0 for an inline run.
    pub fn speedup(&self) -> f64 {
        if self.inline {
            return 1.0;
        }
        let wall = self.wall.as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        self.busy().as_secs_f64() / wall
    }
}

/// The report of the last loop that finished on this thread (in this process), if any.
///
/// ```
/// par::Loop::new().parallel(false).collect(0..10u8, |i| i);
/// let r = par::last_report().unwrap();
/// assert!(r.inline);
/// assert_eq!(r.reason, "if = false");
/// assert_eq!(r.items, 10);
/// ```
pub fn last_report() -> Option<LoopReport> {
    LAST.try_with(|l| l.borrow().clone()).ok().flatten()
}

thread_local! {
    static LAST: RefCell<Option<LoopReport>> = const { RefCell::new(None) };
    /// The context of the team about to start on this thread (see the module's doc).
    static PENDING: RefCell<Option<Context>> = const { RefCell::new(None) };
    /// The recorder of the team just dropped, waiting for `team_finished`.
    static STASH: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// `PAR_REPORT=1` (read once per process).
fn report_env() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("PAR_REPORT").is_some_and(|v| v == "1"))
}

/// What `exec` knows of a loop when it has decided where it runs.
#[derive(Debug)]
pub(crate) struct Context {
    site: Site,
    len: Option<usize>,
    reason: String,
    schedule: Schedule,
    print: bool,
    started: Instant,
    /// The team's drop ends the report (an iterator's team), not `team_finished`.
    ends_in_drop: bool,
    /// A search: it may end before every item ran.
    search: bool,
}

impl Context {
    pub(crate) fn new(
        site: Site,
        len: Option<usize>,
        reason: &dyn fmt::Display,
        schedule: Schedule,
        print: bool,
    ) -> Self {
        Context {
            site,
            len,
            reason: reason.to_string(),
            schedule,
            print,
            // The trace's time 0 comes before the first loop's start.
            started: {
                trace::enabled();
                Instant::now()
            },
            ends_in_drop: false,
            search: false,
        }
    }

    /// The loop is a search (`position_any`, `any`), which ends at its first match.
    pub(crate) fn search(mut self, on: bool) -> Self {
        self.search = on;
        self
    }
}

/// The next team started on this thread reports as `ctx`; with `ends_in_drop` its report is
/// finished when it is dropped (an iterator's team), else by [`team_finished`].
pub(crate) fn expect_team(mut ctx: Context, ends_in_drop: bool) {
    ctx.ends_in_drop = ends_in_drop;
    // What a team left unfinished (its loop unwound by a panic) is not this loop's.
    let _ = STASH.try_with(|s| s.borrow_mut().take());
    let _ = PENDING.try_with(|p| *p.borrow_mut() = Some(ctx));
}

/// The context `expect_team` left for the team starting now.
pub(crate) fn take_pending() -> Option<Context> {
    PENDING.try_with(|p| p.borrow_mut().take()).ok().flatten()
}

/// An inline run ended: `items` values (or `error`).
pub(crate) fn inline_done(ctx: Context, items: usize, error: Option<&Error>) {
    let mut rec = Recorder::new(None, 0);
    rec.inline = true;
    rec.items_inline = items;
    if let Some(e) = error {
        rec.error = Some(e.to_string());
    }
    rec.ctx = Some(ctx);
    rec.end();
}

/// A forked run ended (its team dropped, or never started) and its values were used (`back`:
/// the time its in-place loop took to write `bytes` into the caller's slice, after the team):
/// finishes its report.
pub(crate) fn team_finished(error: Option<&Error>, back: Duration, bytes: u64) {
    let rec = STASH
        .try_with(|s| s.borrow_mut().take())
        .ok()
        .flatten()
        .or_else(|| take_pending().map(|ctx| Recorder::new(Some(ctx), 0)));
    if let Some(mut rec) = rec {
        if bytes > 0 {
            rec.write_back = back;
            rec.write_back_bytes = bytes;
            if let Some(ev) = &mut rec.events {
                ev.push(Event::Phase {
                    name: "write back",
                    at: Instant::now()
                        .checked_sub(back)
                        .unwrap_or_else(Instant::now),
                    took: back,
                    bytes,
                });
            }
        }
        if let Some(e) = error {
            if rec.error.is_none() {
                rec.failed(e);
            }
            // The team's first failure is kept; the loop's answer is what it returned.
            rec.error = Some(e.to_string());
        }
        rec.end();
    }
}

/// One loop's report bookkeeping with `PAR_REPORT` and `PAR_TRACE` unset, as the parent of a
/// team of `workers` does it for `chunks` chunks of one result frame each (its context and
/// reason, the hooks `team` calls, the two clock reads around each frame's decode, the
/// [`LoopReport`] kept for [`last_report`]), without the loop: what `cargo bench --bench
/// compare` weighs against a loop's own cost (the floors' "report bookkeeping" line). Test and
/// bench support, not public API.
#[cfg(feature = "testing")]
#[track_caller]
pub fn bookkeeping(workers: usize, chunks: usize) {
    let site = std::panic::Location::caller();
    let reason = "auto: the first run here forks and measures";
    expect_team(
        Context::new(site, Some(chunks), &reason, Schedule::Auto, false),
        false,
    );
    let mut rec = Recorder::new(take_pending(), workers);
    let now = Instant::now();
    let stats: Vec<usize> = (0..workers.max(1))
        .map(|w| rec.forked(1 + w as i32, now, Duration::from_micros(100)))
        .collect();
    for c in 0..chunks {
        let w = stats[c % stats.len()];
        rec.sent(1);
        let decoding = Instant::now();
        let decoded = Instant::now();
        rec.frame(w, 8, 1, decoded, decoded - decoding);
        rec.chunk_done(w, c, 1, 1_000);
    }
    rec.team_dropped();
    team_finished(None, Duration::ZERO, 0);
}

/// Per-worker counters (one per process forked).
#[derive(Debug, Default)]
struct Stat {
    pid: i32,
    busy_ns: u64,
    items: usize,
    chunks: usize,
}

/// What the parent of a team saw: fed by small hooks in `team`.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    ctx: Option<Context>,
    inline: bool,
    team: usize,
    items_inline: usize,
    workers: Vec<Stat>,
    fork: Duration,
    bytes: u64,
    frames: u64,
    decode: Duration,
    write_back: Duration,
    write_back_bytes: u64,
    chunks: usize,
    chunk_min: usize,
    chunk_max: usize,
    retries: usize,
    deaths: usize,
    error: Option<String>,
    /// Trace events (only with `PAR_TRACE`).
    events: Option<Vec<Event>>,
    dispatch: Option<(Instant, Instant)>,
}

/// One trace event, kept until the loop ends.
#[derive(Debug)]
enum Event {
    Fork {
        at: Instant,
        took: Duration,
        pid: i32,
    },
    Chunk {
        pid: i32,
        end: Instant,
        busy_ns: u64,
        first: usize,
        items: usize,
    },
    /// A phase of the parent's with bytes: `decode` (results) or `write back` (an in-place
    /// loop's copy into the caller's slice).
    Phase {
        name: &'static str,
        at: Instant,
        took: Duration,
        bytes: u64,
    },
    Mark {
        at: Instant,
        name: &'static str,
        pid: i32,
        args: String,
    },
}

impl Recorder {
    /// A team's recorder: `ctx` from [`take_pending`] (none: a team nobody reports), for a
    /// team of `workers`.
    pub(crate) fn new(ctx: Option<Context>, workers: usize) -> Self {
        Recorder {
            ctx,
            team: workers,
            events: trace::enabled().then(Vec::new),
            ..Recorder::default()
        }
    }

    /// A worker was forked (at `at`, taking `took`); returns its index for the other hooks.
    pub(crate) fn forked(&mut self, pid: i32, at: Instant, took: Duration) -> usize {
        self.fork += took;
        self.workers.push(Stat {
            pid,
            ..Stat::default()
        });
        if let Some(ev) = &mut self.events {
            ev.push(Event::Fork { at, took, pid });
        }
        self.workers.len() - 1
    }

    /// A chunk of `items` items was handed out.
    #[inline]
    pub(crate) fn sent(&mut self, items: usize) {
        self.chunk_min = if self.chunks == 0 {
            items
        } else {
            self.chunk_min.min(items)
        };
        self.chunk_max = self.chunk_max.max(items);
        self.chunks += 1;
        if self.events.is_some() {
            let now = Instant::now();
            let (first, _) = self.dispatch.unwrap_or((now, now));
            self.dispatch = Some((first, now));
        }
    }

    /// Worker `w` sent a result frame of `bytes` bytes covering `items` items, decoded in
    /// `took` (which ended at `at`).
    #[inline]
    pub(crate) fn frame(
        &mut self,
        w: usize,
        bytes: usize,
        items: u64,
        at: Instant,
        took: Duration,
    ) {
        self.frames += 1;
        self.bytes += bytes as u64;
        self.decode += took;
        if let Some(s) = self.workers.get_mut(w) {
            s.items += items as usize;
        }
        if let Some(ev) = &mut self.events {
            ev.push(Event::Phase {
                name: "decode",
                at: at.checked_sub(took).unwrap_or(at),
                took,
                bytes: bytes as u64,
            });
        }
    }

    /// The result bytes received so far and the time spent decoding them (for `auto`'s cost
    /// per byte: learn.rs).
    pub(crate) fn moved(&self) -> (u64, Duration) {
        (self.bytes, self.decode)
    }

    /// Worker `w` finished the chunk of `items` items from `first`, busy `busy_ns` on it.
    #[inline]
    pub(crate) fn chunk_done(&mut self, w: usize, first: usize, items: usize, busy_ns: u64) {
        let Some(s) = self.workers.get_mut(w) else {
            return;
        };
        s.busy_ns = s.busy_ns.saturating_add(busy_ns);
        s.chunks += 1;
        let pid = s.pid;
        if let Some(ev) = &mut self.events {
            ev.push(Event::Chunk {
                pid,
                end: Instant::now(),
                busy_ns,
                first,
                items,
            });
        }
    }

    /// Item `index` is run again (attempt `attempt` failed with `e` on worker `pid`).
    pub(crate) fn retry(&mut self, pid: i32, index: usize, attempt: u32, e: &Error) {
        self.retries += 1;
        self.instant("retry", pid, || {
            format!(
                "{{\"item\":{index},\"attempt\":{attempt},\"error\":{}}}",
                json_str(&e.to_string())
            )
        });
    }

    /// Worker `pid` died with work (`e` says how).
    pub(crate) fn death(&mut self, pid: i32, e: &Error) {
        self.deaths += 1;
        self.instant("death", pid, || {
            format!("{{\"error\":{}}}", json_str(&e.to_string()))
        });
    }

    /// The loop failed with `e` (the first failure is the report's error).
    pub(crate) fn failed(&mut self, e: &Error) {
        if self.error.is_none() {
            self.error = Some(e.to_string());
        }
        self.instant("failure", crate::sys::getpid().as_raw(), || {
            format!("{{\"error\":{}}}", json_str(&e.to_string()))
        });
    }

    fn instant(&mut self, name: &'static str, pid: i32, args: impl FnOnce() -> String) {
        if let Some(ev) = &mut self.events {
            ev.push(Event::Mark {
                at: Instant::now(),
                name,
                pid,
                args: args(),
            });
        }
    }

    /// The team was dropped: its report ends now, or when `exec` has the loop's result.
    pub(crate) fn team_dropped(self) {
        if self.ctx.as_ref().is_some_and(|c| c.ends_in_drop) {
            self.end();
        } else if self.ctx.is_some() {
            // `try_with`: a team dropped while the thread's locals are torn down reports nothing.
            let _ = STASH.try_with(|s| *s.borrow_mut() = Some(self));
        }
    }

    /// Builds the report, keeps it for [`last_report`], prints it and writes its trace events
    /// as asked.
    fn end(mut self) {
        let Some(ctx) = self.ctx.take() else { return };
        let wall = ctx.started.elapsed();
        let per_worker: Vec<WorkerReport> = self
            .workers
            .iter()
            .map(|s| WorkerReport {
                pid: s.pid,
                busy: Duration::from_nanos(s.busy_ns),
                items: s.items,
                chunks: s.chunks,
            })
            .collect();
        let items = if self.inline {
            self.items_inline
        } else {
            let done = per_worker.iter().map(|w| w.items).sum();
            // A keep-going loop's failed items sent no value, and are items all the same.
            match (ctx.len, &self.error) {
                (Some(n), None) if !ctx.search => n.max(done),
                _ => done,
            }
        };
        let report = LoopReport {
            site: format!("{}:{}", ctx.site.file(), ctx.site.line()),
            items,
            inline: self.inline,
            workers: self.team,
            reason: ctx.reason.clone(),
            schedule: ctx.schedule,
            wall,
            per_worker,
            fork: self.fork,
            result_bytes: self.bytes,
            frames: self.frames,
            decode: self.decode,
            write_back: self.write_back,
            write_back_bytes: self.write_back_bytes,
            chunks: self.chunks,
            chunk_min: self.chunk_min,
            chunk_max: self.chunk_max,
            retries: self.retries,
            deaths: self.deaths,
            error: self.error.take(),
        };
        if !crate::mode::in_worker() {
            if ctx.print || report_env() {
                eprint!("{report}");
            }
            if let Some(events) = &self.events {
                trace::write_loop(&trace_events(&report, &ctx, events, self.dispatch));
            }
        }
        let _ = LAST.try_with(|l| *l.borrow_mut() = Some(report));
    }
}

/// Microseconds since the trace's epoch.
fn us(at: Instant) -> f64 {
    at.saturating_duration_since(trace::epoch()).as_nanos() as f64 / 1e3
}

/// The loop's events as Chrome-trace JSON objects, without their `pid` (the trace's process
/// number of the loop, given by `trace::write_loop` as `"pid":N` in front of each).
fn trace_events(
    r: &LoopReport,
    ctx: &Context,
    events: &[Event],
    dispatch: Option<(Instant, Instant)>,
) -> Vec<String> {
    let parent = crate::sys::getpid().as_raw();
    let mut out = Vec::with_capacity(events.len() + 8);
    let name = format!("par {} ({} items)", r.site, r.items);
    out.push(format!(
        "\"tid\":{parent},\"ph\":\"M\",\"ts\":0,\"name\":\"process_name\",\"args\":{{\"name\":{}}}",
        json_str(&name)
    ));
    out.push(format!(
        "\"tid\":{parent},\"ph\":\"M\",\"ts\":0,\"name\":\"thread_name\",\"args\":{{\"name\":\"parent {parent}\"}}"
    ));
    for w in &r.per_worker {
        out.push(format!(
            "\"tid\":{},\"ph\":\"M\",\"ts\":0,\"name\":\"thread_name\",\"args\":{{\"name\":\"worker {}\"}}",
            w.pid, w.pid
        ));
    }
    let start = us(ctx.started);
    let mut args = format!(
        "{{\"items\":{},\"workers\":{},\"processes\":{},\"inline\":{},\"reason\":{}",
        r.items,
        r.workers,
        r.per_worker.len(),
        r.inline,
        json_str(&r.reason)
    );
    if let Some(e) = &r.error {
        let _ = write!(args, ",\"error\":{}", json_str(e));
    }
    args.push('}');
    out.push(format!(
        "\"tid\":{parent},\"ph\":\"X\",\"ts\":{start:.3},\"dur\":{:.3},\"name\":\"loop\",\"cat\":\"par\",\"args\":{args}",
        r.wall.as_nanos() as f64 / 1e3
    ));
    if let Some((first, last)) = dispatch {
        out.push(format!(
            "\"tid\":{parent},\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"name\":\"dispatch\",\"cat\":\"par\",\"args\":{{\"chunks\":{}}}",
            us(first),
            last.saturating_duration_since(first).as_nanos() as f64 / 1e3,
            r.chunks
        ));
    }
    for e in events {
        out.push(match e {
            Event::Fork { at, took, pid } => format!(
                "\"tid\":{parent},\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"name\":\"fork\",\"cat\":\"par\",\"args\":{{\"worker\":{pid}}}",
                us(*at),
                took.as_nanos() as f64 / 1e3
            ),
            Event::Phase {
                name,
                at,
                took,
                bytes,
            } => format!(
                "\"tid\":{parent},\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"name\":\"{name}\",\"cat\":\"par\",\"args\":{{\"bytes\":{bytes}}}",
                us(*at),
                took.as_nanos() as f64 / 1e3
            ),
            Event::Chunk {
                pid,
                end,
                busy_ns,
                first,
                items,
            } => {
                // The worker measures how long it ran the chunk; the parent saw it end (its
                // last frame arrived): the chunk is placed as ending then.
                let busy = Duration::from_nanos(*busy_ns);
                let begin = end.checked_sub(busy).unwrap_or(*end).max(ctx.started);
                format!(
                    "\"tid\":{pid},\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"name\":\"items {first}..{}\",\"cat\":\"chunk\",\"args\":{{\"first\":{first},\"items\":{items}}}",
                    us(begin),
                    busy.as_nanos() as f64 / 1e3,
                    first + items
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

/// A schedule as `PAR_SCHEDULE` writes it.
pub(crate) fn schedule_name(s: Schedule) -> String {
    match s {
        Schedule::Auto => "auto".into(),
        Schedule::Static => "static".into(),
        Schedule::Dynamic(k) => format!("dynamic,{k}"),
        Schedule::Guided(k) => format!("guided,{k}"),
    }
}

/// The block `PAR_REPORT=1` prints (see the README's "Reports and timelines").
impl fmt::Display for LoopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PAD: &str = "     ";
        write!(f, "par: {}  {} items  ", self.site, self.items)?;
        if self.inline {
            writeln!(f, "inline ({})", self.reason)?;
            let per_item = self.wall.as_secs_f64() * 1e9 / self.items.max(1) as f64;
            write!(f, "{PAD}wall {}", human(self.wall))?;
            if self.items > 0 {
                write!(f, " ({per_item:.0} ns/item)")?;
            }
            writeln!(f)?;
        } else {
            let n = self.workers;
            write!(f, "{n} worker{}  ", if n == 1 { "" } else { "s" })?;
            let more = self.per_worker.len().saturating_sub(n);
            if more > 0 {
                write!(f, "(+{more} forked to replace)  ")?;
            }
            writeln!(f, "forked ({})", self.reason)?;
            let n = self.per_worker.len();
            write!(f, "{PAD}wall {}   busy ", human(self.wall))?;
            if n <= 4 {
                let each: Vec<String> = self.per_worker.iter().map(|w| human(w.busy)).collect();
                write!(f, "{}", each.join(" + "))?;
            } else {
                let min = self
                    .per_worker
                    .iter()
                    .map(|w| w.busy)
                    .min()
                    .unwrap_or_default();
                let max = self
                    .per_worker
                    .iter()
                    .map(|w| w.busy)
                    .max()
                    .unwrap_or_default();
                write!(f, "{} to {} each", human(min), human(max))?;
            }
            writeln!(
                f,
                " (imbalance {:.2})   speedup ~{:.2}x of {} sequential",
                self.imbalance(),
                self.speedup(),
                human(self.busy())
            )?;
            let items: Vec<String> = self
                .per_worker
                .iter()
                .map(|w| w.items.to_string())
                .collect();
            write!(
                f,
                "{PAD}fork {}   results {} in {} frames ({} decode)   chunks {} ({}, ",
                human(self.fork),
                bytes(self.result_bytes),
                self.frames,
                human(self.decode),
                self.chunks,
                schedule_name(self.schedule),
            )?;
            if self.chunk_min == self.chunk_max {
                let s = if self.chunk_min == 1 { "" } else { "s" };
                write!(f, "{} item{s} each", self.chunk_min)?;
            } else {
                write!(f, "{}-{} items", self.chunk_min, self.chunk_max)?;
            }
            writeln!(f, ")   items {}", items.join(" + "))?;
            if self.write_back_bytes > 0 {
                writeln!(
                    f,
                    "{PAD}written back into the caller's slice: {} in {}",
                    bytes(self.write_back_bytes),
                    human(self.write_back)
                )?;
            }
            if self.retries > 0 || self.deaths > 0 {
                writeln!(f, "{PAD}retries {}   deaths {}", self.retries, self.deaths)?;
            }
        }
        if let Some(e) = &self.error {
            writeln!(f, "{PAD}failed: {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_what_json_needs() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn durations_and_sizes_read_as_people_write_them() {
        assert_eq!(human(Duration::from_micros(42)), "42 us");
        assert_eq!(human(Duration::from_micros(500)), "0.5 ms");
        assert_eq!(human(Duration::from_millis(634)), "634 ms");
        assert_eq!(human(Duration::from_millis(1230)), "1.23 s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 19), "1.5 MiB");
    }

    #[test]
    fn imbalance_and_speedup_come_from_the_busy_times() {
        let w = |ms| WorkerReport {
            pid: 1,
            busy: Duration::from_millis(ms),
            items: 1,
            chunks: 1,
        };
        let r = LoopReport {
            site: "x.rs:1".into(),
            items: 2,
            inline: false,
            workers: 2,
            reason: "forks".into(),
            schedule: Schedule::Auto,
            wall: Duration::from_millis(100),
            per_worker: vec![w(60), w(100)],
            fork: Duration::ZERO,
            result_bytes: 0,
            frames: 0,
            decode: Duration::ZERO,
            write_back: Duration::ZERO,
            write_back_bytes: 0,
            chunks: 2,
            chunk_min: 1,
            chunk_max: 1,
            retries: 0,
            deaths: 0,
            error: None,
        };
        assert!((r.imbalance() - 1.25).abs() < 1e-9);
        assert!((r.speedup() - 1.6).abs() < 1e-9);
        let text = r.to_string();
        assert!(text.contains("2 workers  forked (forks)"), "{text}");
        assert!(
            text.contains("busy 60 ms + 100 ms (imbalance 1.25)"),
            "{text}"
        );
    }
}
