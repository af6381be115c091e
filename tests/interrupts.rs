//! A Ctrl-C is an interruption, not a crash: a helper parent (this test binary, re-run as its
//! `fixture` test in a process group of its own) ignores `SIGINT`, as a program with its own
//! handler would, and runs long items in loop workers, `Pool` workers or `Queue` jobs; the test
//! sends `SIGINT` to the whole group, as a terminal does. Each form reports
//! `Error::Interrupted` naming the signal (or `Error::Cancelled` with a `Cancel` attached,
//! which is then cancelled), and never runs an interrupted item again, although it may retry.
#![cfg(all(unix, not(par_fallback_sys)))] // workers, signals and /proc: fork only

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{run_fixture, temp_dir, watchdog};
use par::{Cancel, Error, Loop, Schedule};

/// An item: writes its pid into `dir`, sleeps far longer than any test.
fn sleeper(dir: &Path) {
    let pid = std::process::id();
    std::fs::write(dir.join(pid.to_string()), b"").expect("write pid file");
    std::thread::sleep(Duration::from_secs(600));
}

#[par::parallel]
fn pool_sleeper(dir: PathBuf) -> u32 {
    sleeper(&dir);
    0
}

/// How an error reads in the fixture's report: the kind the test checks for.
fn kind(r: &Result<(), Error>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(Error::Interrupted {
            signal,
            index: Some(_),
            ..
        }) => format!("interrupted-{signal}"),
        Err(Error::Cancelled) => "cancelled".into(),
        Err(e) => format!("other: {e}"),
    }
}

/// The subprocess side of the tests below; does nothing in a normal test run.
#[test]
#[ignore = "a fixture run as a subprocess by the other tests"]
fn fixture() {
    let Ok(mode) = std::env::var("PAR_FIXTURE") else {
        return;
    };
    let dir = std::env::var_os("PAR_DIR")
        .map(PathBuf::from)
        .expect("PAR_DIR");
    // SAFETY (test): SIG_IGN is a valid disposition.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN); // as `nohup` does
    }
    let cancel = Cancel::new();
    let with_cancel = mode.ends_with("-cancel");
    let mut results: Vec<Result<(), Error>> = Vec::new();
    match mode.trim_end_matches("-cancel") {
        "loop" => {
            let mut opts = Loop::new().workers(2).schedule(Schedule::Static).retries(2);
            if with_cancel {
                opts = opts.cancel(&cancel);
            }
            let r = opts.try_for_each(0..2u32, |_| {
                sleeper(&dir);
                Ok::<(), String>(())
            });
            if let Err(e) = &r {
                println!("MESSAGE {e}");
            }
            results.push(r);
        }
        "pool" => {
            let mut pool = par::Pool::new(2).retries(2);
            if with_cancel {
                pool = pool.cancel(&cancel);
            }
            for _ in 0..2 {
                pool_sleeper::spawn(&mut pool, dir.clone());
            }
            results.extend(pool.map(|(_, r)| r.map(drop)));
        }
        "queue" => {
            let mut queue = par::Queue::new(2).retries(2);
            if with_cancel {
                queue = queue.cancel(&cancel);
            }
            for _ in 0..2 {
                let dir = dir.clone();
                queue.spawn(move || sleeper(&dir));
            }
            results.extend(queue.map(|(_, r)| r));
        }
        "channel" => {
            let dir = dir.clone();
            let mut ch: par::Channel<(), ()> = par::start(move |_: &mut par::Channel<(), ()>| {
                sleeper(&dir);
            })
            .expect("start");
            results.push(ch.recv().map(drop));
        }
        "nohup" => {
            // Items that outlast the SIGHUP the test sends once both have started.
            let r = Loop::new()
                .workers(2)
                .schedule(Schedule::Static)
                .try_for_each(0..2u32, |_| {
                    let pid = std::process::id();
                    std::fs::write(dir.join(pid.to_string()), b"").expect("write pid file");
                    std::thread::sleep(Duration::from_secs(1));
                    Ok::<(), String>(())
                });
            results.push(r);
        }
        other => panic!("unknown fixture {other}"),
    }
    for r in &results {
        println!("RESULT {}", kind(r));
    }
    println!("CANCELLED {}", cancel.is_cancelled());
    let runs = std::fs::read_dir(&dir).expect("the pid dir").count();
    println!("RUNS {runs}");
}

