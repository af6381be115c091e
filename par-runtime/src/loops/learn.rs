//! What the `auto` schedule learns about each loop: OpenMP's `if` clause, chosen by
//! measurement.
//!
//! A forked run costs a fixed amount (forking the team, the last results, reaping: hundreds of
//! microseconds here), a cost per byte of results (the parent reads and decodes every value)
//! and a cost per item beyond both (frames, chunks); a loop whose whole work is cheaper than
//! that runs faster inline. The first run of a loop (a call site: the file, line and column of
//! the `par!` or `Loop` call) always forks and measures the time per item inside the workers
//! (`item`), the time to start the team (`start`), the bytes of results per item and the part
//! of the parent's decode time the run waited for (`moved`: the decode time, at most what the
//! run took beyond its start and its share of the work; decoding that overlapped the workers'
//! work is taken to have cost nothing). What is left
//! (`rest = wall - start - busy / workers - moved`) is split into a fixed part and a per-item
//! part by a line through two forked runs of different sizes (the smallest and the largest `n`
//! seen, at least 2x apart); with one run, or runs of about one size, all of it is taken as
//! fixed: a small first run must not make every item look expensive. The byte part is out of
//! `rest`, so it is counted once, and it scales with `n` from the first run on. Each call then
//! decides afresh from its own `n`:
//!
//! ```text
//! inline   = item_inline * n
//! fixed    = start * (workers / measured workers) + rest_fixed
//! bytes    = n * bytes_per_item * ns_per_byte
//! parallel = fixed + n * (item_worker / workers + rest_per_item) + bytes
//! item_worker = item (in the workers, the latest forked run) + item_inline - item_inline_ref
//!               (item_inline_ref: the first inline run after it; + 0 without one)
//! item_inline = the latest inline run's time per item, else item
//! ns_per_byte = sum of moved / sum of result bytes over this loop's forked runs once they
//!               moved 64 KiB, else over every loop's forked runs in the process
//! rest: of the latest forked run, or the smaller of the latest two when they are within
//!       1.25x of each other's n (one run slowed by load moves nothing)
//! inline when inline < parallel, except that a call more than 4x larger than any forked run
//! measured whose inline time is over 4x the fixed cost and over fixed + n * item_worker /
//! workers + bytes forks ("beyond": the per-item rest was never measured at that size: the
//! fork pays for itself whatever it is; the bytes were, and a loop whose results cost more to
//! move than forking saves stays inline)
//! probe: a loop never run inline, not beyond, runs inline once to measure item_inline when
//!        inline <= parallel * min(0.6 * workers, 2) or inline <= parallel + 20 ms
//! recheck: a loop predicted inline with parallel <= 3 * inline forks once after 8 inline
//!          calls in a row, then after 16, 32... (up to 1024) while inline stays faster
//! ```
//!
//! Why the recheck: the costs of a forked run are measured once and kept, and a call predicted
//! inline measures only the inline side. One forked run slowed by load (another build, the
//! first touches of a fresh process) made its fixed cost look large, and the loop then stayed
//! inline for good (W9, 40 regions of a matrix-vector product: once 2.0x rayon, the
//! sequential time, in a loaded run). A recheck costs one call at most 3x its inline time,
//! ever more rarely.
//!
//! Why the probe: a worker's items can cost several times an inline run's (copy-on-write
//! faults on what the body writes, an in-place loop's staging copy, cold caches). 1e7 `f64`
//! updated in place: 10 ns an item in the workers, 1.5 ns inline; priced by the workers' time,
//! the loop forked on every call, at 6x the sequential loop's time. The probe costs one call
//! at most 2x (or 20 ms) slower, once per call site, and only where forking was predicted to
//! gain little; a loop predicted to scale keeps forking without one.
//!
//! An in-place loop's copy of the workers' changes into the caller's slice, after the team,
//! counts as bytes moved (its time with the decode time, its bytes with the results'), so it
//! scales with `n` like them.
//!
//! Why the cost per byte is the loop's own and the process's only as a fallback: moving a byte
//! is partly the machine's (pipe or spill file, copies), partly the value's codec (a
//! `Vec<f64>` decodes as a copy, a `Vec<String>` allocates per string), and how much of it a
//! run waits for depends on the loop (decoding hides behind long items). A loop's own runs
//! measure all three; a loop whose results are too few bytes to time (under 64 KiB in all)
//! takes the process's rate, which every loop with results feeds, so its first larger call is
//! priced by what the machine showed elsewhere rather than by a timer's noise or by nothing.
//!
//! An inline run measures the time per item again (inline, and through the difference in the
//! workers), so a loop whose items became expensive, or
//! an inline run that turned out long enough to have paid for forking, sends the next call to
//! the team. A failed forked run forgets the loop: the next run forks and measures again.
//! Only clause-free `auto` loops in order (`collect`, `for_each`, `reduce`) over an indexed
//! input learn; any other schedule, `timeout`, `retries`, `memory_limit`,
//! `max_items_per_worker`, `cancel`,
//! [`Loop::parallel(true)`](crate::Loop::parallel), `keep_going`, a search, `unordered` or a
//! stream always forks (exec.rs decides).
//!
//! What this module must never do: take its lock in a worker (it is only used by the parent
//! that starts a loop; nested loops in a worker never learn).

