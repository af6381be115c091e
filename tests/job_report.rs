//! The job families' reports: `PAR_REPORT=1` prints one block per `Queue`/`Map`/`Pool` when it
//! is dropped, and `PAR_TRACE` writes their jobs to the Chrome-trace timeline (one trace
//! process per family, one track per child or worker).
//!
//! The environment is read once per process: these checks run this binary again as a fixture
//! (`common::run_fixture`) with the variable set. The fixture forks whatever `PAR_WORKERS`
//! says (it is removed), so the checks hold under `PAR_WORKERS=1` and `taskset -c 0` too.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{children_cpu, temp_dir, thread_cpu, watchdog};

#[par::parallel]
fn twice(x: u64) -> u64 {
    x * 2
}

#[par::parallel]
fn dies_once(marker: std::path::PathBuf) -> u8 {
    if std::fs::create_dir(&marker).is_ok() {
        std::process::exit(3);
    }
    1
}

/// CPU-bound work of about `n` units (not optimised away).
fn spin(n: u64) -> u64 {
    let mut x = n;
    for k in 0..n {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(k));
    }
    x
}

/// `spin(n)`, and the wall and CPU seconds it took in the process that ran it.
fn measured(n: u64) -> (f64, f64) {
    let (wall, cpu) = (std::time::Instant::now(), thread_cpu());
    spin(n);
    (wall.elapsed().as_secs_f64(), thread_cpu() - cpu)
}

#[par::parallel]
fn measured_call(n: u64) -> (f64, f64) {
    measured(n)
}

/// One family's busy time against its processes' CPU time, best of a few tries: `run` runs
/// the family to its drop and returns the jobs' own (wall, CPU) times and the family's report.
fn busy_matches_cpu(what: &str, run: impl Fn() -> (Vec<(f64, f64)>, par::FamilyReport)) {
    let mut seen = Vec::new();
    for _ in 0..6 {
        let before = children_cpu(); // the family's processes are reaped by its drop
        let (v, r) = run();
        let cpu = children_cpu() - before;
        assert_eq!(r.inline, 0, "{r}");
        assert_eq!(r.per_worker.iter().map(|w| w.jobs).sum::<usize>(), v.len());
        match common::busy_agrees(what, r.busy().as_secs_f64(), &v, cpu) {
            Ok(()) => return,
            Err(ratios) => seen.push(ratios),
        }
    }
    panic!(
        "{what}: busy / jobs' wall, children's CPU / jobs' CPU, busy / CPU, jobs' wall / CPU; 6 tries: {seen:?}"
    );
}

/// What the fixture runs, by `PAR_FIXTURE`: a queue (6 jobs, one panics), a map from `pmap` (5
/// jobs), a pool (10 calls) and a pool whose first worker dies once (retried).
#[test]
#[ignore = "run by the other tests in a process of its own"]
fn fixture() {
    let dir = std::path::PathBuf::from(std::env::var("PAR_DIR").unwrap_or_default());
    if std::env::var("PAR_FIXTURE").as_deref() == Ok("cpu") {
        // A process of its own: every child it reaps is one of these families'.
        busy_matches_cpu("Queue", || {
            let mut queue = par::Queue::new(2);
            for i in 0..8 {
                queue.spawn(move || measured(2_000_000 + i));
            }
            let v: Vec<(f64, f64)> = queue.by_ref().map(|(_, r)| r.unwrap()).collect();
            let r = queue.report();
            drop(queue);
            let last = par::last_family_report().expect("the queue's report");
            assert_eq!(last.per_worker, r.per_worker);
            (v, last)
        });
        busy_matches_cpu("Pool", || {
            let mut pool = par::Pool::new(2);
            for i in 0..8 {
                measured_call::spawn(&mut pool, 2_000_000 + i);
            }
            let v: Vec<(f64, f64)> = pool.ordered().map(|r| r.unwrap()).collect();
            drop(pool);
            (v, par::last_family_report().expect("the pool's report"))
        });
        return;
    }
    if std::env::var("PAR_FIXTURE").as_deref() == Ok("talk") {
        talk();
        return;
    }
    if std::env::var("PAR_FIXTURE").as_deref() == Ok("label") {
        let mut queue = par::Queue::new(2).progress_label("files");
        for i in 0..4u32 {
            queue.spawn(move || i);
        }
        assert_eq!(queue.count(), 4);
        let mut pool = par::Pool::new(2).progress_label("calls");
        for x in 0..3 {
            twice::spawn(&mut pool, x);
        }
        assert_eq!(pool.count(), 3);
        return;
    }
    {
        let mut queue = par::Queue::new(2);
        for i in 0..6u32 {
            queue.spawn(move || {
                assert!(i != 4, "job 4 panics");
                i
            });
        }
        let failed = queue.filter(|(_, r)| r.is_err()).count();
        assert_eq!(failed, 1);
    }
    {
        let map = par::pmap(|x: u64| x + 1, 0..5, 2);
        assert_eq!(map.map(|r| r.unwrap()).sum::<u64>(), 15);
    }
    {
        let mut pool = par::Pool::new(2);
        for x in 0..10 {
            twice::spawn(&mut pool, x);
        }
        assert_eq!(pool.ordered().map(|r| r.unwrap()).sum::<u64>(), 90);
    }
    {
        let mut pool = par::Pool::new(1).retries(1);
        let job = dies_once::spawn(&mut pool, dir.join("died"));
        assert_eq!(pool.get(job).unwrap().as_ref().unwrap(), &1);
    }
}

