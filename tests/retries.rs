//! `retries`: an item whose worker died or timed out runs again on a fresh worker; the loop
//! succeeds if a retry does, and fails with `Error::Retried` when every attempt fails. Panics
//! are retried only with `retry_panics`. Every schedule.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{no_children_left, temp_dir, watchdog};
use par::{Death, Error, Loop, Schedule, SharedVec};

const SCHEDULES: [(&str, Schedule); 5] = [
    ("static", Schedule::Static),
    ("dynamic(1)", Schedule::Dynamic(1)),
    ("dynamic(50)", Schedule::Dynamic(50)),
    ("guided", Schedule::Guided(1)),
    ("auto", Schedule::Auto),
];

/// True the first time it is called for `name` in `dir`, in any process (an atomic mkdir).
fn first_time(dir: &Path, name: &str) -> bool {
    std::fs::create_dir(dir.join(name)).is_ok()
}

#[test]
fn an_item_whose_worker_dies_once_is_run_again_and_the_loop_succeeds() {
    let _guard = watchdog("retry-once");
    if !common::loops_fork() {
        return;
    }
    for (name, schedule) in SCHEDULES {
        let dir = temp_dir(&format!("retry-once-{}", name.replace(['(', ')'], "")));
        let runs = SharedVec::<u32>::new(300).expect("shared counters");
        let v = Loop::new()
            .workers(2)
            .schedule(schedule)
            .retries(1)
            .try_collect(0..300u32, |i| {
                runs.set(i as usize, runs.get(i as usize) + 1);
                if i == 123 && first_time(&dir, "crashed") {
                    std::process::abort();
                }
                Ok::<u32, String>(i * 3)
            });
        assert_eq!(
            v.expect(name),
            (0..300).map(|i| i * 3).collect::<Vec<_>>(),
            "{name}"
        );
        let runs = runs.to_vec();
        assert!(runs.iter().all(|&r| r >= 1), "{name}: every item ran");
        assert_eq!(runs[123], 2, "{name}: the crashed item ran twice");
    }
    no_children_left();
}

#[test]
fn without_retries_no_item_runs_twice_and_a_death_fails_the_loop() {
    let _guard = watchdog("retry-none");
    if !common::loops_fork() {
        return;
    }
    let runs = SharedVec::<u32>::new(200).expect("shared counters");
    let v = Loop::new().workers(2).collect(0..200u32, |i| {
        runs.set(i as usize, runs.get(i as usize) + 1);
        i
    });
    assert_eq!(v.len(), 200);
    assert!(runs.to_vec().iter().all(|&r| r == 1));
    let e = Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(1))
        .try_collect(0..50u32, |i| {
            if i == 7 {
                std::process::abort();
            }
            Ok::<u32, String>(i)
        })
        .expect_err("a death without retries");
    assert!(
        matches!(
            e,
            Error::WorkerDied {
                index: Some(7),
                death: Death::Signal(6),
                ..
            }
        ),
        "{e:?}"
    );
    no_children_left();
}

#[test]
fn an_item_that_always_dies_fails_after_its_attempts_naming_them() {
    let _guard = watchdog("retry-always");
    if !common::loops_fork() {
        return;
    }
    for (name, schedule) in SCHEDULES {
        let e = Loop::new()
            .workers(2)
            .schedule(schedule)
            .retries(2)
            .try_collect(0..100u32, |i| {
                if i == 42 {
                    std::process::abort();
                }
                Ok::<u32, String>(i)
            })
            .expect_err(name);
        match &e {
            Error::Retried {
                index: 42,
                attempts: 3,
                last,
            } => assert!(
                matches!(
                    **last,
                    Error::WorkerDied {
                        index: Some(42),
                        death: Death::Signal(6),
                        ..
                    }
                ),
                "{name}: {last:?}"
            ),
            other => panic!("{name}: {other:?}"),
        }
        assert!(
            e.to_string()
                .starts_with("item 42 failed 3 times; the last time: worker "),
            "{name}: {e}"
        );
    }
    no_children_left();
}

#[test]
fn a_timeout_is_retried_and_a_panic_only_with_retry_panics() {
    let _guard = watchdog("retry-timeout-panic");
    if !common::loops_fork() {
        return;
    }
    let dir = temp_dir("retry-timeout");
    let v = Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(1))
        .timeout(Duration::from_millis(500))
        .retries(1)
        .collect(0..20u32, |i| {
            if i == 5 && first_time(&dir, "slow") {
                std::thread::sleep(Duration::from_secs(60));
            }
            i
        });
    assert_eq!(v, (0..20).collect::<Vec<_>>());

    // A panic is the item's answer: not retried by `retries` alone.
    let e = Loop::new()
        .workers(2)
        .retries(3)
        .try_collect(0..20u32, |i| {
            if i == 9 {
                panic!("no {i}");
            }
            Ok::<u32, String>(i)
        })
        .expect_err("a panic");
    assert!(matches!(e, Error::Panicked { index: 9, .. }), "{e:?}");

    let dir = temp_dir("retry-panic");
    let v = Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(1))
        .retries(1)
        .retry_panics(true)
        .collect(0..20u32, |i| {
            if i == 9 && first_time(&dir, "panicked") {
                panic!("flaky {i}");
            }
            i
        });
    assert_eq!(v, (0..20).collect::<Vec<_>>());
    no_children_left();
}

#[test]
fn a_reduction_retried_is_bit_identical_to_one_that_never_failed() {
    let _guard = watchdog("retry-reduce");
    if !common::loops_fork() {
        return;
    }
    let dir = temp_dir("retry-reduce");
    let clean = Loop::new().workers(2).reduce(
        0..200_000u64,
        || 0.0f64,
        |a, i| *a += 1.0 / (i as f64 + 1.0),
        |a, b| a + b,
    );
    let retried = Loop::new().workers(2).retries(1).reduce(
        0..200_000u64,
        || 0.0f64,
        |a, i| {
            if i == 150_000 && first_time(&dir, "crashed") {
                std::process::abort();
            }
            *a += 1.0 / (i as f64 + 1.0)
        },
        |a, b| a + b,
    );
    assert_eq!(clean.to_bits(), retried.to_bits());
    no_children_left();
}
