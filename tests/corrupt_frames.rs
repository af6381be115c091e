//! The parent meets corrupt, truncated and oversized frames from a worker: each is a typed
//! error naming the worker, never a panic, a hang or a huge allocation, and no worker is left.
#![cfg(all(unix, not(par_fallback_sys)))] // workers, signals and /proc: fork only

mod common;

use std::time::Duration;

use common::{SCHEDULES, loops_fork, no_children_left, watchdog};
use par::__private::testing::send_raw;
use par::Error;

/// Runs a 2-worker loop whose item 3 writes `bytes` into its result pipe and then carries on
/// (or exits, if `then_exit`).
fn loop_with_raw(bytes: &'static [u8], then_exit: bool) -> Result<Vec<u32>, Error> {
    par::Loop::new()
        .workers(2)
        .schedule(par::Schedule::Dynamic(1))
        .try_collect(0..8u32, move |i| {
            if i == 3 {
                send_raw(bytes).expect("write to the result pipe");
                if then_exit {
                    std::process::exit(0);
                }
            }
            Ok::<u32, String>(i)
        })
}

fn decode_error(r: Result<Vec<u32>, Error>) -> String {
    match r {
        Err(e @ Error::Decode { .. }) => {
            assert!(
                e.pid()
                    .is_some_and(|p| p > 0 && p != std::process::id() as i32),
                "{e:?}"
            );
            e.to_string()
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn an_oversized_length_is_a_decode_error() {
    let _guard = watchdog("an_oversized_length_is_a_decode_error");
    if !loops_fork() {
        return;
    }
    let msg = decode_error(loop_with_raw(&[0xff, 0xff, 0xff, 0x7f, 2], false));
    assert!(msg.contains("more than the maximum"), "{msg}");
}

#[test]
fn an_unknown_kind_is_a_decode_error() {
    let _guard = watchdog("an_unknown_kind_is_a_decode_error");
    if !loops_fork() {
        return;
    }
    let msg = decode_error(loop_with_raw(&[0, 0, 0, 0, 42], false));
    assert!(msg.contains("unknown frame kind 42"), "{msg}");
}

#[test]
fn a_results_frame_with_garbage_values_is_a_decode_error() {
    let _guard = watchdog("a_results_frame_with_garbage_values_is_a_decode_error");
    if !loops_fork() {
        return;
    }
    // A results frame claiming 5 values but carrying only 3 bytes of payload after its header.
    static FRAME: [u8; 41] = {
        let mut f = [0u8; 41];
        f[0] = 36; // len = 33 (fixed fields) + 3
        f[4] = 2; // kind = Results
        f[5 + 16] = 5; // values = 5
        f
    };
    let msg = decode_error(loop_with_raw(&FRAME, false));
    assert!(msg.contains("could not decode"), "{msg}");
}

#[test]
fn a_frame_cut_short_by_the_worker_exiting_is_reported() {
    let _guard = watchdog("a_frame_cut_short_by_the_worker_exiting_is_reported");
    if !loops_fork() {
        return;
    }
    // Half a header, then the worker exits: the parent must not wait for the rest.
    match loop_with_raw(&[9, 0], true) {
        Err(Error::WorkerDied { index, .. }) => assert_eq!(index, Some(3)),
        other => panic!("expected the worker's death to be reported, got {other:?}"),
    }
}

#[test]
fn a_worker_may_not_send_chunks() {
    let _guard = watchdog("a_worker_may_not_send_chunks");
    if !loops_fork() {
        return;
    }
    let msg = decode_error(loop_with_raw(
        &[
            16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
        false,
    ));
    assert!(msg.contains("loop workers never send"), "{msg}");
}

/// A pool call that writes `bytes` into its worker's result pipe before returning.
#[par::parallel]
fn raw_then(bytes: Vec<u8>, value: u32) -> u32 {
    send_raw(&bytes).expect("write to the result pipe");
    value
}

#[test]
fn a_pool_worker_sending_garbage_fails_its_call_and_is_replaced() {
    let _guard = watchdog("a_pool_worker_sending_garbage_fails_its_call_and_is_replaced");
    if !loops_fork() {
        return;
    }
    let mut pool = par::Pool::new(1);
    raw_then::spawn(&mut pool, vec![], 0);
    // A frame of an unknown kind, then garbage: this worker's stream can't be trusted any more.
    raw_then::spawn(&mut pool, vec![1, 0, 0, 0, 9, 0, 0xff, 0xff], 1);
    raw_then::spawn(&mut pool, vec![], 2);
    let results: Vec<_> = pool.ordered().collect();
    assert_eq!(*results[0].as_ref().expect("clean call"), 0);
    let e = results[1].as_ref().expect_err("garbage");
    assert!(matches!(e, Error::Decode { index: Some(1), .. }), "{e:?}");
    assert!(e.to_string().contains("unknown frame kind 9"), "{e}");
    assert_eq!(*results[2].as_ref().expect("a new worker"), 2);
    assert_eq!(pool.forks(), 2, "the worker that sent garbage was replaced");
}

#[test]
fn a_started_child_sending_garbage_is_a_decode_error_not_a_crash() {
    let _guard = watchdog("a_started_child_sending_garbage_is_a_decode_error_not_a_crash");
    if !loops_fork() {
        return;
    }
    let mut ch: par::Channel<(), u32> = par::start(|ch: &mut par::Channel<u32, ()>| {
        ch.send(&7).expect("send");
        // A message frame declaring 4 GiB.
        send_raw(&[0xff, 0xff, 0xff, 0xff, 5]).expect("write to the channel");
        std::thread::sleep(std::time::Duration::from_secs(600));
    })
    .expect("start");
    assert_eq!(ch.recv().expect("the first message"), Some(7));
    let e = ch.recv().expect_err("garbage");
    assert!(matches!(e, Error::Decode { index: Some(0), .. }), "{e:?}");
    assert!(e.to_string().contains("more than the maximum"), "{e}");
    assert_eq!(
        ch.recv().expect("finished"),
        None,
        "the child was killed and reaped"
    );
}

/// Runs a 20-item loop whose item 13 writes a frame of unknown kind 42 and then stays in its body
/// (until the parent, reading the frame, kills the worker); returns the report.
fn corrupt_frame_in_item_13(s: par::Schedule) -> Result<Vec<u32>, Error> {
    par::Loop::new()
        .workers(2)
        .schedule(s)
        .try_collect(0..20u32, |i| {
            if i == 13 {
                send_raw(&[0, 0, 0, 0, 42]).expect("write to the result pipe");
                std::thread::sleep(Duration::from_secs(600));
            }
            Ok::<u32, String>(i)
        })
}

/// The frame can't say which item it is about (it is garbage), so the item reported is the one
/// whose body was running when it was written: item 13, whatever chunk holds it, as for a
/// worker's death or a timeout (not the first item of its chunk: that item ran fine).
fn assert_item_13(name: &str, r: Result<Vec<u32>, Error>) {
    match r {
        Err(
            ref e @ Error::Decode {
                index: Some(13),
                pid: Some(pid),
                ref message,
            },
        ) => {
            assert!(pid > 0 && pid != std::process::id() as i32, "{name}: {e:?}");
            assert_eq!(message, "unknown frame kind 42", "{name}");
            assert_eq!(
                e.to_string(),
                format!(
                    "could not decode a frame from worker {pid} about item 13: unknown frame \
                     kind 42"
                ),
                "{name}"
            );
        }
        other => panic!("{name}: {other:?}"),
    }
    no_children_left();
}

#[test]
fn a_corrupt_frame_in_a_loop_names_the_item_whose_body_sent_it() {
    let _guard = watchdog("decode-index");
    if !loops_fork() {
        return;
    }
    assert_item_13(
        "dynamic(1)",
        corrupt_frame_in_item_13(par::Schedule::Dynamic(1)),
    );
}

#[test]
fn a_corrupt_frame_names_its_item_with_every_schedule() {
    let _guard = watchdog("decode-index-schedules");
    if !loops_fork() {
        return;
    }
    for (name, s) in SCHEDULES {
        assert_item_13(name, corrupt_frame_in_item_13(s));
    }
}
