//! `Pool`: reusable workers serving `#[parallel]` functions by registered name. Reuse (forks
//! counted), state kept between calls, both orders, every failure kind, and what is left after.
#![cfg(all(unix, not(par_fallback_sys)))] // workers: fork only

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{children, no_children_left, open_fds, watchdog};
use par::{Death, Error, Pool};

static CALLS: AtomicU64 = AtomicU64::new(0);

/// Which process ran call `i`, and how many calls that process had run, this one included.
#[par::parallel]
fn whoami(i: u32) -> (u32, u32, u64) {
    (
        i,
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed) + 1,
    )
}

#[par::parallel]
fn slow_cell(i: u32, j: u32, ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    i * 10 + j
}

/// Tells its worker's pid through the file `pid_file`, then waits to be killed.
#[par::parallel]
fn tell_pid_and_wait(pid_file: String) -> u32 {
    let tmp = format!("{pid_file}.tmp");
    std::fs::write(&tmp, std::process::id().to_string()).expect("write the pid");
    std::fs::rename(&tmp, &pid_file).expect("publish the pid");
    std::thread::sleep(Duration::from_secs(600));
    0
}

/// `misbehave` with a large argument, so that queued calls fill the worker's command pipe.
#[par::parallel]
fn misbehave_padded(how: String, _pad: String) -> u32 {
    misbehave(how)
}

#[par::parallel]
fn misbehave(how: String) -> u32 {
    match how.as_str() {
        "panic" => panic!("call refuses: {how}"),
        "abort" => std::process::abort(),
        "exit" => std::process::exit(3),
        _ => std::process::id(),
    }
}

#[test]
fn a_pool_of_4_serves_1000_calls_with_at_most_4_forks_and_keeps_worker_state() {
    let _guard = watchdog("pool-reuse");
    if !common::loops_fork() {
        return;
    }
    let mut pool = Pool::new(4);
    for i in 0..1000 {
        whoami::spawn(&mut pool, i);
        assert!(children().len() <= 4, "more than 4 workers alive");
    }
    let mut seen = vec![false; 1000];
    let mut per_pid: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for (job, r) in &mut pool {
        let (i, pid, count) = r.expect("no call fails");
        assert_eq!(job, i as usize, "job numbers are submission numbers");
        assert!(!seen[job], "call {job} delivered twice");
        seen[job] = true;
        per_pid.entry(pid).or_default().push(count);
    }
    assert!(seen.iter().all(|&s| s), "every call delivered");
    assert!(pool.forks() <= 4, "{} forks", pool.forks());
    assert!(per_pid.len() <= 4, "{} distinct workers", per_pid.len());
    assert!(
        !per_pid.contains_key(&std::process::id()),
        "calls ran in workers"
    );
    for (pid, mut counts) in per_pid {
        counts.sort_unstable();
        let want: Vec<u64> = (1..=counts.len() as u64).collect();
        assert_eq!(
            counts, want,
            "worker {pid}: its static counted every call it served"
        );
    }
    drop(pool);
    no_children_left();
}

#[test]
fn ordered_results_and_get_follow_submission_order_under_random_delays() {
    let _guard = watchdog("pool-order");
    let mut pool = Pool::new(3);
    for i in 0..10 {
        for j in 0..10 {
            slow_cell::spawn(&mut pool, i, j, ((i * 7 + j * 3) % 5) as u64);
        }
    }
    assert_eq!(pool.get(57).map(|r| *r.as_ref().expect("ok")), Some(57));
    let cells: Vec<u32> = pool.ordered().map(|r| r.expect("ok")).collect();
    assert_eq!(cells, (0..100).collect::<Vec<_>>());
    assert!(pool.get(3).is_none(), "taken by iteration");
    assert!(pool.forks() <= 3);
}

