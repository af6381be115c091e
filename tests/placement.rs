//! Placement (issue 25): `proc_bind` and `PAR_PROC_BIND` / `PAR_PLACES` pin each worker to the
//! place OpenMP's rules name, inside the CPUs the process is allowed (`taskset`); each worker
//! reads its own affinity back (`Cpus_allowed_list` in /proc/self/status, which is
//! `sched_getaffinity`'s set). Every case runs this binary again (its ignored `fixture` test)
//! with its own environment and CPU set, so that the test harness's own settings
//! (`PAR_WORKERS=1`, `taskset -c 0`) do not change what is checked; a case that needs a CPU
//! this machine does not have says so and passes.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::watchdog;
use par::{Loop, ProcBind, par};

/// The CPUs this process may run on, as Linux lists them (`0-1`, `1`).
fn cpus_here() -> String {
    std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("a Cpus_allowed_list line")
        .trim()
        .to_string()
}

/// What one fixture run printed: the parent's CPU list and pid, each worker's (pid, CPUs).
struct Seen {
    parent: String,
    parent_pid: u32,
    workers: Vec<(u32, String)>,
    default_workers: usize,
    stderr: String,
}

impl Seen {
    /// The CPU lists of the distinct workers, sorted (which slot is which pid is not looked at).
    fn masks(&self) -> Vec<String> {
        let mut by_pid: Vec<(u32, String)> = self.workers.clone();
        by_pid.sort();
        by_pid.dedup();
        let mut m: Vec<String> = by_pid.into_iter().map(|(_, c)| c).collect();
        m.sort();
        m
    }
}

/// Runs the fixture under `taskset -c cpus` (if given) with `env`; `None` (and a note) when
/// `taskset` or the CPUs are not available here.
fn run(cpus: Option<&str>, env: &[(&str, &str)]) -> Option<Seen> {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = match cpus {
        Some(c) => {
            let ok = Command::new("taskset")
                .args(["-c", c, "true"])
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("skipped: `taskset -c {c}` is not available here");
                return None;
            }
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", c]).arg(&exe);
            cmd
        }
        None => Command::new(&exe),
    };
    cmd.args([
        "--exact",
        "fixture",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("PAR_FIXTURE", "bind")
    .env_remove("PAR_WORKERS")
    .env_remove("PAR_PROC_BIND")
    .env_remove("PAR_PLACES")
    .env_remove("PAR_CHECK");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut seen = Seen {
        parent: String::new(),
        parent_pid: 0,
        workers: Vec::new(),
        default_workers: 0,
        stderr,
    };
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["parent", pid, cpus] => {
                seen.parent_pid = pid.parse().expect("a pid");
                seen.parent = cpus.to_string();
            }
            ["worker", pid, cpus] => seen
                .workers
                .push((pid.parse().expect("a pid"), cpus.to_string())),
            ["default-workers", n] => seen.default_workers = n.parse().expect("a count"),
            ["parent-after", cpus] => assert_eq!(*cpus, seen.parent, "the parent was bound"),
            _ => {}
        }
    }
    assert!(!seen.workers.is_empty(), "{stdout}\n{}", seen.stderr);
    Some(seen)
}

