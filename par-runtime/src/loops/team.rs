//! The parent's side of a parallel loop: forks the workers, then runs one poll loop over all of
//! their pipes that hands out chunks (non-blocking writes; every worker gets a chunk before any
//! gets another, and chunks are queued ahead only as deep as measured chunk times make worth it,
//! see `Sched::depth`),
//! reads result frames as they come (so results of any size never deadlock), stores values by
//! item index, watches per-item deadlines and reaps every worker it forked.
//!
//! What this module must never do: block on one worker while another is waiting to be read,
//! wait for any pid but its own workers', or leave a worker unreaped (see `Drop`).

use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::child::{self, Child, Pipes, What, report};
use crate::error::{Death, Error, Result, report_error};
use crate::loops::forms::{Inline, Job, JobError};
use crate::loops::options::Clauses;
use crate::loops::report::{self as loop_report, Recorder};
use crate::loops::sched::{self, Sched, Schedule};
use crate::loops::source::{Plan, Source};
use crate::loops::watch;
use crate::loops::worker::{self, Fds};
use crate::progress::Progress;
use crate::sys::{self, AsFd, Fd, Shared, Watch};
use crate::wire::codec::{self, Transfer};
use crate::wire::spill::{self, Spilled};
use crate::wire::{self, ChunkHead, Fill, FrameBuf, FrameReader, Kind};

/// One worker process as the parent sees it.
struct Worker {
    /// The process (killed and reaped when the team is dropped early: an `unordered`
    /// iterator dropped, a panic in the parent).
    child: Child,
    /// The worker's stdout while a progress bar is drawn, and its unfinished last line.
    stdout: Option<Fd>,
    line: Vec<u8>,
    cmd: Option<Fd>,
    res: Option<Fd>,
    out: FrameBuf,
    /// Bytes of `out` already written.
    written: usize,
    /// Chunks sent and not finished: (first item, items, units, items whose values arrived).
    in_flight: VecDeque<(usize, usize, usize, usize)>,
    /// Since when the front of `in_flight` has been the chunk it runs (about: since the
    /// chunk before it finished, or it was sent to an idle worker).
    front_since: Instant,
    reader: FrameReader,
    /// Its region of the team's spill file, where its large results frames come
    /// (`sys::memfd`), and the buffer a spilled payload of serde values is read into.
    spill_from: Option<u64>,
    spill_buf: Vec<u8>,
    done_sent: bool,
    /// Sent a `Panic` frame: it leaves by itself, and its exit is not a death.
    failed: bool,
    /// Progress slot value last seen (item index + 1, 0 between items) and since when.
    seen: u64,
    since: Instant,
    /// Bytes of an unfinished frame buffered from it, and since when that count has not
    /// changed: a frame that stops half-way is a protocol error, not a wait for ever.
    partial: Option<(usize, Instant)>,
    /// Items handed to it so far (`max_items_per_worker`).
    handed: usize,
    /// Stall watch: the item and the worker's CPU time at the last look, how long the item has
    /// run since without any CPU used, and whether that was reported.
    stall: Stall,
    /// Its index in the team's `Recorder` (its report counters).
    stat: usize,
}

#[derive(Default)]
struct Stall {
    item: u64,
    cpu: Option<Duration>,
    idle: Duration,
    warned: bool,
}

/// A worker's buffer for spilled payloads of serde values is freed after use above this size,
/// so that one huge result doesn't pin memory.
const SPARE_SPILL_BUF: usize = 8 << 20;

/// How often a loop's `Cancel` handle is looked at.
const CANCEL_LOOK: Duration = Duration::from_millis(20);

/// How often workers' CPU time is looked at.
const STALL_LOOK: Duration = Duration::from_secs(1);

/// How long a frame may stay unfinished without a new byte before the worker is reported
/// (the loop's `timeout` instead, when it is shorter). A worker writes each frame whole, so a
/// stall mid-frame means it wrote something that is not par's frame, or stopped writing.
const PARTIAL_FRAME_STALL: Duration = Duration::from_secs(10);

/// Where values go: kept in item order, or handed out as they arrive.
enum Store<V> {
    Ordered(BTreeMap<usize, Vec<V>>),
    Unordered(VecDeque<V>),
}

/// An `ordered` iterator's window: the parent hands out no item at or past `yielded + items`
/// (so it buffers at most that many values, and pulls a stream no further), in chunks of at
/// most `chunk` items.
struct Window {
    items: usize,
    chunk: usize,
    /// Values the iterator has handed to its caller.
    yielded: usize,
    /// One past the last item handed out.
    handed: usize,
}

/// Items per chunk of an `ordered` loop (at most; `dynamic(k)` for a larger `k`).
const ORDERED_CHUNK: usize = 64;
/// An `ordered` loop's window, in chunks per worker.
const ORDERED_AHEAD: usize = 4;

/// Pulls a stream's items in the parent (object-safe view of [`Source::pull`]).
trait Pull {
    fn pull(&mut self, max: usize, out: &mut Vec<u8>) -> Result<usize>;
}

impl<S: Source> Pull for S {
    fn pull(&mut self, max: usize, out: &mut Vec<u8>) -> Result<usize> {
        Source::pull(self, max, out)
    }
}

/// A running team of workers.
pub(crate) struct Team<V> {
    workers: Vec<Worker>,
    /// The spill file of the team's workers, made at the first fork (`sys::memfd`; each
    /// worker writes in its own region of it), and the number of workers forked so far (the
    /// next one's region).
    spill: Option<Fd>,
    spawned: u64,
    slots: Shared,
    sched: Sched,
    len: Option<usize>,
    /// Items per scheduling unit (the reduction grain, else 1).
    grain: usize,
    stream_next: usize,
    stream_ended: bool,
    stopping: bool,
    errors: Vec<Error>,
    store: Store<V>,
    /// Items covered by stored values (checked against the length at the end).
    covered: usize,
    /// The loop's options as the team runs it (`Loop`'s clauses, one value): read from
    /// here, never copied into fields. Its `limits` are for this team's worker count. A stream neither retries nor recycles workers, nor
    /// do `unordered`/`ordered` iterators: `start` and `TeamIter` clear those two here.
    opts: Clauses,
    threads: usize,
    /// The names of those threads (when more than one), for stall reports.
    thread_names: Vec<String>,
    progress: Progress,
    /// Nanoseconds the workers reported spending on finished chunks, and the time the team
    /// took to start (see `Measured`).
    busy_ns: u64,
    start_time: Duration,
    /// `retries`: failed attempts so far per item, unit ranges to run again (before
    /// anything new), and worker slots to fork a replacement into once reaped.
    attempts: std::collections::HashMap<usize, u32>,
    redo: VecDeque<std::ops::Range<usize>>,
    replace: Vec<usize>,
    /// When the workers' CPU time was last looked at (about once a second).
    stall_looked: Instant,
    /// A short-circuiting loop (`position_any`): a value for which this is true ends the loop
    /// at once (the other workers are killed), and `finished_early` says it did.
    stop_on: Option<fn(&V) -> bool>,
    finished_early: bool,
    /// Keep going: an item that fails (panic, `Err`, death, timeout) gets its error in its
    /// place, its worker is replaced and the rest of its work goes to others.
    keep_going: bool,
    item_errors: BTreeMap<usize, Error>,
    /// Each worker slot's CPU mask (`Loop::proc_bind`, `PAR_PROC_BIND`); `None`: unbound.
    placement: Option<child::place::Placement>,
    /// `ordered`: how far ahead of its caller the loop may run.
    window: Option<Window>,
    /// What the loop's report counts (report.rs).
    rec: Recorder,
    /// A stream's pulls: keeps deadlines and the cancel while `next()` blocks (watch.rs).
    watch: watch::Watchdog,
    _v: PhantomData<V>,
}

