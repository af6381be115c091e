//! Which worker runs which item: every worker gets a chunk before any worker gets a second, and
//! nothing is queued behind an item that may be long (issue 22). Checked by the pids that ran
//! the items and by items that wait for each other, never by a clock.
#![cfg(all(unix, not(par_fallback_sys)))] // worker processes: fork only

mod common;

use common::{loops_fork, no_children_left, wait_until, watchdog};
use par::{Loop, Schedule};

const POLICIES: [(&str, Schedule); 3] = [
    ("auto", Schedule::Auto),
    ("dynamic(1)", Schedule::Dynamic(1)),
    ("static", Schedule::Static),
];

#[test]
fn as_many_items_as_workers_run_one_per_worker() {
    let _guard = watchdog("one per worker");
    if !loops_fork() {
        return;
    }
    for (name, s) in POLICIES {
        for workers in [2, 3] {
            // `parallel(true)`: auto learns from one run at this call site whether to fork the
            // next (learn.rs); here every run must fork.
            let pids = Loop::new()
                .workers(workers)
                .schedule(s)
                .parallel(true)
                .collect(0..workers as u32, |_| std::process::id());
            let mut distinct = pids.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(
                distinct.len(),
                workers,
                "{name}, {workers} workers: items ran in pids {pids:?}"
            );
            assert!(!pids.contains(&std::process::id()), "{name}: ran inline");
        }
    }
    no_children_left();
}

#[test]
fn an_item_never_waits_behind_a_long_one_while_a_worker_is_free() {
    let _guard = watchdog("not behind a long item");
    if !loops_fork() {
        return;
    }
    for (name, s) in [
        ("auto", Schedule::Auto),
        ("dynamic(1)", Schedule::Dynamic(1)),
    ] {
        let dir = common::temp_dir("behind");
        // Item 0 runs until items 1 to 3 have run: were any of them queued behind it on its
        // worker, the loop would never end (the watchdog names it).
        let r = Loop::new()
            .workers(2)
            .schedule(s)
            .parallel(true)
            .collect(0..4u32, |i| {
                if i == 0 {
                    wait_until("items 1 to 3 to run on the other worker", || {
                        (1..4).all(|k| dir.join(k.to_string()).exists())
                    });
                } else {
                    let _ = std::fs::write(dir.join(i.to_string()), b"");
                }
                std::process::id()
            });
        assert!(
            r[1..].iter().all(|&p| p != r[0]),
            "{name}: items 1 to 3 ran in item 0's worker: {r:?}"
        );
    }
    no_children_left();
}
