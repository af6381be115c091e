//! `Queue`, `Map` and `pmap`: ordering, the limit, every failure kind, no child left behind.
#![cfg(all(unix, not(par_fallback_sys)))] // children and signals: fork only

mod common;

use std::time::Duration;

use common::{children, no_children_left, watchdog};
use par::{Death, Error, Map, Queue};

/// A pseudo-random delay per job, so completion order differs from submission order.
fn delay(i: u64) -> Duration {
    Duration::from_millis(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60)
}

#[test]
fn a_queue_completes_every_job_exactly_once_and_never_exceeds_its_limit() {
    let _guard = watchdog("queue");
    let mut queue = Queue::new(3);
    let mut max_live = 0;
    for i in 0..40u64 {
        queue.spawn(move || {
            std::thread::sleep(delay(i));
            i * 7
        });
        assert!(queue.running() <= 3);
        max_live = max_live.max(children().iter().filter(|(_, s)| *s != 'Z').count());
    }
    let mut got = Vec::new();
    while let Some((job, r)) = queue.next() {
        assert!(queue.running() <= 3);
        max_live = max_live.max(children().iter().filter(|(_, s)| *s != 'Z').count());
        got.push((job, r.expect("no job fails")));
    }
    assert!(
        max_live <= 3,
        "{max_live} children alive at once with a limit of 3"
    );
    got.sort_unstable();
    assert_eq!(
        got,
        (0..40).map(|i| (i as usize, i * 7)).collect::<Vec<_>>()
    );
    no_children_left();
}

#[test]
fn a_map_yields_in_submission_order_and_get_waits_for_one_job() {
    let _guard = watchdog("map");
    let mut map = Map::new(4);
    for i in 0..30u64 {
        map.spawn(move || {
            std::thread::sleep(delay(i + 3));
            format!("job {i}")
        });
    }
    assert_eq!(
        map.get(17).expect("job 17 exists").as_ref().expect("ok"),
        "job 17"
    );
    assert!(map.get(30).is_none());
    let all: Vec<String> = map.by_ref().map(|r| r.expect("no job fails")).collect();
    assert_eq!(all, (0..30).map(|i| format!("job {i}")).collect::<Vec<_>>());
    no_children_left();
}

#[test]
fn pmap_is_ordered() {
    let _guard = watchdog("pmap");
    let words = ["pprocess", "par", "rust", "fork"];
    let lens: Vec<usize> = par::pmap(|w: &str| w.len(), words, 2)
        .map(|r| r.expect("ok"))
        .collect();
    assert_eq!(lens, [8, 3, 4, 4]);
    no_children_left();
}

#[test]
fn every_failure_is_reported_with_its_job_and_the_others_go_on() {
    let _guard = watchdog("failures");
    let mut map = Map::new(2);
    map.spawn(|| 0u32);
    map.spawn(|| panic!("job one is bad"));
    // SAFETY (test): kill(2) on our own pid has no memory-safety preconditions.
    map.spawn(|| unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
        2
    });
    map.spawn(|| std::process::exit(3));
    map.spawn(|| 4);
    let results: Vec<Result<u32, Error>> = map.collect();
    assert_eq!(results.len(), 5, "a failed job must not end the iteration");
    assert_eq!(*results[0].as_ref().expect("job 0"), 0);
    match &results[1] {
        Err(
            e @ Error::Panicked {
                index: 1,
                message,
                location,
                ..
            },
        ) => {
            assert_eq!(message, "job one is bad");
            assert!(
                location
                    .as_deref()
                    .is_some_and(|l| l.starts_with("tests/jobs.rs:")),
                "{location:?}"
            );
            assert!(e.pid().is_some_and(|p| p != std::process::id() as i32));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(
            results[2],
            Err(Error::WorkerDied {
                index: Some(2),
                death: Death::Signal(9),
                ..
            })
        ),
        "{:?}",
        results[2]
    );
    assert!(
        matches!(
            results[3],
            Err(Error::WorkerDied {
                index: Some(3),
                death: Death::Exit(3),
                ..
            })
        ),
        "{:?}",
        results[3]
    );
    assert_eq!(*results[4].as_ref().expect("job 4"), 4);
    no_children_left();
}

#[test]
fn dropping_a_queue_early_kills_and_reaps_its_children() {
    let _guard = watchdog("drop");
    let mut queue = Queue::new(2);
    for _ in 0..5 {
        queue.spawn(|| {
            std::thread::sleep(Duration::from_secs(600));
            0u8
        });
    }
    assert_eq!(queue.running(), 2);
    drop(queue);
    no_children_left();
}

#[test]
fn jobs_capture_anything_and_run_inline_in_sequential_mode() {
    let _guard = watchdog("inline");
    let local = std::rc::Rc::new(vec![1u32, 2, 3]);
    let me = std::process::id();
    let pids: Vec<u32> = par::sequential(|| {
        let mut map = Map::new(4);
        for i in 0..3 {
            let local = local.clone();
            map.spawn(move || local[i] + std::process::id() - me);
        }
        map.map(|r| r.expect("ok")).collect()
    });
    assert_eq!(pids, vec![1, 2, 3]);
}