/// What a team run measured, for the `auto` schedule's choice between forking and running
/// inline (learn.rs).
pub(crate) struct Measured {
    /// Workers forked.
    pub(crate) workers: usize,
    /// Time the workers spent running chunks, summed over workers.
    pub(crate) busy: Duration,
    /// Time to start the team (pipes and forks).
    pub(crate) start: Duration,
    /// Bytes of results received, and the parent's time decoding them.
    pub(crate) result_bytes: u64,
    pub(crate) decode: Duration,
    /// Keep-going loops: the items that failed, with their errors.
    pub(crate) failed: BTreeMap<usize, Error>,
}

/// Runs a job on `workers` workers (the count `exec::decide` resolved: at least 1, no more
/// than the loop's scheduling units) and returns its values in item order. With `stop_on`, the
/// first value received for which it is true ends the loop (the values received so far are
/// returned: a short circuit, not every item's value).
pub(crate) fn run<S: Source, J: Job<S::Item>>(
    opts: &Clauses,
    workers: usize,
    src: &mut S,
    job: &J,
    stop_on: Option<fn(&J::Value) -> bool>,
    failures: Failures,
) -> Result<(Vec<J::Value>, Measured)> {
    let mut team = Team::start(opts, workers, src, job, Order::Items, failures)?;
    team.stop_on = stop_on;
    while !team.finished() {
        team.step(src)?;
        team.replace_workers(src, job);
    }
    let (result_bytes, decode) = team.rec.moved();
    let measured = Measured {
        workers: team.workers.len(),
        busy: Duration::from_nanos(team.busy_ns),
        start: team.start_time,
        result_bytes,
        decode,
        failed: std::mem::take(&mut team.item_errors),
    };
    team.finish().map(|values| (values, measured))
}

/// The order a team hands its values out in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// In item order: a collect, a reduction, an `ordered` iterator.
    Items,
    /// As they arrive: an `unordered` iterator.
    Arrival,
}

/// What a team does after an item fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failures {
    /// The loop fails: no new item is handed out (retries aside).
    Stop,
    /// `keep_going`: the other items run; the failures are collected (`Measured::failed`).
    KeepGoing,
}

impl<V: Transfer> Team<V> {
    /// Forks `workers` workers (see [`run`]) and sends each its first chunk.
    fn start<S: Source, J: Job<S::Item, Value = V>>(
        opts: &Clauses,
        workers: usize,
        src: &mut S,
        job: &J,
        order: Order,
        failures: Failures,
    ) -> Result<Self> {
        let len = match src.plan() {
            Plan::Indexed(n) => Some(n),
            Plan::Stream => None,
        };
        let grain = job.grain(len);
        let units = len.map(|n| n.div_ceil(grain));
        debug_assert!(
            workers >= 1 && units.is_none_or(|u| workers <= u),
            "exec::decide resolves the worker count"
        );
        let policy = match (len, opts.schedule) {
            // A stream has no end to divide: static and guided become the auto policy.
            (None, Schedule::Static | Schedule::Guided(_)) => Schedule::Auto,
            (_, s) => s,
        };
        let started = Instant::now();
        report::install_panic_hook();
        let threads = sys::thread_count();
        let thread_names = if threads > 1 {
            sys::thread_names()
        } else {
            Vec::new()
        };
        let slots = Shared::new(workers * sys::SLOT_STRIDE)
            .map_err(|e| Error::io("could not map the workers' progress slots", e))?;
        let mut team = Team {
            workers: Vec::with_capacity(workers),
            slots,
            sched: Sched::new(policy, units, workers, grain),
            len,
            grain,
            stream_next: 0,
            stream_ended: false,
            stopping: false,
            errors: Vec::new(),
            store: if order == Order::Items {
                Store::Ordered(BTreeMap::new())
            } else {
                Store::Unordered(VecDeque::new())
            },
            covered: 0,
            threads,
            thread_names,
            progress: Progress::labelled(
                len.map(|n| n as u64),
                opts.common.progress,
                opts.common.progress_label.as_deref(),
            ),
            busy_ns: 0,
            start_time: Duration::ZERO,
            attempts: std::collections::HashMap::new(),
            redo: VecDeque::new(),
            replace: Vec::new(),
            spill: None,
            spawned: 0,
            stall_looked: Instant::now(),
            stop_on: None,
            finished_early: false,
            // Keep going is item by item: indexed sources whose units are items.
            keep_going: failures == Failures::KeepGoing && len.is_some() && grain == 1,
            item_errors: BTreeMap::new(),
            placement: child::place::Placement::for_workers(opts.proc_bind, workers),
            window: None,
            rec: Recorder::new(loop_report::take_pending(), workers),
            watch: watch::Watchdog::default(),
            opts: opts.clone(),
            _v: PhantomData,
        };
        // The workers' memory limit and environment, for as many workers as this team has.
        team.opts.common.limits = opts.common.limits.for_workers(workers);
        if len.is_none() {
            // Only indexed sources retry or recycle (a stream's shipped items are not kept).
            team.opts.common.retries = 0;
            team.opts.max_items_per_worker = None;
        }
        for w in 0..workers {
            let worker = team.spawn(w, src, job)?;
            team.workers.push(worker);
            // Its first chunk goes out now: a worker starts on it while the next is forked
            // (a fork is a few hundred microseconds, all of it idle time for the workers
            // forked before it when chunks go out only once the whole team is up).
            team.dispatch(src)?;
            team.write_all();
        }
        team.start_time = started.elapsed();
        Ok(team)
    }

    /// Forks the worker for slot `w` (its progress slot and its place in `workers`).
    fn spawn<S: Source, J: Job<S::Item, Value = V>>(
        &mut self,
        w: usize,
        src: &mut S,
        job: &J,
    ) -> Result<Worker> {
        let grain = self.grain;
        let each_item = self.keep_going;
        let pipes = Pipes {
            cmd: true,
            cmd_nonblocking: true,
            // While a progress bar is drawn, the worker's stdout goes to a pipe and the parent
            // prints its lines above the bar, so the two never mix on one line.
            stdout: self.progress.is_drawn(),
            large: true,
            what: What::WORKER,
            limits: self.opts.common.limits.clone(),
            ..Pipes::default()
        };
        let slot = self.slots.writer(w);
        // The team's spill file, made before its first fork; none (an old kernel, no memfd
        // on this system, out of fds), or no region left: the pipe.
        if self.spill.is_none() && self.spawned == 0 {
            self.spill = sys::memfd::spill_file().unwrap_or(None);
        }
        let spill_from = (self.spawned < sys::memfd::REGIONS)
            .then(|| self.spawned * sys::memfd::REGION)
            .filter(|_| self.spill.is_some());
        self.spawned += 1;
        let spill = self.spill.as_ref().zip(spill_from);
        let keep: Vec<_> = spill.iter().map(|(f, _)| f.raw()).collect();
        let pin = self.placement.as_ref().and_then(|p| p.mask(w));
        let forked_at = Instant::now();
        let (child, ends) = child::spawn_keeping(pipes, &keep, |ends| match &ends.cmd {
            Some(cmd) => {
                if let Some(mask) = &pin {
                    // Fails only if the mask lost every CPU since the parent read the allowed
                    // set (a cpuset changed): the worker then runs unbound, its values the same.
                    let _ = sys::pin(mask);
                }
                let fds = Fds {
                    cmd: cmd.as_fd(),
                    res: ends.res.as_fd(),
                    each_item,
                    spill: spill.map(|(f, from)| worker::Spill {
                        fd: f.as_fd(),
                        from,
                        to: from + sys::memfd::REGION,
                    }),
                };
                worker::main(fds, slot, src, job, grain)
            }
            None => 1,
        })?;
        crate::trace::worker_started(w, child.pid());
        let stat = self.rec.forked(child.pid(), forked_at, forked_at.elapsed());
        Ok(Worker {
            child,
            stdout: ends.stdout,
            line: Vec::new(),
            cmd: ends.cmd,
            res: Some(ends.res),
            out: FrameBuf::default(),
            written: 0,
            in_flight: VecDeque::new(),
            front_since: Instant::now(),
            reader: FrameReader::new(self.opts.common.max_frame),
            spill_from,
            spill_buf: Vec::new(),
            done_sent: false,
            failed: false,
            seen: 0,
            since: Instant::now(),
            partial: None,
            handed: 0,
            stall: Stall::default(),
            stat,
        })
    }

