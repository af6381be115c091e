//! Every promise in every mode (issue 21, issue 23's one decision, issue 22's growing call
//! site): a loop with a clause that only a process gives (`timeout`, `retries`,
//! `memory_limit`, `if = true`, `cancel`, `keep_going`) forks at least one worker with one
//! worker asked for, on one CPU and nested in a worker; only the explicit sequential modes run
//! it inline, and then par says so once per call site; `unordered` keeps `parallel(false)`;
//! an `auto` call site that first saw small inputs forks a large one. Checked by outcomes and
//! the pids of items, never by clocks. Cases that need their own environment (one CPU,
//! `PAR_WORKERS=1`) run this binary again (its ignored `fixture` test).

mod common;

use std::process::Command;
use std::time::Duration;

use common::watchdog;
use par::{Error, Loop, par};

fn me() -> u32 {
    std::process::id()
}

/// `workers(1)` with a timeout forks one worker: the 5 s item times out instead of running in
/// the parent (before: `Ok` after running every item inline).
#[test]
fn one_worker_with_a_timeout_forks_and_times_out() {
    let _guard = watchdog("one worker timeout");
    if !common::loops_fork() {
        return;
    }
    let r = Loop::new()
        .workers(1)
        .timeout(Duration::from_millis(200))
        .try_collect(0..3u32, |_| {
            std::thread::sleep(Duration::from_secs(5));
            Ok::<u32, String>(me())
        });
    assert!(matches!(r, Err(Error::TimedOut { .. })), "{r:?}");
    let r: Result<Vec<u32>, Error> = par!(
        try,
        workers = 1,
        timeout = Duration::from_millis(200),
        for _i in 0..3u32 {
            std::thread::sleep(Duration::from_secs(5));
            me()
        }
    );
    assert!(matches!(r, Err(Error::TimedOut { .. })), "{r:?}");
    // One worker with a timeout that is not reached: the items ran in one other process.
    let pids = Loop::new()
        .workers(1)
        .timeout(Duration::from_secs(30))
        .collect(0..4u32, |_| me());
    assert!(pids.iter().all(|&p| p == pids[0] && p != me()), "{pids:?}");
}

/// `max_items_per_worker` with one worker recycles forked workers, as with more: a body that
/// leaks leaves its leak in workers that leave (before: `workers(1)` ran all 6 items in the
/// caller, and the leak piled up there).
#[test]
fn one_worker_with_max_items_recycles_forked_workers() {
    let _guard = watchdog("one worker max items");
    if !common::loops_fork() {
        return;
    }
    let pids = Loop::new()
        .workers(1)
        .schedule(par::Schedule::Dynamic(1))
        .max_items_per_worker(2)
        .collect(0..6u32, |_| me());
    assert!(pids.iter().all(|&p| p != me()), "{pids:?}");
    let distinct: std::collections::HashSet<u32> = pids.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "6 items, 2 per worker: {pids:?}");
}

/// `if = true` with one worker forks: an item's `abort()` is reported, not the caller's death
/// (before: the test binary was killed).
#[test]
fn if_true_with_one_worker_isolates_a_crash() {
    let _guard = watchdog("if true one worker");
    if !common::loops_fork() {
        return;
    }
    let r: Result<Vec<u32>, Error> = par!(try, if = true, workers = 1, for i in 0..3u32 {
        if i == 1 {
            std::process::abort();
        }
        i
    });
    assert!(matches!(r, Err(Error::WorkerDied { .. })), "{r:?}");
    // `retries` and `keep_going` with one worker: a crash fails (or reruns) only its item.
    let marker = std::env::temp_dir().join(format!("par-modes-retry-{}", me()));
    let _ = std::fs::remove_dir(&marker);
    let v = Loop::new().workers(1).retries(1).collect(0..4u32, |i| {
        if i == 2 && std::fs::create_dir(&marker).is_ok() {
            std::process::abort();
        }
        i
    });
    let _ = std::fs::remove_dir(&marker);
    assert_eq!(v, [0, 1, 2, 3]);
    let out = Loop::new().workers(1).collect_each(0..4u32, |i| {
        if i == 2 {
            std::process::abort();
        }
        Ok::<u32, String>(i)
    });
    assert!(matches!(out[2], Err(Error::WorkerDied { .. })), "{out:?}");
    assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 3);
}

