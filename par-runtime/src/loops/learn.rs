//! What the `auto` schedule learns about each loop: OpenMP's `if` clause, chosen by
//! measurement.
//!
//! A forked run costs a fixed amount (forking the team, the last results, reaping: hundreds of
//! microseconds here) plus a cost per item beyond the work (moving and decoding its result);
//! a loop whose whole work is cheaper than that runs faster inline. The first run of a loop (a
//! call site: the file, line and column of the `par!` or `Loop` call) always forks and
//! measures the time per item inside the workers (`item`), the time to start the team
//! (`start`) and what the rest of the run cost (`rest = wall - start - busy / workers`). The
//! rest is split into a fixed part and a per-item part by a line through two forked runs of
//! different sizes (the smallest and the largest `n` seen, at least 2x apart); with one run,
//! or runs of about one size, all of it is taken as fixed: a small first run must not make
//! every item look expensive. Each call then decides afresh from its own `n`:
//!
//! ```text
//! inline   = item * n
//! fixed    = start * (workers / measured workers) + rest_fixed
//! parallel = fixed + n * (item / workers + rest_per_item)
//! inline when inline < parallel, except that a call more than 4x larger than any forked run
//! measured whose inline time is over 4x the fixed cost forks (the per-item part was never
//! measured at that size: the fork pays for itself whatever it is)
//! ```
//!
//! An inline run measures the time per item again, so a loop whose items became expensive, or
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

/// One forked run: its size and the time it took beyond its start and its share of the work.
#[derive(Debug, Clone, Copy)]
struct Point {
    n: f64,
    rest_ns: f64,
}

/// What was measured about one loop.
#[derive(Debug, Clone, Copy)]
struct Stats {
    /// Nanoseconds per item, in a worker or inline (the latest run).
    item_ns: f64,
    /// Nanoseconds to start the team, and the worker count it was measured with.
    start_ns: f64,
    workers: usize,
    /// The smallest and the largest forked run seen (the same point after one run).
    lo: Point,
    hi: Point,
}

impl Stats {
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
}

impl Prediction {
    /// True when running inline is predicted faster.
    pub(crate) fn inline_pays(&self) -> bool {
        !self.beyond && self.inline_ns < self.parallel_ns
    }
}

static TABLE: Mutex<Option<HashMap<Site, Stats>>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut HashMap<Site, Stats>) -> R) -> R {
    let mut t = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    f(t.get_or_insert_with(HashMap::new))
}

/// The prediction for `n` items of the loop at `site` on `workers` workers; `None` for a loop
/// never measured (it forks).
pub(crate) fn predict(site: Site, n: usize, workers: usize) -> Option<Prediction> {
    let s = with(|t| t.get(site).copied())?;
    let nf = n as f64;
    let (rest_fixed, per_item) = s.rest();
    let fixed = s.start_ns * workers as f64 / s.workers.max(1) as f64 + rest_fixed;
    let inline_ns = s.item_ns * nf;
    let parallel_ns = fixed + nf * (s.item_ns / workers as f64 + per_item);
    Some(Prediction {
        inline_ns,
        parallel_ns,
        beyond: nf > EXTRAPOLATE * s.hi.n && inline_ns > PAYS * fixed,
    })
}

/// True when the loop at `site` is predicted to run faster inline than on `workers` workers.
#[cfg(test)]
fn inline_pays(site: Site, n: usize, workers: usize) -> bool {
    predict(site, n, workers).is_some_and(|p| p.inline_pays())
}

/// Records a parallel run of `n` items on `workers` workers: `busy` summed over the workers'
/// items, `start` to fork the team, `wall` for the whole run.
pub(crate) fn parallel_run(
    site: Site,
    n: usize,
    workers: usize,
    busy: Duration,
    start: Duration,
    wall: Duration,
) {
    if n == 0 {
        return;
    }
    let nf = n as f64;
    let start_ns = start.as_nanos() as f64;
    let busy_ns = busy.as_nanos() as f64;
    let rest_ns = (wall.as_nanos() as f64 - start_ns - busy_ns / workers.max(1) as f64).max(0.0);
    let p = Point { n: nf, rest_ns };
    with(|t| {
        let s = t.entry(site).or_insert(Stats {
            item_ns: 0.0,
            start_ns,
            workers,
            lo: p,
            hi: p,
        });
        s.item_ns = busy_ns / nf;
        s.start_ns = start_ns;
        s.workers = workers;
        if nf <= s.lo.n {
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
        if let Some(s) = t.get_mut(site) {
            s.item_ns = wall.as_nanos() as f64 / n as f64;
        }
    });
}

/// Forgets the loop at `site` (it failed): its next run forks and measures again.
pub(crate) fn forget(site: Site) {
    with(|t| t.remove(site));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn here() -> Site {
        Location::caller()
    }

    #[test]
    fn cheap_loops_learn_to_run_inline_and_expensive_ones_keep_forking() {
        let (cheap, costly) = (here(), here());
        assert!(!inline_pays(cheap, 1000, 2), "a loop never seen forks");
        let ms = Duration::from_millis;
        // 1e6 items of 1 ns each: 1 ms of work, 0.5 ms to fork, 20 ms in all.
        parallel_run(
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
        parallel_run(costly, 10_000, 2, ms(1000), ms(1), ms(505));
        assert!(!inline_pays(costly, 10_000, 2));
        forget(cheap);
        assert!(!inline_pays(cheap, 1_000_000, 2), "a forgotten loop forks");
    }

    #[test]
    fn a_small_first_run_does_not_keep_a_growing_loop_inline() {
        let site = here();
        let us = Duration::from_micros;
        // 100 items of 2 us on 2 workers: 1 ms to start, 1 ms of fixed rest (the 0.2 ms of
        // work is noise next to it).
        parallel_run(site, 100, 2, us(200), us(1000), us(2100));
        assert!(inline_pays(site, 100, 2), "100 cheap items run inline");
        // Inline runs at n = 100 measure the same item time.
        inline_run(site, 100, us(200));
        assert!(inline_pays(site, 100, 2));
        // 200,000 items of 2 us: 0.4 s inline, about 0.2 s forked.
        let p = predict(site, 200_000, 2).unwrap();
        assert!(!p.inline_pays(), "{p:?}");
        // A forked run at that size that shows a real per-item cost is believed.
        parallel_run(
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
}
