//! Threads per worker: each worker sees `OMP_NUM_THREADS` and the other thread-pool variables
//! set to `max(1, cores / workers)` where the user did not set them, to `n` everywhere with
//! `threads_per_worker(n)` or `PAR_THREADS_PER_WORKER=n`, and untouched with `0`; the parent's
//! own environment never changes; and a parent thread changing the environment while loops
//! fork never hangs a worker (the environment is built before the fork, installed after it
//! without a lock). Each case runs this binary again (its ignored `fixture` test) with the
//! environment it needs, since the environment is the whole process'.

mod common;

const VARS: [&str; 8] = [
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "RAYON_NUM_THREADS",
];

type Seen = Vec<Option<String>>;

fn seen() -> Seen {
    VARS.iter().map(|v| std::env::var(v).ok()).collect()
}

/// One line per family: `NAME v1,v2,...` as its workers saw the variables (`-`: unset); every
/// worker must have seen the same.
fn print(name: &str, all: Vec<Seen>) {
    let first = all.first().expect("some items").clone();
    assert!(all.iter().all(|s| *s == first), "{name}: {all:?}");
    let line: Vec<String> = first
        .iter()
        .map(|v| v.clone().unwrap_or_else(|| "-".into()))
        .collect();
    println!("{name} {}", line.join(","));
}

#[par::parallel]
fn pool_seen(_i: u32) -> Seen {
    seen()
}

#[test]
#[ignore = "run by the other tests, in a process of its own with its environment set"]
fn fixture() {
    let Ok(mode) = std::env::var("PAR_FIXTURE") else {
        return;
    };
    let threads: Option<usize> = std::env::var("FIXTURE_THREADS")
        .ok()
        .map(|n| n.parse().expect("a number"));
    if mode == "busy" {
        // Another thread changes the environment all the time while loops fork. With
        // `set_var` in the child instead of par's lock-free install, a worker hung on the
        // environment lock before its first item (where no `timeout` applies): the watchdog
        // turns that into a failure.
        let _w = common::watchdog("busy fixture");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let noise = std::thread::spawn(move || {
            let mut i = 0u64;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: none, on purpose: this thread changes the environment while the main
                // thread forks (what the test is about); the main thread reads no variable
                // meanwhile, and par's child never calls `setenv`/`getenv` on the inherited
                // environment (it installs a fresh array, sys::Environ).
                unsafe { std::env::set_var("PAR_TEST_NOISE", i.to_string()) };
                i += 1;
            }
        });
        for _ in 0..50 {
            let v = par::Loop::new()
                .workers(2)
                .timeout(std::time::Duration::from_secs(20))
                .collect(0..4u32, |i| i);
            assert_eq!(v, [0, 1, 2, 3]);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        noise.join().expect("the noise thread");
        println!("busy ok");
        return;
    }
    let before = seen();
    let mut l = par::Loop::new()
        .workers(2)
        .schedule(par::Schedule::Dynamic(1));
    let mut queue = par::Queue::new(1);
    let mut pool = par::Pool::new(2);
    if let Some(n) = threads {
        l = l.threads_per_worker(n);
        queue = queue.threads_per_worker(n);
        pool = pool.threads_per_worker(n);
    }
    print("loop2", l.collect(0..4u32, |_| seen()));
    for _ in 0..2 {
        queue.spawn(seen);
    }
    print("queue1", queue.map(|(_, r)| r.expect("a job")).collect());
    for i in 0..4 {
        pool_seen::spawn(&mut pool, i);
    }
    print("pool2", pool.map(|(_, r)| r.expect("a call")).collect());
    assert_eq!(seen(), before, "the parent's environment changed");
    println!("parent unchanged");
}

/// Runs the fixture with `env` set (and every thread variable not in `env` unset); returns
/// its stdout.
fn run(mode: &str, env: &[(&str, &str)], threads: Option<usize>) -> String {
    let mut cmd = common::run_fixture(mode, None);
    cmd.env_remove("PAR_THREADS_PER_WORKER");
    for v in VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(n) = threads {
        cmd.env("FIXTURE_THREADS", n.to_string());
    }
    let out = cmd.output().expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        mode == "busy" || stdout.contains("parent unchanged"),
        "{stdout}\n{stderr}"
    );
    stdout
}

/// What `family`'s workers saw, in [`VARS`] order.
fn line(stdout: &str, family: &str) -> Vec<String> {
    stdout
        .lines()
        // libtest may print `test fixture ... ` on the first line.
        .find_map(|l| l.split_once(&format!("{family} ")).map(|(_, v)| v))
        .unwrap_or_else(|| panic!("no line for {family}: {stdout}"))
        .split(',')
        .map(str::to_string)
        .collect()
}

fn all(n: impl ToString) -> Vec<String> {
    vec![n.to_string(); VARS.len()]
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn workers_get_cores_divided_by_workers_where_the_user_set_nothing() {
    if !common::loops_fork() {
        return;
    }
    let out = run("1", &[], None);
    assert_eq!(line(&out, "loop2"), all((cores() / 2).max(1)));
    assert_eq!(line(&out, "queue1"), all(cores()));
    assert_eq!(line(&out, "pool2"), all((cores() / 2).max(1)));
}

#[test]
fn a_variable_the_user_set_is_left_alone_by_default() {
    if !common::loops_fork() {
        return;
    }
    let out = run("1", &[("OMP_NUM_THREADS", "7")], None);
    let mut want = all((cores() / 2).max(1));
    want[0] = "7".into();
    assert_eq!(line(&out, "loop2"), want);
    assert_eq!(line(&out, "pool2"), want);
    assert_eq!(line(&out, "queue1")[0], "7");
}

#[test]
fn threads_per_worker_in_code_or_the_environment_sets_every_variable() {
    if !common::loops_fork() {
        return;
    }
    let user = [("OMP_NUM_THREADS", "7")];
    let out = run("1", &user, Some(3));
    for family in ["loop2", "queue1", "pool2"] {
        assert_eq!(line(&out, family), all(3), "{family}");
    }
    let out = run("1", &[user[0], ("PAR_THREADS_PER_WORKER", "2")], None);
    for family in ["loop2", "queue1", "pool2"] {
        assert_eq!(line(&out, family), all(2), "{family}");
    }
    // Code wins over the environment.
    let out = run("1", &[("PAR_THREADS_PER_WORKER", "2")], Some(5));
    assert_eq!(line(&out, "loop2"), all(5));
}

#[test]
fn zero_leaves_the_workers_environment_as_the_parent_s() {
    if !common::loops_fork() {
        return;
    }
    let mut want = all("-");
    want[0] = "7".into();
    let out = run("1", &[("OMP_NUM_THREADS", "7")], Some(0));
    for family in ["loop2", "queue1", "pool2"] {
        assert_eq!(line(&out, family), want, "{family}");
    }
    let out = run(
        "1",
        &[("OMP_NUM_THREADS", "7"), ("PAR_THREADS_PER_WORKER", "0")],
        None,
    );
    assert_eq!(line(&out, "loop2"), want);
}

#[test]
fn a_thread_changing_the_environment_while_loops_fork_hangs_no_worker() {
    if !common::loops_fork() {
        return;
    }
    let _w = common::watchdog("a_thread_changing_the_environment_while_loops_fork_hangs_no_worker");
    let out = run("busy", &[], None);
    assert!(out.contains("busy ok"), "{out}");
}
