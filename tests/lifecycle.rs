//! What happens around a loop: processes and fds are all given back, output is not duplicated,
//! workers never outlive their parent, and the sequential modes run inline.
//!
//! Subprocess cases re-run this test binary with `PAR_FIXTURE=<mode>` selecting the `fixture`
//! test (ignored otherwise), so each case gets a fresh process with its own environment.
#![cfg(all(unix, not(par_fallback_sys)))] // workers, signals and /proc: fork only

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{children, no_children_left, open_fds, run_fixture, temp_dir, watchdog};
use par::{Error, Loop, Schedule};

/// The subprocess side of the tests below; does nothing in a normal test run.
#[test]
#[ignore = "a fixture run as a subprocess by the other tests"]
fn fixture() {
    let Ok(mode) = std::env::var("PAR_FIXTURE") else {
        return;
    };
    let dir = std::env::var_os("PAR_DIR").map(std::path::PathBuf::from);
    match mode.as_str() {
        "print-once" => {
            print!("BEFORE-THE-LOOP ");
            Loop::new()
                .workers(2)
                .schedule(Schedule::Dynamic(1))
                .for_each(0..4u32, |i| {
                    println!("BODY-LINE-{i}");
                });
            println!("AFTER-THE-LOOP");
        }
        "sleep-forever" => {
            let dir = dir.expect("PAR_DIR");
            Loop::new()
                .workers(2)
                .schedule(Schedule::Static)
                .for_each(0..2u32, |_| {
                    let pid = std::process::id();
                    std::fs::write(dir.join(pid.to_string()), b"").expect("write pid file");
                    std::thread::sleep(Duration::from_secs(600));
                });
        }
        "workers-env-1" => {
            // PAR_WORKERS=1: inline, even though the loop asks for 4.
            let pids = Loop::new()
                .workers(4)
                .collect(0..8u32, |_| std::process::id());
            assert!(pids.iter().all(|&p| p == std::process::id()), "{pids:?}");
            println!("FIXTURE-OK");
        }
        "check-env-1" => {
            let r = Loop::new()
                .workers(1)
                .try_collect(0..3u32, |i| Ok::<Lossy, String>(Lossy(i)));
            match r {
                Err(e @ Error::Decode { .. }) => assert_eq!(e.index(), Some(0), "{e}"),
                other => panic!("PAR_CHECK=1 let a lossy type through: {other:?}"),
            }
            println!("FIXTURE-OK");
        }
        "progress" => {
            let v = Loop::new()
                .workers(2)
                .progress(true)
                .schedule(Schedule::Dynamic(1))
                .collect(0..40u32, |i| {
                    std::thread::sleep(Duration::from_millis(5));
                    if i % 10 == 0 {
                        println!("line-from-item-{i}");
                    }
                    i
                });
            println!("FIXTURE-DONE {}", v.len());
        }
        "queue-stdout" => {
            let mut queue = par::Queue::new(2);
            for i in 0..3 {
                queue.spawn(move || {
                    print!("JOB-{i}-OUTPUT "); // no newline: still in the child's buffer at its exit
                    i
                });
            }
            assert_eq!(queue.count(), 3);
            let mut pool = par::Pool::new(1);
            for i in 0..3 {
                print_unflushed::spawn(&mut pool, i);
            }
            assert_eq!(pool.count(), 3);
            println!();
        }
        "queue-progress" => {
            let mut queue = par::Queue::new(2).progress(true);
            for i in 0..5u32 {
                queue.spawn(move || i);
            }
            assert_eq!(queue.count(), 5);
            let squares = par::pmap(|x: u32| x * x, 0..3, 2).progress(true);
            assert_eq!(squares.count(), 3);
            println!("FIXTURE-DONE");
        }
        "timeout-threads" => {
            // Three more threads, parked: the parent forks with a known number of threads.
            let ready = std::sync::Arc::new(std::sync::Barrier::new(4));
            for _ in 0..3 {
                let ready = ready.clone();
                std::thread::spawn(move || {
                    ready.wait();
                    loop {
                        std::thread::park(); // until the process exits
                    }
                });
            }
            ready.wait();
            let threads = std::fs::read_dir("/proc/self/task")
                .expect("/proc/self/task")
                .count();
            let r = Loop::new()
                .workers(2)
                .schedule(Schedule::Dynamic(1))
                .timeout(Duration::from_secs(1))
                .try_collect(0..4u32, |i| {
                    if i == 2 {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                    Ok::<u32, String>(i)
                });
            let e = r.expect_err("item 2 times out");
            println!("THREADS {threads} PID {}", e.pid().unwrap_or(0));
            println!("ERROR {e}");
        }
        other => panic!("unknown fixture {other}"),
    }
}

/// Prints without a newline: the text is still in the pool worker's stdout buffer when the
/// call returns, and must be flushed before the result is sent.
#[par::parallel]
fn print_unflushed(i: u32) -> u32 {
    print!("POOL-CALL-{i}-OUTPUT ");
    i
}

/// A type whose `Deserialize` rejects what its `Serialize` wrote: fine inline, broken across
/// processes, which `PAR_CHECK=1` must reveal without forking.
#[derive(Debug)]
struct Lossy(u32);

impl serde::Serialize for Lossy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Lossy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Two numbers where one was written: no encoding of any value decodes (a `String`
        // would accept a short varint as the length of an empty string).
        let (a, b) = <(u32, u32)>::deserialize(d)?;
        Ok(Lossy(a + b))
    }
}