/// True (and a note) when this process may run on CPUs 0 and 1.
fn two_cpus() -> bool {
    let ok = Command::new("taskset")
        .args(["-c", "0,1", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: CPUs 0 and 1 are not both available here");
    }
    ok
}

/// `close` with 2 workers over `threads` on CPUs 0 and 1: one worker on each.
#[test]
fn close_puts_two_workers_on_two_cpus() {
    let _guard = watchdog("close two cpus");
    if !two_cpus() {
        return;
    }
    let Some(seen) = run(
        Some("0,1"),
        &[
            ("PAR_FIXTURE_BIND", "close"),
            ("PAR_FIXTURE_WORKERS", "2"),
            ("PAR_PLACES", "threads"),
        ],
    ) else {
        return;
    };
    assert_eq!(seen.masks(), ["0", "1"], "{}", seen.stderr);
    assert_eq!(seen.parent, "0-1", "the parent is never bound");
    // The default places are the cores; here each core is one CPU or two, never both.
    if let Some(seen) = run(
        Some("0,1"),
        &[("PAR_FIXTURE_BIND", "close"), ("PAR_FIXTURE_WORKERS", "2")],
    ) {
        let masks = seen.masks();
        assert!(masks == ["0", "1"] || masks == ["0-1", "0-1"], "{masks:?}");
    }
}

/// Under `taskset -c 1` the only place is CPU 1: both workers are bound there.
#[test]
fn the_allowed_set_bounds_the_places() {
    let _guard = watchdog("taskset 1");
    let Some(seen) = run(
        Some("1"),
        &[
            ("PAR_FIXTURE_BIND", "close"),
            ("PAR_FIXTURE_WORKERS", "2"),
            ("PAR_PLACES", "threads"),
        ],
    ) else {
        return;
    };
    assert_eq!(seen.parent, "1");
    assert_eq!(seen.masks(), ["1", "1"], "{}", seen.stderr);
    // An explicit list that names CPUs outside the set keeps only CPU 1.
    let Some(seen) = run(
        Some("1"),
        &[
            ("PAR_FIXTURE_BIND", "spread"),
            ("PAR_FIXTURE_WORKERS", "2"),
            ("PAR_PLACES", "{0},{1},{2:4}"),
        ],
    ) else {
        return;
    };
    assert_eq!(seen.masks(), ["1", "1"], "{}", seen.stderr);
}

/// More workers than places: consecutive workers share a place, as OpenMP's `close` says
/// (3 workers on 2 places: two on the first, one on the second).
#[test]
fn more_workers_than_places_share_them() {
    let _guard = watchdog("three on two");
    if !two_cpus() {
        return;
    }
    let Some(seen) = run(
        Some("0,1"),
        &[
            ("PAR_FIXTURE_BIND", "close"),
            ("PAR_FIXTURE_WORKERS", "3"),
            ("PAR_PLACES", "threads"),
        ],
    ) else {
        return;
    };
    assert_eq!(seen.masks(), ["0", "0", "1"], "{}", seen.stderr);
}

/// The variables alone bind a loop without a clause (`PAR_PROC_BIND=spread`), over an
/// explicit list; `PAR_PLACES` alone binds `close`; `proc_bind(False)` overrides both.
#[test]
fn the_variables_bind_loops_without_a_clause() {
    let _guard = watchdog("env bind");
    if !two_cpus() {
        return;
    }
    let Some(seen) = run(
        Some("0,1"),
        &[
            ("PAR_FIXTURE_WORKERS", "2"),
            ("PAR_PROC_BIND", "spread"),
            ("PAR_PLACES", "{1},{0}"),
        ],
    ) else {
        return;
    };
    assert_eq!(seen.masks(), ["0", "1"], "{}", seen.stderr);
    let Some(seen) = run(
        Some("0,1"),
        &[("PAR_FIXTURE_WORKERS", "2"), ("PAR_PLACES", "{0,1}")],
    ) else {
        return;
    };
    assert_eq!(seen.masks(), ["0-1", "0-1"], "{}", seen.stderr);
    let Some(seen) = run(
        Some("0,1"),
        &[
            ("PAR_FIXTURE_BIND", "false"),
            ("PAR_FIXTURE_WORKERS", "2"),
            ("PAR_PROC_BIND", "close"),
            ("PAR_PLACES", "threads"),
        ],
    ) else {
        return;
    };
    assert_eq!(seen.masks(), ["0-1", "0-1"], "{}", seen.stderr);
}

/// A bad value is a warning naming the variable and the value, never a failure: a bad
/// policy leaves the workers unbound, bad places fall back to `cores`.
#[test]
fn bad_values_are_warnings_that_name_them() {
    let _guard = watchdog("bad values");
    let Some(seen) = run(
        None,
        &[("PAR_FIXTURE_WORKERS", "2"), ("PAR_PROC_BIND", "sideways")],
    ) else {
        return;
    };
    assert!(
        seen.stderr
            .contains("par: PAR_PROC_BIND=\"sideways\": unknown policy `sideways`"),
        "{}",
        seen.stderr
    );
    assert!(
        seen.workers.iter().all(|(_, c)| *c == seen.parent),
        "unbound: {:?}",
        seen.workers
    );
    let Some(seen) = run(
        None,
        &[
            ("PAR_FIXTURE_BIND", "close"),
            ("PAR_FIXTURE_WORKERS", "2"),
            ("PAR_PLACES", "{0"),
        ],
    ) else {
        return;
    };
    assert!(
        seen.stderr
            .contains("par: PAR_PLACES=\"{0\": expected `,` or `}` in a place")
            && seen.stderr.contains("using `cores`"),
        "{}",
        seen.stderr
    );
    assert_eq!(seen.masks().len(), 2, "{:?}", seen.workers);
}

/// A loop that runs inline ignores the binding and leaves the caller's CPUs alone
/// (`PAR_WORKERS=1`; one worker).
#[test]
fn inline_loops_ignore_it_and_never_bind_the_caller() {
    let _guard = watchdog("inline");
    let Some(seen) = run(
        None,
        &[
            ("PAR_FIXTURE_BIND", "close"),
            ("PAR_FIXTURE_WORKERS", "2"),
            ("PAR_PLACES", "{0}"),
            ("PAR_WORKERS", "1"),
        ],
    ) else {
        return;
    };
    assert!(
        seen.workers
            .iter()
            .all(|(pid, c)| *pid == seen.parent_pid && *c == seen.parent),
        "{:?} vs {} {}",
        seen.workers,
        seen.parent_pid,
        seen.parent
    );
}

/// The default worker count is the allowed set's size: 1 under `taskset -c 0`, 2 under
/// `taskset -c 0,1` (std's `available_parallelism` reads `sched_getaffinity`, and a cgroup
/// CPU quota where one is set).
#[test]
fn default_workers_is_the_allowed_set() {
    let _guard = watchdog("default workers");
    if let Some(seen) = run(Some("0"), &[("PAR_FIXTURE_WORKERS", "1")]) {
        assert_eq!(seen.default_workers, 1);
    }
    if two_cpus()
        && let Some(seen) = run(Some("0,1"), &[("PAR_FIXTURE_WORKERS", "1")])
    {
        assert_eq!(seen.default_workers, 2);
    }
}

#[test]
#[ignore = "run by the other tests, in a process of its own (its own CPUs and environment)"]
fn fixture() {
    let Ok(mode) = std::env::var("PAR_FIXTURE") else {
        return;
    };
    if mode == "jobs" {
        return jobs_fixture();
    }
    assert_eq!(mode, "bind");
    let workers: usize = std::env::var("PAR_FIXTURE_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let bind = std::env::var("PAR_FIXTURE_BIND").ok();
    // libtest's `test fixture ... ` has no newline yet: start a line of our own.
    println!();
    println!("parent {} {}", std::process::id(), cpus_here());
    println!("default-workers {}", par::default_workers());
    // Static: one block per worker, so each worker runs an item and reports its CPUs.
    let mut opts = Loop::new().workers(workers).schedule(par::Schedule::Static);
    match bind.as_deref() {
        Some("close") => opts = opts.proc_bind(ProcBind::Close),
        Some("spread") => opts = opts.proc_bind(ProcBind::Spread),
        Some("false") => opts = opts.proc_bind(ProcBind::False),
        _ => {}
    }
    let seen = opts.collect(0..workers * 2, |_| (std::process::id(), cpus_here()));
    for (pid, cpus) in &seen {
        println!("worker {pid} {cpus}");
    }
    let distinct: BTreeSet<u32> = seen.iter().map(|(p, _)| *p).collect();
    assert!(
        distinct.len() == workers || par::default_workers() == 1 || workers == 1,
        "every worker ran a block: {seen:?}"
    );
    // The parent's own CPUs never change.
    println!("parent-after {}", cpus_here());
}

/// The job families' children are placed as a team of their limit is: `PAR_PROC_BIND=close`
/// over `threads` on CPUs 0 and 1 puts the two running children of a `Queue` of 2, and the
/// two workers of a `Pool` of 2, one on each CPU.
#[test]
fn job_families_are_placed_too() {
    let _guard = watchdog("jobs bind");
    if !two_cpus() {
        return;
    }
    let Some(seen) = run(
        Some("0,1"),
        &[
            ("PAR_FIXTURE", "jobs"),
            ("PAR_PROC_BIND", "close"),
            ("PAR_PLACES", "threads"),
        ],
    ) else {
        return;
    };
    let lines: Vec<&str> = seen.stderr.lines().collect();
    for family in ["queue", "pool"] {
        let mut masks: Vec<String> = seen
            .workers
            .iter()
            .zip(seen_families(&seen))
            .filter(|(_, f)| *f == family)
            .map(|((_, c), _)| c.clone())
            .collect();
        masks.sort();
        masks.dedup();
        assert_eq!(masks, ["0", "1"], "{family}: {lines:?}");
    }
}

/// The family of each `worker` line of a jobs fixture run, in order (its `family` lines).
fn seen_families(seen: &Seen) -> Vec<String> {
    seen.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("family "))
        .map(str::to_string)
        .collect()
}

#[par::parallel]
fn where_am_i(_i: u32) -> (u32, String) {
    std::thread::sleep(std::time::Duration::from_millis(150));
    (std::process::id(), cpus_here())
}

/// The jobs fixture: a `Queue` of 2 and a `Pool` of 2, each running 2 jobs long enough to
/// overlap; prints `worker PID CPUS` on stdout and its family on stderr, line for line.
fn jobs_fixture() {
    println!();
    println!("parent {} {}", std::process::id(), cpus_here());
    let mut queue = par::Queue::new(2);
    for _ in 0..2 {
        queue.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(150));
            (std::process::id(), cpus_here())
        });
    }
    let mut pool = par::Pool::new(2);
    for i in 0..2 {
        where_am_i::spawn(&mut pool, i);
    }
    for (family, got) in [
        (
            "queue",
            queue
                .map(|(_, r)| r.expect("a queue job"))
                .collect::<Vec<_>>(),
        ),
        (
            "pool",
            pool.ordered().map(|r| r.expect("a pool call")).collect(),
        ),
    ] {
        for (pid, cpus) in got {
            println!("worker {pid} {cpus}");
            eprintln!("family {family}");
        }
    }
    println!("parent-after {}", cpus_here());
}

/// `par!`'s `proc_bind` clause binds as `Loop::proc_bind` does.
#[test]
fn the_par_clause_binds() {
    let _guard = watchdog("par clause");
    let here = cpus_here();
    let v: Vec<u32> = par!(
        proc_bind = close,
        workers = 2,
        for i in 0..4u32 {
            i * 3
        }
    );
    assert_eq!(v, [0, 3, 6, 9]);
    let v: Vec<u32> = par!(
        proc_bind = spread,
        for i in 0..4u32 {
            i + 1
        }
    );
    assert_eq!(v, [1, 2, 3, 4]);
    let v: Vec<u32> = par!(
        proc_bind = false,
        for i in 0..4u32 {
            i
        }
    );
    assert_eq!(v, [0, 1, 2, 3]);
    assert_eq!(cpus_here(), here, "the caller is never bound");
}
