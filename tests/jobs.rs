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
    if !common::loops_fork() {
        return;
    }
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
    if !common::loops_fork() {
        return;
    }
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

/// A job of a limit test: tells it started (a file named after it in `dir`), then, in a forked
/// child, waits until `dir/go` exists, so the test counts children while they are all running.
/// Inline (`PAR_WORKERS=1`) there is nobody to wait for: it returns at once.
fn held_job(dir: &std::path::Path, i: u64) -> u64 {
    std::fs::write(dir.join(format!("started-{i}")), b"").expect("write a marker");
    if par::in_worker() {
        common::wait_until("the test to let the jobs go", || dir.join("go").exists());
    }
    i * 7
}

fn started(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .expect("read the test's dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("started-"))
        })
        .count()
}

fn live_children() -> usize {
    children().iter().filter(|(_, s)| *s != 'Z').count()
}

#[test]
fn a_map_and_pmap_never_run_more_than_their_limit() {
    let _guard = watchdog("map-limit");
    let inline = std::env::var("PAR_WORKERS").is_ok_and(|v| v.trim() == "1");
    // Map: 10 jobs, limit 3. The first 3 start and hold; the other 7 must wait.
    let dir = common::temp_dir("map-limit");
    let mut map = Map::new(3);
    for i in 0..10u64 {
        let dir = dir.clone();
        map.spawn(move || held_job(&dir, i));
        assert!(map.running() <= 3, "{} running", map.running());
        assert!(live_children() <= 3, "{:?}", children());
    }
    if !inline {
        common::wait_until("3 jobs to start", || started(&dir) == 3);
        assert_eq!(map.running(), 3);
        assert_eq!(live_children(), 3, "{:?}", children());
        assert_eq!(started(&dir), 3, "a 4th job started while 3 ran");
    }
    std::fs::write(dir.join("go"), b"").expect("let the jobs go");
    let mut got = Vec::new();
    for r in map.by_ref() {
        assert!(live_children() <= 3, "{:?}", children());
        got.push(r.expect("no job fails"));
    }
    assert_eq!(got, (0..10).map(|i| i * 7).collect::<Vec<_>>());
    assert_eq!(started(&dir), 10);
    // A child whose result was read may still wait to be reaped: the map does it when dropped.
    drop(map);
    no_children_left();

    // pmap: 8 items, limit 2, the same way.
    let dir = common::temp_dir("pmap-limit");
    let held = {
        let dir = dir.clone();
        move |i: u64| held_job(&dir, i)
    };
    let mut squares = par::pmap(held, 0..8u64, 2);
    assert!(live_children() <= 2, "{:?}", children());
    if !inline {
        common::wait_until("2 items to start", || started(&dir) == 2);
        assert_eq!(live_children(), 2, "{:?}", children());
        assert_eq!(started(&dir), 2, "a 3rd item started while 2 ran");
    }
    std::fs::write(dir.join("go"), b"").expect("let the items go");
    let mut got = Vec::new();
    for r in squares.by_ref() {
        assert!(live_children() <= 2, "{:?}", children());
        got.push(r.expect("no item fails"));
    }
    assert_eq!(got, (0..8).map(|i| i * 7).collect::<Vec<_>>());
    drop(squares);
    let _ = std::fs::remove_dir_all(&dir);
    no_children_left();
}

#[test]
fn map_get_range_waits_for_a_range_in_submission_order() {
    let _guard = watchdog("map-get-range");
    let mut map = Map::new(3);
    for i in 0..12u64 {
        map.spawn(move || {
            std::thread::sleep(delay(i)); // finish out of order
            if i == 6 {
                panic!("job six fails");
            }
            i * 100
        });
    }
    let row = |rs: Vec<&Result<u64, Error>>| -> Vec<Result<u64, String>> {
        rs.into_iter()
            .map(|r| match r {
                Ok(v) => Ok(*v),
                Err(e) => Err(format!("{:?}:{e}", e.index())),
            })
            .collect()
    };
    assert_eq!(row(map.get_range(2..5)), vec![Ok(200), Ok(300), Ok(400)]);
    // A failed job is in its place; a range past the end is cut at the last job.
    let tail = row(map.get_range(5..20));
    assert_eq!(tail.len(), 7, "{tail:?}");
    assert_eq!(tail[0], Ok(500));
    let failed = tail[1].as_ref().expect_err("job 6 failed");
    assert!(
        failed.starts_with("Some(6):item 6 panicked in worker ")
            && failed.ends_with(": job six fails"),
        "{failed}"
    );
    assert_eq!(
        tail[2..],
        (7..12).map(|i| Ok(i * 100)).collect::<Vec<_>>()[..]
    );
    assert!(map.get_range(12..15).is_empty(), "no such jobs");
    // Iteration takes jobs from the front; a range of taken jobs is left out.
    assert_eq!(map.next().map(|r| r.ok()), Some(Some(0)));
    assert_eq!(map.next().map(|r| r.ok()), Some(Some(100)));
    assert_eq!(row(map.get_range(0..3)), vec![Ok(200)]);
    let rest: Vec<Option<u64>> = map.map(|r| r.ok()).collect();
    assert_eq!(rest.len(), 10);
    no_children_left();
}
