//! Per-call overhead of par's jobs, side by side in one run: a reused `Pool` worker against a
//! fork per call (`Queue`, `Map`), a direct call, rayon (`spawn` per call) and Python's
//! `multiprocessing.Pool(2).apply_async` per call (when python3 exists).
//!
//! ```sh
//! cargo bench --bench jobs              # best of 3
//! cargo bench --bench jobs -- --quick   # best of 1
//! cargo bench --bench jobs -- --gate    # best of 3, no grid: the CI gate (loose bounds)
//! ```
//!
//! A wrong checksum, or a ratio above the gate's bound, makes the run exit with status 1.
//!
//! Workloads: `calls` = 2,000 calls of `step(x) = x * 2 + 1` for x in 0..2000 (checksum: the
//! sum, 4,000,000), limit 2; `grid` = pprocess' tutorial, 100 calls sleeping 10 ms, limit 10
//! (checksum: 4,950). Pools are created inside the timed region (their forks are counted).

use std::process::Command;
use std::time::{Duration, Instant};

#[par::parallel]
fn step(x: u64) -> u64 {
    x * 2 + 1
}

#[par::parallel]
fn cell(k: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(10));
    k
}

const CALLS: u64 = 2000;

fn best_of<R>(reps: usize, mut f: impl FnMut() -> R) -> (f64, R) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        last = Some(r);
    }
    (best, last.expect("at least one repetition"))
}