    /// Forks a replacement for every worker retired by a retry, once it is reaped.
    fn replace_workers<S: Source, J: Job<S::Item, Value = V>>(&mut self, src: &mut S, job: &J) {
        let ready: Vec<usize> = self
            .replace
            .iter()
            .copied()
            .filter(|&i| self.workers[i].child.is_reaped())
            .collect();
        self.replace.retain(|i| !ready.contains(i));
        for i in ready {
            if self.stopping {
                continue;
            }
            match self.spawn(i, src, job) {
                Ok(w) => {
                    // What the worker replaced left in the spill file (a payload it was
                    // writing when it died) is nobody's to read.
                    if let (Some(f), Some(from)) = (&self.spill, self.workers[i].spill_from) {
                        sys::memfd::punch(f, from, sys::memfd::REGION);
                    }
                    self.workers[i] = w;
                }
                Err(e) => self.fail(e),
            }
        }
    }

    fn finished(&self) -> bool {
        self.workers.iter().all(|w| w.child.is_reaped())
            && (self.replace.is_empty() || self.stopping)
    }

    /// One round: hand out work, wait for any pipe, read, write, check deadlines.
    fn step(&mut self, src: &mut dyn Pull) -> Result<()> {
        self.dispatch(src)?;
        self.write_all();
        if self.finished() {
            return Ok(());
        }
        let mut watches: Vec<Watch> = Vec::with_capacity(2 * self.workers.len());
        for w in &self.workers {
            if let Some(res) = &w.res {
                watches.push(Watch::new(res, true, false));
            }
            if let Some(out) = &w.stdout {
                watches.push(Watch::new(out, true, false));
            }
            if let Some(cmd) = w.cmd.as_ref().filter(|_| w.written < w.out.buf.len()) {
                watches.push(Watch::new(cmd, false, true));
            }
        }
        sys::poll(&mut watches, Some(self.wait())).map_err(|e| Error::io("poll failed", e))?;
        for watch in watches.iter().filter(|w| w.readable) {
            if let Some(i) = self
                .workers
                .iter()
                .position(|w| w.stdout.as_ref().is_some_and(|f| f.raw() == watch.fd()))
            {
                self.relay(i);
            }
            if let Some(i) = self
                .workers
                .iter()
                .position(|w| w.res.as_ref().is_some_and(|f| f.raw() == watch.fd()))
            {
                self.read(i);
            }
        }
        self.write_all();
        self.check_deadlines();
        self.check_partial_frames();
        self.check_stalls();
        self.check_cancel();
        Ok(())
    }

    /// How long the poll loop (and a stream's watchdog) waits before it looks again.
    fn wait(&self) -> Duration {
        let partial = self.workers.iter().any(|w| w.partial.is_some());
        match (self.opts.common.timeout, partial) {
            // A cancel handle is looked at every 20 ms.
            _ if self.opts.common.cancel.is_some() => CANCEL_LOOK,
            (Some(t), _) => (t / 4).clamp(Duration::from_millis(1), Duration::from_millis(50)),
            (None, true) => Duration::from_millis(100),
            // Wakes up now and then to look for workers that stall (`check_stalls`).
            (None, false) => STALL_LOOK.min(self.opts.stall_after()),
        }
    }

    /// Takes over what a stream's watchdog saw and did during a pull: the slot values it saw
    /// (so deadlines run on from where it left them), the workers it killed (killed by par,
    /// not a death), each item it timed out, and a cancel (as `check_cancel` would).
    fn watched_pull(&mut self, outcome: watch::Outcome) {
        for seen in outcome.seen {
            let w = &mut self.workers[seen.worker];
            w.seen = seen.seen;
            w.since = seen.since;
        }
        for &i in &outcome.killed {
            self.kill(i);
        }
        for (i, index) in outcome.timed_out {
            if let Some(timeout) = self.opts.common.timeout {
                let e = Error::TimedOut {
                    index,
                    pid: self.workers[i].child.pid(),
                    timeout,
                    parent_threads: self.threads,
                };
                self.retry_or_fail(i, Some(index), e);
            }
        }
        self.check_cancel();
    }

    /// Tops up the workers' in-flight chunks level by level (`sched::pick`: no worker gets a
    /// second chunk while another that can take one has none), up to `Sched::depth`, or tells
    /// a worker there is no more work.
    fn dispatch(&mut self, src: &mut dyn Pull) -> Result<()> {
        let mut queued = Vec::with_capacity(self.workers.len());
        loop {
            queued.clear();
            for i in 0..self.workers.len() {
                let w = &self.workers[i];
                if w.done_sent || w.cmd.is_none() {
                    queued.push(None);
                    continue;
                }
                // `Done` goes out as soon as there is no more work, even behind a full queue: a
                // worker that already knows it is done exits without another round trip.
                // A worker that was handed its `max_items` leaves (and is replaced, `exited`).
                let spent = self
                    .opts
                    .max_items_per_worker
                    .is_some_and(|m| w.handed >= m);
                let no_more = self.stopping
                    || self.stream_ended
                    || spent
                    || (self.sched.exhausted(i) && self.redo.is_empty());
                if no_more {
                    self.send(i, None)?;
                    queued.push(None);
                } else if w.in_flight.is_empty() {
                    queued.push(Some((0, Duration::ZERO)));
                } else {
                    // A worker long on its chunk (a long item) gets nothing queued behind it.
                    let age = w.front_since.elapsed();
                    let behind = !self.sched.overdue(age);
                    queued.push(behind.then_some((w.in_flight.len(), age)));
                }
            }
            if self
                .window
                .as_ref()
                .is_some_and(|w| w.handed >= w.yielded + w.items)
            {
                return Ok(());
            }
            let Some(i) = sched::pick(&queued, self.sched.depth()) else {
                return Ok(());
            };
            let chunk = self.next_chunk(i, src)?;
            self.send(i, chunk)?;
        }
    }