/// A loop nested in a worker's item forks its own worker when it has a timeout (before: it ran
/// inline and ignored it), and stays inline without one.
#[test]
fn a_nested_loop_with_a_timeout_forks_its_own_worker() {
    let _guard = watchdog("nested timeout");
    if !common::loops_fork() {
        return;
    }
    let got = Loop::new().workers(2).collect(0..2u32, |_| {
        let outer = me();
        let timed_out = matches!(
            Loop::new()
                .timeout(Duration::from_millis(200))
                .try_collect(0..1u32, |_| {
                    std::thread::sleep(Duration::from_secs(5));
                    Ok::<u32, String>(0)
                }),
            Err(Error::TimedOut { .. })
        );
        let forked = Loop::new()
            .timeout(Duration::from_secs(30))
            .collect(0..2u32, |_| me());
        let inline = Loop::new().workers(2).collect(0..2u32, |_| me());
        (
            timed_out,
            forked.iter().all(|&p| p != outer),
            inline.iter().all(|&p| p == outer),
        )
    });
    assert_eq!(got, [(true, true, true); 2]);
}

/// `unordered` keeps `parallel(false)` as `collect` does (before: it forked).
#[test]
fn unordered_runs_inline_when_parallel_is_false() {
    let _guard = watchdog("unordered parallel false");
    let l = Loop::new().workers(4).parallel(false);
    let pids: Vec<u32> = l.unordered(0..8u32, |_| me()).collect();
    assert_eq!(pids, vec![me(); 8]);
    assert_eq!(l.collect(0..8u32, |_| me()), vec![me(); 8]);
    if common::loops_fork() {
        let l = Loop::new().workers(2).parallel(true);
        let pids: Vec<u32> = l.unordered(0..8u32, |_| me()).collect();
        assert!(pids.iter().all(|&p| p != me()), "{pids:?}");
    }
}

/// ~5,000 multiply-adds.
fn work(i: u64) -> u64 {
    let mut x = i;
    for k in 0..5_000u64 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(k);
    }
    std::hint::black_box(x)
}

/// One call site, clause-free: the shape of issue 22 and bench W8.
fn grow(n: u64) -> Vec<(u64, u32)> {
    par!(for i in 0..n {
        (work(i), std::process::id())
    })
}

/// An `auto` call site run three times at n = 100 then at n = 200,000 forks the large run
/// (before: it stayed inline, having learnt a large per-item cost from the small forked run).
#[test]
fn a_call_site_that_grows_forks_its_large_run() {
    let _guard = watchdog("growing call site");
    for _ in 0..3 {
        let small = grow(100);
        assert_eq!(small.len(), 100);
    }
    let large = grow(200_000);
    assert_eq!(large.len(), 200_000);
    // Every 997th value and the last one, recomputed here: all 200,000 would take the parent
    // longer than the loop took its workers (this is an unoptimized build).
    assert!(
        (0..large.len())
            .step_by(997)
            .chain([large.len() - 1])
            .all(|i| large[i].0 == work(i as u64))
    );
    if par::default_workers() < 2 {
        eprintln!("one worker here (PAR_WORKERS=1 or one CPU): auto runs this loop inline");
        return;
    }
    assert!(
        large.iter().all(|&(_, p)| p != me()),
        "the large run ran (partly) in the parent"
    );
}

