//! A stream whose iterator blocks in `next()` must not freeze the loop's deadlines nor its
//! cancel (issue 21): the hung item's worker is killed at its deadline, and a cancel kills the
//! team at once, while the iterator is still blocked; the loop's error is the right one.
//!
//! What cannot hold: the error *returned* before the blocked `next()` returns. `par::stream`
//! takes any iterator (not `Send`, not `'static`: `text.lines()`), so it is pulled on the
//! caller's thread, and the loop can return only once that pull does. The tests therefore ask
//! the iterator itself, while it blocks, whether the hung worker is dead yet.
#![cfg(all(unix, not(par_fallback_sys)))] // worker processes and timeouts: fork only

mod common;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{children, loops_fork, no_children_left, open_fds, temp_dir, watchdog};
use par::{Cancel, Error, Loop, Schedule};

/// Item 0's body: writes its worker's pid to `file`, then hangs.
fn hang_and_tell(file: &Path) -> ! {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, std::process::id().to_string()).expect("write the pid");
    std::fs::rename(&tmp, file).expect("publish the pid");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Waits up to `limit` for `file` to hold a pid.
fn read_pid(file: &Path, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(pid) = std::fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Waits up to `limit` for child `pid` to be dead: gone, or a zombie (the loop cannot reap it
/// while its thread is in the blocked `next()`). True if it died in that time.
fn dies_within(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        let alive = children()
            .iter()
            .any(|&(p, state)| p == pid && !matches!(state, 'Z' | 'X'));
        if !alive {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A stream of one item (0) whose second `next()` blocks until item 0's worker is dead (or
/// a few seconds), then ends. `killed` says whether the worker died while it blocked. Not
/// `Send` (an `Rc`), like the iterators `par::stream` must accept.
fn blocking_stream(file: PathBuf, killed: Rc<Cell<Option<bool>>>) -> impl Iterator<Item = u32> {
    let mut first = true;
    std::iter::from_fn(move || {
        if std::mem::take(&mut first) {
            return Some(0u32);
        }
        let died = read_pid(&file, Duration::from_secs(10))
            .is_some_and(|pid| dies_within(pid, Duration::from_secs(5)));
        killed.set(Some(died));
        None
    })
}

/// Fails on a runtime without the watchdog: nothing kills the worker while `next()` blocks
/// (it was killed only once `next()` returned, 5 s later).
#[test]
fn a_hung_item_is_killed_at_its_deadline_while_the_stream_blocks() {
    let _guard = watchdog("blocked stream, timeout");
    if !loops_fork() {
        return;
    }
    let dir = temp_dir("stream-deadline-timeout");
    let file = dir.join("pid");
    let fds = open_fds();
    let killed = Rc::new(Cell::new(None));
    let src = blocking_stream(file.clone(), killed.clone());
    let r = Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(1))
        .timeout(Duration::from_millis(300))
        .try_for_each(par::stream(src), |x: u32| {
            if x == 0 {
                hang_and_tell(&file);
            }
            Ok::<(), String>(())
        });
    assert_eq!(
        killed.get(),
        Some(true),
        "item 0's worker was not killed while the stream's next() blocked ({r:?})"
    );
    assert!(matches!(r, Err(Error::TimedOut { index: 0, .. })), "{r:?}");
    no_children_left();
    assert_eq!(open_fds(), fds, "fds leaked");
}

/// Fails on a runtime without the watchdog: the cancel was seen only once `next()` returned.
#[test]
fn a_cancel_kills_the_team_while_the_stream_blocks() {
    let _guard = watchdog("blocked stream, cancel");
    if !loops_fork() {
        return;
    }
    let dir = temp_dir("stream-deadline-cancel");
    let file = dir.join("pid");
    let fds = open_fds();
    let stop = Cancel::new();
    let remote = stop.clone();
    let seen = file.clone();
    // Cancels from another thread once item 0 runs (the iterator is blocked by then).
    let canceller = std::thread::spawn(move || {
        if read_pid(&seen, Duration::from_secs(10)).is_some() {
            remote.cancel();
        }
    });
    let killed = Rc::new(Cell::new(None));
    let src = blocking_stream(file.clone(), killed.clone());
    let r = Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(1))
        .cancel(&stop)
        .try_for_each(par::stream(src), |x: u32| {
            if x == 0 {
                hang_and_tell(&file);
            }
            Ok::<(), String>(())
        });
    let _ = canceller.join();
    assert_eq!(
        killed.get(),
        Some(true),
        "item 0's worker was not killed while the stream's next() blocked ({r:?})"
    );
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    no_children_left();
    assert_eq!(open_fds(), fds, "fds leaked");
}
