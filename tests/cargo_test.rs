//! par inside `cargo test`: what libtest's output capture does to a worker's `println!`, and
//! that a loop in a failing test leaves no process behind.
//!
//! libtest captures `print!`/`println!` per test thread (a thread-local buffer). A forked
//! worker inherits a *copy* of that buffer: its `println!` (and `eprintln!`) goes there and is discarded when the
//! worker exits, so it is missing from the test's captured output, and also from the
//! terminal. What a worker writes with `std::io::stdout()` directly (or under `--nocapture`)
//! is not captured: it goes to the test binary's stdout at once. The fixture below pins both.

mod common;

use std::io::Write;
use std::process::Command;

#[test]
#[ignore = "run by the other tests, in a process of its own"]
fn fixture() {
    let Ok(mode) = std::env::var("PAR_FIXTURE") else {
        return;
    };
    match mode.as_str() {
        "capture" => {
            println!("parent: captured");
            par::Loop::new().workers(2).for_each(0..2u32, |i| {
                println!("worker println {i}");
                eprintln!("worker eprintln {i}");
                let _ = writeln!(std::io::stdout(), "worker stdout {i}");
            });
            panic!("failing on purpose, so that libtest prints what it captured");
        }
        "die" => {
            // A test whose loop fails: the body panics in a worker; the test panics with it.
            let dir = std::env::var("PAR_DIR").expect("PAR_DIR");
            par::Loop::new().workers(2).for_each(0..100u32, |i| {
                let me = std::process::id();
                let _ = std::fs::write(format!("{dir}/{me}"), b"");
                if i == 50 {
                    panic!("item 50 fails the test");
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            });
        }
        other => panic!("unknown fixture mode {other}"),
    }
}

/// Runs the fixture the way `cargo test` runs a test: output captured unless `nocapture`.
/// Returns whether it passed, and its stdout and stderr.
fn run(mode: &str, nocapture: bool, dir: Option<&std::path::Path>) -> (bool, String, String) {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args(["--exact", "fixture", "--ignored", "--test-threads=1"])
        .env("PAR_FIXTURE", mode)
        .env_remove("PAR_WORKERS")
        .env_remove("RUST_BACKTRACE");
    if nocapture {
        cmd.arg("--nocapture");
    }
    if let Some(dir) = dir {
        cmd.env("PAR_DIR", dir);
    }
    let out = cmd.output().expect("run the fixture");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text libtest printed as the failed test's captured stdout.
fn captured(stdout: &str) -> &str {
    let start = stdout
        .find("---- fixture stdout ----")
        .unwrap_or_else(|| panic!("no captured section: {stdout}"));
    let rest = &stdout[start..];
    let end = rest.find("\nfailures:").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn a_worker_s_println_is_lost_under_capture_and_its_stdout_writes_are_not() {
    if !common::loops_fork() {
        return;
    }
    // Held while the fixture runs: it is a child that another test would count.
    let _w =
        common::watchdog("a_worker_s_println_is_lost_under_capture_and_its_stdout_writes_are_not");
    let (ok, out, err) = run("capture", false, None);
    assert!(!ok, "the fixture fails on purpose: {out}");
    let section = captured(&out);
    assert!(section.contains("parent: captured"), "{out}");
    // The documented loss: a worker's `println!` and `eprintln!` went to its copy of the
    // capture buffer.
    for lost in ["worker println", "worker eprintln"] {
        assert!(!out.contains(lost) && !err.contains(lost), "{out}\n{err}");
    }
    // Written to stdout itself, it reaches the test binary's stdout (not the test's section).
    for i in 0..2 {
        assert!(out.contains(&format!("worker stdout {i}")), "{out}");
        assert!(!section.contains(&format!("worker stdout {i}")), "{out}");
    }
    // Under `--nocapture` nothing is captured: the worker's `println!` is printed.
    let (_, out, err) = run("capture", true, None);
    for i in 0..2 {
        assert!(out.contains(&format!("worker println {i}")), "{out}");
    }
    // Unbuffered stderr writes `eprintln!`'s pieces one by one, so the two workers' lines may
    // interleave (`worker eprintln worker eprintln 0\n1\n`): count them instead.
    assert_eq!(err.matches("worker eprintln ").count(), 2, "{err}");
}

#[test]
fn a_failing_test_s_loop_leaves_no_process_behind() {
    if !common::loops_fork() {
        return;
    }
    // Held while the fixture runs: it is a child that another test would count.
    let _w = common::watchdog("a_failing_test_s_loop_leaves_no_process_behind");
    let dir = common::temp_dir("cargo-test-die");
    let (ok, out, _) = run("die", false, Some(&dir));
    assert!(!ok, "the fixture's loop fails: {out}");
    assert!(out.contains("item 50 fails the test"), "{out}");
    let pids: Vec<u32> = std::fs::read_dir(&*dir)
        .expect("the pid files")
        .map(|e| {
            let e = e.expect("an entry");
            e.file_name().to_string_lossy().parse().expect("a pid")
        })
        .collect();
    assert!(!pids.is_empty(), "no worker ran");
    // The test binary has exited: none of its workers may be alive.
    common::wait_until("the failed test's workers to be gone", || {
        pids.iter().all(|pid| gone(*pid))
    });
}

/// True when `pid` no longer runs (gone, or a zombie waiting for someone else's reaping).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].chars().next())
            .is_some_and(|state| state == 'Z' || state == 'X'),
    }
}

/// In the test's own process: a loop whose body panics, and an `unordered` loop whose consumer
/// panics, both under `catch_unwind` as a failing `#[test]` unwinds, leave no child.
#[test]
fn a_panicking_loop_in_a_test_leaves_no_child() {
    if !common::loops_fork() {
        return;
    }
    let _w = common::watchdog("a_panicking_loop_in_a_test_leaves_no_child");
    let body = std::panic::catch_unwind(|| {
        par::Loop::new().workers(2).for_each(0..100u32, |i| {
            assert!(i != 7, "item 7 fails");
        })
    });
    assert!(body.is_err());
    common::no_children_left();
    let consumer = std::panic::catch_unwind(|| {
        for v in par::Loop::new().workers(2).unordered(0..1000u32, |i| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            i
        }) {
            assert!(v < 3, "the test's own assertion fails mid-loop");
        }
    });
    assert!(consumer.is_err());
    common::no_children_left();
}
