//! `retries` on the job families: a job or call whose child dies runs again; one that dies every
//! time yields `Error::Retried`; a panic is not retried.

mod common;

use std::path::Path;

use common::{no_children_left, temp_dir, watchdog};
use par::{Death, Error, Map, Pool, Queue};

/// True the first time it is called for `name` in `dir`, in any process (an atomic mkdir).
fn first_time(dir: &Path, name: &str) -> bool {
    std::fs::create_dir(dir.join(name)).is_ok()
}

#[par::parallel]
fn flaky_call(dir: String, i: u32) -> u32 {
    if i == 3 && first_time(Path::new(&dir), "call") {
        std::process::abort();
    }
    if i == 5 {
        std::process::abort();
    }
    if i == 6 {
        panic!("call {i} refuses");
    }
    i * 10
}

fn assert_retried(r: &Result<u32, Error>, index: usize, what: &str) {
    match r {
        Err(Error::Retried {
            index: i,
            attempts: 3,
            last,
        }) if *i == index => assert!(
            matches!(
                **last,
                Error::WorkerDied {
                    death: Death::Signal(6),
                    ..
                }
            ),
            "{what}: {last:?}"
        ),
        other => panic!("{what}: {other:?}"),
    }
}

#[test]
fn queue_map_and_pool_run_a_job_again_when_its_child_dies() {
    let _guard = watchdog("job-retries");
    if !common::loops_fork() {
        return;
    }
    for family in ["queue", "map"] {
        let dir = temp_dir(&format!("job-retries-{family}"));
        let job = |i: u32| {
            let dir = dir.to_path_buf();
            move || {
                if i == 3 && first_time(&dir, "job") {
                    std::process::abort();
                }
                if i == 5 {
                    std::process::abort();
                }
                if i == 6 {
                    panic!("job {i} refuses");
                }
                i * 10
            }
        };
        let results: Vec<Result<u32, Error>> = if family == "queue" {
            let mut q = Queue::new(2).retries(2);
            for i in 0..8 {
                q.spawn(job(i));
            }
            let mut got: Vec<(usize, Result<u32, Error>)> = q.collect();
            got.sort_by_key(|(i, _)| *i);
            got.into_iter().map(|(_, r)| r).collect()
        } else {
            let mut m = Map::new(2).retries(2);
            for i in 0..8 {
                m.spawn(job(i));
            }
            m.collect()
        };
        assert_eq!(
            results[3].as_ref().ok(),
            Some(&30),
            "{family}: died once, then ran"
        );
        assert_retried(&results[5], 5, family);
        assert!(
            matches!(results[6], Err(Error::Panicked { index: 6, .. })),
            "{family}: {:?}",
            results[6]
        );
        for i in [0, 1, 2, 4, 7] {
            assert_eq!(results[i].as_ref().ok(), Some(&(i as u32 * 10)), "{family}");
        }
    }

    // pmap: retries set on the map it returns apply to its jobs already running.
    let dir = temp_dir("job-retries-pmap");
    let d = dir.to_path_buf();
    let results: Vec<Result<u32, Error>> = par::pmap(
        move |i: u32| {
            if i == 2 && first_time(&d, "pmap") {
                std::process::abort();
            }
            i + 1
        },
        0..4u32,
        2,
    )
    .retries(1)
    .collect();
    let values: Vec<u32> = results.into_iter().map(|r| r.expect("retried")).collect();
    assert_eq!(values, [1, 2, 3, 4]);

    let dir = temp_dir("job-retries-pool");
    let mut pool = Pool::new(2).retries(2);
    for i in 0..8 {
        flaky_call::spawn(&mut pool, dir.to_string_lossy().into_owned(), i);
    }
    let results: Vec<Result<u32, Error>> = pool.ordered().collect();
    assert_eq!(
        results[3].as_ref().ok(),
        Some(&30),
        "pool: died once, then ran"
    );
    assert_retried(&results[5], 5, "pool");
    assert!(
        matches!(results[6], Err(Error::Panicked { index: 6, .. })),
        "{:?}",
        results[6]
    );
    drop(pool);
    no_children_left();
}