    /// Ends the frame `next_chunk` wrote for worker `i` and notes the chunk in flight, or with
    /// `None` frames `Done` for it.
    fn send(&mut self, i: usize, chunk: Option<(usize, usize, usize)>) -> Result<()> {
        let w = &mut self.workers[i];
        match chunk {
            Some((first, items, units)) => {
                self.rec.sent(items);
                w.handed += items;
                if w.in_flight.is_empty() {
                    w.front_since = Instant::now();
                }
                w.in_flight.push_back((first, items, units, 0))
            }
            None => {
                w.out.done();
                w.done_sent = true;
            }
        }
        w.out
            .end()
            .map_err(|e| Error::io("could not frame a chunk", e))
    }

    /// Writes the next chunk frame for worker `i` into its buffer (without ending it).
    fn next_chunk(
        &mut self,
        i: usize,
        src: &mut dyn Pull,
    ) -> Result<Option<(usize, usize, usize)>> {
        if self.stream_ended {
            return Ok(None);
        }
        // Work of a retired worker goes first, in its order (see `retry_or_fail`).
        let Some(mut units) = self.redo.pop_front().or_else(|| self.sched.next(i)) else {
            return Ok(None);
        };
        if let Some(window) = &self.window {
            // An ordered loop's chunks are cut to its chunk size; the rest goes first next time.
            let most = window.chunk.div_ceil(self.grain).max(1);
            if units.len() > most && self.len.is_some() {
                self.redo.push_front(units.start + most..units.end);
            }
            units.end = units.end.min(units.start + most);
        }
        let w = &mut self.workers[i];
        match self.len {
            Some(n) => {
                let first = units.start * self.grain;
                let count = (units.end * self.grain).min(n) - first;
                w.out.chunk(ChunkHead {
                    first: first as u64,
                    count: count as u64,
                });
                if let Some(window) = &mut self.window {
                    window.handed = window.handed.max(first + count);
                }
                Ok(Some((first, count, units.len())))
            }
            None => {
                let first = self.stream_next;
                w.out.chunk(ChunkHead {
                    first: first as u64,
                    count: 0,
                });
                let at = w.out.buf.len();
                // The user's `next()` may block: a watchdog keeps deadlines and the cancel
                // meanwhile (watch.rs); what it did is taken over once the pull returns.
                let max = units.len() * self.grain;
                let tick = self.wait();
                let armed = self.watch.arm(
                    &self.slots,
                    self.opts.common.timeout,
                    self.opts.common.cancel.as_ref(),
                    tick,
                    watched(&self.workers),
                );
                let pulled = src.pull(max, &mut self.workers[i].out.buf);
                if let Some(outcome) = armed.map(watch::Armed::disarm) {
                    self.watched_pull(outcome);
                }
                let count = pulled?;
                let w = &mut self.workers[i];
                if count == 0 {
                    // Nothing more: take back the empty chunk's header.
                    w.out.buf.truncate(at - wire::CHUNK_HEAD - wire::HEADER);
                    self.stream_ended = true;
                    return Ok(None);
                }
                let head_at = at - wire::CHUNK_HEAD;
                w.out.buf[head_at + 8..head_at + 16].copy_from_slice(&(count as u64).to_le_bytes());
                self.stream_next += count;
                if let Some(window) = &mut self.window {
                    window.handed = self.stream_next;
                }
                Ok(Some((first, count, count.div_ceil(self.grain))))
            }
        }
    }

    fn write_all(&mut self) {
        for w in &mut self.workers {
            let Some(cmd) = &w.cmd else { continue };
            while w.written < w.out.buf.len() {
                match sys::write(cmd, &w.out.buf[w.written..]) {
                    Ok(n) => w.written += n,
                    // WouldBlock: later. EPIPE: the worker died; its EOF tells how.
                    Err(_) => break,
                }
            }
            if w.written == w.out.buf.len() {
                w.out.clear();
                w.written = 0;
                if w.done_sent {
                    w.cmd = None; // nothing more to say: closing is a second "done"
                }
            }
        }
    }

