//! What the `auto` schedule learns about each loop: OpenMP's `if` clause, chosen by
//! measurement.
//!
//! Forking a team costs a fixed amount (hundreds of microseconds here) plus the transfer of
//! every result; a loop whose whole work is cheaper than that runs faster inline. The first run
//! of a loop (a call site: the file, line and column of the `par!` or `Loop` call) always
//! forks, and measures three things: the time per item inside the workers, the time to start
//! the team, and what the rest of the run cost per item (moving results, decoding them). Later
//! runs of the same loop predict both ways and take the cheaper one:
//!
//! ```text
//! inline   = item * n
//! parallel = start * (workers / measured workers) + n * (item / workers + transfer)
//! ```
//!
//! An inline run measures the time per item again, so a loop whose items become expensive goes
//! back to forking. A failed run forgets the loop: the next run forks and measures again.
//! Only `auto` loops without a timeout learn; any other schedule, `timeout`, or
//! [`Loop::parallel(true)`](crate::Loop::parallel) always forks.
//!
//! What this module must never do: take its lock in a worker (it is only used by the parent
//! that starts a loop; nested loops in a worker run inline without asking).

use std::collections::HashMap;
use std::panic::Location;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A loop's call site.
pub(crate) type Site = &'static Location<'static>;

/// What was measured about one loop.
#[derive(Debug, Clone, Copy)]
struct Stats {
    /// Nanoseconds per item, in a worker or inline.
    item_ns: f64,
    /// Nanoseconds to start the team, and the worker count it was measured with.
    start_ns: f64,
    workers: usize,
    /// Nanoseconds per item of the parallel run beyond its start and its share of the work.
    transfer_ns: f64,
}

static TABLE: Mutex<Option<HashMap<Site, Stats>>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut HashMap<Site, Stats>) -> R) -> R {
    let mut t = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    f(t.get_or_insert_with(HashMap::new))
}

/// True when the loop at `site` is predicted to run faster inline than on `workers` workers.
pub(crate) fn inline_pays(site: Site, n: usize, workers: usize) -> bool {
    let Some(s) = with(|t| t.get(site).copied()) else {
        return false;
    };
    let n = n as f64;
    let inline = s.item_ns * n;
    let start = s.start_ns * workers as f64 / s.workers.max(1) as f64;
    let parallel = start + n * (s.item_ns / workers as f64 + s.transfer_ns);
    inline < parallel
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
    let item_ns = busy.as_nanos() as f64 / nf;
    let start_ns = start.as_nanos() as f64;
    let rest = wall.as_nanos() as f64 - start_ns - busy.as_nanos() as f64 / workers as f64;
    let stats = Stats {
        item_ns,
        start_ns,
        workers,
        transfer_ns: (rest / nf).max(0.0),
    };
    with(|t| t.insert(site, stats));
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
}
