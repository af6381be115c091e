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
    watchdog_for(name, Duration::from_secs(60))
}

/// [`watchdog`] with another limit, for the long runs behind `--ignored`.
pub fn watchdog_for(name: &'static str, limit: Duration) -> Watchdog {
    let lock = FORK.lock().unwrap_or_else(PoisonError::into_inner);
    let (done, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("test `{name}` hung for {limit:?}: aborting the test binary");
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

/// Pids of this process' children, live or zombie (Linux `/proc`). Panics if `/proc` can't be
/// read: a leak check that saw nothing because it could look nowhere must not pass.
pub fn children() -> Vec<(i32, char)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let proc = std::fs::read_dir("/proc")
        .unwrap_or_else(|e| panic!("cannot list /proc to count this process' children: {e}"));
    let mut seen_self = false;
    for entry in proc {
        let entry = entry.unwrap_or_else(|e| panic!("cannot read an entry of /proc: {e}"));
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue; // not a process (`self`, `meminfo`, ...)
        };
        // A process may end between the listing and this read: that one is simply gone.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        seen_self |= pid == me;
        // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
        let rest = stat
            .rfind(')')
            .map(|i| &stat[i + 2..])
            .unwrap_or_else(|| panic!("/proc/{pid}/stat has no `)`: {stat:?}"));
        let mut f = rest.split(' ');
        let state = f
            .next()
            .and_then(|s| s.chars().next())
            .unwrap_or_else(|| panic!("/proc/{pid}/stat has no state: {stat:?}"));
        let ppid: i32 = f
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("/proc/{pid}/stat has no ppid: {stat:?}"));
        if ppid == me {
            out.push((pid, state));
        }
    }
    // This process is always listed: if it is not, /proc is not the procfs this reads.
    assert!(
        seen_self,
        "/proc does not list this process ({me}): no children can be counted"
    );
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

/// Number of open fds of this process (Linux `/proc`); panics if it can't be read.
pub fn open_fds() -> usize {
    // Panics rather than returning 0: two zeros compare equal, and a leak would pass.
    std::fs::read_dir("/proc/self/fd")
        .unwrap_or_else(|e| panic!("cannot list /proc/self/fd to count open fds: {e}"))
        .count()
}

/// A fresh empty directory for one test.
pub fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("par-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    TempDir(dir)
}

/// A directory of a test's own, removed with everything in it when the test is done with it.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

/// The schedules every failure path is proven with: the progress slot and the in-flight chunks
/// agree only for `dynamic(1)`; the others put several items in one chunk.
pub const SCHEDULES: [(&str, par::Schedule); 5] = [
    ("static", par::Schedule::Static),
    ("dynamic(1)", par::Schedule::Dynamic(1)),
    ("dynamic(50)", par::Schedule::Dynamic(50)),
    ("guided", par::Schedule::Guided(1)),
    ("auto", par::Schedule::Auto),
];

/// Waits for `cond` (an event, never a duration), polling; panics after 30 s, which even a very
/// loaded machine meets, naming `what` it waited for.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited 30 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A check that can't run here: a failure when `CI` is set (CI must run every check), else a
/// message written straight to the terminal's stderr, past libtest's capture, so the skip is
/// seen even though the test reports `ok`.
pub fn skip(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set, so this check may not be skipped: {reason}"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED (not a pass): {reason} ***\n"
    );
}

/// False (after a visible [`skip`]) when `PAR_WORKERS=1` makes every loop, queue and pool run
/// inline: a test of what happens in a worker process (a crash, a kill, a timeout) can't run
/// then, since the crash would end this test binary.
pub fn loops_fork() -> bool {
    if std::env::var("PAR_WORKERS").is_ok_and(|v| v.trim() == "1") {
        skip("PAR_WORKERS=1 runs every loop and job inline: this test needs worker processes");
        return false;
    }
    true
}

/// Waits (up to 30 s) for `path` to exist; false if it never did. Two bodies that each wait for
/// the other's file finish only if they run at the same time.
pub fn await_file(path: &std::path::Path) -> bool {
    let start = std::time::Instant::now();
    while !path.exists() {
        if start.elapsed() > Duration::from_secs(30) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// CPU time of this process's reaped children (getrusage), in seconds.
pub fn children_cpu() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, ru.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: getrusage returned 0: it filled the struct.
    let ru = unsafe { ru.assume_init() };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(ru.ru_utime) + s(ru.ru_stime)
}

/// This thread's CPU time, in seconds.
pub fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes a `timespec` into the pointer it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Checks a report's busy time (`busy`, s) against the work it covers, measured by the work
/// itself (`measured`: each item's or job's (wall, CPU) seconds, from [`thread_cpu`]) and by
/// `getrusage` (`cpu`: the CPU seconds of the processes that ran it, [`children_cpu`]). Busy
/// time covers the work's wall time and never counts it twice (a failed assertion: a wrong
/// report). On a quiet enough try (`Ok`) busy time is the work's wall time, getrusage agrees
/// with what the work measured of its CPU time, and busy over CPU time is what being
/// descheduled made it; otherwise `Err` with busy / wall, getrusage / measured CPU, busy / CPU
/// and wall / CPU, for the caller to try again (a loaded machine) or report.
pub fn busy_agrees(
    what: &str,
    busy: f64,
    measured: &[(f64, f64)],
    cpu: f64,
) -> Result<(), [f64; 4]> {
    let (wall, own) = measured
        .iter()
        .fold((0.0, 0.0), |(w, c), (dw, dc)| (w + dw, c + dc));
    assert!(
        busy >= wall * 0.99,
        "{what}: busy {busy} < the work's wall time {wall}"
    );
    assert!(
        busy <= wall * 2.0 + 0.05,
        "{what}: busy {busy} >> the work's wall time {wall}"
    );
    let steal = wall / own;
    if busy <= wall * 1.10 + 0.005
        && (cpu / own - 1.0).abs() < 0.25
        && (busy / (cpu * steal) - 1.0).abs() < 0.25
    {
        Ok(())
    } else {
        Err([busy / wall, cpu / own, busy / cpu, steal])
    }
}