thread_local! {
    /// Wrong checksums and broken gate bounds of this run.
    static FAILURES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn fail(what: String) {
    FAILURES.with(|f| f.borrow_mut().push(what));
}

fn report(name: &str, ms: f64, calls: u64, sum: u64, want: u64, base: f64) {
    let ok = if sum == want {
        "ok"
    } else {
        fail(format!("{name}: checksum {sum}, expected {want}"));
        "WRONG"
    };
    println!(
        "  {name:<34} {ms:>9.2} ms  {:>8.1} us/call  {:>7.2}x   checksum {sum} {ok}",
        ms * 1e3 / calls as f64,
        ms / base
    );
}

/// Judges a same-run figure against the design budget (reported) and the gate (a miss fails).
fn budget(what: &str, value: f64, design: f64, gate: f64) {
    let met = if value <= design { "met" } else { "MISSED" };
    let g = if value <= gate {
        "ok"
    } else {
        fail(format!("{what} = {value:.2}, above the gate's {gate}"));
        "FAIL"
    };
    println!("  budget: {what} = {value:.2} (design <= {design}: {met}; gate <= {gate}: {g})");
}

/// One fork whose child only exits, waited for: the floor of a fork per job.
fn fork_exit_wait() {
    // SAFETY (benchmark): the child only calls `_exit`; the parent waits for that pid.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}

/// fork + _exit + waitpid of a small parent, in ms: the floor of a fork per job.
fn fork_floor(reps: usize) -> f64 {
    best_of(reps.max(50), fork_exit_wait).0
}

/// CPU time (user + system, us) and minor page faults of this process (`RUSAGE_SELF`) or of
/// its reaped children (`RUSAGE_CHILDREN`).
fn usage(who: libc::c_int) -> (f64, f64) {
    // SAFETY (benchmark): getrusage fills the struct it is given; all-zero is a valid rusage.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut u);
        u
    };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    (us(u.ru_utime) + us(u.ru_stime), u.ru_minflt as f64)
}

/// Where `n` forks' time goes, per fork: the parent's CPU time and page faults, and its
/// children's (all reaped by `run`'s end).
fn per_fork(n: u64, run: impl FnOnce()) -> [f64; 4] {
    let (s0, f0) = usage(libc::RUSAGE_SELF);
    let (c0, g0) = usage(libc::RUSAGE_CHILDREN);
    run();
    let (s1, f1) = usage(libc::RUSAGE_SELF);
    let (c1, g1) = usage(libc::RUSAGE_CHILDREN);
    let n = n as f64;
    [(s1 - s0) / n, (f1 - f0) / n, (c1 - c0) / n, (g1 - g0) / n]
}

/// The fork per call taken apart: CPU time and page faults per job of the parent and of the
/// children, for the floor and for a `Queue`, measured with `getrusage` in this run. The
/// faults are copy-on-write copies of the pages each side writes after the fork (a few us
/// each): what a fork costs beyond its page-table copy, and what a `Queue`'s child pays more
/// than the floor's (it runs the job, encodes and writes its result, and sets up its death
/// watch and environment).
fn fork_profile() {
    let floor = per_fork(CALLS, || (0..CALLS).for_each(|_| fork_exit_wait()));
    let queue = per_fork(CALLS, || {
        let mut q = par::Queue::new(2);
        for x in 0..CALLS {
            step::spawn(&mut q, x);
        }
        assert!(q.all(|(_, r)| r.is_ok()));
    });
    println!("where a fork per call goes (getrusage, {CALLS} jobs, per job):");
    for (name, [pc, pf, cc, cf]) in [("fork floor", floor), ("par::Queue(2)", queue)] {
        println!(
            "  {name:<16} parent {pc:>6.1} us CPU {pf:>5.1} faults   child {cc:>6.1} us CPU {cf:>5.1} faults"
        );
    }
}

/// `fill` submits the calls to a fresh spawner; `drain` sums its results.
fn run_calls<Q>(
    reps: usize,
    new: impl Fn() -> Q,
    submit: impl Fn(&mut Q, u64),
    drain: impl Fn(Q) -> u64,
    n: u64,
) -> (f64, u64) {
    best_of(reps, || {
        let mut q = new();
        for x in 0..n {
            submit(&mut q, x);
        }
        drain(q)
    })
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let gate = std::env::args().any(|a| a == "--gate");
    let reps = if quick { 1 } else { 3 };
    let floor = fork_floor(reps);
    println!(
        "floor: fork + exit + waitpid, small parent: {:.1} us",
        floor * 1e3
    );
    let want: u64 = (0..CALLS).map(|x| x * 2 + 1).sum();

    println!(
        "calls: {CALLS} calls of a trivial function, limit 2 (best of {reps}); ratios to par::Pool"
    );
    let (direct, sum) = best_of(reps, || {
        (0..CALLS)
            .map(|x| step(std::hint::black_box(x)))
            .sum::<u64>()
    });
    report("direct call (sequential)", direct, CALLS, sum, want, direct);
    let (pool, sum) = run_calls(
        reps,
        || par::Pool::new(2),
        |q, x| {
            step::spawn(q, x);
        },
        |q| q.map(|(_, r)| r.expect("call")).sum(),
        CALLS,
    );
    let (queue, qsum) = run_calls(
        reps,
        || par::Queue::new(2),
        |q, x| {
            step::spawn(q, x);
        },
        |q| q.map(|(_, r)| r.expect("call")).sum(),
        CALLS,
    );
    report("par::Pool(2), reused workers", pool, CALLS, sum, want, pool);
    report(
        "par::Queue(2), fork per call",
        queue,
        CALLS,
        qsum,
        want,
        pool,
    );
    let (map, sum) = run_calls(
        reps,
        || par::Map::new(2),
        |q, x| {
            step::spawn(q, x);
        },
        |q| q.map(|r| r.expect("call")).sum(),
        CALLS,
    );
    report("par::Map(2), fork per call", map, CALLS, sum, want, pool);
    let threads = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("rayon pool");
    let (ray, sum) = best_of(reps, || {
        let (tx, rx) = std::sync::mpsc::channel();
        threads.scope(|s| {
            for x in 0..CALLS {
                let tx = tx.clone();
                s.spawn(move |_| tx.send(step(x)).expect("send"));
            }
        });
        drop(tx);
        rx.iter().sum::<u64>()
    });
    report(
        "rayon scope spawn per call (threads)",
        ray,
        CALLS,
        sum,
        want,
        pool,
    );
    if let Some((ms, sum)) = python(reps) {
        report("Python Pool(2).apply_async", ms, CALLS, sum, want, pool);
    }
    let pool_us = (pool - direct) * 1e3 / CALLS as f64;
    let fork_us = (queue - direct) * 1e3 / CALLS as f64;
    println!(
        "  per-call overhead: Pool {pool_us:.1} us, fork per call {fork_us:.1} us ({:.1}x)",
        fork_us / pool_us
    );
    budget("Pool us per call", pool_us, 3.0, 12.0);
    budget(
        "Queue fork per call / fork floor",
        fork_us / (floor * 1e3),
        1.3,
        5.0,
    );
    if gate {
        return finish();
    }
    fork_profile();

    println!("grid: pprocess' tutorial, 100 calls of 10 ms, limit 10; ratios to sequential");
    let want: u64 = (0..100).sum();
    let (seq, sum) = best_of(1, || (0..100).map(cell).sum::<u64>());
    report("direct calls (sequential)", seq, 100, sum, want, seq);
    let (pool, sum) = run_calls(
        1,
        || par::Pool::new(10),
        |q, k| {
            cell::spawn(q, k);
        },
        |q| q.map(|(_, r)| r.expect("call")).sum(),
        100,
    );
    report("par::Pool(10)", pool, 100, sum, want, seq);
    let (queue, sum) = run_calls(
        1,
        || par::Queue::new(10),
        |q, k| {
            cell::spawn(q, k);
        },
        |q| q.map(|(_, r)| r.expect("call")).sum(),
        100,
    );
    report("par::Queue(10)", queue, 100, sum, want, seq);
    finish();
}

fn finish() {
    let failures = FAILURES.with(|f| f.take());
    if failures.is_empty() {
        println!("all checksums right");
        return;
    }
    println!("FAILED:");
    for f in &failures {
        println!("  {f}");
    }
    std::process::exit(1);
}

/// Python's per-call equivalent: `apply_async` of a trivial function, pool started inside.
fn python(reps: usize) -> Option<(f64, u64)> {
    let script = format!(
        r#"
import multiprocessing as mp, time
def step(x): return x * 2 + 1
if __name__ == "__main__":
    best = None
    for _ in range({reps}):
        t = time.perf_counter()
        with mp.Pool(2) as p:
            s = sum(r.get() for r in [p.apply_async(step, (x,)) for x in range({CALLS})])
        ms = (time.perf_counter() - t) * 1e3
        best = ms if best is None else min(best, ms)
    print(best, s)
"#
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "python comparison failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace();
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}
