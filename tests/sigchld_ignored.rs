//! A parent that ignores `SIGCHLD` (`signal(SIGCHLD, SIG_IGN)`, a daemon idiom inherited across
//! exec) has its children reaped by the system: `waitpid` finds none (`ECHILD`). A child whose
//! work was complete has then simply ended; one with work outstanding died, and is reported as
//! a death. In a test binary of its own: the disposition is process-wide.
#![cfg(all(unix, not(par_fallback_sys)))] // workers: fork only

mod common;

use common::{Watchdog, no_children_left, watchdog};
use par::{Channel, Death, Error, Loop, Queue};

/// Holds the fork lock and makes sure `SIGCHLD` is ignored (every test here wants that).
fn ignoring_sigchld(name: &'static str) -> Watchdog {
    let guard = watchdog(name);
    // SAFETY: SIG_IGN is a valid disposition; no handler code is involved.
    let previous = unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    assert_ne!(previous, libc::SIG_ERR);
    guard
}

#[test]
fn a_loop_whose_results_all_arrived_succeeds() {
    if !common::loops_fork() {
        return;
    }
    let _guard = ignoring_sigchld("loop");
    for _ in 0..5 {
        let r = Loop::new()
            .workers(2)
            .try_collect(0..2000u32, |i| Ok::<u32, String>(i * 2));
        assert_eq!(r.unwrap(), (0..2000).map(|i| i * 2).collect::<Vec<_>>());
    }
    no_children_left();
}

#[test]
fn an_unordered_loop_yields_everything() {
    if !common::loops_fork() {
        return;
    }
    let _guard = ignoring_sigchld("unordered");
    for _ in 0..5 {
        let mut got: Vec<u32> = Loop::new()
            .workers(2)
            .try_unordered(0..500u32, |i| Ok::<u32, String>(i + 1))
            .map(|r| r.unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, (1..=500).collect::<Vec<_>>());
    }
    no_children_left();
}

#[test]
fn a_started_child_that_returned_ends_normally() {
    let _guard = ignoring_sigchld("start");
    for _ in 0..5 {
        let ch: Channel<(), u32> = par::start(|ch: &mut Channel<u32, ()>| {
            for i in 0..3 {
                ch.send(&i).unwrap();
            }
        })
        .unwrap();
        let got: Vec<u32> = ch.map(|m| m.unwrap()).collect();
        assert_eq!(got, [0, 1, 2]);
    }
    let done: Channel<(), ()> = par::start(|_: &mut Channel<(), ()>| {}).unwrap();
    done.join().unwrap();
    no_children_left();
}

#[test]
fn a_worker_that_vanishes_with_work_outstanding_is_a_death() {
    if !common::loops_fork() {
        return;
    }
    let _guard = ignoring_sigchld("death");
    let r = Loop::new().workers(2).try_collect(0..10u32, |i| {
        if i == 7 {
            std::process::exit(3); // its status is lost: the system reaps it
        }
        Ok::<u32, String>(i)
    });
    match r {
        Err(Error::WorkerDied {
            index: Some(7),
            death: Death::Unknown,
            pid,
        }) => assert!(pid > 0),
        other => panic!("{other:?}"),
    }
    let mut queue = Queue::new(2);
    queue.spawn(|| -> u32 { std::process::exit(3) });
    queue.spawn(|| 5);
    let mut got: Vec<(usize, Result<u32, Error>)> = queue.collect();
    got.sort_by_key(|(job, _)| *job);
    assert!(
        matches!(
            got[0].1,
            Err(Error::WorkerDied {
                index: Some(0),
                death: Death::Unknown,
                ..
            })
        ),
        "{:?}",
        got[0]
    );
    assert_eq!(got[1].1.as_ref().unwrap(), &5);
    no_children_left();
}
