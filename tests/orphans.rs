//! No worker outlives its parent, whatever signals the parent or the body block or ignore: a
//! helper process (this test binary, re-run as its `fixture` test) starts long items in loop
//! workers, `Pool` workers or `Queue` jobs, each of which writes its pid to a file; the test
//! SIGKILLs the helper and every one of them must be gone soon after. And a `Pool` made on a
//! thread that then ends keeps its workers (Linux's parent-death signal follows the thread that
//! forked, so a pool's workers are forked on one that lasts).
#![cfg(all(unix, not(par_fallback_sys)))] // workers, signals and /proc: fork only

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{run_fixture, temp_dir, watchdog};
use par::{Loop, Schedule};

/// How long an item sleeps: far longer than any test, so only its parent's death ends it.
const FOREVER: Duration = Duration::from_secs(600);

/// Blocks every signal in the calling thread (as signalfd and sigwait programs do).
fn block_all_signals() {
    // SAFETY (test): sigfillset and pthread_sigmask are given valid, initialised sets.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

/// What the body does to its signals before it sleeps (`PAR_HOW`): `parent` (nothing: the
/// parent blocked them all), `body` (blocks them all), `sigio` (ignores `SIGIO`).
fn body_setup(how: &str) {
    match how {
        "body" => block_all_signals(),
        "sigio" => {
            // SAFETY (test): SIG_IGN is a valid disposition.
            unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
        }
        _ => {}
    }
}

/// An item: sets up its signals, writes its pid into `dir`, sleeps for ever.
fn sleeper(dir: &Path, how: &str) {
    body_setup(how);
    let pid = std::process::id();
    std::fs::write(dir.join(pid.to_string()), b"").expect("write pid file");
    std::thread::sleep(FOREVER);
}

#[par::parallel]
fn pool_sleeper(dir: PathBuf, how: String) -> u32 {
    sleeper(&dir, &how);
    0
}

#[par::parallel]
fn my_pid() -> u32 {
    std::process::id()
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
    let how = std::env::var("PAR_HOW").expect("PAR_HOW");
    if how == "parent" {
        block_all_signals();
    }
    match mode.as_str() {
        "loop" => Loop::new()
            .workers(2)
            .schedule(Schedule::Static)
            .for_each(0..2u32, |_| sleeper(&dir, &how)),
        "pool" => {
            let mut pool = par::Pool::new(2);
            for _ in 0..2 {
                pool_sleeper::spawn(&mut pool, dir.clone(), how.clone());
            }
            let _ = pool.count();
        }
        "queue" => {
            let mut queue = par::Queue::new(2);
            for _ in 0..2 {
                let (dir, how) = (dir.clone(), how.clone());
                queue.spawn(move || sleeper(&dir, &how));
            }
            let _ = queue.count();
        }
        "start-thread" => {
            // Started on a thread that then ends: the channels live on in this one. The
            // children cannot use the parent-death signal (it would fire when that thread
            // ends), so they rely on par's other line, which the body's signals must not defeat.
            let channels = std::thread::spawn(move || {
                (0..2)
                    .map(|_| {
                        let (dir, how) = (dir.clone(), how.clone());
                        par::start::<(), ()>(move |_| sleeper(&dir, &how)).expect("start")
                    })
                    .collect::<Vec<_>>()
            })
            .join()
            .expect("the starting thread");
            std::thread::sleep(FOREVER);
            drop(channels);
        }
        other => panic!("unknown fixture {other}"),
    }
}

/// Runs fixture `mode` with `how`, waits for its two sleepers' pid files, SIGKILLs it, and
/// asserts that both sleepers are gone.
fn orphans_are_gone(mode: &str, how: &str) {
    let _guard = watchdog("orphans"); // spawns processes: not while another test counts fds
    if !common::loops_fork() {
        return;
    }
    let dir = temp_dir(&format!("orphans-{mode}-{how}"));
    let mut cmd = run_fixture(mode, Some(dir.as_path()));
    cmd.env("PAR_HOW", how)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut parent = cmd.spawn().expect("spawn the fixture");
    let sleepers = wait_for_pids(&dir, 2, &mut parent);
    // SAFETY (test): kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(parent.id() as i32, libc::SIGKILL) };
    let _ = parent.wait();
    let killed = Instant::now();
    // On an idle machine they go within a few ms (measured); 10 s is a bound that a very
    // loaded machine still meets. Without par's own mechanism they live for FOREVER.
    while !sleepers.iter().all(|&p| gone(p)) {
        if killed.elapsed() > Duration::from_secs(10) {
            for &p in &sleepers {
                // SAFETY (test): kill(2) has no memory-safety preconditions; p was ours.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            panic!("{mode} ({how}): {sleepers:?} outlived their SIGKILLed parent by 10 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!(
        "{mode} ({how}): sleepers gone {:?} after the parent",
        killed.elapsed()
    );
}

/// The pids written into `dir`, once there are `n`; kills `parent` and panics after 30 s.
fn wait_for_pids(dir: &Path, n: usize, parent: &mut std::process::Child) -> Vec<i32> {
    let start = Instant::now();
    loop {
        let pids: Vec<i32> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if pids.len() >= n {
            return pids;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = parent.kill();
            let _ = parent.wait();
            panic!(
                "the fixture's sleepers did not start ({} of {n})",
                pids.len()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// True once `pid` no longer runs (gone, or a zombie waiting for its new parent to reap it).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 2..].chars().next()) == Some('Z'),
    }
}

#[test]
fn loop_workers_of_a_parent_that_blocks_every_signal_die_with_it() {
    orphans_are_gone("loop", "parent");
}

#[test]
fn loop_workers_whose_body_blocks_every_signal_die_with_the_parent() {
    orphans_are_gone("loop", "body");
}

#[test]
fn loop_workers_whose_body_ignores_sigio_die_with_the_parent() {
    orphans_are_gone("loop", "sigio");
}

#[test]
fn pool_workers_die_with_a_parent_that_blocks_every_signal() {
    orphans_are_gone("pool", "parent");
}

#[test]
fn pool_workers_whose_call_blocks_every_signal_die_with_the_parent() {
    orphans_are_gone("pool", "body");
}

#[test]
fn queue_jobs_die_with_a_parent_that_blocks_every_signal() {
    orphans_are_gone("queue", "parent");
}

#[test]
fn queue_jobs_that_block_every_signal_die_with_the_parent() {
    orphans_are_gone("queue", "body");
}

#[test]
fn started_children_off_the_main_thread_that_block_every_signal_die_with_the_parent() {
    // Before: they lived on (SIGIO, their only line then, was blocked).
    orphans_are_gone("start-thread", "body");
}

#[test]
fn started_children_off_the_main_thread_that_ignore_sigio_die_with_the_parent() {
    orphans_are_gone("start-thread", "sigio");
}

/// A pool made and first used on a thread that then ends, moved to this one: its worker
/// lives on and serves the next call (a worker forked by that thread, with Linux's
/// parent-death signal, would be killed when the thread ends).
#[test]
fn a_pool_outlives_the_thread_that_made_it() {
    let _guard = watchdog("pool thread");
    if !common::loops_fork() {
        return;
    }
    let (mut pool, first, tid) = std::thread::spawn(|| {
        let mut pool = par::Pool::new(1);
        let job = my_pid::spawn(&mut pool);
        let first = *pool.get(job).expect("a result").as_ref().expect("ok");
        // SAFETY (test): gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        (pool, first, tid)
    })
    .join()
    .expect("the thread");
    // The thread has ended once the kernel has let go of it (its parent-death signals, if
    // any, were sent by then).
    let task = format!("/proc/self/task/{tid}");
    common::wait_until("the pool's thread to end", || !Path::new(&task).exists());
    let job = my_pid::spawn(&mut pool);
    let again = pool.get(job).expect("a result");
    assert_eq!(
        again.as_ref().ok(),
        Some(&first),
        "the worker forked for the pool did not survive its thread: {again:?}"
    );
    assert_eq!(pool.forks(), 1, "a worker had to be forked again");
}
