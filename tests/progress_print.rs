//! `par::progress::println!` and `eprintln!`: the parent's own lines while a progress bar is
//! drawn are printed above the bar, never over it; and the bar's rate has three significant
//! digits.
//!
//! The terminal cases re-run this test binary under `script` (a pseudo-terminal) with
//! `PAR_FIXTURE=<mode>` selecting the `fixture` test (ignored otherwise).
#![cfg(all(unix, not(par_fallback_sys)))] // the bar is drawn by a parent with forked workers

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::watchdog;

/// The subprocess side of the tests below; does nothing in a normal test run.
#[test]
#[ignore = "a fixture run as a subprocess by the other tests"]
fn fixture() {
    let Ok(mode) = std::env::var("PAR_FIXTURE") else {
        return;
    };
    match mode.as_str() {
        "queue" => {
            // Imported, they replace the standard macros in this scope.
            use par::progress::{eprintln, println};
            let mut queue = par::Queue::new(2).progress(true);
            for i in 0..12u32 {
                queue.spawn(move || {
                    std::thread::sleep(Duration::from_millis(40));
                    i
                });
            }
            for (job, r) in queue {
                println!("PARENT-LINE-{job}-{}", r.expect("job"));
                if job % 4 == 0 {
                    eprintln!("PARENT-ERR-{job}");
                }
            }
            println!("FIXTURE-DONE");
        }
        "unordered" => {
            let n = par::par!(
                progress,
                unordered,
                for i in 0..2000u32 {
                    std::thread::sleep(Duration::from_micros(200));
                    i
                }
            )
            .inspect(|&i| {
                if i % 500 == 0 {
                    par::progress::println!("PARENT-LINE-{i}-{i}");
                }
            })
            .count();
            par::progress::println!("FIXTURE-DONE {n}");
        }
        other => panic!("unknown fixture {other}"),
    }
}

/// Runs the fixture `mode` under a pseudo-terminal; its output (stdout and stderr as the
/// terminal shows them), or `None` after a visible skip when `script` can't run.
fn on_a_terminal(mode: &str) -> Option<String> {
    if let Err(e) = Command::new("script").arg("--version").output() {
        common::skip(&format!(
            "par::progress::println! on a terminal was not tested: `script` (util-linux) can't run: {e}"
        ));
        return None;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let cmd = format!(
        "{} --exact fixture --ignored --nocapture --test-threads=1",
        exe.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("PAR_FIXTURE", mode)
        .env_remove("PAR_WORKERS")
        .env_remove("PAR_PROGRESS")
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    Some(text)
}

/// `line` occurs once, on a row of its own: after a newline, a carriage return or indicatif's
/// clear-line code (never glued to the bar's `ETA 0s`), and ended by a newline.
fn whole_line(text: &str, line: &str) {
    assert_eq!(text.matches(line).count(), 1, "{line:?} in: {text:?}");
    let at = text.find(line).unwrap_or(0);
    let before = &text[..at];
    assert!(
        before.is_empty()
            || before.ends_with('\n')
            || before.ends_with('\r')
            || before.ends_with("\x1b[2K"),
        "{line:?} glued to: {:?}",
        &before[before.len().saturating_sub(60)..]
    );
    let after = &text[at + line.len()..];
    assert!(
        after.starts_with("\r\n"),
        "{line:?} not ended by a newline: {:?}",
        &after[..after.len().min(80)]
    );
}

/// Each rate the bar shows (`items, 187/s,`) has at most three significant digits and no
/// thousands separator.
fn rates_are_short(text: &str) {
    let mut seen = 0;
    for part in text.split("items, ").skip(1) {
        let Some(end) = part.find("/s") else { continue };
        let rate = &part[..end];
        if rate.len() > 12 {
            continue; // not a rate: the text was cut by a redraw
        }
        seen += 1;
        let digits = rate.trim_start_matches(['0', '.']).chars();
        let digits = digits.filter(char::is_ascii_digit).count();
        assert!(
            digits <= 3 && !rate.contains(','),
            "rate {rate:?} is not three significant digits"
        );
    }
    assert!(seen > 0, "no rate in: {text:?}");
}

#[test]
fn parent_lines_print_above_a_queues_bar() {
    let _guard = watchdog("progress-print-queue"); // spawns processes
    let Some(text) = on_a_terminal("queue") else {
        return;
    };
    assert!(text.contains("12/12 items"), "no finished bar in: {text:?}");
    for job in 0..12 {
        whole_line(&text, &format!("PARENT-LINE-{job}-{job}"));
    }
    for job in [0, 4, 8] {
        whole_line(&text, &format!("PARENT-ERR-{job}"));
    }
    whole_line(&text, "FIXTURE-DONE");
    rates_are_short(&text);
}

#[test]
fn parent_lines_print_above_an_unordered_loops_bar() {
    let _guard = watchdog("progress-print-unordered"); // spawns processes
    let Some(text) = on_a_terminal("unordered") else {
        return;
    };
    for i in [0, 500, 1000, 1500] {
        whole_line(&text, &format!("PARENT-LINE-{i}-{i}"));
    }
    whole_line(&text, "FIXTURE-DONE 2000");
    rates_are_short(&text);
}

#[test]
fn without_a_bar_it_is_println() {
    let _guard = watchdog("progress-print-plain"); // spawns processes
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "fixture", "--ignored", "--nocapture"])
        .args(["--test-threads=1"])
        .env("PAR_FIXTURE", "queue")
        .env_remove("PAR_WORKERS")
        .env_remove("PAR_PROGRESS")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for job in 0..12 {
        assert!(
            stdout.contains(&format!("PARENT-LINE-{job}-{job}\n")),
            "{stdout}"
        );
    }
    assert!(stderr.contains("PARENT-ERR-4\n"), "{stderr}");
    assert!(
        !stderr.contains("items"),
        "a bar or lines without a terminal: {stderr}"
    );
}