use std::collections::HashMap;
use std::panic::Location;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A loop's call site.
pub(crate) type Site = &'static Location<'static>;

/// A call more than this many times larger than every measured forked run forks when its
/// inline time is over [`PAYS`] times the fixed cost.
const EXTRAPOLATE: f64 = 4.0;
/// See [`EXTRAPOLATE`].
const PAYS: f64 = 4.0;
/// A loop never run inline whose inline time (as its workers measured its items) is within
/// `min(PROBE_RATIO * workers, PROBE_MAX)` times its forked time, or within [`PROBE_NS`] of
/// it, runs inline once to measure its items there: a worker's items can cost several times
/// an inline run's (copy-on-write faults, an in-place loop's staging, cold caches), so that
/// cheap items look too costly to run inline. The probe costs at most that factor, or that
/// time, once per call site.
const PROBE_RATIO: f64 = 0.6;
/// See [`PROBE_RATIO`].
const PROBE_MAX: f64 = 2.0;
/// See [`PROBE_RATIO`]: 20 ms.
const PROBE_NS: f64 = 20e6;
/// A loop kept inline by a forked time at most this many times its inline time forks again
/// after [`RECHECK_FIRST`] inline calls in a row, then after twice as many each time (up to
/// [`RECHECK_MAX`]): one forked run measured on a loaded machine (or before the caches were
/// warm) must not keep a loop inline for the rest of the process.
const RECHECK_RATIO: f64 = 3.0;
/// See [`RECHECK_RATIO`].
const RECHECK_FIRST: u32 = 8;
/// See [`RECHECK_RATIO`].
const RECHECK_MAX: u32 = 1024;
/// Two forked runs within this factor of each other's size are of about the same size: the
/// smaller of their rests is believed (see [`Point`]).
const SAME_SIZE: f64 = 1.25;
/// Result bytes a loop's forked runs must have moved, in all, before its own cost per byte is
/// believed over the process's (fewer take microseconds to decode: timer noise).
const OWN_RATE_BYTES: f64 = 65536.0;

/// One forked run: its size and the time it took beyond its start, its share of the work and
/// its byte part.
#[derive(Debug, Clone, Copy)]
struct Point {
    n: f64,
    /// The rest believed: the smaller of this run's and the previous forked run's when that
    /// was of about the same size (within [`SAME_SIZE`]), so that one run slowed by load does
    /// not move the loop.
    rest_ns: f64,
    /// This run's own rest.
    raw_ns: f64,
}

impl Point {
    fn same_size(&self, other: &Point) -> bool {
        self.n <= other.n * SAME_SIZE && other.n <= self.n * SAME_SIZE
    }
}