/// [`signal_group`] with `SIGINT` (a Ctrl-C) and two sleepers.
fn ctrl_c(mode: &str) -> String {
    signal_group(mode, libc::SIGINT, 2)
}

/// Runs fixture `mode` in its own process group, waits for `runs` pid files, sends `signal`
/// to the group and returns what the fixture printed, checking that no item ran again.
fn signal_group(mode: &str, signal: i32, runs: usize) -> String {
    let _guard = watchdog("interrupts"); // spawns processes: not while another test counts fds
    let dir = temp_dir(&format!("interrupts-{mode}"));
    let mut cmd = run_fixture(mode, Some(dir.as_path()));
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut parent = cmd.spawn().expect("spawn the fixture");
    let start = Instant::now();
    while std::fs::read_dir(&dir).map_or(0, |d| d.count()) < runs {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = parent.kill();
            let _ = parent.wait();
            panic!("{mode}: the fixture's sleepers did not start");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY (test): kill(2) has no memory-safety preconditions; -pid is the fixture's group.
    unsafe { libc::kill(-(parent.id() as i32), signal) };
    let out = parent.wait_with_output().expect("wait for the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{mode}: {:?}\n{stdout}", out.status);
    assert!(
        stdout.contains(&format!("RUNS {runs}\n")),
        "{mode}: an interrupted item ran again:\n{stdout}"
    );
    stdout
}

fn results(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        // The first may follow libtest's `test fixture ... ` on its line.
        .filter_map(|l| l.find("RESULT ").map(|at| &l[at + "RESULT ".len()..]))
        .collect()
}

#[test]
fn a_ctrl_c_interrupts_a_loop_and_is_not_retried() {
    if !common::loops_fork() {
        return;
    }
    let out = ctrl_c("loop");
    assert_eq!(results(&out), ["interrupted-2"], "{out}");
    assert!(
        out.contains("by signal 2 (SIGINT: a Ctrl-C, or a kill)"),
        "the message names the signal:\n{out}"
    );
    assert!(out.contains("CANCELLED false"), "{out}");
}

#[test]
fn a_ctrl_c_cancels_a_loop_with_a_cancel_handle() {
    if !common::loops_fork() {
        return;
    }
    let out = ctrl_c("loop-cancel");
    assert_eq!(results(&out), ["cancelled"], "{out}");
    assert!(out.contains("CANCELLED true"), "{out}");
}

#[test]
fn a_ctrl_c_interrupts_each_pool_call_and_is_not_retried() {
    if !common::loops_fork() {
        return;
    }
    let out = ctrl_c("pool");
    assert_eq!(results(&out), ["interrupted-2"; 2], "{out}");
}

#[test]
fn a_ctrl_c_cancels_a_pool_with_a_cancel_handle() {
    if !common::loops_fork() {
        return;
    }
    let out = ctrl_c("pool-cancel");
    assert_eq!(results(&out), ["cancelled"; 2], "{out}");
    assert!(out.contains("CANCELLED true"), "{out}");
}

#[test]
fn a_ctrl_c_interrupts_each_queue_job_and_is_not_retried() {
    if !common::loops_fork() {
        return;
    }
    let out = ctrl_c("queue");
    assert_eq!(results(&out), ["interrupted-2"; 2], "{out}");
}

#[test]
fn a_ctrl_c_cancels_a_queue_with_a_cancel_handle() {
    if !common::loops_fork() {
        return;
    }
    let out = ctrl_c("queue-cancel");
    assert_eq!(results(&out), ["cancelled"; 2], "{out}");
    assert!(out.contains("CANCELLED true"), "{out}");
}

#[test]
fn a_ctrl_c_interrupts_a_started_child() {
    // A channel's child is forked even with `PAR_WORKERS=1`.
    let out = signal_group("channel", libc::SIGINT, 1);
    assert_eq!(results(&out), ["interrupted-2"], "{out}");
}

/// A `nohup` parent (`SIGHUP` ignored): its workers ignore it too, and the loop finishes.
#[test]
fn a_hangup_does_not_interrupt_the_workers_of_a_nohup_parent() {
    if !common::loops_fork() {
        return;
    }
    let out = signal_group("nohup", libc::SIGHUP, 2);
    assert_eq!(results(&out), ["ok"], "{out}");
}
