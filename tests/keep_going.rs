//! Keep going: a panic, an `Err`, a SIGKILL, an abort and a timeout in one run each fail only
//! their item; every other item's value is there, in its place, and ran exactly once.

mod common;

use std::time::Duration;

use common::{no_children_left, watchdog};
use par::{Death, Error, Loop, Schedule, SharedVec};

#[test]
fn every_failure_stays_in_its_place_and_no_other_item_is_lost_or_run_twice() {
    let _guard = watchdog("keep-going");
    if !common::loops_fork() {
        return;
    }
    for (name, schedule) in [
        ("static", Schedule::Static),
        ("dynamic(1)", Schedule::Dynamic(1)),
        ("dynamic(20)", Schedule::Dynamic(20)),
        ("auto", Schedule::Auto),
    ] {
        let n = 200usize;
        let runs = SharedVec::<u32>::new(n).expect("shared counters");
        let out = Loop::new()
            .workers(2)
            .schedule(schedule)
            .timeout(Duration::from_millis(500))
            .collect_each(0..n, |i| {
                runs.set(i, runs.get(i) + 1);
                match i {
                    17 => panic!("item {i} panics"),
                    40 => return Err(format!("item {i} says no")),
                    // SAFETY (test): kill(2) of this process has no memory preconditions.
                    77 => unsafe {
                        libc::kill(libc::getpid(), libc::SIGKILL);
                    },
                    120 => std::process::abort(),
                    150 => std::thread::sleep(Duration::from_secs(60)),
                    _ => {}
                }
                Ok(i * 2)
            });
        assert_eq!(out.len(), n, "{name}");
        for (i, r) in out.iter().enumerate() {
            match (i, r) {
                (
                    17,
                    Err(Error::Panicked {
                        index: 17, message, ..
                    }),
                ) => {
                    assert_eq!(message, "item 17 panics", "{name}")
                }
                (
                    40,
                    Err(Error::Failed {
                        index: 40, message, ..
                    }),
                ) => {
                    assert_eq!(message, "item 40 says no", "{name}")
                }
                (
                    77,
                    Err(Error::WorkerDied {
                        index: Some(77),
                        death: Death::Signal(9),
                        ..
                    }),
                ) => {}
                (
                    120,
                    Err(Error::WorkerDied {
                        index: Some(120),
                        death: Death::Signal(6),
                        ..
                    }),
                ) => {}
                (150, Err(Error::TimedOut { index: 150, .. })) => {}
                (i, Ok(v)) if ![17, 40, 77, 120, 150].contains(&i) => assert_eq!(*v, i * 2),
                (i, other) => panic!("{name}: item {i}: {other:?}"),
            }
        }
        let runs = runs.to_vec();
        for (i, &r) in runs.iter().enumerate() {
            assert_eq!(r, 1, "{name}: item {i} ran {r} times");
        }
    }
    no_children_left();
}

#[test]
fn keep_going_with_retries_retries_deaths_first() {
    let _guard = watchdog("keep-going-retries");
    if !common::loops_fork() {
        return;
    }
    let out = Loop::new()
        .workers(2)
        .retries(1)
        .collect_each(0..30u32, |i| {
            if i == 9 {
                std::process::abort();
            }
            Ok::<u32, String>(i)
        });
    match &out[9] {
        Err(Error::Retried {
            index: 9,
            attempts: 2,
            last,
        }) => {
            assert!(matches!(**last, Error::WorkerDied { .. }), "{last:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 29);
    no_children_left();
}

#[test]
fn in_sequential_mode_panics_and_errors_stay_in_place_too() {
    let out = par::sequential(|| {
        Loop::new().collect_each(0..5u32, |i| {
            if i == 1 {
                panic!("one");
            }
            if i == 3 {
                return Err("three");
            }
            Ok(i)
        })
    });
    assert!(matches!(out[1], Err(Error::Panicked { index: 1, .. })));
    assert!(matches!(out[3], Err(Error::Failed { index: 3, .. })));
    assert_eq!(out[4].as_ref().ok(), Some(&4));
}

/// Encodes as a u32, except 7, whose `Serialize` refuses.
#[derive(Debug)]
struct NotSeven(u32);

impl serde::Serialize for NotSeven {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == 7 {
            return Err(serde::ser::Error::custom("seven does not travel"));
        }
        s.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for NotSeven {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <u32 as serde::Deserialize>::deserialize(d).map(NotSeven)
    }
}

#[test]
fn a_value_that_cannot_be_encoded_is_its_items_answer_not_retried() {
    let _guard = watchdog("keep-going-encode");
    if !common::loops_fork() {
        return;
    }
    let runs = SharedVec::<u32>::new(12).expect("shared counters");
    let out = Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(1))
        .retries(2)
        .collect_each(0..12u32, |i| {
            runs.set(i as usize, runs.get(i as usize) + 1);
            Ok::<NotSeven, String>(NotSeven(i))
        });
    match &out[7] {
        Err(Error::Encode {
            index: Some(7),
            message,
            ..
        }) => {
            assert!(message.contains("seven does not travel"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(runs.get(7), 1, "an encode failure is not retried");
    assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 11);
    no_children_left();
}

/// Keep going in a reduction: the reduction holds exactly the items that succeeded (whatever
/// killed the others), the loop's value lists the failures in item order, for any number of
/// workers that fork (inline, a crash is the caller's), and `par!(keep_going, reduce(...))`
/// says the same.
#[test]
fn a_keep_going_reduction_sums_the_items_that_succeeded_and_lists_the_failures() {
    let _guard = watchdog("keep-going reduce");
    if !common::loops_fork() {
        return;
    }
    let bad = [4u64, 9, 17];
    let expected: u64 = (0..40u64).filter(|i| !bad.contains(i)).sum();
    for workers in [2, 3, 8] {
        let (sum, failed) = Loop::new().workers(workers).reduce_each(
            0..40u64,
            || 0u64,
            |acc, i| match i {
                4 => panic!("four"),
                9 => std::process::abort(),
                17 => {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &std::process::id().to_string()])
                        .status();
                    std::thread::sleep(Duration::from_secs(5));
                }
                _ => *acc += i,
            },
            |a, b| a + b,
        );
        assert_eq!(sum, expected, "{workers} workers");
        let at: Vec<Option<usize>> = failed.iter().map(Error::index).collect();
        assert_eq!(
            at,
            [Some(4), Some(9), Some(17)],
            "{workers} workers: {failed:?}"
        );
        assert!(
            matches!(failed[0], Error::Panicked { .. }),
            "{:?}",
            failed[0]
        );
    }

    let mut total = 0u64;
    let mut count = 0u32;
    let failed = par::par!(keep_going, workers = 2, reduce(+: total, +: count), for i in 0..40u64 {
        if i == 9 {
            std::process::abort();
        }
        total += i;
        count += 1;
    });
    assert_eq!(total, (0..40u64).sum::<u64>() - 9);
    assert_eq!(count, 39);
    assert_eq!(failed.len(), 1);
    assert!(matches!(
        failed[0],
        Error::WorkerDied {
            index: Some(9),
            death: Death::Signal(6),
            ..
        }
    ));
    no_children_left();
}