/// What was measured about one loop.
#[derive(Debug, Clone, Copy)]
struct Stats {
    /// Nanoseconds per item in a worker (the latest forked run).
    item_ns: f64,
    /// Nanoseconds per item inline: the latest inline run, and the first inline run after the
    /// latest forked run (their difference is added to `item_ns`: what items came to cost
    /// inline beyond then, they cost in the workers too; what a worker adds per item stays).
    /// `None`: never run inline (since that forked run).
    inline_ns: Option<f64>,
    inline_ref: Option<f64>,
    /// Inline calls since the last forked run, and how many make a recheck (doubling after
    /// each recheck that found inline still faster).
    inline_streak: u32,
    recheck_after: u32,
    /// Nanoseconds to start the team, and the worker count it was measured with.
    start_ns: f64,
    workers: usize,
    /// The smallest and the largest forked run seen (the same point after one run).
    lo: Point,
    hi: Point,
    /// The latest forked run.
    last: Point,
    /// Bytes of results per item (the latest forked run).
    bytes_per_item: f64,
    /// What moving results cost this loop's forked runs, summed: the byte part of their wall
    /// time (nanoseconds) and the bytes.
    moved: Moved,
}

/// The byte part of forked runs' time and the bytes of results it moved.
#[derive(Debug, Clone, Copy, Default)]
struct Moved {
    ns: f64,
    bytes: f64,
}

impl Moved {
    fn add(&mut self, ns: f64, bytes: f64) {
        self.ns += ns;
        self.bytes += bytes;
    }

    fn rate(&self) -> Option<f64> {
        (self.bytes > 0.0).then(|| self.ns / self.bytes)
    }
}

impl Stats {
    /// Nanoseconds per item inline, and in a worker now.
    fn items(&self) -> (f64, f64) {
        let inline = self.inline_ns.unwrap_or(self.item_ns);
        let worker = match (self.inline_ns, self.inline_ref) {
            (Some(now), Some(then)) => (self.item_ns + now - then).max(0.0),
            _ => self.item_ns,
        };
        (inline, worker)
    }

    /// Nanoseconds per byte of results: the loop's own once it moved enough bytes to time,
    /// else the process's (`all`), else its own however few, else none.
    fn ns_per_byte(&self, all: &Moved) -> f64 {
        let own = self.moved.rate();
        if self.moved.bytes >= OWN_RATE_BYTES {
            own.unwrap_or(0.0)
        } else {
            all.rate().or(own).unwrap_or(0.0)
        }
    }

    /// The fixed part and the per-item part of the rest, from `lo` and `hi`.
    fn rest(&self) -> (f64, f64) {
        if self.hi.n >= 2.0 * self.lo.n {
            let per_item = ((self.hi.rest_ns - self.lo.rest_ns) / (self.hi.n - self.lo.n)).max(0.0);
            ((self.lo.rest_ns - per_item * self.lo.n).max(0.0), per_item)
        } else {
            (self.lo.rest_ns.min(self.hi.rest_ns), 0.0)
        }
    }
}

/// What `auto` predicts for one call: the reason exec.rs gives for its decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Prediction {
    /// Predicted nanoseconds inline and forked.
    pub(crate) inline_ns: f64,
    pub(crate) parallel_ns: f64,
    /// Beyond what was measured and worth a fork whatever the per-item cost: forks.
    pub(crate) beyond: bool,
    /// Never run inline, and predicted about as fast inline: runs inline once to measure.
    pub(crate) probe: bool,
    /// Predicted faster inline, but not by much, after [`Stats::recheck_after`] inline calls
    /// in a row: forks once to measure again.
    pub(crate) recheck: bool,
}

impl Prediction {
    /// True when the call runs inline: predicted faster, or a probe.
    pub(crate) fn inline_pays(&self) -> bool {
        !self.beyond && !self.recheck && (self.probe || self.inline_ns < self.parallel_ns)
    }
}

