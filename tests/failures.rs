//! Every way an item can fail is reported with its item index and the worker's pid, as a typed
//! `par::Error` from the `try_` forms and as a panic from the others; no worker is left behind.
#![cfg(all(unix, not(par_fallback_sys)))] // workers, signals and /proc: fork only

mod common;

use std::time::Duration;

use common::{SCHEDULES, no_children_left, wait_until, watchdog};
use par::{Death, Error, Loop, Schedule};

fn two() -> Loop {
    Loop::new().workers(2).schedule(Schedule::Dynamic(1))
}

/// Two workers with schedule `s`.
fn two_with(s: Schedule) -> Loop {
    Loop::new().workers(2).schedule(s)
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
    if !common::loops_fork() {
        return;
    }
    for (name, s) in SCHEDULES {
        let r = two_with(s).try_collect(0..100u32, |i| {
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
                assert_eq!(*index, 37, "{name}");
                assert_eq!(message, "item 37 is bad", "{name}");
                let loc = location.as_deref().expect("a location");
                assert!(loc.starts_with("tests/failures.rs:"), "{name}: {loc}");
            }
            other => panic!("{name}: {other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.starts_with("item 37 panicked in worker "),
            "{name}: {text}"
        );
        assert!(
            text.contains("tests/failures.rs:") && text.ends_with(": item 37 is bad"),
            "{name}: {text}"
        );
        no_children_left();
    }
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
    // Item 5 fails and its worker leaves at once (a failed worker exits). Every later item
    // waits until that worker has exited, so its failure frame is in the parent's pipe before
    // any later result: from then on the parent must hand out nothing more. Only the chunks
    // already in flight on the other worker may still run. How many that is depends on the
    // measured item time (`Sched::depth`: about 200 us of work, up to 64 chunks, so a fast
    // item allowed 9 or more and a bound of 8 failed under load); items 0 to 4 take at least
    // 6 ms, so at most one chunk is queued per worker and one item may run after item 5. No
    // clock decides the outcome: a slow machine only makes items longer.
    let failer = dir.join("failer");
    let r = two().try_for_each(0..5_000u32, |i| {
        std::fs::write(dir.join(i.to_string()), b"").map_err(|e| e.to_string())?;
        if i < 5 {
            std::thread::sleep(Duration::from_millis(6));
        }
        if i == 5 {
            std::fs::write(&failer, std::process::id().to_string()).map_err(|e| e.to_string())?;
            return Err("stop here".to_string());
        }
        if i > 5 {
            wait_until("the failed worker to exit", || {
                std::fs::read_to_string(&failer)
                    .ok()
                    .and_then(|p| p.parse::<i32>().ok())
                    .is_some_and(exited)
            });
        }
        Ok(())
    });
    assert!(matches!(r, Err(Error::Failed { index: 5, .. })), "{r:?}");
    let ran = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) - 1; // minus `failer`
    assert!(
        (6..=6 + 1).contains(&ran),
        "{ran} items ran: items 0 to 5, and at most one already in flight, may run"
    );
    let _ = std::fs::remove_dir_all(&dir);
    no_children_left();
}

/// True once `pid` no longer runs (gone, or a zombie its parent has not reaped yet).
fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 2..].chars().next()) == Some('Z'),
    }
}