fn fixture_with(dir: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    fixture_mode("jobs", dir, env)
}

fn fixture_mode(mode: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd: Command = common::run_fixture(mode, Some(dir));
    cmd.env_remove("PAR_REPORT").env_remove("PAR_TRACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the fixture");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

type Json = serde_json::Value;

/// The trace's events, checked: a JSON array of objects, each with `ph`, `ts`, `pid`, `tid`,
/// `name`, and `dur >= 0` on complete events.
fn events(path: &std::path::Path) -> Vec<Json> {
    let text = std::fs::read_to_string(path).expect("the trace file exists");
    let json: Json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the trace is not JSON ({e}):\n{text}"));
    let events = json.as_array().expect("a JSON array").clone();
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

/// The events of trace process `pid`.
fn of(events: &[Json], pid: u64) -> Vec<&Json> {
    events.iter().filter(|e| e["pid"] == pid).collect()
}

/// The tracks named `child ...` / `worker ...` of one family.
fn tracks(events: &[&Json], what: &str) -> BTreeSet<u64> {
    events
        .iter()
        .filter(|e| {
            e["name"] == "thread_name"
                && e["args"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(what))
        })
        .map(|e| e["tid"].as_u64().unwrap())
        .collect()
}

/// The family's own complete event (its lifetime, with its counts).
fn family<'a>(events: &[&'a Json], name: &str) -> &'a Json {
    events
        .iter()
        .find(|e| e["name"] == name && e["ph"] == "X")
        .unwrap_or_else(|| panic!("no {name} event in {events:?}"))
}

/// The jobs' events of one family, by job number, each on one of `tracks`.
fn jobs(events: &[&Json], tracks: &BTreeSet<u64>) -> Vec<u64> {
    let mut jobs: Vec<u64> = events
        .iter()
        .filter(|e| e["cat"] == "job")
        .map(|e| {
            assert!(tracks.contains(&e["tid"].as_u64().unwrap()), "{e}");
            e["args"]["job"].as_u64().unwrap()
        })
        .collect();
    jobs.sort_unstable();
    jobs
}