/// Every loop measured, and what moving results cost every forked run in the process.
#[derive(Default)]
struct Table {
    sites: HashMap<Site, Stats>,
    moved: Moved,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    let mut t = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    f(t.get_or_insert_with(Table::default))
}

/// The prediction for `n` items of the loop at `site` on `workers` workers; `None` for a loop
/// never measured (it forks).
pub(crate) fn predict(site: Site, n: usize, workers: usize) -> Option<Prediction> {
    let (s, ns_per_byte) = with(|t| {
        let s = t.sites.get(site).copied()?;
        Some((s, s.ns_per_byte(&t.moved)))
    })?;
    let nf = n as f64;
    let (rest_fixed, per_item) = s.rest();
    let fixed = s.start_ns * workers as f64 / s.workers.max(1) as f64 + rest_fixed;
    let (inline_item, worker_item) = s.items();
    let inline_ns = inline_item * nf;
    let bytes_ns = nf * s.bytes_per_item * ns_per_byte;
    // All of the forked run but its per-item rest.
    let known = fixed + nf * worker_item / workers as f64 + bytes_ns;
    let parallel_ns = known + nf * per_item;
    let beyond = nf > EXTRAPOLATE * s.hi.n && inline_ns > PAYS * fixed && inline_ns > known;
    let close = inline_ns <= parallel_ns * (PROBE_RATIO * workers as f64).min(PROBE_MAX)
        || inline_ns <= parallel_ns + PROBE_NS;
    Some(Prediction {
        inline_ns,
        parallel_ns,
        beyond,
        probe: s.inline_ns.is_none() && !beyond && close,
        recheck: inline_ns < parallel_ns
            && parallel_ns <= RECHECK_RATIO * inline_ns
            && s.inline_streak >= s.recheck_after,
    })
}

/// True when the loop at `site` is predicted to run faster inline than on `workers` workers.
#[cfg(test)]
fn inline_pays(site: Site, n: usize, workers: usize) -> bool {
    predict(site, n, workers).is_some_and(|p| p.inline_pays())
}

/// What one forked run measured (exec.rs fills it from the team's `Measured`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    /// Items, and the workers forked.
    pub(crate) n: usize,
    pub(crate) workers: usize,
    /// Summed over the workers' items.
    pub(crate) busy: Duration,
    /// To fork the team.
    pub(crate) start: Duration,
    /// The whole run.
    pub(crate) wall: Duration,
    /// Bytes of results the parent received, and its time decoding them.
    pub(crate) result_bytes: u64,
    pub(crate) decode: Duration,
}

/// Records a forked run of the loop at `site`.
pub(crate) fn parallel_run(site: Site, run: Run) {
    let Run { n, workers, .. } = run;
    if n == 0 {
        return;
    }
    let nf = n as f64;
    let start_ns = run.start.as_nanos() as f64;
    let busy_ns = run.busy.as_nanos() as f64;
    let beyond_work =
        (run.wall.as_nanos() as f64 - start_ns - busy_ns / workers.max(1) as f64).max(0.0);
    // Decoding the parent did while the workers worked is taken to have cost the run nothing.
    let moved_ns = (run.decode.as_nanos() as f64).min(beyond_work);
    let bytes = run.result_bytes as f64;
    let rest_ns = beyond_work - moved_ns;
    let p = Point {
        n: nf,
        rest_ns,
        raw_ns: rest_ns,
    };
    with(|t| {
        t.moved.add(moved_ns, bytes);
        let s = t.sites.entry(site).or_insert(Stats {
            item_ns: 0.0,
            inline_ns: None,
            inline_ref: None,
            inline_streak: 0,
            recheck_after: RECHECK_FIRST,
            start_ns,
            workers,
            lo: p,
            hi: p,
            last: p,
            bytes_per_item: 0.0,
            moved: Moved::default(),
        });
        if s.inline_streak >= s.recheck_after {
            // A recheck: the next one waits twice as long.
            s.recheck_after = s.recheck_after.saturating_mul(2).min(RECHECK_MAX);
        }
        s.inline_streak = 0;
        s.item_ns = busy_ns / nf;
        // The next inline run is the reference for this run's item time.
        s.inline_ref = None;
        s.start_ns = start_ns;
        s.workers = workers;
        s.bytes_per_item = bytes / nf;
        s.moved.add(moved_ns, bytes);
        let mut p = p;
        if p.same_size(&s.last) {
            p.rest_ns = p.raw_ns.min(s.last.raw_ns);
        }
        s.last = p;
        // A point of about this size is this run now (none stays behind, stale).
        let (lo, hi) = (p.same_size(&s.lo), p.same_size(&s.hi));
        if lo || hi {
            if lo {
                s.lo = p;
            }
            if hi {
                s.hi = p;
            }
        } else if nf <= s.lo.n {
            s.lo = p;
        } else if nf >= s.hi.n {
            s.hi = p;
        } else if nf / s.lo.n < s.hi.n / nf {
            s.lo = p;
        } else {
            s.hi = p;
        }
    });
}