#[test]
fn a_thousand_loops_leave_no_fd_and_no_child() {
    let _guard = watchdog("thousand");
    let fds = open_fds();
    for n in 0..1000u32 {
        let l = Loop::new().workers(2);
        match n % 4 {
            0 => assert_eq!(l.collect(0..3u32, |i| i + n), vec![n, n + 1, n + 2]),
            1 => match l.try_collect(0..3u32, |i| if i == 1 { Err("no") } else { Ok(i) }) {
                Err(Error::Failed {
                    index: 1, message, ..
                }) => assert_eq!(message, "no"),
                other => panic!("loop {n}: {other:?}"),
            },
            2 => {
                let first = l.unordered(0..100u32, |i| i).next();
                // Dropped early: workers are killed and reaped.
                assert!(first.is_some_and(|v| v < 100), "loop {n}: {first:?}");
            }
            _ => match l.timeout(Duration::from_secs(5)).try_for_each(
                0..2u32,
                |i| -> Result<(), String> {
                    assert!(i != 1, "boom");
                    Ok(())
                },
            ) {
                Err(Error::Panicked {
                    index: 1, message, ..
                }) => assert_eq!(message, "boom"),
                other => panic!("loop {n}: {other:?}"),
            },
        }
    }
    assert_eq!(open_fds(), fds, "fds leaked");
    no_children_left();
}

#[test]
fn output_printed_before_a_loop_appears_once_and_worker_output_is_kept() {
    let _guard = watchdog("print-once"); // spawns processes: not while another test counts fds
    let out = run_fixture("print-once", None)
        .output()
        .expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("BEFORE-THE-LOOP").count(), 1, "{stdout}");
    for i in 0..4 {
        assert_eq!(
            stdout.matches(&format!("BODY-LINE-{i}\n")).count(),
            1,
            "{stdout}"
        );
    }
    assert_eq!(stdout.matches("AFTER-THE-LOOP").count(), 1, "{stdout}");
}