    /// Prints worker `i`'s complete stdout lines above the progress bar. At its end of file,
    /// prints what is left and stops watching it.
    fn relay(&mut self, i: usize) {
        let w = &mut self.workers[i];
        let Some(out) = &w.stdout else { return };
        let fd = out.as_fd();
        let mut buf = [0u8; 16 << 10];
        let eof = loop {
            match sys::read(fd, &mut buf) {
                Ok(0) => break true,
                Ok(n) => w.line.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                Err(_) => break true,
            }
        };
        while let Some(end) = w.line.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = w.line.drain(..=end).collect();
            self.progress
                .line(String::from_utf8_lossy(&line[..line.len() - 1]).as_ref());
        }
        if eof {
            if !w.line.is_empty() {
                self.progress
                    .line(String::from_utf8_lossy(&w.line).as_ref());
                w.line.clear();
            }
            w.stdout = None;
        }
    }

    /// Reads what worker `i` has sent and handles every complete frame.
    fn read(&mut self, i: usize) {
        // A bounded number of reads per wake-up (each up to a frame or 256 KiB), so a worker
        // streaming a huge result can't keep the others waiting for their next chunk.
        for _ in 0..16 {
            let w = &mut self.workers[i];
            let Some(res) = &w.res else { return };
            let fd = res.as_fd();
            match w.reader.fill(|b| sys::read(fd, b)) {
                Ok(Fill::Read(_)) => {
                    if let Err(e) = self.frames(i) {
                        self.fail(e);
                        self.kill(i);
                        return;
                    }
                    self.track_partial(i);
                    if self.finished_early {
                        // The answer is in: the work still running is of no use.
                        for k in 0..self.workers.len() {
                            self.kill(k);
                        }
                        return;
                    }
                }
                Ok(Fill::WouldBlock) => return,
                Ok(Fill::Eof) | Err(_) => {
                    self.exited(i);
                    return;
                }
            }
        }
    }

    fn frames(&mut self, i: usize) -> Result<()> {
        let pid = self.workers[i].child.pid();
        loop {
            // Bytes that are not a frame are blamed on the item the worker is running (its
            // progress slot), else on the first item whose value has not arrived.
            let at = self.item_of(i);
            let w = &mut self.workers[i];
            let frame = w.reader.next().map_err(|message| Error::Decode {
                index: at,
                pid: Some(pid),
                message,
            })?;
            let Some((kind, payload)) = frame else {
                w.reader.shrink();
                return Ok(());
            };
            let bad = |message: String| Error::Decode {
                index: at,
                pid: Some(pid),
                message,
            };
            match kind {
                Kind::Results | Kind::Spilled => {
                    let mut values = Vec::new();
                    let decoding = Instant::now();
                    let (head, len) = if kind == Kind::Results {
                        let (head, bytes) = wire::parse_results(payload).map_err(bad)?;
                        let bytes =
                            codec::decode_values::<V>(bytes, head.values as usize, &mut values)
                                .map_err(|e| {
                                    bad(format!("results for items from {}: {e}", head.first))
                                })?;
                        if !bytes.is_empty() {
                            return Err(bad(format!(
                                "{} unexpected bytes after {} values",
                                bytes.len(),
                                head.values
                            )));
                        }
                        (head, payload.len())
                    } else {
                        // A results frame too large for the pipe: its payload is in the
                        // worker's spill file, read from there (and its pages given back).
                        let (offset, len) = wire::parse_spilled(payload).map_err(bad)?;
                        let (Some(file), Some(from)) = (&self.spill, w.spill_from) else {
                            return Err(bad(
                                "a spilled frame, but the worker has no spill file".to_string()
                            ));
                        };
                        spill::check_len(len, self.opts.common.max_frame)
                            .map_err(|e| bad(decode_message(e)))?;
                        // Checked before anything is read or punched out: another worker's
                        // payloads are not this frame's.
                        let to = from + sys::memfd::REGION;
                        if offset < from || offset.checked_add(len).is_none_or(|end| end > to) {
                            return Err(bad(format!(
                                "a spilled frame of {len} bytes at offset {offset}, outside the \
                                 worker's part of the spill file ({from}..{to})"
                            )));
                        }
                        let mut src =
                            Spilled::new(file.as_fd(), offset, len, self.opts.common.max_frame)
                                .map_err(|e| bad(decode_message(e)))?;
                        let head = src.head().map_err(|e| bad(decode_message(e)))?;
                        codec::decode_values_from::<V>(
                            &mut src,
                            head.values as usize,
                            &mut values,
                            &mut w.spill_buf,
                        )
                        .map_err(|e| {
                            let e = decode_message(e);
                            bad(format!("results for items from {}: {e}", head.first))
                        })?;
                        if src.left() > 0 {
                            return Err(bad(format!(
                                "{} unexpected bytes after {} values",
                                src.left(),
                                head.values
                            )));
                        }
                        drop(src);
                        if w.spill_buf.capacity() > SPARE_SPILL_BUF {
                            w.spill_buf = Vec::new();
                        }
                        (head, len as usize)
                    };
                    let decoded = Instant::now();
                    self.rec
                        .frame(w.stat, len, head.items, decoded, decoded - decoding);
                    if let Some(front) = w.in_flight.front_mut() {
                        front.3 += head.items as usize;
                    }
                    if head.last == 1 {
                        self.busy_ns = self.busy_ns.saturating_add(head.elapsed_ns);
                        w.front_since = Instant::now();
                        if let Some((first, items, units, _)) = w.in_flight.pop_front() {
                            self.sched
                                .observe(units, Duration::from_nanos(head.elapsed_ns));
                            self.rec.chunk_done(w.stat, first, items, head.elapsed_ns);
                        }
                    }
                    self.covered += head.items as usize;
                    self.progress.advance(head.items);
                    match &mut self.store {
                        // An empty frame (the end of a chunk) can share its `first` with the
                        // next chunk's first frame: only frames with values are keyed.
                        Store::Ordered(_) if values.is_empty() => {}
                        Store::Ordered(map) => {
                            if let Some(stop) = self.stop_on
                                && !self.finished_early
                                && values.iter().any(stop)
                            {
                                self.finished_early = true;
                                self.stopping = true;
                            }
                            if map.insert(head.first as usize, values).is_some() {
                                return Err(bad(format!(
                                    "two frames hold values for item {}",
                                    head.first
                                )));
                            }
                        }
                        Store::Unordered(queue) => queue.extend(values),
                    }
                }
                Kind::Panic => {
                    let (head, bytes) = wire::parse_panic(payload).map_err(bad)?;
                    let (message, location): (String, Option<String>) =
                        codec::decode(bytes).map_err(|e| bad(format!("panic report: {e}")))?;
                    let index = head.index as usize;
                    w.failed = true;
                    let panicked = head.failed == 0;
                    let e = report_error(head.failed, index, pid, message, location);
                    if self.keep_going || (panicked && self.opts.retry_panics) {
                        // The worker leaves after its report: its unfinished work is redone.
                        self.retry_or_fail(i, Some(index), e);
                    } else {
                        self.fail(e);
                    }
                }
                Kind::Chunk | Kind::Done | Kind::Message | Kind::Call => {
                    return Err(bad(format!(
                        "a worker sent a {kind:?} frame, which loop workers never send"
                    )));
                }
            }
        }
    }

    /// Worker `i` failed item `index` with `e` (it died, timed out, or with `retry_panics`
    /// panicked). If the item has attempts left, the worker's unfinished chunks go back in line,
    /// first, from the first item whose value did not arrive, and a new worker will take its
    /// slot once it is reaped; otherwise the loop fails.
    fn retry_or_fail(&mut self, i: usize, index: Option<usize>, e: Error) {
        let recovers = self.opts.common.retries > 0 || self.keep_going;
        let Some(index) = index.filter(|_| recovers && !self.stopping) else {
            let e = self.unordered_loss(i, e);
            return self.fail(e);
        };
        let attempts = self.attempts.entry(index).or_insert(0);
        *attempts += 1;
        let attempts = *attempts;
        // A body's `Err` is its answer, so is a value that cannot be encoded, and so is a
        // panic unless `retry_panics`: never run again (only kept going past).
        let answer = matches!(e, Error::Failed { .. } | Error::Encode { .. })
            || (matches!(e, Error::Panicked { .. }) && !self.opts.retry_panics);
        if attempts > self.opts.common.retries || answer {
            let e = if attempts > 1 {
                Error::Retried {
                    index,
                    attempts,
                    last: Box::new(e),
                }
            } else {
                e
            };
            return if self.keep_going {
                self.skip(i, index, e)
            } else {
                self.fail(e)
            };
        }
        crate::trace::retry(index, attempts, &e);
        self.rec
            .retry(self.workers[i].child.pid(), index, attempts, &e);
        let chunks = self.retire(i);
        for (first, items, units, arrived) in chunks.into_iter().rev() {
            if arrived < items {
                // Chunks start on a unit boundary and values arrive whole units at a time.
                let unit = first / self.grain;
                self.redo
                    .push_front(unit + arrived / self.grain..unit + units);
            }
        }
    }

    /// Keep going: item `index` of worker `i` failed for good with `e`. Its error takes its
    /// place; the rest of the worker's chunks (every value before the item has arrived: a
    /// keep-going worker sends each at once) go to other workers, and a new worker takes its
    /// slot once it is reaped.
    fn skip(&mut self, i: usize, index: usize, e: Error) {
        self.item_errors.insert(index, e);
        self.covered += 1;
        self.progress.advance(1);
        let chunks = self.retire(i);
        for (first, items, _, arrived) in chunks.into_iter().rev() {
            let (start, end) = (first + arrived, first + items);
            if (start..end).contains(&index) {
                if index + 1 < end {
                    self.redo.push_front(index + 1..end);
                }
                if start < index {
                    self.redo.push_front(start..index);
                }
            } else if start < end {
                self.redo.push_front(start..end);
            }
        }
    }

    /// Worker `i` is done for (it died, was killed, or leaves after a failure report): it gets
    /// no more work, even before it is reaped (what is queued for it is dropped), a new worker
    /// will take its slot, and its chunks in flight are returned for someone else to finish.
    fn retire(&mut self, i: usize) -> Vec<(usize, usize, usize, usize)> {
        let w = &mut self.workers[i];
        w.done_sent = true;
        w.out.clear();
        w.written = 0;
        self.replace.push(i);
        w.in_flight.drain(..).collect()
    }

    /// Records a failure: no new work is handed out from now on.
    fn fail(&mut self, e: Error) {
        self.rec.failed(&e);
        self.stopping = true;
        self.errors.push(e);
    }

    fn kill(&mut self, i: usize) {
        self.workers[i].child.kill();
    }

    /// Worker `i` closed its pipe: reap it, and report a death if it had work.
    fn exited(&mut self, i: usize) {
        self.relay(i);
        let w = &mut self.workers[i];
        w.res = None;
        w.cmd = None;
        if w.child.was_killed() || w.failed {
            let _ = w.child.reap();
            return;
        }
        let index = self.item_of(i);
        let running = self.slots.slot(i).load(Ordering::Relaxed) != 0;
        let w = &mut self.workers[i];
        let pending = w.reader.pending();
        let spent = self
            .opts
            .max_items_per_worker
            .is_some_and(|m| w.handed >= m);
        let pid = w.child.pid();
        match w.child.ended(index, !w.in_flight.is_empty() || pending > 0) {
            None => {
                // A worker recycled after its `max_items`: a new one takes its slot while work
                // remains.
                let work_left = !self.sched.exhausted(i) || !self.redo.is_empty();
                if spent && work_left && !self.stopping {
                    self.replace.push(i);
                }
            }
            // A Ctrl-C: never retried; with a `Cancel` it cancels (see `Error::Interrupted`).
            Some(e @ Error::Interrupted { .. }) => match self.opts.common.cancel.clone() {
                Some(c) => {
                    c.cancel();
                    self.check_cancel();
                }
                None => self.fail(e),
            },
            // It ended normally, between items, but what it sent last is not a whole frame: a
            // protocol error (stray bytes, a frame cut short), not a clean end nor a death. (An
            // `exit(0)` in the middle of an item is that item's death.)
            Some(Error::WorkerDied {
                death: Death::Exit(0),
                ..
            }) if pending > 0 && !running => self.fail(Error::Decode {
                index,
                pid: Some(pid),
                message: format!(
                    "the worker exited after sending {pending} bytes that are not a whole frame"
                ),
            }),
            // Its result pipe closed while it ran on (an item dup2'd over par's fds): it left
            // between items by itself owing values (its slot clear), or was killed for it.
            Some(e @ (Error::WorkerDied { .. } | Error::Lost { .. }))
                if !self.stopping && self.cut_off(i, &e) =>
            {
                let how = match e {
                    Error::WorkerDied { death, .. } => death.to_string(),
                    _ => "was killed by par, as it still ran".to_string(),
                };
                let in_flight = self.workers[i].in_flight.iter();
                let missing: Vec<_> = in_flight.map(|c| c.0 + c.3..c.0 + c.1).collect();
                let e = crate::error::pipe_lost(pid, index.filter(|_| running), &missing, &how);
                self.fail(e)
            }
            Some(e @ Error::WorkerDied { .. }) => {
                self.rec.death(pid, &e);
                self.retry_or_fail(i, index, e)
            }
            Some(e) => self.fail(e),
        }
    }

    /// An `unordered` loop's error for worker `i`'s death or timeout `e`: the items of its
    /// chunks in flight whose values had not arrived are lost with it (a worker sends a chunk's
    /// values together; the items after the failed one never ran), and an unordered caller
    /// cannot see which from the values it got. Then an `Error::Lost` at the failed item names
    /// them and says how the worker ended (as `gap_error` does for `ordered`); `e` itself
    /// when it was the only item without a value, or for another kind of failure or store.
    fn unordered_loss(&self, i: usize, e: Error) -> Error {
        let death = matches!(e, Error::WorkerDied { .. } | Error::TimedOut { .. });
        if !death || !matches!(self.store, Store::Unordered(_)) {
            return e;
        }
        let at = e.index();
        let mut missing = Vec::new();
        for &(first, items, _, arrived) in &self.workers[i].in_flight {
            let (start, end) = (first + arrived, first + items);
            match at.filter(|k| (start..end).contains(k)) {
                Some(k) => missing.extend([start..k, k + 1..end]),
                None => missing.push(start..end),
            }
        }
        missing.retain(|r| !r.is_empty());
        if missing.is_empty() {
            return e;
        }
        let listed: Vec<String> = missing
            .iter()
            .map(|r| match r.len() {
                1 => format!("item {}", r.start),
                _ => format!("items {} to {}", r.start, r.end - 1),
            })
            .collect();
        Error::Lost {
            index: at.or(missing.first().map(|r| r.start)),
            pid: e.pid(),
            message: format!(
                "{e}; the values of the other items its worker had been given never arrived \
                 (a chunk's values are sent together, and the items after the failed one did \
                 not run): {}",
                listed.join(", ")
            ),
        }
    }

    /// True when worker `i`, which ended with `e` owing values, had lost its result pipe to
    /// code in an item: it was killed for running on without it, or it left between items by
    /// itself (an exit while its progress slot is clear is no exit of an item's).
    fn cut_off(&self, i: usize, e: &Error) -> bool {
        let left = matches!(
            e,
            Error::WorkerDied {
                death: Death::Exit(_),
                ..
            }
        ) && self.slots.slot(i).load(Ordering::Relaxed) == 0;
        left || self.workers[i].child.was_cut_off()
    }

    /// Stops the loop once its `Cancel` handle is cancelled: no new item, every worker killed
    /// (their reaping follows through the poll loop), `Error::Cancelled`.
    fn check_cancel(&mut self) {
        if self.stopping || !self.opts.cancelled() {
            return;
        }
        self.fail(Error::Cancelled);
        for i in 0..self.workers.len() {
            self.kill(i);
        }
    }

    /// Says on stderr, once per worker and item, that a worker has run its item for
    /// `stall_after` without using any CPU, with the likely cause and what to do.
    fn check_stalls(&mut self) {
        let since = self.stall_looked.elapsed();
        if since < STALL_LOOK.min(self.opts.stall_after()) {
            return;
        }
        self.stall_looked = Instant::now();
        for i in 0..self.workers.len() {
            let item = self.slots.slot(i).load(Ordering::Relaxed);
            let w = &mut self.workers[i];
            if w.child.is_reaped() || w.child.was_killed() {
                continue;
            }
            // Work sent and no item started: a worker blocked before its first item (a lock
            // taken at its start) is watched too, or its hang would be silent.
            let waiting = item == 0 && !w.in_flight.is_empty();
            let cpu = sys::cpu_time(w.child.process());
            let st = &mut w.stall;
            if (item == 0 && !waiting) || item != st.item || cpu.is_none() || cpu != st.cpu {
                *st = Stall {
                    item,
                    cpu,
                    ..Stall::default()
                };
                continue;
            }
            st.idle += since;
            let idle = st.idle;
            if waiting && self.opts.common.timeout.is_some_and(|t| idle > t) {
                // No item runs, so no item's deadline applies: the item it was sent and never
                // started is the one that timed out.
                let index = self.item_of(i);
                let pid = self.workers[i].child.pid();
                self.kill(i);
                let e = Error::TimedOut {
                    index: index.unwrap_or_default(),
                    pid,
                    timeout: idle,
                    parent_threads: self.threads,
                };
                self.retry_or_fail(i, index, e);
                continue;
            }
            let w = &mut self.workers[i];
            if idle < self.opts.stall_after() || w.stall.warned {
                continue;
            }
            w.stall.warned = true;
            let wchan = sys::wait_channel(w.child.process());
            let cause = stall_cause(self.threads, &self.thread_names, wchan.as_deref());
            let hint = if self.opts.common.timeout.is_some() {
                ""
            } else {
                " (a `timeout` would end it with an error)"
            };
            let doing = if waiting {
                let next = w.in_flight.front().map_or(0, |c| c.0 + c.3);
                format!("has been sent item {next} and not started it")
            } else {
                format!("has run item {}", item - 1)
            };
            eprintln!(
                "par: worker {} {doing} for {idle:?} without using any CPU; it is probably blocked: {cause}{hint}",
                w.child.pid(),
            );
        }
    }

    /// Notes worker `i`'s unfinished frame after a read (see `Worker::partial`).
    fn track_partial(&mut self, i: usize) {
        let w = &mut self.workers[i];
        let pending = w.reader.pending();
        w.partial = match w.partial {
            _ if pending == 0 => None,
            Some((n, since)) if n == pending => Some((n, since)),
            _ => Some((pending, Instant::now())),
        };
    }

    /// Fails the loop for a worker whose unfinished frame has not grown for too long.
    fn check_partial_frames(&mut self) {
        let limit = self
            .opts
            .common
            .timeout
            .map_or(PARTIAL_FRAME_STALL, |t| t.min(PARTIAL_FRAME_STALL));
        for i in 0..self.workers.len() {
            let w = &self.workers[i];
            let Some((bytes, since)) = w.partial else {
                continue;
            };
            if w.child.is_reaped() || w.child.was_killed() || since.elapsed() <= limit {
                continue;
            }
            let e = Error::Decode {
                index: self.item_of(i),
                pid: Some(w.child.pid()),
                message: format!(
                    "the worker sent {bytes} bytes of a frame and nothing more for {limit:?}"
                ),
            };
            self.workers[i].partial = None;
            self.fail(e);
            self.kill(i);
        }
    }

    /// The item worker `i` is running, or else the first of its items in flight whose value
    /// has not arrived.
    fn item_of(&self, i: usize) -> Option<usize> {
        let slot = self.slots.slot(i).load(Ordering::Relaxed);
        slot.checked_sub(1)
            .map(|i| i as usize)
            .or_else(|| self.workers[i].in_flight.front().map(|c| c.0 + c.3))
    }

    /// Kills a worker whose current item has run past the timeout.
    fn check_deadlines(&mut self) {
        let Some(timeout) = self.opts.common.timeout else {
            return;
        };
        let now = Instant::now();
        for i in 0..self.workers.len() {
            let w = &mut self.workers[i];
            if w.child.is_reaped() || w.child.was_killed() {
                continue;
            }
            let seen = self.slots.slot(i).load(Ordering::Relaxed);
            if seen != w.seen {
                w.seen = seen;
                w.since = now;
            } else if seen != 0 && now.duration_since(w.since) > timeout {
                let (index, pid) = (seen as usize - 1, w.child.pid());
                self.kill(i);
                let threads = self.threads;
                let e = Error::TimedOut {
                    index,
                    pid,
                    timeout,
                    parent_threads: threads,
                };
                self.retry_or_fail(i, Some(index), e);
            }
        }
    }

    /// After the last worker is reaped: the first failure by item index, or the values.
    fn finish(mut self) -> Result<Vec<V>> {
        self.progress.finish();
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        let Store::Ordered(map) =
            std::mem::replace(&mut self.store, Store::Unordered(VecDeque::new()))
        else {
            return Ok(Vec::new());
        };
        if let Some(n) = self.len.filter(|_| !self.finished_early)
            && self.covered != n
        {
            return Err(Error::Lost {
                index: None,
                pid: None,
                message: format!("workers returned values for {} of {n} items", self.covered),
            });
        }
        let mut out = Vec::with_capacity(map.values().map(Vec::len).sum());
        for (_, mut values) in map {
            out.append(&mut values);
        }
        Ok(out)
    }

    /// True when a recorded failure is due to be handed out by an ordered iterator whose next
    /// item is `next`: it is about an item at or before `next`, or about no item (a cancel, a
    /// corrupt frame).
    fn failure_reached(&self, next: usize) -> bool {
        self.errors
            .iter()
            .any(|e| matches!(e, Error::Cancelled) || e.index().is_none_or(|i| i <= next))
    }

    fn take_error(&mut self) -> Option<Error> {
        if self.errors.is_empty() {
            return None;
        }
        // Cancelled first: what happened after the cancel is its consequence.
        if let Some(at) = self
            .errors
            .iter()
            .position(|e| matches!(e, Error::Cancelled))
        {
            return Some(self.errors.swap_remove(at));
        }
        let at =
            (0..self.errors.len()).min_by_key(|&k| self.errors[k].index().unwrap_or(usize::MAX))?;
        Some(self.errors.swap_remove(at))
    }
}

