//! `start` / `Channel` and `Exchange`: ping-pong, continuous producers, timeouts, the limit,
//! every failure kind, and that nothing is left behind.
#![cfg(all(unix, not(par_fallback_sys)))] // children: fork only

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{children, no_children_left, open_fds, watchdog};
use par::{Channel, Death, Error, Exchange};

#[test]
fn ping_pong_a_thousand_round_trips() {
    let _guard = watchdog("ping-pong");
    let mut ch: Channel<u64, u64> = par::start(|ch: &mut Channel<u64, u64>| {
        while let Some(x) = ch.recv().expect("the parent's messages decode") {
            ch.send(&(x + 1)).expect("the parent listens");
        }
    })
    .expect("start");
    let mut x = 0;
    for _ in 0..1000 {
        ch.send(&x).expect("send");
        x = ch.recv().expect("recv").expect("a reply");
    }
    assert_eq!(x, 1000);
    assert_ne!(ch.pid(), std::process::id());
    ch.join().expect("the child ends cleanly once we close");
    no_children_left();
}

#[test]
fn a_continuous_producer_sends_many_messages_then_ends() {
    let _guard = watchdog("continuous");
    let producer: Channel<(), (u32, String)> = par::start(|ch: &mut Channel<(u32, String), ()>| {
        for i in 0..10_000u32 {
            ch.send(&(i, format!("message {i}"))).expect("send");
        }
    })
    .expect("start");
    let got: Vec<(u32, String)> = producer.map(|m| m.expect("no failure")).collect();
    assert_eq!(got.len(), 10_000);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, (n, s))| *n == i as u32 && *s == format!("message {i}"))
    );
    no_children_left();
}

#[test]
fn messages_sent_before_a_failure_arrive_then_the_failure() {
    let _guard = watchdog("channel-failures");
    for (how, check) in [
        ("panic", check_panic as fn(&Error)),
        ("abort", |e: &Error| {
            assert!(
                matches!(
                    e,
                    Error::WorkerDied {
                        index: Some(0),
                        death: Death::Signal(6),
                        ..
                    }
                ),
                "{e}"
            )
        }),
        ("exit", |e: &Error| {
            assert!(
                matches!(
                    e,
                    Error::WorkerDied {
                        index: Some(0),
                        death: Death::Exit(3),
                        ..
                    }
                ),
                "{e}"
            )
        }),
    ] {
        let mut ch: Channel<(), u32> = par::start(move |ch: &mut Channel<u32, ()>| {
            ch.send(&1).expect("send");
            ch.send(&2).expect("send");
            match how {
                "panic" => panic!("the child gives up"),
                "abort" => std::process::abort(),
                _ => std::process::exit(3),
            }
        })
        .expect("start");
        assert_eq!(ch.recv().expect("first"), Some(1));
        assert_eq!(ch.recv().expect("second"), Some(2));
        let e = ch.recv().expect_err(how);
        check(&e);
        assert_eq!(e.pid(), Some(ch.pid() as i32));
        assert!(ch.recv().expect("finished").is_none(), "reported once");
    }
    no_children_left();
}

