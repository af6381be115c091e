//! An item that points par's pipes at `/dev/null` (`dup2` over every fd above stderr, as a
//! careless daemonising library does): the loop fails with `Error::Lost` that blames the item
//! par saw running when the worker's result pipe closed, says why, and lists the items whose
//! values never arrived (values leave in batches, so items before the culprit lose theirs too).
#![cfg(all(unix, not(par_fallback_sys)))] // workers and /proc: fork only

mod common;

use std::time::Duration;

use par::{Error, Loop, Schedule};

/// Points every fd above stderr at `/dev/null`.
fn null_every_fd() {
    use std::os::fd::AsRawFd;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let keep = null.as_raw_fd();
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .filter(|&fd| fd > 2 && fd != keep)
        .collect();
    for fd in fds {
        // SAFETY (test): dup2 has no memory-safety preconditions; the fds it replaces are
        // par's pipes, used by number only.
        unsafe { libc::dup2(keep, fd) };
    }
}

/// Items 0 to 19 in two chunks of 10; item 5 points par's pipes at `/dev/null`, then runs on
/// for `linger`.
fn run(linger: Duration) -> Error {
    Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(10))
        .try_collect(0..20u32, |i| {
            if i == 5 {
                null_every_fd();
                std::thread::sleep(linger);
            }
            Ok::<u32, String>(i)
        })
        .expect_err("item 5 cut the worker off")
}

fn assert_lost(e: &Error) -> String {
    let text = e.to_string();
    assert!(matches!(e, Error::Lost { .. }), "{e:?}");
    assert!(text.contains("dup2'd over"), "says what happened: {text}");
    assert!(
        text.contains("exited with status 0") || text.contains("was killed by par"),
        "says how the worker ended: {text}"
    );
    assert!(
        text.ends_with("never arrived: items 0 to 9"),
        "lists the values lost: {text}"
    );
    text
}

/// An item that runs on after cutting the pipes (30 s): it is the one blamed, named as the
/// item par saw running, the batched values of items 0 to 4 are said lost with it, and its
/// worker is killed instead of waited for (the loop returns long before the 30 s; its
/// `timeout` could not have fired while par waited). Before: the loop waited the whole 30 s,
/// then said "worker P exited with status 0 while running item 5", with no word of the lost
/// values.
#[test]
fn the_item_running_when_the_pipe_closed_is_blamed_and_the_lost_values_listed() {
    let _guard = common::watchdog("dup2 linger");
    if !common::loops_fork() {
        return;
    }
    let start = std::time::Instant::now();
    let e = run(Duration::from_secs(30));
    let took = start.elapsed();
    let text = assert_lost(&e);
    assert!(
        text.contains("was killed by par, as it still ran"),
        "{text}"
    );
    assert!(
        took < Duration::from_secs(25),
        "waited {took:?} for the worker"
    );
    assert_eq!(e.index(), Some(5), "{text}");
    assert!(
        text.contains("closed while item 5 ran (the item that closed it is one of items 0 to 5)"),
        "{text}"
    );
    common::no_children_left();
}

/// An item that cuts the pipes and returns at once: the worker may finish its chunk before par
/// notices, so the culprit is then one of the chunk's items, and the message says so.
#[test]
fn a_quick_culprit_is_named_among_the_items_whose_values_never_arrived() {
    let _guard = common::watchdog("dup2 quick");
    if !common::loops_fork() {
        return;
    }
    let e = run(Duration::ZERO);
    let text = assert_lost(&e);
    assert!(matches!(e.index(), Some(0..=9)), "{text}");
    assert!(
        text.contains("one of items 0 to"),
        "names the suspects: {text}"
    );
    common::no_children_left();
}

/// A `Queue` job that cuts its pipe and runs on is killed and reported, not waited for.
#[test]
fn a_queue_job_that_cuts_its_pipe_is_lost_not_waited_for() {
    let _guard = common::watchdog("dup2 queue");
    if !common::loops_fork() {
        return;
    }
    let start = std::time::Instant::now();
    let mut queue = par::Queue::new(2);
    let cut = queue.spawn(|| {
        null_every_fd();
        std::thread::sleep(Duration::from_secs(30));
        1u8
    });
    let fine = queue.spawn(|| 2u8);
    let mut got: Vec<(usize, par::Result<u8>)> = queue.collect();
    got.sort_by_key(|(job, _)| *job);
    let took = start.elapsed();
    let e = got[cut].1.as_ref().unwrap_err();
    assert!(matches!(e, Error::Lost { .. }), "{e:?}");
    assert!(e.to_string().contains("par killed it"), "{e}");
    assert_eq!(got[fine].1.as_ref().ok(), Some(&2));
    assert!(
        took < Duration::from_secs(25),
        "waited {took:?} for the job"
    );
    common::no_children_left();
}
