//! Every way an item can fail is reported with its item index and the worker's pid, as a typed
//! `par::Error` from the `try_` forms and as a panic from the others; no worker is left behind.
#![cfg(all(unix, not(par_fallback_sys)))] // workers, signals and /proc: fork only

mod common;

use std::time::Duration;

use common::{no_children_left, watchdog};
use par::{Death, Error, Loop, Schedule};

fn two() -> Loop {
    Loop::new().workers(2).schedule(Schedule::Dynamic(1))
}

fn assert_worker_pid(e: &Error) {
    let pid = e.pid().expect("a worker pid");
    assert!(
        pid > 0 && pid != std::process::id() as i32,
        "pid {pid} is not a worker's: {e:?}"
    );
}

#[test]
fn a_panic_is_reported_with_index_pid_message_and_location() {
    let _guard = watchdog("panic");
    let r = two().try_collect(0..100u32, |i| {
        if i == 37 {
            panic!("item {i} is bad");
        }
        Ok::<u32, String>(i)
    });
    let e = r.unwrap_err();
    assert_worker_pid(&e);
    match &e {
        Error::Panicked {
            index,
            message,
            location,
            ..
        } => {
            assert_eq!(*index, 37);
            assert_eq!(message, "item 37 is bad");
            let loc = location.as_deref().expect("a location");
            assert!(loc.starts_with("tests/failures.rs:"), "{loc}");
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(text.starts_with("item 37 panicked in worker "), "{text}");
    assert!(
        text.contains("tests/failures.rs:") && text.ends_with(": item 37 is bad"),
        "{text}"
    );
    no_children_left();
}

#[test]
fn the_panicking_forms_re_panic_in_the_parent_with_the_report() {
    let _guard = watchdog("re-panic");
    type Form = (&'static str, Box<dyn Fn()>);
    let forms: [Form; 4] = [
        (
            "collect",
            Box::new(|| drop(two().collect(0..50u32, |i| if i == 9 { panic!("nine") } else { i }))),
        ),
        (
            "for_each",
            Box::new(|| two().for_each(0..50u32, |i| assert!(i != 9, "nine"))),
        ),
        (
            "reduce",
            Box::new(|| {
                let _ = two().reduce(
                    0..50u32,
                    || 0u32,
                    |a, i| {
                        assert!(i != 9, "nine");
                        *a += i
                    },
                    |a, b| a + b,
                );
            }),
        ),
        (
            "unordered",
            Box::new(|| {
                two()
                    .unordered(0..50u32, |i| if i == 9 { panic!("nine") } else { i })
                    .for_each(drop)
            }),
        ),
    ];
    for (name, form) in forms {
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(form)).expect_err(name);
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            msg.starts_with("item 9 panicked in worker "),
            "{name}: {msg}"
        );
        assert!(msg.ends_with(": nine"), "{name}: {msg}");
    }
    no_children_left();
}

#[test]
fn no_new_work_is_handed_out_after_a_failure() {
    let _guard = watchdog("stop");
    let dir = common::temp_dir("stop");
    let r = two().try_for_each(0..5_000u32, |i| {
        std::fs::write(dir.join(i.to_string()), b"").map_err(|e| e.to_string())?;
        if i == 5 {
            return Err("stop here".to_string());
        }
        std::thread::sleep(Duration::from_micros(200));
        Ok(())
    });
    assert!(matches!(r, Err(Error::Failed { index: 5, .. })), "{r:?}");
    let ran = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert!(ran < 100, "{ran} items ran after item 5 failed");
    let _ = std::fs::remove_dir_all(&dir);
    no_children_left();
}

fn died(body: fn(u32) -> u32) -> (Option<usize>, Death) {
    match two().try_collect(0..20u32, move |i| {
        Ok::<u32, String>(if i == 13 { body(i) } else { i })
    }) {
        Err(e @ Error::WorkerDied { .. }) => {
            assert_worker_pid(&e);
            let Error::WorkerDied { index, death, .. } = e else {
                unreachable!()
            };
            (index, death)
        }
        other => panic!("expected a dead worker, got {other:?}"),
    }
}

#[test]
fn a_worker_killed_by_sigkill_is_reported_with_its_item() {
    let _guard = watchdog("sigkill");
    // SAFETY (test): kill(2) on our own pid has no memory-safety preconditions.
    let got = died(|_| unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
        0
    });
    assert_eq!(got, (Some(13), Death::Signal(libc::SIGKILL)));
    no_children_left();
}

#[test]
fn abort_segfault_and_exit_are_reported_with_their_item() {
    let _guard = watchdog("abort");
    assert_eq!(
        died(|_| std::process::abort()),
        (Some(13), Death::Signal(libc::SIGABRT))
    );
    assert_eq!(died(|_| std::process::exit(3)), (Some(13), Death::Exit(3)));
    // SAFETY (test): this write is meant to crash the worker with SIGSEGV.
    let got = died(|_| unsafe {
        std::ptr::null_mut::<u32>().write_volatile(1);
        0
    });
    assert_eq!(got, (Some(13), Death::Signal(libc::SIGSEGV)));
    let text = Error::WorkerDied {
        index: Some(13),
        pid: 7,
        death: Death::Signal(libc::SIGSEGV),
    }
    .to_string();
    assert_eq!(
        text,
        "worker 7 was killed by signal 11 (SIGSEGV) while running item 13"
    );
    no_children_left();
}

#[test]
fn a_timeout_kills_the_worker_and_names_the_item() {
    let _guard = watchdog("timeout");
    let r = two()
        .timeout(Duration::from_millis(200))
        .try_collect(0..10u32, |i| {
            if i == 6 {
                std::thread::sleep(Duration::from_secs(3600));
            }
            Ok::<u32, String>(i)
        });
    match r {
        Err(e @ Error::TimedOut { .. }) => {
            assert_worker_pid(&e);
            assert_eq!(e.index(), Some(6));
            assert!(
                e.to_string().contains("item 6 timed out after 200ms"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    no_children_left();
}

#[test]
fn an_oversized_result_is_a_decode_error_not_an_allocation() {
    let _guard = watchdog("max_frame");
    let r = two()
        .max_frame(1024)
        .try_collect(0..4u32, |i| Ok::<Vec<u8>, String>(vec![i as u8; 4096]));
    match r {
        Err(e @ Error::Decode { .. }) => assert!(
            e.to_string()
                .contains("more than the maximum of 1024 bytes"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    no_children_left();
}

#[test]
fn sequential_mode_reports_failures_the_same_way() {
    let r = Loop::new().workers(1).try_collect(0..10u32, |i| {
        if i == 4 {
            panic!("four");
        }
        Ok::<u32, String>(i)
    });
    match r {
        Err(Error::Panicked {
            index: 4,
            pid,
            message,
            ..
        }) => {
            assert_eq!(pid, std::process::id() as i32);
            assert_eq!(message, "four");
        }
        other => panic!("{other:?}"),
    }
}
