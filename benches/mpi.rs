//! The MPI backend's costs (feature `mpi`), side by side in one run: per-call overhead of a
//! `Pool` whose workers are MPI ranks against a local forked `Pool`, payload bandwidth
//! (1 MiB results) both ways, and the raytrace example rendered under `mpirun -np 2` and
//! `-np 3` with its speedup.
//!
//! ```sh
//! cargo build --release --features mpi --examples   # the raytrace lines need the example
//! cargo bench --features mpi --bench mpi             # runs itself under mpirun -np 3
//! cargo bench --features mpi --bench mpi -- --quick  # best of 1, a smaller image
//! ```
//!
//! Run plainly, it measures the local pool, then starts itself under `mpirun -np 3
//! --oversubscribe` for the rank lines (`--ranks`), then the raytrace example. A wrong
//! checksum or a failed run makes it exit with status 1; no bound on time is asserted.

use std::process::{Command, ExitCode};
use std::time::Instant;

#[par::parallel]
fn step(x: u64) -> u64 {
    x * 2 + 1
}

/// A 1 MiB result, every byte `i as u8`.
#[par::parallel]
fn mib(i: u64) -> Vec<u8> {
    vec![i as u8; 1 << 20]
}

const CALLS: u64 = 2000;
const BLOBS: u64 = 64;

fn best_of<R>(reps: usize, mut f: impl FnMut() -> R) -> (f64, R) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    (best, last.expect("at least one repetition"))
}

/// Per-call and payload lines for a pool from `pool` (local workers, or ranks under MPI).
fn measure(what: &str, reps: usize, pool: impl Fn() -> par::Pool<u64>) -> bool {
    let want: u64 = (0..CALLS).map(|x| x * 2 + 1).sum();
    let (secs, sum) = best_of(reps, || {
        let mut p = pool();
        for x in 0..CALLS {
            step::spawn(&mut p, x);
        }
        p.map(|(_, r)| r.unwrap_or(0)).sum::<u64>()
    });
    println!(
        "{what:<34} {CALLS} trivial calls: {:>8.1} ms  {:>6.1} us per call  {}",
        secs * 1e3,
        secs * 1e6 / CALLS as f64,
        if sum == want { "ok" } else { "WRONG" }
    );
    let want: u64 = (0..BLOBS).map(|i| (1u64 << 20) + 2 * (i % 256)).sum();
    let (secs, sum) = best_of(reps, || {
        let mut p = par::Pool::new(2);
        for i in 0..BLOBS {
            mib::spawn(&mut p, i);
        }
        p.map(|(_, r)| r.map_or(0, |v| v.len() as u64 + v[0] as u64 + v[v.len() - 1] as u64))
            .sum::<u64>()
    });
    println!(
        "{what:<34} {BLOBS} results of 1 MiB:   {:>8.1} ms  {:>6.0} MiB/s         {}",
        secs * 1e3,
        BLOBS as f64 / secs,
        if sum == want { "ok" } else { "WRONG" }
    );
    sum == want
}

/// Runs `cmd`, echoing it; its stdout, or `None` if it failed.
fn run(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!("failed: {cmd:?}\n{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn mpirun(np: usize) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["--oversubscribe", "-np", &np.to_string()]);
    if std::env::var("USER").as_deref() == Ok("root")
        || std::env::var_os("HOME") == Some("/root".into())
    {
        c.arg("--allow-run-as-root");
    }
    c
}

fn main() -> ExitCode {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 1 } else { 3 };
    par::main(|| {
        if par::mpi::size() > 1 {
            // Under mpirun (`--ranks`): rank 0's pools are the other ranks.
            let ranks = par::mpi::size() - 1;
            let ok = measure(&format!("par::Pool over {ranks} MPI ranks"), reps, || {
                par::Pool::new(2)
            });
            return ExitCode::from(if ok { 0 } else { 1 });
        }
        let mut ok = true;
        println!("MPI backend vs local workers (best of {reps}; 2 workers or 2 ranks that serve)");
        ok &= measure("par::Pool(2), local forked workers", reps, || {
            par::Pool::new(2)
        });
        let me = std::env::current_exe().expect("the bench's own path");
        let mut cmd = mpirun(3);
        cmd.arg(&me).arg("--ranks");
        if quick {
            cmd.arg("--quick");
        }
        match run(&mut cmd) {
            Some(out) => print!("{out}"),
            None => ok = false,
        }
        // The raytrace example, if built (`cargo build --release --features mpi --examples`).
        let example = me
            .parent()
            .and_then(|deps| deps.parent())
            .map(|release| release.join("examples").join("raytrace"));
        let Some(example) = example.filter(|e| e.exists()) else {
            println!("raytrace: not built; cargo build --release --features mpi --examples");
            return ExitCode::from(if ok { 0 } else { 1 });
        };
        let size = if quick { "300x200" } else { "600x400" };
        let png = std::env::temp_dir().join(format!("par-bench-mpi-{}.png", std::process::id()));
        let args = ["--size", size, "--rays", "32", "--out"];
        let speedup = |out: &str| {
            out.lines()
                .find_map(|l| l.split("speedup ").nth(1).map(|s| s.trim().to_string()))
                .unwrap_or_else(|| "?".into())
        };
        println!(
            "raytrace {size}, 32 rays, rows as calls; speedup against the sequential render in the same run"
        );
        let local = run(Command::new(&example).args(args).arg(&png).args([
            "--via",
            "pool",
            "--workers",
            "2",
        ]));
        match &local {
            Some(out) => println!(
                "  local Pool(2) (2 forked workers)     speedup {}",
                speedup(out)
            ),
            None => ok = false,
        }
        for np in [2, 3] {
            let out = run(mpirun(np)
                .arg(&example)
                .args(args)
                .arg(&png)
                .args(["--via", "mpi"]));
            match &out {
                Some(out) => println!(
                    "  mpirun -np {np} ({} serving rank{})      speedup {}",
                    np - 1,
                    if np > 2 { "s" } else { " " },
                    speedup(out)
                ),
                None => ok = false,
            }
        }
        let _ = std::fs::remove_file(&png);
        ExitCode::from(if ok { 0 } else { 1 })
    })
}