/// Runs a 20-item loop with schedule `s` whose item 13 runs `body`; returns how its worker died.
fn died(s: Schedule, body: fn(u32) -> u32) -> (Option<usize>, Death) {
    match two_with(s).try_collect(0..20u32, move |i| {
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
    if !common::loops_fork() {
        return;
    }
    for (name, s) in SCHEDULES {
        // SAFETY (test): kill(2) on our own pid has no memory-safety preconditions.
        let got = died(s, |_| unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
            0
        });
        assert_eq!(got, (Some(13), Death::Signal(libc::SIGKILL)), "{name}");
        no_children_left();
    }
}

#[test]
fn a_worker_killed_from_outside_is_reported_with_its_item() {
    let _guard = watchdog("outside-kill");
    if !common::loops_fork() {
        return;
    }
    for (name, s) in SCHEDULES {
        let dir = common::temp_dir("outside-kill");
        let pid_file = dir.join("pid");
        // Another thread of the parent plays the outside world: it waits until item 13 has
        // told its worker's pid, then kills that worker.
        let killer = {
            let pid_file = pid_file.clone();
            std::thread::spawn(move || {
                let mut victim = 0;
                wait_until("item 13 to write its pid", || {
                    victim = std::fs::read_to_string(&pid_file)
                        .ok()
                        .and_then(|p| p.trim().parse().ok())
                        .unwrap_or(0);
                    victim > 0
                });
                // SAFETY (test): the victim is a worker the loop has not reaped: it waits in
                // item 13 until it is killed, so the pid can't have been reused.
                unsafe { libc::kill(victim, libc::SIGKILL) };
                victim
            })
        };
        let r = two_with(s).try_collect(0..20u32, |i| {
            if i == 13 {
                let tmp = pid_file.with_extension("tmp");
                std::fs::write(&tmp, std::process::id().to_string()).expect("write the pid");
                std::fs::rename(&tmp, &pid_file).expect("publish the pid");
                std::thread::sleep(Duration::from_secs(600));
            }
            Ok::<u32, String>(i)
        });
        let victim = killer.join().expect("the killer thread");
        match r {
            Err(Error::WorkerDied {
                index: Some(13),
                pid,
                death: Death::Signal(libc::SIGKILL),
            }) => assert_eq!(pid, victim, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
        no_children_left();
    }
}

#[test]
fn abort_segfault_and_exit_are_reported_with_their_item() {
    let _guard = watchdog("abort");
    if !common::loops_fork() {
        return;
    }
    for (name, s) in SCHEDULES {
        assert_eq!(
            died(s, |_| std::process::abort()),
            (Some(13), Death::Signal(libc::SIGABRT)),
            "{name}"
        );
        assert_eq!(
            died(s, |_| std::process::exit(3)),
            (Some(13), Death::Exit(3)),
            "{name}"
        );
        // SAFETY (test): this write is meant to crash the worker with SIGSEGV.
        let got = died(s, |_| unsafe {
            std::ptr::null_mut::<u32>().write_volatile(1);
            0
        });
        assert_eq!(got, (Some(13), Death::Signal(libc::SIGSEGV)), "{name}");
        no_children_left();
    }
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
}

/// Signals are named by nix's `Signal` (a table of 13 Linux numbers named these three
/// "unknown"), and a real-time signal, which `Signal` has no variant for, is still reaped and
/// reported with its number.
#[test]
fn every_signal_that_kills_a_worker_is_named() {
    let _guard = watchdog("signal-names");
    if !common::loops_fork() {
        return;
    }
    // SAFETY (test): raise(3) has no memory-safety preconditions; SIGUSR1's default action
    // ends the worker.
    let got = died(Schedule::Dynamic(1), |_| unsafe {
        libc::raise(libc::SIGUSR1);
        0
    });
    assert_eq!(got, (Some(13), Death::Signal(libc::SIGUSR1)));
    #[cfg(target_os = "linux")]
    {
        // SAFETY (test): as above; a real-time signal's default action ends the worker too.
        let got = died(Schedule::Dynamic(1), |_| unsafe {
            libc::raise(libc::SIGRTMIN() + 2);
            0
        });
        assert_eq!(got, (Some(13), Death::Signal(libc::SIGRTMIN() + 2)));
        assert_eq!(
            Death::Signal(libc::SIGRTMIN() + 2).to_string(),
            format!("was killed by signal {} (SIGRTMIN+2)", libc::SIGRTMIN() + 2)
        );
    }
    no_children_left();
    for (sig, name) in [
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGSYS, "SIGSYS"),
    ] {
        assert_eq!(
            Death::Signal(sig).to_string(),
            format!("was killed by signal {sig} ({name})")
        );
    }
    // par's own kills (timeouts, cancels) are reported as such, never as a death: a SIGKILL
    // death came from outside.
    assert_eq!(
        Death::Signal(libc::SIGKILL).to_string(),
        "was killed by signal 9 (SIGKILL) from outside par (the kernel's OOM killer or a `kill -9`)"
    );
    assert_eq!(
        Death::Signal(1000).to_string(),
        "was killed by signal 1000 (unknown signal)"
    );
}

#[test]
fn a_timeout_kills_the_worker_and_names_the_item() {
    let _guard = watchdog("timeout");
    if !common::loops_fork() {
        return;
    }
    // 500 ms: no other item (each returns at once) comes near it even on a very loaded machine.
    let timeout = Duration::from_millis(500);
    for (name, s) in SCHEDULES {
        let r = two_with(s).timeout(timeout).try_collect(0..10u32, |i| {
            if i == 6 {
                std::thread::sleep(Duration::from_secs(3600));
            }
            Ok::<u32, String>(i)
        });
        match r {
            Err(
                ref e @ Error::TimedOut {
                    index: 6,
                    pid,
                    timeout: t,
                    parent_threads,
                },
            ) => {
                assert_worker_pid(e);
                assert_eq!(t, timeout, "{name}");
                // This thread and the watchdog's at least: the suffix must be there.
                assert!(parent_threads >= 2, "{name}: {parent_threads}");
                assert_eq!(
                    e.to_string(),
                    format!(
                        "item 6 timed out after 500ms in worker {pid}; the worker was killed (the \
                         parent had {parent_threads} threads when it forked: a lock held by \
                         another thread at the fork stays locked forever in a worker)"
                    ),
                    "{name}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
        no_children_left();
    }
    // A single-threaded parent: no suffix.
    let text = Error::TimedOut {
        index: 6,
        pid: 7,
        timeout: Duration::from_millis(200),
        parent_threads: 1,
    }
    .to_string();
    assert_eq!(
        text,
        "item 6 timed out after 200ms in worker 7; the worker was killed"
    );
}

#[test]
fn an_oversized_result_is_a_decode_error_not_an_allocation() {
    let _guard = watchdog("max_frame");
    if !common::loops_fork() {
        return;
    }
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
