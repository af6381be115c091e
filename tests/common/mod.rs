//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Tests that count children or fds hold this while they fork, so that other tests of the same
/// binary (libtest runs them on threads) don't fork meanwhile (nix's `FORK_MTX`).
static FORK: Mutex<()> = Mutex::new(());

/// Holds [`FORK`] and fails the whole test binary loudly if the test takes longer than a minute,
/// so that a hang is a failure with a name, never a stuck CI job.
pub struct Watchdog {
    _lock: MutexGuard<'static, ()>,
    done: std::sync::mpsc::Sender<()>,
}

pub fn watchdog(name: &'static str) -> Watchdog {
    let lock = FORK.lock().unwrap_or_else(PoisonError::into_inner);
    let (done, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(Duration::from_secs(60))
        {
            eprintln!("test `{name}` hung for 60 s: aborting the test binary");
            std::process::abort();
        }
    });
    Watchdog { _lock: lock, done }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.done.send(());
    }
}

/// Pids of this process' children, live or zombie (Linux `/proc`).
pub fn children() -> Vec<(i32, char)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut f = rest.split(' ');
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: i32 = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == me {
            if let Ok(pid) = entry.file_name().to_string_lossy().parse() {
                out.push((pid, state));
            }
        }
    }
    out
}

/// Asserts that no child (live or zombie) of this process remains.
pub fn no_children_left() {
    let left = children();
    assert!(
        left.is_empty(),
        "children left behind (pid, state): {left:?}"
    );
}

/// Number of open fds of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A fresh empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("par-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// This test binary, re-run to execute only its ignored `fixture` test with
/// `PAR_FIXTURE=mode` (and `PAR_DIR=dir`): a fresh process with its own environment.
pub fn run_fixture(mode: &str, dir: Option<&Path>) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args([
        "--exact",
        "fixture",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("PAR_FIXTURE", mode)
    .env_remove("PAR_WORKERS")
    .env_remove("PAR_CHECK");
    if let Some(dir) = dir {
        cmd.env("PAR_DIR", dir);
    }
    cmd
}
