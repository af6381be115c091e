//! The failure policies of the job families (`Queue`, `Map`, `pmap`, `Pool`): a panic, a
//! SIGKILL, an abort and a timeout in one run each fail only their job, in its place, while
//! every other job's value is there; a `Cancel` from another thread stops the run mid-way with
//! no child left behind.

mod common;

use std::time::{Duration, Instant};

use common::{no_children_left, watchdog};
use par::{Cancel, Death, Error, Map, Pool, Queue};

/// What job `i` of the mixed run does: most return `i * 10`; four fail, each its own way.
fn mixed(i: u64) -> u64 {
    match i {
        3 => panic!("job three panicked"),
        7 => {
            // SIGKILL from outside par (as the OOM killer or `kill -9` would).
            let _ = std::process::Command::new("kill")
                .args(["-9", &std::process::id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(5));
            i
        }
        11 => std::process::abort(),
        13 => {
            std::thread::sleep(Duration::from_secs(60)); // past the timeout
            i
        }
        _ => i * 10,
    }
}

#[par::parallel]
fn mixed_call(i: u64) -> u64 {
    mixed(i)
}

const N: u64 = 20;
const TIMEOUT: Duration = Duration::from_millis(1500);

/// Checks one family's results, indexed by job: each failure in its place, every other value.
fn check(name: &str, results: Vec<(usize, par::Result<u64>)>) {
    let mut results = results;
    results.sort_by_key(|(job, _)| *job);
    assert_eq!(results.len(), N as usize, "{name}: one result per job");
    for (job, r) in results {
        let i = job as u64;
        match (i, r) {
            (
                3,
                Err(Error::Panicked {
                    index: 3, message, ..
                }),
            ) => {
                assert!(message.contains("job three panicked"), "{name}: {message}")
            }
            (
                7,
                Err(Error::WorkerDied {
                    index: Some(7),
                    death: Death::Signal(9),
                    ..
                }),
            ) => {}
            (
                11,
                Err(Error::WorkerDied {
                    index: Some(11),
                    death: Death::Signal(6),
                    ..
                }),
            ) => {}
            (13, Err(Error::TimedOut { index: 13, .. })) => {}
            (i, Ok(v)) if ![3, 7, 11, 13].contains(&i) => assert_eq!(v, i * 10, "{name}: job {i}"),
            (i, r) => panic!("{name}: job {i} gave {r:?}"),
        }
    }
}

#[test]
fn queue_map_pmap_and_pool_keep_going_past_every_kind_of_failure() {
    let _guard = watchdog("job families keep going");
    if !common::loops_fork() {
        return;
    }
    let started = Instant::now();

    let mut queue = Queue::new(3).timeout(TIMEOUT);
    for i in 0..N {
        queue.spawn(move || mixed(i));
    }
    check("Queue", queue.collect());

    let mut map = Map::new(3).timeout(TIMEOUT);
    for i in 0..N {
        map.spawn(move || mixed(i));
    }
    check("Map", map.enumerate().collect());

    let pmapped = par::pmap(mixed, 0..N, 3).timeout(TIMEOUT);
    check("pmap", pmapped.enumerate().collect());

    let mut pool = Pool::new(3).timeout(TIMEOUT);
    for i in 0..N {
        mixed_call::spawn(&mut pool, i);
    }
    check("Pool", pool.collect());

    // Four families, each waiting out one timeout (the other jobs run meanwhile).
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    no_children_left();
}

#[par::parallel]
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Cancels `stop` from another thread after `after`.
fn cancel_later(stop: &Cancel, after: Duration) -> std::thread::JoinHandle<()> {
    let remote = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        remote.cancel();
    })
}

/// Checks a cancelled run: the quick jobs that finished before the cancel kept their values,
/// every other job says `Cancelled`, and it ended soon after the cancel.
fn check_cancelled(name: &str, results: Vec<(usize, par::Result<u64>)>, took: Duration) {
    assert!(took < Duration::from_secs(10), "{name}: took {took:?}");
    assert_eq!(results.len(), 8, "{name}: one result per job");
    for (job, r) in results {
        match r {
            Ok(ms) => assert_eq!(ms, 1, "{name}: job {job} finished although slow"),
            Err(Error::Cancelled) => assert!(job >= 2, "{name}: quick job {job} cancelled"),
            Err(e) => panic!("{name}: job {job}: {e}"),
        }
    }
}

#[test]
fn a_cancel_from_another_thread_stops_queue_map_and_pool_with_no_child_left() {
    let _guard = watchdog("job families cancel");
    if !common::loops_fork() {
        return;
    }
    // Jobs 0 and 1 are quick; 2..8 sleep a minute each.
    let ms = |job: u64| if job < 2 { 1 } else { 60_000 };

    let stop = Cancel::new();
    let mut queue = Queue::new(2).cancel(&stop);
    for job in 0..8 {
        queue.spawn(move || nap(ms(job)));
    }
    let t = Instant::now();
    let canceller = cancel_later(&stop, Duration::from_millis(600));
    check_cancelled("Queue", queue.collect(), t.elapsed());
    canceller.join().unwrap();
    no_children_left();

    let stop = Cancel::new();
    let mut map = Map::new(2).cancel(&stop);
    for job in 0..8 {
        map.spawn(move || nap(ms(job)));
    }
    let t = Instant::now();
    let canceller = cancel_later(&stop, Duration::from_millis(600));
    check_cancelled("Map", map.enumerate().collect(), t.elapsed());
    canceller.join().unwrap();
    no_children_left();

    let stop = Cancel::new();
    let mut pool = Pool::new(2).cancel(&stop);
    for job in 0..8 {
        nap::spawn(&mut pool, ms(job));
    }
    let t = Instant::now();
    let canceller = cancel_later(&stop, Duration::from_millis(600));
    check_cancelled("Pool", pool.collect(), t.elapsed());
    canceller.join().unwrap();
    no_children_left();
}
