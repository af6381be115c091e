//! Per-loop reports (`par::last_report`, `PAR_REPORT=1`, the `report` clause), the
//! `PAR_TRACE` timeline (Chrome Trace Event JSON) and progress labels.
//!
//! The environment variables are read once per process: those checks run this binary again
//! as a fixture (`common::run_fixture`) with the variable set.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::{children_cpu, temp_dir, thread_cpu, watchdog};
use par::{Loop, Schedule, par};

/// Tests that fork take turns: the CPU-time check counts every child this process reaps.
static FORKS: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    FORKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// CPU-bound work of about `n` units (not optimised away).
fn spin(n: u64) -> u64 {
    let mut x = n;
    for k in 0..n {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(k));
    }
    x
}

fn first_time(dir: &std::path::Path, name: &str) -> bool {
    std::fs::create_dir(dir.join(name)).is_ok()
}

/// What the fixture runs, by `PAR_FIXTURE`.
#[test]
#[ignore = "run by the other tests in a process of its own"]
fn fixture() {
    let mode = std::env::var("PAR_FIXTURE").unwrap_or_default();
    let dir = std::path::PathBuf::from(std::env::var("PAR_DIR").unwrap_or_default());
    match mode.as_str() {
        // Three loops: a plain one, one that fails, one whose worker dies once and is retried.
        "trace" => {
            let v = Loop::new()
                .workers(2)
                .schedule(Schedule::Dynamic(7))
                .collect(0..200u64, |i| spin(2000 + i));
            assert_eq!(v.len(), 200);
            let r = Loop::new().workers(2).try_collect(0..100u32, |i| {
                if i == 50 {
                    Err("item 50 says no")
                } else {
                    Ok(i)
                }
            });
            assert!(r.is_err());
            let v = Loop::new()
                .workers(2)
                .retries(1)
                .schedule(Schedule::Dynamic(1))
                .collect(0..20u32, |i| {
                    if i == 5 && first_time(&dir, "died") {
                        std::process::exit(3);
                    }
                    i
                });
            assert_eq!(v.len(), 20);
        }
        // A loop, then one whose panic ends the program.
        "panic" => {
            Loop::new().workers(2).collect(0..10u32, |i| i);
            Loop::new().workers(2).collect(0..10u32, |i| {
                if i == 3 {
                    panic!("item 3 panics");
                }
                i
            });
        }
        "report" => {
            let v = par!(
                workers = 2,
                report,
                for i in 0..300u64 {
                    spin(100 + i)
                }
            );
            assert_eq!(v.len(), 300);
            Loop::new().parallel(false).collect(0..5u8, |i| i);
        }
        "label" => {
            let v = par!(
                workers = 2,
                progress = "rows",
                for i in 0..30u32 {
                    i
                }
            );
            assert_eq!(v.len(), 30);
            Loop::new()
                .parallel(false)
                .progress_label("files")
                .collect(0..4u8, |i| i);
        }
        other => panic!("unknown fixture {other:?}"),
    }
}

fn fixture_with(mode: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd: Command = common::run_fixture(mode, Some(dir));
    cmd.env_remove("PAR_REPORT").env_remove("PAR_TRACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the fixture")
}

type Json = serde_json::Value;

/// The trace's events, checked: a JSON array of objects, each with `ph`, `ts`, `pid`, `tid`,
/// and `dur >= 0` on complete events.
fn events(path: &std::path::Path) -> Vec<Json> {
    let text = std::fs::read_to_string(path).expect("the trace file exists");
    let json: Json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the trace is not JSON ({e}):\n{text}"));
    let events = json.as_array().expect("a JSON array").clone();
    assert!(!events.is_empty());
    for e in &events {
        for key in ["ph", "ts", "pid", "tid", "name"] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
        assert!(e["ts"].as_f64().is_some_and(|t| t >= 0.0), "{e}");
        if e["ph"] == "X" {
            assert!(e["dur"].as_f64().is_some_and(|d| d >= 0.0), "{e}");
        }
    }
    events
}

fn of_loop(events: &[Json], pid: u64) -> Vec<&Json> {
    events.iter().filter(|e| e["pid"] == pid).collect()
}