#[test]
#[ignore = "run by the other tests, in a process of its own (one CPU, PAR_WORKERS=1)"]
fn fixture() {
    let Ok(mode) = std::env::var("PAR_FIXTURE") else {
        return;
    };
    let timeout = || {
        Loop::new()
            .timeout(Duration::from_millis(200))
            .try_collect(0..2u32, |i| {
                if par::in_worker() {
                    std::thread::sleep(Duration::from_secs(5));
                }
                Ok::<u32, String>(i)
            })
    };
    match mode.as_str() {
        "one-cpu" => {
            let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
            println!("cores {cores}");
            let r = timeout();
            println!("timeout {}", matches!(r, Err(Error::TimedOut { .. })));
            let r: Result<Vec<u32>, Error> = par!(
                try,
                retries = 1,
                for i in 0..2u32 {
                    if par::in_worker() {
                        std::process::abort();
                    }
                    i
                }
            );
            println!("retries {}", matches!(r, Err(Error::Retried { .. })));
            let pids = Loop::new().collect(0..4u32, |_| me());
            println!("plain-inline {}", pids.iter().all(|&p| p == me()));
        }
        "workers-1" => {
            for _ in 0..3 {
                // Same call site three times: one note.
                println!("inline-ok {}", timeout().is_ok());
            }
            let in_scope =
                par::sequential(|| Loop::new().workers(2).retries(2).collect(0..2u32, |_| me()));
            println!("scope-inline {}", in_scope.iter().all(|&p| p == me()));
        }
        other => panic!("unknown fixture mode {other}"),
    }
}

fn fixture_output(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

fn fixture_cmd(program: &str, mode: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("PAR_FIXTURE", mode)
        .env_remove("PAR_WORKERS")
        .env_remove("PAR_CHECK");
    cmd
}

const FIXTURE_ARGS: [&str; 5] = [
    "--exact",
    "fixture",
    "--ignored",
    "--nocapture",
    "--test-threads=1",
];

/// On one CPU (`taskset -c 0`) a timeout still kills its item and a crash with `retries`
/// is still reported (before: both ran inline, and the crash killed the program); a plain
/// loop runs inline there as before.
#[test]
fn one_cpu_keeps_timeouts_and_crash_isolation() {
    let _guard = watchdog("one cpu");
    let exe = std::env::current_exe().expect("the test binary");
    if Command::new("taskset")
        .args(["-c", "0", "true"])
        .status()
        .map_or(true, |s| !s.success())
    {
        eprintln!("skipped: `taskset -c 0` is not available here");
        return;
    }
    let mut cmd = fixture_cmd("taskset", "one-cpu");
    cmd.args(["-c", "0"]).arg(&exe).args(FIXTURE_ARGS);
    let (stdout, stderr) = fixture_output(&mut cmd);
    for want in [
        "cores 1",
        "timeout true",
        "retries true",
        "plain-inline true",
    ] {
        assert!(
            stdout.contains(want),
            "{want:?} missing:\n{stdout}\n{stderr}"
        );
    }
}

/// `PAR_WORKERS=1` runs a loop with a timeout inline, and says so once per call site on
/// stderr (before: not a word); `par::sequential` runs a `retries` loop inline too.
#[test]
fn par_workers_1_says_once_which_clause_it_ignores() {
    let _guard = watchdog("par workers 1 note");
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = fixture_cmd(exe.to_str().expect("a UTF-8 path"), "workers-1");
    cmd.args(FIXTURE_ARGS).env("PAR_WORKERS", "1");
    let (stdout, stderr) = fixture_output(&mut cmd);
    assert_eq!(stdout.matches("inline-ok true").count(), 3, "{stdout}");
    assert!(stdout.contains("scope-inline true"), "{stdout}");
    let notes: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("timeout ignored: PAR_WORKERS=1 runs loops inline"))
        .collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(notes[0].starts_with("par: tests/modes.rs:"), "{stderr}");
    assert!(
        stderr.contains("retries ignored: par::sequential runs loops inline"),
        "{stderr}"
    );
}