#[test]
fn each_failure_is_reported_with_its_job_and_the_pool_goes_on() {
    let _guard = watchdog("pool-failures");
    if !common::loops_fork() {
        return;
    }
    let mut pool = Pool::new(1);
    let calls = ["ok", "panic", "ok", "abort", "ok", "exit", "ok"];
    for how in calls {
        misbehave::spawn(&mut pool, how.to_string());
    }
    let results: Vec<_> = pool.ordered().collect();
    let pids: Vec<u32> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert_eq!(pids.len(), 4, "{results:?}");
    match &results[1] {
        Err(Error::Panicked {
            index: 1,
            message,
            location: Some(loc),
            ..
        }) => {
            assert_eq!(message, "call refuses: panic");
            assert!(loc.contains("tests/pool.rs"), "{loc}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pids[0], pids[1], "a panic does not end the worker");
    match &results[3] {
        Err(Error::WorkerDied {
            index: Some(3),
            death: Death::Signal(6),
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_ne!(pids[1], pids[2], "a new worker replaced the aborted one");
    match &results[5] {
        Err(Error::WorkerDied {
            index: Some(5),
            death: Death::Exit(3),
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.forks(), 3, "one worker, replaced twice");
    drop(pool);
    no_children_left();
}

/// Calls travel several at a time to a worker whose calls are short: a worker that finishes
/// calls and then dies while the parent is still sending must not take the finished calls'
/// results with it (they are read from its pipe before its death is reported), and the calls
/// queued behind the one that killed it run on a new worker.
#[test]
fn results_sent_before_a_worker_dies_are_kept_while_calls_are_pipelined() {
    let _guard = watchdog("pool-pipelined-death");
    if !common::loops_fork() {
        return;
    }
    for round in 0..20 {
        let mut pool = Pool::new(1);
        let calls: Vec<&str> = ["ok", "panic", "ok", "abort"]
            .into_iter()
            .chain(std::iter::repeat_n("ok", 30))
            .collect();
        // 64 KiB per call: the parent is still blocked writing calls (the pipe holds 64 KiB)
        // when the worker aborts.
        for how in &calls {
            misbehave_padded::spawn(&mut pool, how.to_string(), "x".repeat(64 << 10));
        }
        let results: Vec<_> = pool.ordered().collect();
        let kinds: Vec<&str> = results
            .iter()
            .map(|r| match r {
                Ok(_) => "ok",
                Err(Error::Panicked { .. }) => "panic",
                Err(Error::WorkerDied {
                    death: Death::Signal(6),
                    ..
                }) => "abort",
                Err(_) => "other",
            })
            .collect();
        assert_eq!(kinds, calls, "round {round}: {results:?}");
        assert!(
            matches!(results[3], Err(Error::WorkerDied { index: Some(3), .. })),
            "round {round}: {results:?}"
        );
    }
    no_children_left();
}

#[test]
fn a_worker_killed_from_outside_fails_only_its_call() {
    let _guard = watchdog("pool-sigkill");
    if !common::loops_fork() {
        return;
    }
    let dir = common::temp_dir("pool-sigkill");
    let pid_file = dir.join("pid");
    let mut pool: Pool<u32> = Pool::new(2);
    tell_pid_and_wait::spawn(&mut pool, pid_file.to_string_lossy().into_owned());
    slow_cell::spawn(&mut pool, 0, 2, 10);
    // The worker running call 0 says who it is: no guess from pids or from the clock.
    let mut victim = 0;
    common::wait_until("call 0 to tell its worker's pid", || {
        victim = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        victim > 0
    });
    assert!(
        children().iter().any(|&(p, _)| p == victim),
        "call 0 ran in {victim}, not in a worker of this pool"
    );
    // SAFETY: `victim` is this test's own unreaped child, so the pid can't have been reused.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    let mut results: Vec<_> = (&mut pool).collect();
    results.sort_by_key(|(job, _)| *job);
    match &results[..] {
        [
            (
                0,
                Err(Error::WorkerDied {
                    index: Some(0),
                    pid,
                    death: Death::Signal(9),
                }),
            ),
            (1, Ok(2)),
        ] => assert_eq!(*pid, victim),
        other => panic!("{other:?}"),
    }
    let msg = results[0].1.as_ref().unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "worker {victim} was killed by signal 9 (SIGKILL) from outside par (the kernel's OOM killer or a `kill -9`) while running item 0"
        )
    );
    drop(pool);
    let _ = std::fs::remove_dir_all(&dir);
    no_children_left();
}

#[test]
fn an_unregistered_name_is_an_error_naming_it() {
    let _guard = watchdog("pool-unregistered");
    if !common::loops_fork() {
        return;
    }
    let mut pool: Pool<u32> = Pool::new(1);
    pool.call("nowhere::missing", (7u32,), |(x,)| x);
    match pool.next() {
        Some((
            0,
            Err(Error::Failed {
                index: 0, message, ..
            }),
        )) => {
            assert!(message.contains("`nowhere::missing`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        par::registered().contains(&whoami::NAME),
        "{:?}",
        par::registered()
    );
}

#[test]
fn in_sequential_mode_calls_run_inline_without_forking() {
    let mut pool = par::sequential(|| Pool::new(4));
    for i in 0..3 {
        whoami::spawn(&mut pool, i);
    }
    let pids: Vec<u32> = pool.ordered().map(|r| r.expect("ok").1).collect();
    assert_eq!(pids, vec![std::process::id(); 3]);
    assert_eq!(pool.forks(), 0);
}

#[test]
fn pools_give_back_every_fd_and_process() {
    let _guard = watchdog("pool-leaks");
    let before = open_fds();
    for round in 0..50 {
        let mut pool = Pool::new(2);
        for i in 0..4 {
            whoami::spawn(&mut pool, i);
        }
        if round % 2 == 0 {
            assert_eq!(pool.ordered().count(), 4);
        } // else dropped with calls outstanding: killed and reaped
    }
    assert_eq!(open_fds(), before);
    no_children_left();
}

#[test]
fn eight_threads_each_with_a_pool_never_hang_or_mix_results() {
    let _guard = watchdog("pool-threads");
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            std::thread::spawn(move || {
                let mut pool = Pool::new(2);
                for k in 0..50 {
                    slow_cell::spawn(&mut pool, t, k, 0);
                }
                let cells: Vec<u32> = pool.ordered().map(|r| r.expect("ok")).collect();
                assert_eq!(cells, (0..50).map(|k| t * 10 + k).collect::<Vec<_>>());
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread panicked");
    }
    no_children_left();
}
