//! An async caller runs a par loop through `tokio::task::spawn_blocking`: the loop waits for
//! its workers on a blocking thread, so the runtime's other tasks (here a 10 ms ticker) keep
//! running meanwhile. (Called straight from an `async fn`, the loop would block the runtime
//! thread it runs on: 17 of 60 ticks in the report that asked for this.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The work: 8 items of 40 ms each, on 2 workers.
fn work() -> Vec<u64> {
    par::Loop::new().workers(2).collect(0..8u64, |i| {
        std::thread::sleep(Duration::from_millis(40));
        i * i
    })
}

async fn compute() -> Vec<u64> {
    tokio::task::spawn_blocking(work)
        .await
        .expect("the blocking task ran to its end")
}

#[test]
fn a_ticker_keeps_ticking_while_a_loop_runs_in_spawn_blocking() {
    let _w = common::watchdog("a_ticker_keeps_ticking_while_a_loop_runs_in_spawn_blocking");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let ticks = Arc::new(AtomicU64::new(0));
    let (values, elapsed) = rt.block_on(async {
        let counter = Arc::clone(&ticks);
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(10));
            loop {
                every.tick().await;
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        let start = Instant::now();
        let values = compute().await;
        let elapsed = start.elapsed();
        ticker.abort();
        (values, elapsed)
    });
    assert_eq!(values, (0..8u64).map(|i| i * i).collect::<Vec<_>>());
    let ticks = ticks.load(Ordering::Relaxed);
    // An interval catches up on missed ticks, so a runtime that was free to run the ticker
    // counts about one tick per 10 ms of the loop; a blocked one would count almost none.
    // A quarter of that is a loose bound that a loaded machine meets.
    let expected = elapsed.as_millis() as u64 / 10;
    assert!(
        ticks >= (expected / 4).max(3),
        "{ticks} ticks in {elapsed:?} while the loop ran (expected about {expected})"
    );
}