/// Starts the sleep-forever fixture and returns it with its two workers' pids.
#[allow(clippy::zombie_processes)] // the callers kill and wait for the child it returns
fn sleeping_fixture(
    name: &str,
    own_group: bool,
) -> (std::process::Child, Vec<i32>, common::TempDir) {
    let dir = temp_dir(name);
    let mut cmd = run_fixture("sleep-forever", Some(dir.as_path()));
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    if own_group {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let child = cmd.spawn().expect("spawn the fixture");
    let start = Instant::now();
    loop {
        let pids: Vec<i32> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if pids.len() == 2 {
            return (child, pids, dir);
        }
        if start.elapsed() > Duration::from_secs(30) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            panic!("the fixture's workers did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True once `pid` no longer runs (gone, or a zombie waiting for init to reap it).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 2..].chars().next()) == Some('Z'),
    }
}

fn assert_all_gone_within(pids: &[i32], limit: Duration) {
    let start = Instant::now();
    while !pids.iter().all(|&p| gone(p)) {
        assert!(
            start.elapsed() < limit,
            "workers {pids:?} outlived their parent by {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn workers_die_when_the_parent_is_killed() {
    let _guard = watchdog("sigkill"); // spawns processes: not while another test counts fds
    let (mut parent, workers, dir) = sleeping_fixture("sigkill", false);
    // SAFETY (test): kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(parent.id() as i32, libc::SIGKILL) };
    let _ = parent.wait();
    // They go at once (the kernel signals them when the parent's end of their death pipe
    // closes); 10 s is a bound that a very loaded machine still meets.
    assert_all_gone_within(&workers, Duration::from_secs(10));
    drop(dir);
}

#[test]
fn ctrl_c_stops_the_parent_and_every_worker() {
    let _guard = watchdog("sigint"); // spawns processes: not while another test counts fds
    let (mut parent, workers, dir) = sleeping_fixture("sigint", true);
    let group = parent.id() as i32;
    // SAFETY (test): kill(2) has no memory-safety preconditions; -group is the fixture's group.
    unsafe { libc::kill(-group, libc::SIGINT) };
    let status = parent.wait().expect("wait for the fixture");
    assert!(!status.success(), "the parent should have been interrupted");
    // They go at once (the kernel signals them when the parent's end of their death pipe
    // closes); 10 s is a bound that a very loaded machine still meets.
    assert_all_gone_within(&workers, Duration::from_secs(10));
    drop(dir);
}

/// Runs fixture `mode` with one environment variable set; it must print FIXTURE-OK.
fn fixture_succeeds(mode: &str, var: &str, value: &str) {
    let _guard = watchdog("fixture"); // spawns processes: not while another test counts fds
    let out = run_fixture(mode, None)
        .env(var, value)
        .output()
        .expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("FIXTURE-OK"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn par_workers_1_runs_every_loop_inline() {
    fixture_succeeds("workers-env-1", "PAR_WORKERS", "1");
}

#[test]
fn par_check_1_finds_serialization_bugs_without_forking() {
    fixture_succeeds("check-env-1", "PAR_CHECK", "1");
}

#[test]
fn sequential_and_nested_loops_run_inline() {
    let _guard = watchdog("nested");
    let me = std::process::id();
    assert_eq!(
        par::sequential(|| Loop::new()
            .workers(4)
            .collect(0..4u32, |_| std::process::id())),
        vec![me; 4]
    );
    // Each outer item runs in a worker; the loop inside it runs inline in that same worker.
    let inner = Loop::new()
        .workers(2)
        .schedule(Schedule::Dynamic(1))
        .collect(0..4u32, |_| {
            let outer_pid = std::process::id();
            let pids = Loop::new()
                .workers(4)
                .collect(0..3u32, |_| (std::process::id(), par::in_worker()));
            (outer_pid, pids)
        });
    let inline = std::env::var("PAR_WORKERS").is_ok_and(|v| v.trim() == "1");
    for (outer_pid, pids) in inner {
        // PAR_WORKERS=1 runs the outer loop inline too.
        assert_eq!(outer_pid == me, inline, "outer item ran in {outer_pid}");
        assert!(
            pids.iter().all(|&(p, w)| p == outer_pid && w != inline),
            "{pids:?}"
        );
    }
    assert!(!par::in_worker());
    no_children_left();
}

#[test]
fn sixteen_threads_forking_at_once_never_hang() {
    let _guard = watchdog("threads");
    for round in 0..10u64 {
        let threads: Vec<_> = (0..16u64)
            .map(|t| {
                std::thread::spawn(move || {
                    let l = Loop::new().workers(2).schedule(Schedule::Dynamic(3));
                    let v = l.collect(0..200u64, |i| i * t + round);
                    assert_eq!(v, (0..200).map(|i| i * t + round).collect::<Vec<_>>());
                    if t % 4 == 0 {
                        // A panic in one thread's loop while the others fork.
                        let r = l.try_collect(0..10u64, |i| {
                            if i == 3 {
                                panic!("t{t}")
                            } else {
                                Ok::<u64, String>(i)
                            }
                        });
                        assert_eq!(r.unwrap_err().index(), Some(3));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a thread's loop failed");
        }
    }
    let left = children();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_progress_bar_draws_on_a_terminal_and_keeps_worker_lines_whole() {
    let _guard = watchdog("progress-pty"); // spawns processes: not while another test counts fds
    // `script` runs the fixture under a pseudo-terminal (util-linux, on every Debian machine).
    if let Err(e) = Command::new("script").arg("--version").output() {
        common::skip(&format!(
            "the progress bar on a terminal was not tested: `script` (util-linux) can't run: {e}"
        ));
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let cmd = format!(
        "{} --exact fixture --ignored --nocapture --test-threads=1",
        exe.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("PAR_FIXTURE", "progress")
        .env_remove("PAR_WORKERS")
        .env_remove("PAR_PROGRESS")
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("40/40 items"), "no finished bar in: {text}");
    assert!(text.contains("FIXTURE-DONE 40"), "{text}");
    for i in [0, 10, 20, 30] {
        // Each worker line is printed whole, on a line of its own: after a clear-line code, and
        // ended either by a newline or by spaces up to the terminal's width, so that the bar
        // drawn next starts on the next row (indicatif pads printed lines to the width; the pty
        // that `script` opens without a terminal of its own reports none, so indicatif uses 80).
        let line = format!("line-from-item-{i}");
        assert_eq!(
            text.matches(&format!("{line}\r\n")).count()
                + text.matches(&format!("{line} ")).count(),
            1,
            "{line:?} in: {text:?}"
        );
        let at = text.find(&line).unwrap_or(0);
        let before = &text[..at];
        assert!(
            before.ends_with('\n') || before.ends_with("\x1b[2K") || before.ends_with('\r'),
            "{line:?} glued to: {:?}",
            &before[before.len().saturating_sub(40)..]
        );
        let after = &text[at + line.len()..];
        let pad = after.len() - after.trim_start_matches(' ').len();
        assert!(
            after.starts_with("\r\n") || (pad > 0 && line.len() + pad == 80),
            "{line:?} not ended by a newline or padded to 80 columns: {:?}",
            &after[..after.len().min(120)]
        );
    }
}

#[test]
fn par_progress_1_prints_plain_lines_when_not_a_terminal() {
    let _guard = watchdog("progress-lines"); // spawns processes: not while another test counts fds
    let out = run_fixture("progress", None)
        .env("PAR_PROGRESS", "1")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("par: 40/40 items (100%)"), "{stderr}");
}

#[test]
fn queues_and_pmap_show_progress_of_their_jobs() {
    let _guard = watchdog("queue-progress"); // spawns processes: not while another test counts fds
    let out = run_fixture("queue-progress", None)
        .env("PAR_PROGRESS", "1")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("par: 5/5 items (100%)"), "{stderr}");
    assert!(stderr.contains("par: 3/3 items (100%)"), "{stderr}");
}

#[test]
fn buffered_stdout_of_a_job_or_a_pool_call_is_not_lost() {
    let _guard = watchdog("queue-stdout"); // spawns processes: not while another test counts fds
    let out = run_fixture("queue-stdout", None)
        .output()
        .expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for i in 0..3 {
        assert_eq!(
            stdout.matches(&format!("JOB-{i}-OUTPUT")).count(),
            1,
            "{stdout}"
        );
        assert_eq!(
            stdout.matches(&format!("POOL-CALL-{i}-OUTPUT")).count(),
            1,
            "{stdout}"
        );
    }
}

#[test]
fn a_timeout_names_the_parents_threads_at_the_fork() {
    let _guard = watchdog("timeout-threads"); // spawns processes: not while another test counts fds
    let out = run_fixture("timeout-threads", None)
        .output()
        .expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |key: &str| -> usize {
        stdout
            .split(&format!("{key} "))
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in: {stdout}"))
    };
    let (threads, pid) = (field("THREADS"), field("PID"));
    // The fixture's own three parked threads, the test's and the main thread.
    assert!(threads >= 4, "{stdout}");
    let want = format!(
        "ERROR item 2 timed out after 1s in worker {pid}; the worker was killed (the parent had \
         {threads} threads when it forked: a lock held by another thread at the fork stays \
         locked forever in a worker)\n"
    );
    assert!(stdout.contains(&want), "{want:?} not in: {stdout:?}");
}
