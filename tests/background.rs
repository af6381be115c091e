//! Background jobs: a detached process keeps its result at a Unix socket until a collector
//! (this process, or another one) takes it.
#![cfg(all(unix, not(par_fallback_sys)))] // detached processes: fork only

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{no_children_left, run_fixture, temp_dir, watchdog};
use par::{BackgroundQueue, Error};

fn gone(pid: u32) -> bool {
    // Not our child (it was adopted by init): look at /proc, zombies count as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z')),
    }
}

fn wait_gone(pid: u32) {
    let t = Instant::now();
    while !gone(pid) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "background process {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn grid() -> Vec<u32> {
    (0..100).collect()
}

/// The subprocess side: starts a background job at `PAR_DIR/job.socket` and exits at once.
#[test]
#[ignore = "a fixture run as a subprocess by the other tests"]
fn fixture() {
    let Ok(mode) = std::env::var("PAR_FIXTURE") else {
        return;
    };
    let dir = PathBuf::from(std::env::var_os("PAR_DIR").expect("PAR_DIR"));
    assert_eq!(mode, "start");
    let job = par::background(dir.join("job.socket"), || {
        // The job itself runs a parallel queue: it is not a worker, so it forks.
        let mut queue = par::Queue::new(4);
        for k in 0..100u32 {
            queue.spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                k
            });
        }
        let mut cells: Vec<u32> = queue.map(|(_, r)| r.expect("cell")).collect();
        cells.sort_unstable();
        cells
    })
    .expect("start the background job");
    println!("BACKGROUND-PID {}", job.pid());
}

#[test]
fn a_result_is_collected_by_a_second_process_after_the_first_has_exited() {
    let _guard = watchdog("background-second-process");
    let dir = temp_dir("background");
    let out = run_fixture("start", Some(&dir))
        .output()
        .expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid: u32 = stdout
        .split("BACKGROUND-PID ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("the fixture printed the pid");
    let socket = dir.join("job.socket");
    let mut queue = BackgroundQueue::<Vec<u32>>::connect(&socket).expect("connect");
    let results: Vec<_> = (&mut queue).collect();
    assert_eq!(results.len(), 1, "one result");
    assert_eq!(
        results.into_iter().next().expect("one").expect("ok"),
        grid()
    );
    assert!(queue.recv().is_err(), "collected once");
    wait_gone(pid);
    assert!(!socket.exists(), "the socket is removed once collected");
    no_children_left();
}

#[test]
fn a_panic_reaches_the_collector_with_its_message() {
    let _guard = watchdog("background-panic");
    let dir = temp_dir("background-panic");
    let socket = dir.join("p.socket");
    let job =
        par::background(&socket, || -> u32 { panic!("background job gives up") }).expect("start");
    match BackgroundQueue::<u32>::connect(job.path())
        .expect("connect")
        .recv()
    {
        Err(Error::Panicked {
            message,
            location: Some(loc),
            pid,
            ..
        }) => {
            assert_eq!(message, "background job gives up");
            assert!(loc.contains("tests/background.rs"), "{loc}");
            assert_eq!(pid as u32, job.pid());
        }
        other => panic!("{other:?}"),
    }
    wait_gone(job.pid());
    no_children_left();
}

#[test]
fn a_killed_job_a_timeout_and_a_missing_job_are_errors_naming_the_path() {
    let _guard = watchdog("background-killed");
    let dir = temp_dir("background-killed");
    let socket = dir.join("k.socket");
    let job = par::background(&socket, || {
        std::thread::sleep(Duration::from_secs(600));
        1u8
    })
    .expect("start");
    let mut queue = BackgroundQueue::<u8>::connect(&socket).expect("connect");
    // SAFETY: kill has no memory-safety preconditions; the pid is the job we just started.
    unsafe { libc::kill(job.pid() as i32, libc::SIGKILL) };
    let e = queue.recv().expect_err("the job died");
    assert!(e.to_string().contains("k.socket"), "{e}");
    assert!(e.to_string().contains("ended without sending"), "{e}");
    wait_gone(job.pid());

    let slow = par::background(&socket, || {
        std::thread::sleep(Duration::from_secs(600));
        2u8
    })
    .expect("start");
    let t = Instant::now();
    let e = BackgroundQueue::<u8>::connect(&socket)
        .expect("connect")
        .timeout(Duration::from_millis(100))
        .expect("set the timeout")
        .recv()
        .expect_err("the job is still running");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        e.to_string().contains("timed out") && e.to_string().contains("k.socket"),
        "{e}"
    );
    // SAFETY: kill has no memory-safety preconditions; the pid is the job we just started.
    unsafe { libc::kill(slow.pid() as i32, libc::SIGKILL) };
    wait_gone(slow.pid());

    let missing = Path::new("/nonexistent-dir/par.socket");
    let e = BackgroundQueue::<u8>::connect(missing).expect_err("no job there");
    assert!(e.to_string().contains("/nonexistent-dir/par.socket"), "{e}");
}

#[test]
fn one_path_holds_one_waiting_job_and_a_stale_socket_is_replaced() {
    let _guard = watchdog("background-busy");
    let dir = temp_dir("background-busy");
    let socket = dir.join("b.socket");
    let first = par::background(&socket, || 1u32).expect("start");
    let e = par::background(&socket, || 2u32).expect_err("the path is taken");
    assert!(e.to_string().contains("already waiting"), "{e}");
    assert_eq!(
        BackgroundQueue::<u32>::connect(&socket)
            .expect("connect")
            .recv()
            .expect("ok"),
        1
    );
    wait_gone(first.pid());

    // A socket file nobody listens at (its job was killed) is replaced.
    let stale = par::background(&socket, || {
        std::thread::sleep(Duration::from_secs(600));
        0u32
    })
    .expect("start");
    // SAFETY: kill has no memory-safety preconditions; the pid is the job we just started.
    unsafe { libc::kill(stale.pid() as i32, libc::SIGKILL) };
    wait_gone(stale.pid());
    assert!(socket.exists());
    let fresh = par::background(&socket, || 3u32).expect("a stale socket is replaced");
    let mut q = BackgroundQueue::<u32>::connect(fresh.path())
        .expect("connect")
        .timeout(Duration::from_secs(10))
        .expect("timeout");
    assert_eq!(q.recv().expect("ok"), 3);
}
