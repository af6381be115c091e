//! `memory_limit`: a worker whose allocation fails under its limit is reported as such, with
//! the item and the worker's pid, for a loop, a `Queue` job, a `pmap` item and a `Pool` call;
//! the other items go on; nothing is left behind. (Each over-limit item asks for 1 GiB under a
//! 256 MiB limit without touching it: `RLIMIT_DATA` refuses the mapping at once. Rust then
//! prints "memory allocation of 1073741824 bytes failed" on the worker's stderr.)

mod common;

use par::{Death, Error};

const LIMIT: u64 = 256 << 20;

/// A buffer of `bytes`, allocated (not touched) in the worker.
fn allocate(bytes: usize) -> usize {
    let v: Vec<u8> = Vec::with_capacity(bytes);
    std::hint::black_box(&v);
    v.capacity()
}

fn size(i: u32) -> usize {
    if i == 5 { 1 << 30 } else { 1 << 20 }
}

fn assert_memory_limit(e: &Error, index: usize) {
    match e {
        Error::WorkerDied {
            index: Some(i),
            pid,
            death: Death::MemoryLimit { limit, signal: 6 },
        } => {
            assert_eq!((*i, *limit), (index, LIMIT), "{e}");
            assert_eq!(
                e.to_string(),
                format!(
                    "item {index} exceeded the worker memory limit (256 MiB) in worker {pid} (killed by SIGABRT: an allocation failed)"
                )
            );
        }
        other => panic!("expected the memory limit of item {index}, got {other:?}: {other}"),
    }
}

#[test]
fn a_loop_item_over_the_limit_is_reported_as_the_limit() {
    if !common::loops_fork() {
        return;
    }
    let _w = common::watchdog("a_loop_item_over_the_limit_is_reported_as_the_limit");
    let l = || {
        par::Loop::new()
            .workers(2)
            .schedule(par::Schedule::Dynamic(1))
            .memory_limit(LIMIT)
    };
    let e = l()
        .try_collect(0..8u32, |i| Ok::<usize, String>(allocate(size(i))))
        .unwrap_err();
    assert_memory_limit(&e, 5);
    // Keep going: only that item fails; under the limit, a worker allocates as usual.
    let each = l().collect_each(0..8u32, |i| Ok::<usize, String>(allocate(size(i))));
    for (i, r) in each.iter().enumerate() {
        match r {
            Ok(n) => assert!(i != 5 && *n >= 1 << 20),
            Err(e) => assert_memory_limit(e, i),
        }
    }
    assert!(each[5].is_err());
    common::no_children_left();
}

#[test]
fn a_queue_job_a_pmap_item_and_a_pool_call_over_the_limit_are_reported_as_the_limit() {
    if !common::loops_fork() {
        return;
    }
    let _w = common::watchdog("a_queue_job_a_pmap_item_and_a_pool_call_over_the_limit");
    let mut queue = par::Queue::new(2).memory_limit(LIMIT);
    for i in 0..8u32 {
        queue.spawn(move || allocate(size(i)));
    }
    let mut results: Vec<(usize, par::Result<usize>)> = queue.collect();
    results.sort_by_key(|(job, _)| *job);
    for (job, r) in &results {
        match r {
            Ok(_) => assert_ne!(*job, 5),
            Err(e) => assert_memory_limit(e, *job),
        }
    }
    assert!(results[5].1.is_err());

    let mapped: Vec<par::Result<usize>> = par::pmap(|i: u32| allocate(size(i)), 0..8, 2)
        .memory_limit(LIMIT)
        .collect();
    assert_memory_limit(mapped[5].as_ref().unwrap_err(), 5);
    assert!(
        mapped
            .iter()
            .enumerate()
            .all(|(i, r)| (i == 5) != r.is_ok())
    );

    let mut pool = par::Pool::new(2).memory_limit(LIMIT);
    for i in 0..8u32 {
        alloc_call::spawn(&mut pool, i);
    }
    let called: Vec<par::Result<usize>> = pool.ordered().collect();
    assert_memory_limit(called[5].as_ref().unwrap_err(), 5);
    assert!(
        called
            .iter()
            .enumerate()
            .all(|(i, r)| (i == 5) != r.is_ok())
    );
    drop(pool);
    common::no_children_left();
}

#[par::parallel]
fn alloc_call(i: u32) -> usize {
    allocate(size(i))
}

/// With retries, an item over the limit runs again on a fresh worker (with the same limit)
/// and fails the same way; the last failure names the limit.
#[test]
fn a_retried_item_over_the_limit_names_the_limit_last() {
    if !common::loops_fork() {
        return;
    }
    let _w = common::watchdog("a_retried_item_over_the_limit_names_the_limit_last");
    let e = par::Loop::new()
        .workers(2)
        .memory_limit(LIMIT)
        .retries(1)
        .try_collect(0..8u32, |i| Ok::<usize, String>(allocate(size(i))))
        .unwrap_err();
    match &e {
        Error::Retried {
            index: 5,
            attempts: 2,
            last,
        } => assert_memory_limit(last, 5),
        other => panic!("{other:?}"),
    }
    common::no_children_left();
}