/// Records an inline run of `n` items that took `wall`.
pub(crate) fn inline_run(site: Site, n: usize, wall: Duration) {
    if n == 0 {
        return;
    }
    with(|t| {
        if let Some(s) = t.sites.get_mut(site) {
            let ns = wall.as_nanos() as f64 / n as f64;
            s.inline_ns = Some(ns);
            s.inline_ref.get_or_insert(ns);
            s.inline_streak = s.inline_streak.saturating_add(1);
        }
    });
}

/// Forgets the loop at `site` (it failed): its next run forks and measures again. The
/// process's cost per byte stays (what the machine showed is still true).
pub(crate) fn forget(site: Site) {
    with(|t| t.sites.remove(site));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn here() -> Site {
        Location::caller()
    }

    /// A forked run of `n` items on `workers` workers that moved no results.
    fn forked(
        site: Site,
        n: usize,
        workers: usize,
        busy: Duration,
        start: Duration,
        wall: Duration,
    ) {
        moving(site, n, workers, busy, start, wall, 0, Duration::ZERO);
    }

    /// A forked run that received `result_bytes` bytes of results, decoded in `decode`.
    #[allow(clippy::too_many_arguments)]
    fn moving(
        site: Site,
        n: usize,
        workers: usize,
        busy: Duration,
        start: Duration,
        wall: Duration,
        result_bytes: u64,
        decode: Duration,
    ) {
        let run = Run {
            n,
            workers,
            busy,
            start,
            wall,
            result_bytes,
            decode,
        };
        parallel_run(site, run);
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn cheap_loops_learn_to_run_inline_and_expensive_ones_keep_forking() {
        let (cheap, costly) = (here(), here());
        assert!(!inline_pays(cheap, 1000, 2), "a loop never seen forks");
        let ms = Duration::from_millis;
        // 1e6 items of 1 ns each: 1 ms of work, 0.5 ms to fork, 20 ms in all.
        forked(
            cheap,
            1_000_000,
            2,
            ms(1),
            Duration::from_micros(500),
            ms(20),
        );
        assert!(inline_pays(cheap, 1_000_000, 2));
        // The same loop with items 1,000x costlier (an inline run measured them): fork again.
        inline_run(cheap, 1000, ms(1));
        assert!(!inline_pays(cheap, 1_000_000, 2));
        // 1e4 items of 100 us: 1 s of work, fork and transfer negligible.
        forked(costly, 10_000, 2, ms(1000), ms(1), ms(505));
        assert!(!inline_pays(costly, 10_000, 2));
        forget(cheap);
        assert!(!inline_pays(cheap, 1_000_000, 2), "a forgotten loop forks");
    }

    /// W11's numbers (1e7 `f64` updated in place on 2 workers): 10 ns an item in the
    /// workers, 112 ms forked with the write-back, 1.5 ns an item inline. Priced by the workers'
    /// item time the loop looked 100 ms inline and forked on every call.
    #[test]
    fn a_loop_whose_items_cost_more_in_the_workers_is_measured_inline_once() {
        let site = here();
        let ms = Duration::from_millis;
        let n = 10_000_000;
        forked(site, n, 2, ms(100), ms(4), ms(90));
        let p = predict(site, n, 2).unwrap();
        assert!(p.probe && p.inline_pays(), "{p:?}");
        // The probe: 15 ms inline. From then on inline, and no second probe.
        inline_run(site, n, ms(15));
        let p = predict(site, n, 2).unwrap();
        assert!(!p.probe && p.inline_pays(), "{p:?}");
        assert!(close(p.inline_ns, 15e6), "{p:?}");
        // The workers' item time is kept for the forked side: 90 ms, as measured.
        assert!(close(p.parallel_ns, 90e6), "{p:?}");
        // Items that became 13.5 ns costlier inline (150 ms) cost that much more in the
        // workers too (23.5 ns: 4 + 36 + 117.5 ms forked): inline still pays. 148.5 ns costlier
        // (1.5 s inline, 4 + 36 + 792.5 ms forked): forks.
        inline_run(site, n, ms(150));
        let p = predict(site, n, 2).unwrap();
        assert!(close(p.parallel_ns, 40e6 + 117.5e6), "{p:?}");
        assert!(p.inline_pays(), "{p:?}");
        inline_run(site, n, ms(1500));
        let p = predict(site, n, 2).unwrap();
        assert!(close(p.parallel_ns, 40e6 + 792.5e6), "{p:?}");
        assert!(!p.inline_pays(), "{p:?}");
        forget(site);
    }

    /// W9's shape in a loaded run: the first forked run took 40 ms for 18 ms of work (load),
    /// so the loop went inline at 28 ms a call and stayed there. It now forks again after 8
    /// inline calls, and a forked run at the quiet machine's 10 ms sends it back to the team.
    #[test]
    fn a_loop_kept_inline_by_a_slow_forked_run_forks_again() {
        let site = here();
        let ms = Duration::from_millis;
        let n = 5500;
        forked(site, n, 2, ms(18), ms(1), ms(40));
        let inline_call = || {
            let p = predict(site, n, 2).unwrap();
            if p.inline_pays() {
                inline_run(site, n, ms(28));
            }
            p
        };
        // The probe, then 7 more inline calls: 8 in a row.
        for call in 0..8 {
            let p = inline_call();
            assert!(p.inline_pays() && !p.recheck, "call {call}: {p:?}");
        }
        let p = predict(site, n, 2).unwrap();
        assert!(p.recheck && !p.inline_pays(), "{p:?}");
        forked(site, n, 2, ms(18), ms(1), ms(10));
        let p = predict(site, n, 2).unwrap();
        assert!(!p.inline_pays(), "10 ms forked against 28 ms inline: {p:?}");
        // Had the recheck been slow too, the next would come after 16 inline calls.
        let slow = here();
        forked(slow, n, 2, ms(18), ms(1), ms(40));
        let call = || {
            let p = predict(slow, n, 2).unwrap();
            if p.inline_pays() {
                inline_run(slow, n, ms(28));
            } else {
                forked(slow, n, 2, ms(18), ms(1), ms(40));
            }
            p
        };
        let decisions: Vec<bool> = (0..30).map(|_| call().inline_pays()).collect();
        let forks: Vec<usize> = (0..30).filter(|&i| !decisions[i]).collect();
        assert_eq!(forks, [8, 25], "{decisions:?}");
        // A loop far cheaper inline (forked over 3x) is never rechecked.
        let cheap = here();
        forked(cheap, n, 2, ms(18), ms(1), ms(100));
        for _ in 0..40 {
            let p = predict(cheap, n, 2).unwrap();
            assert!(p.inline_pays(), "{p:?}");
            inline_run(cheap, n, ms(20));
        }
        for s in [site, slow, cheap] {
            forget(s);
        }
    }

    /// W9 in a loaded run: forked 13-16 ms against 17 ms inline, then one forked run of
    /// 23 ms sent the loop inline for 16 calls. The smaller of the last two runs' rest is
    /// believed; two slow runs in a row are.
    #[test]
    fn one_slow_forked_run_does_not_send_a_loop_inline() {
        let site = here();
        let ms = Duration::from_millis;
        let n = 5500;
        forked(site, n, 2, ms(16), ms(5), ms(15));
        inline_run(site, n, ms(17));
        assert!(!inline_pays(site, n, 2));
        forked(site, n, 2, ms(16), ms(5), ms(23));
        assert!(!inline_pays(site, n, 2), "one slow run");
        forked(site, n, 2, ms(16), ms(5), ms(24));
        assert!(inline_pays(site, n, 2), "two slow runs in a row");
        forget(site);
    }

    #[test]
    fn a_loop_that_scales_is_not_probed() {
        let site = here();
        let ms = Duration::from_millis;
        // 16 workers, 1.6 s of work, 110 ms forked (14.5x): no probe.
        forked(site, 1000, 16, ms(1600), ms(5), ms(110));
        let p = predict(site, 1000, 16).unwrap();
        assert!(!p.probe && !p.inline_pays(), "{p:?}");
        // 2 workers, 1.6 s of work, 900 ms forked (1.8x, 700 ms more inline): no probe.
        let two = here();
        forked(two, 1000, 2, ms(1600), ms(5), ms(900));
        let p = predict(two, 1000, 2).unwrap();
        assert!(!p.probe && !p.inline_pays(), "{p:?}");
        // 2 workers, 30 ms of work, 24 ms forked (within 20 ms): probed once.
        let small = here();
        forked(small, 1000, 2, ms(30), ms(2), ms(24));
        let p = predict(small, 1000, 2).unwrap();
        assert!(p.probe && p.inline_pays(), "{p:?}");
        for s in [site, two, small] {
            forget(s);
        }
    }

    #[test]
    fn a_small_first_run_does_not_keep_a_growing_loop_inline() {
        let site = here();
        let us = Duration::from_micros;
        // 100 items of 2 us on 2 workers: 1 ms to start, 1 ms of fixed rest (the 0.2 ms of
        // work is noise next to it).
        forked(site, 100, 2, us(200), us(1000), us(2100));
        assert!(inline_pays(site, 100, 2), "100 cheap items run inline");
        // Inline runs at n = 100 measure the same item time.
        inline_run(site, 100, us(200));
        assert!(inline_pays(site, 100, 2));
        // 200,000 items of 2 us: 0.4 s inline, about 0.2 s forked.
        let p = predict(site, 200_000, 2).unwrap();
        assert!(!p.inline_pays(), "{p:?}");
        // A forked run at that size that shows a real per-item cost is believed.
        forked(
            site,
            200_000,
            2,
            us(400_000),
            us(1000),
            us(200_000 + 2_001_100),
        );
        let p = predict(site, 200_000, 2).unwrap();
        assert!(p.inline_pays(), "10 us per item of transfer: {p:?}");
        forget(site);
    }

    #[test]
    fn cheap_items_with_large_results_stay_inline_and_small_results_fork() {
        let (large, small) = (here(), here());
        let ns = Duration::from_nanos;
        // 10,000 items of 100 ns on 2 workers: 1 ms to start, 0.5 ms of work each, 0.5 ms of
        // fixed rest, then decoding at 1 ns a byte: 1 KiB an item (10.24 ms) or 8 bytes.
        let (n, busy, start) = (10_000, ns(1_000_000), ns(1_000_000));
        moving(
            large,
            n,
            2,
            busy,
            start,
            ns(12_240_000),
            10_240_000,
            ns(10_240_000),
        );
        moving(small, n, 2, busy, start, ns(2_080_000), 80_000, ns(80_000));
        // At this size both run inline (1 ms of work).
        assert!(inline_pays(large, n, 2));
        assert!(inline_pays(small, n, 2));
        // 100x larger: 100 ms inline; forked 1.5 ms + 50 ms of work + the bytes, 8 ms for
        // the small results (it forks, also as beyond what was measured), 1,024 ms for the
        // large ones (inline: the bytes cost more than the fork saves, however far beyond).
        let p = predict(small, 1_000_000, 2).unwrap();
        assert!(!p.inline_pays(), "{p:?}");
        assert!(close(p.parallel_ns, 59_500_000.0), "{p:?}");
        let p = predict(large, 1_000_000, 2).unwrap();
        assert!(p.inline_pays() && !p.beyond, "{p:?}");
        assert!(close(p.parallel_ns, 1_075_500_000.0), "{p:?}");
        forget(large);
        forget(small);
    }

    #[test]
    fn the_byte_part_is_counted_once() {
        let site = here();
        let ns = Duration::from_nanos;
        // Items of 100 ns on 2 workers, 1 ms to start, 0.5 ms of fixed rest, no per-item rest
        // but 1 KiB of results an item at 2 ns a byte, at two sizes 10x apart.
        let run = |n: u64| {
            let decode = n * 1024 * 2;
            let wall = 1_000_000 + n * 50 + 500_000 + decode;
            moving(
                site,
                n as usize,
                2,
                ns(n * 100),
                ns(1_000_000),
                ns(wall),
                n * 1024,
                ns(decode),
            );
        };
        run(10_000);
        run(100_000);
        // The line through both runs finds no per-item rest (the bytes are out of it), so
        // 50,000 items cost the fixed 1.5 ms, 2.5 ms of work and 102.4 ms of bytes; counted
        // twice they would add 102.4 ms more.
        let p = predict(site, 50_000, 2).unwrap();
        assert!(close(p.parallel_ns, 106_400_000.0), "{p:?}");
        assert!(close(p.inline_ns, 5_000_000.0), "{p:?}");
        forget(site);
    }

    #[test]
    fn decoding_hidden_behind_the_work_costs_nothing() {
        let site = here();
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        // 1,000 items of 100 us on 2 workers: 1 ms to start, 50 ms of work each, 0.2 ms more;
        // 5 ms of decoding, all but 0.2 ms of it while the workers worked.
        moving(site, 1000, 2, ms(100), ms(1), us(51_200), 5_000_000, ms(5));
        let p = predict(site, 1000, 2).unwrap();
        assert!(close(p.parallel_ns, 51_200_000.0), "{p:?}");
        // Twice the items: twice the work and the bytes, the start once.
        let p = predict(site, 2000, 2).unwrap();
        assert!(close(p.parallel_ns, 101_400_000.0), "{p:?}");
        forget(site);
    }

    #[test]
    fn a_loop_with_few_bytes_takes_the_process_rate() {
        let p = Point {
            n: 100.0,
            rest_ns: 0.0,
            raw_ns: 0.0,
        };
        let mut s = Stats {
            item_ns: 1.0,
            inline_ns: None,
            inline_ref: None,
            inline_streak: 0,
            recheck_after: RECHECK_FIRST,
            start_ns: 0.0,
            workers: 2,
            lo: p,
            hi: p,
            last: p,
            bytes_per_item: 8.0,
            // 800 bytes that took 100 us: timer noise, not 125 ns a byte.
            moved: Moved {
                ns: 100_000.0,
                bytes: 800.0,
            },
        };
        let all = Moved {
            ns: 1e9,
            bytes: 1e9,
        };
        assert!(close(s.ns_per_byte(&all), 1.0));
        // Nothing else measured: its own, however few.
        assert!(close(s.ns_per_byte(&Moved::default()), 125.0));
        // Enough bytes of its own: its own rate (a slow codec), whatever the process's.
        s.moved = Moved {
            ns: 1e6,
            bytes: 1e5,
        };
        assert!(close(s.ns_per_byte(&all), 10.0));
        s.moved = Moved::default();
        assert_eq!(s.ns_per_byte(&Moved::default()), 0.0);
    }
}