impl<V> Drop for Team<V> {
    fn drop(&mut self) {
        std::mem::take(&mut self.rec).team_dropped();
    }
}

/// The iterator behind `unordered`: a team stepped on demand, or an inline run.
pub(crate) struct TeamIter<'a, V> {
    inner: Inner<'a, V>,
}

enum Inner<'a, V> {
    Team {
        team: Box<Team<V>>,
        src: Box<dyn Pull + 'a>,
        done: bool,
    },
    /// `ordered`: values in item order, from the team's ordered store, each as soon as it and
    /// every item before it are in.
    Ordered {
        team: Box<Team<V>>,
        src: Box<dyn Pull + 'a>,
        done: bool,
        /// The first item whose value has not been taken from the store.
        next: usize,
        /// Values taken from the store and not yet handed out.
        out: VecDeque<V>,
    },
    Inline(Box<dyn Iterator<Item = Result<V>> + 'a>),
    Failed(Option<Error>),
}

impl<'a, V: Transfer + 'a> TeamIter<'a, V> {
    pub(crate) fn start<S: Source + 'a, J: Job<S::Item, Value = V>>(
        opts: &Clauses,
        workers: usize,
        mut src: S,
        job: &J,
    ) -> Self {
        let inner = match Team::start(opts, workers, &mut src, job, Order::Arrival, Failures::Stop)
        {
            Ok(mut team) => {
                // Results already handed out can't be taken back: unordered loops don't retry;
                // and they are stepped without forking replacements, so don't recycle either.
                team.opts.common.retries = 0;
                team.opts.max_items_per_worker = None;
                Inner::Team {
                    team: Box::new(team),
                    src: Box::new(src),
                    done: false,
                }
            }
            Err(e) => Inner::Failed(Some(e)),
        };
        TeamIter { inner }
    }

    /// `ordered`: a team whose values come out in item order, running at most a bounded
    /// window ahead of what the caller has taken (see `Window`). Like `unordered`, it neither
    /// retries nor recycles workers; `static` runs as `auto` (one block per worker would put
    /// every worker but the first past the window).
    pub(crate) fn start_ordered<S: Source + 'a, J: Job<S::Item, Value = V>>(
        opts: &Clauses,
        workers: usize,
        mut src: S,
        job: &J,
    ) -> Self {
        let mut opts = opts.clone();
        if opts.schedule == Schedule::Static {
            opts.schedule = Schedule::Auto;
        }
        let inner = match Team::start(&opts, workers, &mut src, job, Order::Items, Failures::Stop) {
            Ok(mut team) => {
                team.opts.common.retries = 0;
                team.opts.max_items_per_worker = None;
                let chunk = match opts.schedule {
                    Schedule::Dynamic(k) => k.max(ORDERED_CHUNK),
                    _ => ORDERED_CHUNK,
                };
                team.window = Some(Window {
                    items: ORDERED_AHEAD * team.workers.len() * chunk,
                    chunk,
                    yielded: 0,
                    handed: 0,
                });
                Inner::Ordered {
                    team: Box::new(team),
                    src: Box::new(src),
                    done: false,
                    next: 0,
                    out: VecDeque::new(),
                }
            }
            Err(e) => Inner::Failed(Some(e)),
        };
        TeamIter { inner }
    }

    /// Sequential mode: one item per `next`, in order.
    pub(crate) fn inline<S: Source + 'a, J: Job<S::Item, Value = V> + 'a>(
        mut src: S,
        job: J,
        len: Option<usize>,
    ) -> Self {
        let grain = job.grain(len);
        let mut index = 0;
        let mut failed = false;
        let iter = std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let item = src.next_item()?;
            let mut emit = Inline::new();
            let r = job.run(index, grain, std::iter::once(item), &mut emit);
            index += 1;
            match r {
                Ok(()) => emit.values.pop().map(Ok),
                Err(e) => {
                    failed = true;
                    Some(Err(match e {
                        JobError::Body(f) => f.into_error(sys::getpid().as_raw()),
                        JobError::Runtime(e) => e,
                    }))
                }
            }
        });
        TeamIter {
            inner: Inner::Inline(Box::new(iter)),
        }
    }
}

