//! `max_items_per_worker`: workers leave after their share and fresh ones take over; results
//! are the same as without it.

mod common;

use std::collections::HashMap;

use common::{no_children_left, watchdog};
use par::{Loop, Schedule};

#[test]
fn workers_are_recycled_after_their_items_and_results_do_not_change() {
    let _guard = watchdog("recycle");
    if !common::loops_fork() {
        return;
    }
    let out = Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(1))
        .max_items_per_worker(10)
        .collect(0..100u32, |i| (i, std::process::id()));
    assert_eq!(
        out.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
    let mut per_pid: HashMap<u32, usize> = HashMap::new();
    for (_, pid) in &out {
        *per_pid.entry(*pid).or_default() += 1;
    }
    assert!(per_pid.values().all(|&n| n <= 10), "{per_pid:?}");
    assert!(
        per_pid.len() >= 10,
        "{} workers for 100 items",
        per_pid.len()
    );

    for (name, schedule) in [("static", Schedule::Static), ("auto", Schedule::Auto)] {
        let pids = Loop::new()
            .workers(2)
            .schedule(schedule)
            .max_items_per_worker(30)
            .collect(0..200u32, |_| std::process::id());
        let distinct: std::collections::HashSet<u32> = pids.into_iter().collect();
        assert!(distinct.len() >= 3, "{name}: {} workers", distinct.len());
    }

    let sum = |max: Option<usize>| {
        let mut l = Loop::new().workers(2);
        if let Some(m) = max {
            l = l.max_items_per_worker(m);
        }
        l.reduce(
            0..300_000u64,
            || 0.0f64,
            |a, i| *a += 1.0 / (i as f64 + 1.0),
            |a, b| a + b,
        )
    };
    assert_eq!(sum(None).to_bits(), sum(Some(50_000)).to_bits());
    no_children_left();
}