#[test]
fn the_timeline_is_chrome_trace_json_with_one_track_per_worker() {
    let _guard = watchdog("report-trace");
    let _turn = turn();
    let dir = temp_dir("report-trace");
    let path = dir.join("trace.json");
    let out = fixture_with("trace", &dir, &[("PAR_TRACE", path.to_str().unwrap())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = events(&path);
    let pids: std::collections::BTreeSet<u64> =
        all.iter().filter_map(|e| e["pid"].as_u64()).collect();
    assert_eq!(pids, [1, 2, 3].into(), "one trace process per loop");

    // Loop 1: two workers, each its own track with its chunks, which cover every item once.
    let first = of_loop(&all, 1);
    let workers: Vec<u64> = first
        .iter()
        .filter(|e| {
            e["name"] == "thread_name" && e["args"]["name"].as_str().unwrap().starts_with("worker")
        })
        .map(|e| e["tid"].as_u64().unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "{first:?}");
    let chunks: Vec<&&Json> = first.iter().filter(|e| e["cat"] == "chunk").collect();
    let tracks: std::collections::BTreeSet<u64> =
        chunks.iter().map(|e| e["tid"].as_u64().unwrap()).collect();
    assert!(tracks.iter().all(|t| workers.contains(t)), "{tracks:?}");
    assert!(!tracks.is_empty());
    let mut covered: Vec<u64> = chunks
        .iter()
        .flat_map(|e| {
            let (a, n) = (
                e["args"]["first"].as_u64().unwrap(),
                e["args"]["items"].as_u64().unwrap(),
            );
            a..a + n
        })
        .collect();
    covered.sort_unstable();
    assert_eq!(covered, (0..200).collect::<Vec<_>>());
    assert!(
        chunks
            .iter()
            .all(|e| e["args"]["items"].as_u64().unwrap() <= 7)
    );
    for phase in ["fork", "dispatch", "decode", "loop"] {
        assert!(
            first.iter().any(|e| e["name"] == phase && e["ph"] == "X"),
            "{phase} missing"
        );
    }
    let forks = first.iter().filter(|e| e["name"] == "fork").count();
    assert_eq!(forks, 2);

    // Loop 2 failed: its failure is an instant event and its loop event names the error.
    let second = of_loop(&all, 2);
    assert!(
        second
            .iter()
            .any(|e| e["name"] == "failure" && e["ph"] == "i")
    );
    let lp = second.iter().find(|e| e["name"] == "loop").unwrap();
    assert!(
        lp["args"]["error"]
            .as_str()
            .unwrap()
            .contains("item 50 says no"),
        "{lp}"
    );

    // Loop 3: the death and the retry are instant events; the replacement has its own track.
    let third = of_loop(&all, 3);
    assert!(third.iter().any(|e| e["name"] == "death"), "{third:?}");
    let retry = third.iter().find(|e| e["name"] == "retry").unwrap();
    assert_eq!(retry["args"]["item"], 5);
    let forks = third.iter().filter(|e| e["name"] == "fork").count();
    assert_eq!(forks, 3, "two workers and one replacement");
    let lp = third.iter().find(|e| e["name"] == "loop").unwrap();
    assert_eq!(lp["args"]["workers"], 2, "{lp}");
}

#[test]
fn a_program_that_panics_in_a_loop_leaves_a_complete_trace() {
    let _guard = watchdog("report-trace-panic");
    let _turn = turn();
    let dir = temp_dir("report-trace-panic");
    let path = dir.join("trace.json");
    let out = fixture_with("panic", &dir, &[("PAR_TRACE", path.to_str().unwrap())]);
    assert!(!out.status.success());
    let all = events(&path);
    let failed = of_loop(&all, 2);
    let lp = failed
        .iter()
        .find(|e| e["name"] == "loop")
        .expect("the failed loop is in");
    assert!(
        lp["args"]["error"]
            .as_str()
            .unwrap()
            .contains("item 3 panics"),
        "{lp}"
    );
}

#[test]
fn par_report_prints_a_block_per_loop_and_the_clause_asks_for_it() {
    let _guard = watchdog("report-print");
    let _turn = turn();
    let dir = temp_dir("report-print");
    // The `report` clause alone prints the `par!` loop's block, not the other loop's.
    let out = fixture_with("report", &dir, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("par: tests/report.rs:"), "{err}");
    assert!(
        err.contains("300 items  2 workers  forked (auto: the first run here forks and measures)"),
        "{err}"
    );
    for part in [
        "wall ",
        "busy ",
        "imbalance ",
        "speedup ~",
        "fork ",
        "results ",
        "frames",
        "decode",
        "chunks ",
    ] {
        assert!(err.contains(part), "{part:?} missing from {err}");
    }
    assert!(!err.contains("inline (if = false)"), "{err}");
    // PAR_REPORT=1: every loop.
    let out = fixture_with("report", &dir, &[("PAR_REPORT", "1")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("5 items  inline (if = false)"), "{err}");
    assert_eq!(err.matches("par: tests/report.rs:").count(), 2, "{err}");
}

#[test]
fn a_progress_label_replaces_par_in_the_progress_lines() {
    let _guard = watchdog("report-label");
    let _turn = turn();
    let dir = temp_dir("report-label");
    let out = fixture_with("label", &dir, &[("PAR_PROGRESS", "1")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("rows: 30/30 items"), "{err}");
    assert!(err.contains("files: 4/4 items"), "{err}");
}

#[test]
fn busy_times_add_up_to_the_workers_cpu_time() {
    let _guard = watchdog("report-cpu");
    if !common::loops_fork() {
        return;
    }
    let _turn = turn();
    // Busy time is the worker's wall time on its chunks: it is its CPU time only while nothing
    // else runs on its core. Each item says what it took in wall and CPU time, so a loaded
    // machine (wall well over CPU) is seen and allowed for; the best of a few tries is taken.
    let mut seen = Vec::new();
    for _ in 0..6 {
        let before = children_cpu();
        let v = Loop::new()
            .workers(1)
            .parallel(true)
            .schedule(Schedule::Dynamic(4))
            .collect(0..64u64, |i| {
                let (wall, cpu) = (std::time::Instant::now(), thread_cpu());
                spin(1_000_000 + i);
                (wall.elapsed().as_secs_f64(), thread_cpu() - cpu)
            });
        let cpu = children_cpu() - before;
        let r = par::last_report().unwrap();
        assert!(!r.inline);
        assert_eq!((r.workers, r.per_worker.len()), (1, 1));
        assert_eq!(r.per_worker[0].items, 64);
        assert_eq!(r.chunks, 16);
        // (What lies between items is preempted too on a loaded machine.)
        match common::busy_agrees("loop", r.busy().as_secs_f64(), &v, cpu) {
            Ok(()) => return,
            Err(ratios) => seen.push(ratios),
        }
    }
    panic!(
        "busy / items' wall, children's CPU / items' CPU, busy / CPU, items' wall / CPU; 6 tries: {seen:?}"
    );
}

#[test]
fn the_report_says_inline_or_forked_and_why_for_every_decision_path() {
    let _guard = watchdog("report-reasons");
    let _turn = turn();
    let env_one = std::env::var("PAR_WORKERS").is_ok_and(|v| v.trim() == "1");
    let reason = || {
        let r = par::last_report().unwrap();
        (r.inline, r.reason)
    };
    let inline = |why: &str| (true, why.to_string());
    let sequential = inline("PAR_WORKERS=1 runs loops inline");

    Loop::new()
        .workers(2)
        .parallel(false)
        .collect(0..3u8, |i| i);
    assert_eq!(reason(), inline("if = false"));
    Loop::new().workers(2).collect(0..0u8, |i| i);
    assert_eq!(reason(), inline("no items"));
    par::sequential(|| Loop::new().workers(2).collect(0..3u8, |i| i));
    assert_eq!(reason(), inline("par::sequential runs loops inline"));
    Loop::new().workers(1).collect(0..3u8, |i| i);
    assert_eq!(
        reason(),
        if env_one {
            sequential.clone()
        } else {
            inline("one worker")
        }
    );

    let timeout = Loop::new().workers(1).timeout(Duration::from_secs(30));
    timeout.collect(0..3u8, |i| i);
    if env_one {
        assert_eq!(
            reason(),
            inline("PAR_WORKERS=1 runs loops inline (timeout ignored)")
        );
        return;
    }
    assert_eq!(reason(), (false, "timeout needs a worker process".into()));
    Loop::new().workers(2).collect_each(0..4u8, Ok::<_, String>);
    assert_eq!(
        reason(),
        (
            false,
            "keep_going's crash isolation needs a worker process".into()
        )
    );
    Loop::new()
        .workers(2)
        .schedule(Schedule::Static)
        .collect(0..10u8, |i| i);
    assert_eq!(
        reason(),
        (
            false,
            "forks: schedule static (only auto learns to run inline)".into()
        )
    );
    let r = par::last_report().unwrap();
    assert_eq!(r.workers, 2);
    assert_eq!(r.per_worker.len(), 2);
    // Static: each worker's block of 5, handed out in pieces.
    assert!(
        r.chunks >= 2 && r.chunk_min >= 1 && r.chunk_max <= 5,
        "{r:?}"
    );
    assert_eq!(
        r.per_worker.iter().map(|w| w.items).collect::<Vec<_>>(),
        [5, 5]
    );
    assert!(r.frames >= 2 && r.result_bytes > 0, "{r:?}");
    assert!(r.error.is_none());

    // `auto`: a loop of cheap items forks once, measures, and runs inline after, saying so.
    let cheap = || Loop::new().workers(2).collect(0..1000u32, |i| i + 1);
    cheap();
    assert_eq!(
        reason(),
        (false, "auto: the first run here forks and measures".into())
    );
    let mut later = Vec::new();
    for _ in 0..3 {
        cheap();
        later.push(reason());
    }
    assert!(
        later
            .iter()
            .any(|(inline, why)| *inline && why.starts_with("auto: inline ")),
        "{later:?}"
    );

    // A search forks, and says it never learns to run inline.
    let hit = Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(1))
        .position_any(0..20u32, |i| i == 3);
    assert_eq!(hit, Some(3));
    let rep = par::last_report().unwrap();
    assert!(
        rep.reason.starts_with("forks: a search") && rep.items <= 20,
        "{rep:?}"
    );

    // A failed loop's report has the error, and an iterator's team reports when dropped.
    let r = Loop::new()
        .workers(2)
        .try_collect(0..10u32, |i| if i == 4 { Err("four") } else { Ok(i) });
    assert!(r.is_err());
    let rep = par::last_report().unwrap();
    assert!(
        rep.error.as_deref().is_some_and(|e| e.contains("four")),
        "{rep:?}"
    );
    let n = Loop::new().workers(2).unordered(0..50u32, |i| i).count();
    assert_eq!(n, 50);
    let rep = par::last_report().unwrap();
    assert!(!rep.inline);
    assert!(
        rep.reason.starts_with("forks: values as they complete"),
        "{rep:?}"
    );
    assert_eq!(rep.items, 50);
    assert_eq!(rep.per_worker.iter().map(|w| w.items).sum::<usize>(), 50);

    // Keep going: a crash fails its item only; the report counts the death and every item.
    let out = Loop::new().workers(2).collect_each(0..6u32, |i| {
        if i == 2 {
            std::process::exit(9);
        }
        Ok::<_, String>(i)
    });
    assert!(out[2].is_err() && out.iter().filter(|r| r.is_ok()).count() == 5);
    let rep = par::last_report().unwrap();
    assert_eq!(
        (rep.items, rep.deaths, rep.error.clone()),
        (6, 1, None),
        "{rep:?}"
    );
    assert!(
        rep.per_worker.len() >= 3,
        "a replacement was forked: {rep:?}"
    );

    // A stream: the items it pulled.
    let v = Loop::new().workers(2).collect(par::stream(0..30u32), |i| i);
    assert_eq!(v.len(), 30);
    let rep = par::last_report().unwrap();
    assert!(rep.reason.starts_with("forks: a stream"), "{rep:?}");
    assert_eq!(rep.items, 30);

    // `join` is a loop of two items, each side in its own worker.
    assert_eq!(par::join(|| 1u8, || 2u8), (1, 2));
    let rep = par::last_report().unwrap();
    assert!(!rep.inline && rep.items == 2, "{rep:?}");
    assert!(rep.site.starts_with("tests/report.rs:"), "{rep:?}");
}

#[test]
fn the_benches_bookkeeping_probe_runs_the_reports_own_path() {
    // `cargo bench --bench compare` weighs this probe against a loop: it must be the path a
    // forked loop's report takes (context, hooks, the kept report), not a stand-in.
    par::__private::testing::bookkeeping(2, 10);
    let r = par::last_report().expect("the probe's report");
    assert!(!r.inline);
    assert_eq!(
        (r.items, r.chunks, r.frames, r.result_bytes),
        (10, 10, 10, 80)
    );
    assert_eq!(r.per_worker.len(), 2);
    assert_eq!(
        r.per_worker.iter().map(|w| w.items).collect::<Vec<_>>(),
        [5, 5]
    );
    assert!(r.site.contains("report.rs:"), "{}", r.site);
}
