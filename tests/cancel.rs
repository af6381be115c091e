//! `par::Cancel`: a loop stopped from another thread starts no new item, kills and reaps its
//! workers and returns `Error::Cancelled`, forked or inline; a handle cancelled before the loop
//! starts runs nothing.

mod common;

use std::time::{Duration, Instant};

use common::{no_children_left, watchdog};
use par::{Cancel, Error, Loop, SharedVec};

fn cancel_after(handle: &Cancel, d: Duration) -> std::thread::JoinHandle<()> {
    let remote = handle.clone();
    std::thread::spawn(move || {
        std::thread::sleep(d);
        remote.cancel();
    })
}

#[test]
fn a_loop_cancelled_from_another_thread_stops_and_leaves_no_child() {
    let _guard = watchdog("cancel-running");
    if !common::loops_fork() {
        return;
    }
    let runs = SharedVec::<u32>::new(1000).expect("shared counters");
    let stop = Cancel::new();
    let canceller = cancel_after(&stop, Duration::from_millis(300));
    let started = Instant::now();
    let r = Loop::new()
        .workers(2)
        .schedule(par::Schedule::Dynamic(1))
        .cancel(&stop)
        .try_collect(0..1000u32, |i| {
            runs.set(i as usize, 1);
            std::thread::sleep(Duration::from_millis(20)); // 10 s of work in all
            Ok::<u32, String>(i)
        });
    canceller.join().expect("canceller");
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stopped, not finished"
    );
    let ran = runs.to_vec().iter().filter(|&&r| r == 1).count();
    assert!(ran < 1000, "{ran} items ran");
    no_children_left();
}

#[test]
fn a_cancelled_handle_runs_nothing_and_inline_loops_stop_too() {
    let _guard = watchdog("cancel-inline");
    let runs = SharedVec::<u32>::new(100).expect("shared counters");
    let stop = Cancel::new();
    stop.cancel();
    let r = Loop::new()
        .workers(2)
        .cancel(&stop)
        .try_for_each(0..100usize, |i| {
            runs.set(i, 1);
            Ok::<(), String>(())
        });
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert!(runs.to_vec().iter().all(|&r| r == 0), "nothing ran");

    let stop = Cancel::new();
    let canceller = cancel_after(&stop, Duration::from_millis(200));
    let r = Loop::new()
        .workers(1)
        .cancel(&stop)
        .try_collect(0..1000u32, |i| {
            std::thread::sleep(Duration::from_millis(10));
            Ok::<u32, String>(i)
        });
    canceller.join().expect("canceller");
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert_eq!(Error::Cancelled.to_string(), "the loop was cancelled");
    no_children_left();
}

#[test]
fn the_panicking_forms_panic_with_the_cancellation() {
    let _guard = watchdog("cancel-panics");
    let stop = Cancel::new();
    stop.cancel();
    let r = std::panic::catch_unwind(|| {
        Loop::new()
            .workers(2)
            .cancel(&stop)
            .collect(0..10u32, |i| i)
    });
    let payload = r.expect_err("a cancelled collect panics");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert_eq!(message, "the loop was cancelled");
}