fn check_panic(e: &Error) {
    match e {
        Error::Panicked {
            index: 0,
            message,
            location: Some(loc),
            ..
        } => {
            assert_eq!(message, "the child gives up");
            assert!(loc.contains("tests/channels.rs"), "{loc}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ready_waits_for_its_timeout_when_nothing_comes() {
    let _guard = watchdog("channel-ready");
    // The child sends only once told to: nothing can arrive during `ready`, whatever the load.
    let mut ch: Channel<(), u8> = par::start(|ch: &mut Channel<u8, ()>| {
        if let Ok(Some(())) = ch.recv() {
            ch.send(&7).expect("send");
        }
    })
    .expect("start");
    let t = Instant::now();
    assert!(!ch.ready(Some(Duration::from_millis(50))));
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    // Returning at all shows the timeout was kept (the child waits for us); this bound only
    // turns a wait far past the timeout into a named failure, and a loaded machine meets it.
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    ch.send(&()).expect("tell the child");
    assert!(ch.ready(None));
    assert_eq!(ch.recv().expect("ok"), Some(7));
    assert_eq!(ch.recv().expect("ok"), None);
    drop(ch);
    no_children_left();
}

#[test]
fn dropping_a_running_child_kills_and_reaps_it_and_no_fd_leaks() {
    let _guard = watchdog("channel-drop");
    let before = open_fds();
    for _ in 0..20 {
        let ch: Channel<(), ()> = par::start(|_: &mut Channel<(), ()>| {
            std::thread::sleep(Duration::from_secs(600));
        })
        .expect("start");
        drop(ch);
    }
    assert_eq!(open_fds(), before);
    no_children_left();
}

#[test]
fn sending_to_a_finished_child_is_an_error_not_a_crash() {
    let _guard = watchdog("channel-epipe");
    let mut ch: Channel<Vec<u8>, ()> =
        par::start(|_: &mut Channel<(), Vec<u8>>| {}).expect("start");
    assert_eq!(ch.recv().expect("clean end"), None);
    let e = ch.send(&vec![0u8; 4 << 20]).expect_err("nobody reads");
    assert!(matches!(e, Error::Io { .. }), "{e}");
}

#[test]
fn an_exchange_never_runs_more_than_its_limit_and_delivers_every_message_once() {
    let _guard = watchdog("exchange-limit");
    let mut ex: Exchange<(), (usize, u32)> = Exchange::new(2);
    for id in 0..6usize {
        let started = ex.start(move |ch: &mut Channel<(usize, u32), ()>| {
            for k in 0..3 {
                std::thread::sleep(Duration::from_millis(10));
                ch.send(&(id, k)).expect("send");
            }
        });
        assert_eq!(started, id);
        assert!(children().len() <= 2, "limit overshot");
    }
    let mut seen = BTreeSet::new();
    while ex.active() > 0 {
        assert!(children().len() <= 2, "limit overshot");
        for id in ex.ready(None) {
            if let Some(m) = ex.recv(id).expect("no failure") {
                assert_eq!(m.0, id, "a message arrives under its channel's id");
                assert!(seen.insert(m), "{m:?} delivered twice");
            }
        }
    }
    assert_eq!(seen.len(), 18);
    no_children_left();
}

#[test]
fn exchange_ready_with_a_timeout_and_finish_with_a_hook() {
    let _guard = watchdog("exchange-timeout");
    let mut ex: Exchange<(), u32> = Exchange::new(4);
    // Each child answers only once told to: nothing is ready before that, whatever the load.
    for i in 0..3u32 {
        ex.start(move |ch: &mut Channel<u32, ()>| {
            if let Ok(Some(())) = ch.recv() {
                if i == 1 {
                    panic!("child {i} fails");
                }
                ch.send(&i).expect("send");
            }
        });
    }
    let t = Instant::now();
    assert!(ex.ready(Some(Duration::from_millis(50))).is_empty());
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    for id in 0..3 {
        ex.send(id, &()).expect("tell the child");
    }
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    ex.finish(|id, m| match m {
        Ok(v) => ok.push((id, v)),
        Err(e) => failed.push((id, e.to_string())),
    });
    ok.sort_unstable();
    assert_eq!(ok, vec![(0, 0), (2, 2)]);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, 1);
    assert!(
        failed[0].1.starts_with("item 1 panicked in worker ")
            && failed[0].1.contains("tests/channels.rs:")
            && failed[0].1.ends_with(": child 1 fails"),
        "{}",
        failed[0].1
    );
    assert_eq!(ex.active(), 0);
    no_children_left();
}

#[test]
fn an_exchange_talks_both_ways_with_its_children_and_takes_added_channels() {
    let _guard = watchdog("exchange-duplex");
    let mut ex: Exchange<u32, u32> = Exchange::new(3);
    let square = |ch: &mut Channel<u32, u32>| {
        while let Ok(Some(x)) = ch.recv() {
            ch.send(&(x * x)).expect("send");
        }
    };
    let a = ex.start(square);
    let b = ex.start(square);
    let c = ex.add(par::start(square).expect("start"));
    let d =
        ex.add(par::start(|_: &mut Channel<u32, u32>| panic!("added child fails")).expect("start"));
    for (id, x) in [(a, 3), (b, 4), (c, 5)] {
        ex.send(id, &x).expect("send");
    }
    let mut got = Vec::new();
    let mut failed = false;
    while got.len() < 3 || !failed {
        match ex.next().expect("a reply") {
            (id, Ok(m)) => got.push((id, m)),
            (id, Err(e)) => {
                assert_eq!(id, d);
                assert_eq!(
                    e.index(),
                    Some(d),
                    "an added channel's failure carries its id: {e}"
                );
                failed = true;
            }
        }
    }
    got.sort_unstable();
    assert_eq!(got, vec![(a, 9), (b, 16), (c, 25)]);
    assert!(ex.send(99, &1).is_err(), "no channel 99");
    drop(ex); // children still waiting for input: killed and reaped
    no_children_left();
}
