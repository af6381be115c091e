//! A stream whose iterator blocks in `next()` must not freeze the loop's deadlines (issue 21):
//! the timeout of an item that hangs is reported while the iterator is still blocked.
#![cfg(all(unix, not(par_fallback_sys)))] // worker processes and timeouts: fork only

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{loops_fork, no_children_left, watchdog};
use par::{Error, Loop, Schedule};

/// Not fixed yet: `team.rs` pulls the stream on the poll thread, so a blocked `next()` holds
/// back every deadline until it returns (this test then sees the second item produced before
/// the timeout). Run with `--ignored` to see it fail.
#[test]
#[ignore = "issue 21: a blocking stream freezes every deadline (not fixed yet)"]
fn a_timeout_is_reported_while_the_stream_blocks() {
    let _guard = watchdog("blocked stream");
    if !loops_fork() {
        return;
    }
    let produced = Arc::new(AtomicBool::new(false));
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    // Releases the iterator long after the timeout (a bound for the test, not a measurement).
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(5));
        let _ = release.send(());
    });
    let flag = produced.clone();
    let mut first = true;
    let src = std::iter::from_fn(move || {
        if first {
            first = false;
            return Some(0u32);
        }
        // Blocks until released, then ends the stream.
        blocked.recv().ok()?;
        flag.store(true, Ordering::SeqCst);
        None
    });
    let r = Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(1))
        .timeout(Duration::from_millis(300))
        .try_for_each(par::stream(src), |x: u32| {
            if x == 0 {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            Ok::<(), String>(())
        });
    let seen_after_unblock = produced.load(Ordering::SeqCst);
    assert!(matches!(r, Err(Error::TimedOut { index: 0, .. })), "{r:?}");
    assert!(
        !seen_after_unblock,
        "the timeout was reported only after the blocked iterator returned"
    );
    let _ = releaser.join();
    no_children_left();
}