#[test]
fn each_family_is_a_trace_process_with_a_track_per_child_or_worker() {
    let _guard = watchdog("job-report-trace");
    let dir = temp_dir("job-report-trace");
    let path = dir.join("trace.json");
    fixture_with(&dir, &[("PAR_TRACE", path.to_str().unwrap())]);
    let all = events(&path);
    let pids: BTreeSet<u64> = all.iter().filter_map(|e| e["pid"].as_u64()).collect();
    assert_eq!(pids, [1, 2, 3, 4].into(), "one trace process per family");

    // The queue: a child per job, each forked once; the panicking job has no job event.
    let queue = of(&all, 1);
    let name = queue.iter().find(|e| e["name"] == "process_name").unwrap();
    let name = name["args"]["name"].as_str().unwrap();
    assert!(name.starts_with("par Queue "), "{name}");
    assert!(name.contains("job_report.rs:"), "{name}");
    let children = tracks(&queue, "child");
    assert_eq!(children.len(), 6, "{queue:?}");
    assert_eq!(jobs(&queue, &children), [0, 1, 2, 3, 5]);
    assert_eq!(queue.iter().filter(|e| e["name"] == "fork").count(), 6);
    let q = family(&queue, "Queue");
    assert_eq!(
        (q["args"]["jobs"].as_u64(), q["args"]["failed"].as_u64()),
        (Some(6), Some(1))
    );
    assert_eq!(q["args"]["forks"], 6);
    assert!(q["args"]["bytes"].as_u64().unwrap() > 0, "{q}");

    // The map (`pmap`): five jobs, all fine.
    let map = of(&all, 2);
    let m = family(&map, "Map");
    assert_eq!(
        (m["args"]["jobs"].as_u64(), m["args"]["failed"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(jobs(&map, &tracks(&map, "child")), [0, 1, 2, 3, 4]);

    // The pool: at most two workers serve the ten calls, each call on a worker's track.
    let pool = of(&all, 3);
    let workers = tracks(&pool, "worker");
    assert!((1..=2).contains(&workers.len()), "{pool:?}");
    assert_eq!(jobs(&pool, &workers), (0..10).collect::<Vec<_>>());
    assert_eq!(
        pool.iter().filter(|e| e["name"] == "fork").count(),
        workers.len()
    );

    // The pool whose worker died: the death and the retry are instant events, and the
    // replacement has a track of its own.
    let retried = of(&all, 4);
    for mark in ["death", "retry"] {
        let e = retried.iter().find(|e| e["name"] == mark);
        let e = e.unwrap_or_else(|| panic!("no {mark} in {retried:?}"));
        assert_eq!(e["ph"], "i");
        assert_eq!(e["args"]["job"], 0);
    }
    assert_eq!(tracks(&retried, "worker").len(), 2);
    let p = family(&retried, "Pool");
    assert_eq!(
        (p["args"]["retries"].as_u64(), p["args"]["deaths"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn par_report_prints_a_block_per_family() {
    let _guard = watchdog("job-report-text");
    let dir = temp_dir("job-report-text");
    let out = fixture_with(&dir, &[("PAR_REPORT", "1")]);
    let err = String::from_utf8_lossy(&out.stderr);
    let heads: Vec<&str> = err.lines().filter(|l| l.starts_with("par: ")).collect();
    assert_eq!(heads.len(), 4, "{err}");
    assert!(heads[0].starts_with("par: Queue "), "{err}");
    assert!(heads[0].contains("job_report.rs:"), "{err}");
    assert!(
        heads[0].contains("6 jobs (1 failed)  limit 2  6 children forked"),
        "{err}"
    );
    assert!(heads[1].starts_with("par: Map "), "{err}");
    assert!(
        heads[1].contains("5 jobs  limit 2  5 children forked"),
        "{err}"
    );
    assert!(heads[2].starts_with("par: Pool "), "{err}");
    assert!(heads[2].contains("10 jobs  limit 2  "), "{err}");
    assert!(
        heads[3].contains("1 job  limit 1  2 workers forked"),
        "{err}"
    );
    assert!(err.contains("retries 1   deaths 1   timeouts 0"), "{err}");
    for line in ["wall ", "busy ", "speedup ~", "fork ", "results "] {
        assert!(err.contains(line), "{line} missing:\n{err}");
    }
}

#[test]
fn nothing_is_printed_or_written_unless_asked() {
    let _guard = watchdog("job-report-off");
    let dir = temp_dir("job-report-off");
    let out = fixture_with(&dir, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.lines().any(|l| l.starts_with("par: ")), "{err}");
}

#[test]
fn a_familys_progress_bar_says_what_it_counts() {
    let _guard = watchdog("job-report-label");
    let dir = temp_dir("job-report-label");
    // Not a terminal: `PAR_PROGRESS=1` prints the bar's lines, the last one when all is done.
    let out = fixture_mode("label", &dir, &[("PAR_PROGRESS", "1")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("files: 4/4 items"), "{err}");
    assert!(err.contains("calls: 3/3 items"), "{err}");
    assert!(!err.lines().any(|l| l.starts_with("par: ")), "{err}");
}

#[test]
fn a_familys_busy_time_adds_up_to_its_processes_cpu_time() {
    let _guard = watchdog("job-report-cpu");
    let dir = temp_dir("job-report-cpu");
    fixture_mode("cpu", &dir, &[]);
}

#[test]
fn the_report_is_a_value_while_the_family_runs_and_after_its_drop() {
    let _guard = watchdog("job-report-value");
    let me = std::process::id() as i32;
    let mut queue = par::Queue::new(2);
    for i in 0..6u32 {
        queue.spawn(move || {
            assert!(i != 4, "job 4 panics");
            i
        });
    }
    assert_eq!(queue.report().jobs, 6);
    let failed = queue.by_ref().filter(|(_, r)| r.is_err()).count();
    assert_eq!(failed, 1);
    let r = queue.report();
    assert_eq!(
        (r.family, r.jobs, r.failed, r.limit),
        ("Queue", 6, 1, 2),
        "{r}"
    );
    assert!(r.site.contains("job_report.rs:"), "{r}");
    if r.inline == 0 {
        // A child per job, each a process of its own; the panicking one sent no value.
        assert_eq!(r.per_worker.len(), 6, "{r}");
        let pids: BTreeSet<i32> = r.per_worker.iter().map(|w| w.pid).collect();
        assert_eq!(pids.len(), 6, "{r}");
        assert!(!pids.contains(&me), "{r}");
        assert_eq!(r.per_worker.iter().map(|w| w.jobs).sum::<usize>(), 5, "{r}");
        assert!(
            r.result_bytes > 0 && r.fork > std::time::Duration::ZERO,
            "{r}"
        );
    } else {
        assert_eq!((r.inline, r.per_worker.len()), (6, 0), "{r}");
    }
    assert!(r.wall >= r.busy() / 2, "{r}");
    drop(queue);
    let last = par::last_family_report().expect("the queue's report, once dropped");
    assert_eq!((last.family, last.jobs, last.failed), ("Queue", 6, 1));
    assert_eq!(last.per_worker, r.per_worker);
    assert!(last.wall >= r.wall);
    let text = last.to_string();
    assert!(
        text.starts_with("par: Queue ") && text.contains("6 jobs (1 failed)  limit 2"),
        "{text}"
    );

    // A family nothing was submitted to leaves no report.
    drop(par::Map::<u8>::new(3));
    assert_eq!(par::last_family_report().map(|r| r.family), Some("Queue"));
    let squares: Vec<u64> = par::pmap(|x: u64| x * x, 0..5, 2)
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(squares, [0, 1, 4, 9, 16]);
    let r = par::last_family_report().unwrap();
    assert_eq!((r.family, r.jobs, r.limit), ("Map", 5, 2), "{r}");
}

/// The talking families (`Channel`, `Exchange`, `Background`, `BackgroundQueue`) run in the
/// fixture's "talk" mode: a channel whose child sends three `u64`s, an exchange of three
/// children of which the last kills itself after one message, and a background job with its
/// collector. Each step checks its report as a value; printed, it is one block per family.
fn talk() {
    use par::{Channel, Exchange};
    let me = std::process::id() as i32;

    let mut ch: Channel<(), u64> = par::start(|ch: &mut Channel<u64, ()>| {
        for i in 0..3u64 {
            ch.send(&(i + u64::from(std::process::id()))).unwrap();
        }
    })
    .unwrap();
    let got: Vec<u64> = ch.by_ref().map(|m| m.unwrap()).collect();
    let pid = ch.pid();
    assert_eq!(got, [0, 1, 2].map(|i| i + u64::from(pid)));
    let r = ch.report();
    assert_eq!(
        (r.family, r.jobs, r.failed, r.limit, r.deaths),
        ("Channel", 1, 0, 1, 0),
        "{r}"
    );
    assert!(r.site.contains("job_report.rs:"), "{r}");
    assert_eq!((r.messages, r.result_bytes), (3, 24), "{r}");
    assert_eq!(r.per_worker.len(), 1, "{r}");
    let w = &r.per_worker[0];
    assert_eq!((w.pid, w.messages, w.bytes), (pid as i32, 3, 24), "{r}");
    assert!(
        w.pid != me && w.died.is_none() && r.fork > std::time::Duration::ZERO,
        "{r}"
    );
    assert!(r.wall >= r.fork, "the wall time includes the fork: {r}");
    drop(ch);
    let last = par::last_family_report().expect("the channel's report, once dropped");
    assert_eq!(
        (last.family, last.messages, last.per_worker.len()),
        ("Channel", 3, 1)
    );

    let mut ex: Exchange<(), u32> = Exchange::new(2);
    for k in 0..3u32 {
        ex.start(move |ch: &mut Channel<u32, ()>| {
            ch.send(&std::process::id()).unwrap();
            if k == 2 {
                // SAFETY: raising a signal has no memory-safety preconditions; the child ends.
                unsafe { libc::raise(libc::SIGKILL) };
            }
            ch.send(&k).unwrap();
        });
    }
    let mut senders = Vec::new();
    let mut errors = Vec::new();
    ex.finish(|id, msg| match msg {
        Ok(v) if v > 2 => senders.push((id, v as i32)),
        Ok(_) => {}
        Err(e) => errors.push((id, e)),
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 2, "{errors:?}");
    let dead = senders
        .iter()
        .find(|(id, _)| *id == 2)
        .expect("child 2's pid")
        .1;
    assert_eq!(errors[0].1.pid(), Some(dead), "{errors:?}");
    let r = ex.report();
    assert_eq!(
        (r.family, r.jobs, r.failed, r.limit, r.deaths),
        ("Exchange", 3, 1, 2, 1),
        "{r}"
    );
    assert_eq!((r.messages, r.result_bytes), (5, 20), "{r}");
    let pids: BTreeSet<i32> = r.per_worker.iter().map(|w| w.pid).collect();
    let sent: BTreeSet<i32> = senders.iter().map(|(_, pid)| *pid).collect();
    assert_eq!(
        pids, sent,
        "a per_worker entry per child, with its pid: {r}"
    );
    for w in &r.per_worker {
        if w.pid == dead {
            assert_eq!((w.messages, w.bytes), (1, 4), "{r}");
            let how = w.died.as_deref().expect("how child 2 died");
            assert!(
                how.contains(&dead.to_string()) && how.contains("SIGKILL"),
                "{how}"
            );
        } else {
            assert_eq!(
                (w.messages, w.bytes, w.died.as_deref()),
                (2, 8, None),
                "{r}"
            );
        }
    }
    assert!(r.to_string().contains(&format!("{dead} died: ")), "{r}");
    drop(ex);
    assert_eq!(par::last_family_report().map(|r| r.deaths), Some(1));

    let dir = std::path::PathBuf::from(std::env::var("PAR_DIR").unwrap_or_default());
    let path = dir.join("talk.socket");
    let job = par::background(&path, || vec![7u8; 1000]).unwrap();
    let r = job.report();
    assert_eq!((r.family, r.jobs, r.limit), ("Background", 1, 1), "{r}");
    assert_eq!(r.per_worker.len(), 1, "{r}");
    assert_eq!(r.per_worker[0].pid as u32, job.pid(), "{r}");
    assert!(r.wall >= r.fork, "the wall time includes the fork: {r}");
    let job_pid = job.pid();
    drop(job);
    let mut queue = par::BackgroundQueue::<Vec<u8>>::connect(&path).unwrap();
    assert_eq!(queue.report().messages, 0);
    assert_eq!(queue.recv().unwrap(), vec![7u8; 1000]);
    let r = queue.report();
    assert_eq!(
        (r.family, r.jobs, r.failed, r.messages, r.per_worker.len()),
        ("BackgroundQueue", 1, 0, 1, 0),
        "{r}"
    );
    assert!((1000..1100).contains(&r.result_bytes), "{r}");
    drop(queue);
    // The detached job ends once its result was delivered; it is init's to reap.
    common::wait_until("the background job to end", || {
        !std::path::Path::new(&format!("/proc/{job_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{job_pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
}

#[test]
fn channels_exchanges_and_background_jobs_report_their_children_messages_and_deaths() {
    let _guard = watchdog("job-report-talk");
    let dir = temp_dir("job-report-talk");
    let out = fixture_mode("talk", &dir, &[("PAR_REPORT", "1")]);
    let err = String::from_utf8_lossy(&out.stderr);
    let heads: Vec<&str> = err.lines().filter(|l| l.starts_with("par: ")).collect();
    // One block per family, none from a child's end of a channel.
    assert_eq!(heads.len(), 4, "{err}");
    for (head, want) in heads.iter().zip([
        "par: Channel ",
        "par: Exchange ",
        "par: Background ",
        "par: BackgroundQueue ",
    ]) {
        assert!(
            head.starts_with(want) && head.contains("job_report.rs:"),
            "{err}"
        );
    }
    assert!(heads[0].contains("1 job  limit 1  1 child forked"), "{err}");
    assert!(
        heads[1].contains("3 jobs (1 failed)  limit 2  3 children forked"),
        "{err}"
    );
    assert!(
        heads[3].contains("1 job  limit 1  0 children forked"),
        "{err}"
    );
    assert!(err.contains("received 3 messages (24 B)"), "{err}");
    assert!(err.contains("received 5 messages (20 B) = "), "{err}");
    assert!(err.contains("fork ") && err.contains("deaths 1"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains(" died: ") && l.contains("SIGKILL")),
        "{err}"
    );
    print!("{err}");
}

#[test]
fn the_talking_families_say_nothing_unless_asked() {
    let _guard = watchdog("job-report-talk-off");
    let dir = temp_dir("job-report-talk-off");
    let out = fixture_mode("talk", &dir, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.lines().any(|l| l.starts_with("par: ")), "{err}");
}