impl<V: Transfer> Iterator for TeamIter<'_, V> {
    type Item = Result<V>;
    fn next(&mut self) -> Option<Result<V>> {
        match &mut self.inner {
            Inner::Inline(iter) => iter.next(),
            Inner::Failed(e) => e.take().map(Err),
            Inner::Ordered {
                team,
                src,
                done,
                next,
                out,
            } => loop {
                if let Some(v) = out.pop_front() {
                    if let Some(w) = &mut team.window {
                        w.yielded += 1;
                    }
                    return Some(Ok(v));
                }
                if *done {
                    return None;
                }
                if let Store::Ordered(map) = &mut team.store
                    && let Some(values) = map.remove(next)
                {
                    *next += values.len();
                    out.extend(values);
                    continue;
                }
                // A failure is handed out in its place: once every item before it has been.
                if team.failure_reached(*next) {
                    *done = true;
                    for k in 0..team.workers.len() {
                        team.kill(k);
                    }
                    team.progress.finish();
                    return team.take_error().map(Err);
                }
                if team.finished() {
                    *done = true;
                    team.progress.finish();
                    if let Some(e) = team.take_error() {
                        return Some(Err(gap_error(e, *next)));
                    }
                    return match team.len {
                        Some(n) if *next < n => Some(Err(Error::Lost {
                            index: Some(*next),
                            pid: None,
                            message: format!(
                                "the workers ended with values for {} of {n} items",
                                *next
                            ),
                        })),
                        _ => None,
                    };
                }
                if let Err(e) = team.step(src.as_mut()) {
                    *done = true;
                    return Some(Err(e));
                }
            },
            Inner::Team { team, src, done } => loop {
                if let Store::Unordered(queue) = &mut team.store
                    && let Some(v) = queue.pop_front()
                {
                    return Some(Ok(v));
                }
                if *done {
                    return None;
                }
                if team.finished() {
                    *done = true;
                    team.progress.finish();
                    return team.take_error().map(Err);
                }
                if let Err(e) = team.step(src.as_mut()) {
                    *done = true;
                    return Some(Err(e));
                }
            },
        }
    }
}

/// The error an ordered iterator hands out at `next`, its first item without a value, for a
/// failure `e` of a later item: the items from `next` up to it ran, but their values never
/// arrived (a worker sends a chunk's values together, and died or was killed before it sent
/// them). Handing out `e` itself would leave a gap the caller cannot see; the error is in
/// `next`'s place instead, says which values are missing and why.
/// What a decoding error says, without the frame and worker it came from (the caller names
/// them).
fn decode_message(e: Error) -> String {
    match e {
        Error::Decode { message, .. } => message,
        e => e.to_string(),
    }
}

fn gap_error(e: Error, next: usize) -> Error {
    match e.index() {
        Some(at) if at > next => Error::Lost {
            index: Some(next),
            pid: e.pid(),
            message: format!(
                "the values of items {next} to {} never arrived (their worker sent them with \
                 item {at}'s chunk, which failed): {e}",
                at - 1
            ),
        },
        _ => e,
    }
}

/// The workers a stream's watchdog watches during a pull: those alive and not killed.
fn watched(workers: &[Worker]) -> impl Iterator<Item = watch::Watched> + '_ {
    workers
        .iter()
        .enumerate()
        .filter(|(_, w)| !w.child.is_reaped() && !w.child.was_killed())
        .map(|(i, w)| watch::Watched {
            worker: i,
            pid: w.child.process(),
            seen: w.seen,
            since: w.since,
        })
}

/// Why a worker that uses no CPU is probably stuck, and what to do: from the parent's threads
/// at the fork (how many, and their names: tokio and rayon name theirs where told to) and
/// where the worker waits in the kernel (`futex_do_wait`: a lock).
fn stall_cause(threads: usize, names: &[String], wchan: Option<&str>) -> String {
    let on_lock = wchan.is_some_and(|w| w.contains("futex"));
    let waits = match wchan {
        Some(w) if on_lock => format!("it waits on a lock (the kernel says `{w}`)"),
        Some(w) => format!("it waits in the kernel at `{w}`"),
        None => "where it waits is unknown".to_string(),
    };
    if threads <= 1 {
        return format!(
            "{waits}; the parent had one thread when it forked, so it is waiting on something outside (I/O, a pipe, another process)"
        );
    }
    let mut pools = Vec::new();
    if names.iter().any(|n| n.starts_with("tokio")) {
        pools.push("a tokio runtime (threads named `tokio-*`)");
    }
    if names.iter().any(|n| n.contains("rayon")) {
        pools.push("rayon's pool (threads named `rayon*`)");
    }
    let suspects = if pools.is_empty() {
        "rayon's global pool, a tokio runtime, a mutex another thread held at the fork".to_string()
    } else {
        format!("the parent runs {}", pools.join(" and "))
    };
    let likely = if on_lock {
        "almost certainly a lock or thread pool inherited across the fork"
    } else {
        "a lock or thread pool inherited across the fork, unless it waits for I/O"
    };
    format!(
        "{waits}; the parent had {threads} threads when it forked: {likely} ({suspects}); such a lock or pool never works in a worker: build the pool inside the body, or start the loop before the threads"
    )
}

#[cfg(test)]
mod stall_tests {
    use super::stall_cause;

    #[test]
    fn a_stall_names_the_lock_and_the_pools_it_can_see() {
        let names = ["main", "tokio-runtime-w", "rayon-worker-1"].map(String::from);
        let c = stall_cause(4, &names, Some("futex_do_wait"));
        assert!(c.contains("waits on a lock"), "{c}");
        assert!(c.contains("almost certainly"), "{c}");
        assert!(
            c.contains("tokio runtime") && c.contains("rayon's pool"),
            "{c}"
        );
        let c = stall_cause(3, &["main".into(), "main".into()], Some("pipe_read"));
        assert!(
            c.contains("`pipe_read`") && c.contains("unless it waits for I/O"),
            "{c}"
        );
        assert!(c.contains("rayon's global pool, a tokio runtime"), "{c}");
        let c = stall_cause(1, &[], None);
        assert!(c.contains("one thread") && c.contains("unknown"), "{c}");
    }
}
