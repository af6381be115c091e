//! par against sequential Rust, rayon, Python's `multiprocessing.Pool` and OpenMP on the
//! workloads of BENCHMARKS.md, measured side by side in one run, with 2 workers everywhere.
//!
//! ```sh
//! cargo bench --bench compare              # best of 3; Python and OpenMP when python3 / gcc exist
//! cargo bench --bench compare -- --quick   # best of 1, no Python W6
//! ```
//!
//! Every implementation's checksum is checked against BENCHMARKS.md. Times are wall clock of
//! the construct that produces the results (allocation included); a `par!` loop forks its
//! workers inside that time, while the Python pool and the rayon pool are started before it.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use par::{par, Loop, Schedule};
use rayon::prelude::*;

const MIB: usize = 1 << 20;

struct Bench {
    reps: usize,
    pool: rayon::ThreadPool,
    python: Vec<(String, f64, String)>,
    omp: Vec<(String, f64, String)>,
}

/// Best time in ms of `reps` runs, all runs, and the last result.
fn time<R>(reps: usize, mut f: impl FnMut() -> R) -> (f64, Vec<f64>, R) {
    let mut all = Vec::new();
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = f();
        all.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(r);
    }
    let best = all.iter().copied().fold(f64::INFINITY, f64::min);
    (best, all, last.expect("at least one repetition"))
}

fn row(name: &str, best: f64, all: &[f64], checksum: &str, want: &str) -> f64 {
    // Floats are compared as numbers: C prints `e+04` where Rust prints `e4`.
    let same = checksum == want
        || matches!((checksum.parse::<f64>(), want.parse::<f64>()), (Ok(a), Ok(b)) if a.to_bits() == b.to_bits());
    let ok = if same { "ok" } else { "WRONG" };
    let reps: Vec<String> = all.iter().map(|t| format!("{t:.1}")).collect();
    println!(
        "  {name:<26} {best:>10.2} ms   checksum {checksum} {ok}   [{}]",
        reps.join(", ")
    );
    best
}

fn external(list: &[(String, f64, String)], w: &str, name: &str, want: &str) -> Option<f64> {
    let (_, best, sum) = list.iter().find(|(n, _, _)| n == w)?;
    Some(row(name, *best, &[*best], sum, want))
}

fn budget(what: &str, ratio: f64, limit: f64) {
    let verdict = if ratio <= limit { "PASS" } else { "FAIL" };
    println!("  budget: {what} = {ratio:.3} (<= {limit}) {verdict}");
}

fn mandel_row(y: usize) -> Vec<u16> {
    let dx = 3.0 / 2048.0;
    let ci = -1.5 + y as f64 * dx;
    (0..2048)
        .map(|x| {
            let cr = -2.0 + x as f64 * dx;
            let (mut zr, mut zi, mut n) = (0.0f64, 0.0f64, 0u16);
            while n < 256 {
                let (zr2, zi2) = (zr * zr, zi * zi);
                if zr2 + zi2 > 4.0 {
                    break;
                }
                zi = 2.0 * zr * zi + ci;
                zr = zr2 - zi2 + cr;
                n += 1;
            }
            n
        })
        .collect()
}

fn w4(i: u64) -> f64 {
    let mut x = 1.0f64;
    for _ in 0..i * 10 {
        x = x * 1.000_000_1 + 1e-9;
    }
    x
}

fn buffer(i: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(MIB);
    b.resize(MIB, i as u8);
    b
}

fn sum_u64(v: &[u64]) -> String {
    v.iter().sum::<u64>().to_string()
}

fn rows_checksum(rows: &[Vec<u16>]) -> String {
    rows.iter()
        .flatten()
        .map(|&p| p as u64)
        .sum::<u64>()
        .to_string()
}

fn f64s_checksum(v: &[f64]) -> String {
    format!("{:.16e}", v.iter().fold(0.0, |a, b| a + b))
}

impl Bench {
    fn w1(&self) {
        println!("W1 trivial map, 1e6 items");
        let want = "999999000000";
        let r = self.reps;
        let (seq, a, v) = time(r, || {
            (0..1_000_000u64)
                .map(|i| black_box(i) * 2)
                .collect::<Vec<_>>()
        });
        row("sequential", seq, &a, &sum_u64(&v), want);
        let (ray, a, v) = time(r, || {
            self.pool.install(|| {
                (0..1_000_000u64)
                    .into_par_iter()
                    .map(|i| black_box(i) * 2)
                    .collect::<Vec<_>>()
            })
        });
        row("rayon", ray, &a, &sum_u64(&v), want);
        let (p, a, v) = time(r, || {
            par!(
                workers = 2,
                for i in 0..1_000_000u64 {
                    black_box(i) * 2
                }
            )
        });
        row("par auto", p, &a, &sum_u64(&v), want);
        let py = external(&self.python, "W1", "python Pool.map", want);
        external(&self.omp, "W1", "openmp static", want);
        if let Some(py) = py {
            budget("par / python", p / py, 0.2);
        }
        println!(
            "  per item: par {:.1} ns, rayon {:.1} ns, sequential {:.1} ns",
            p * 1e6 / 1e6,
            ray * 1e6 / 1e6,
            seq * 1e6 / 1e6
        );
    }

    fn w2(&self) {
        println!("W2 unchunked, 20 000 items, one item per task");
        let want = "399980000";
        let r = self.reps;
        let (ray, a, v) = time(r, || {
            self.pool.install(|| {
                (0..20_000usize)
                    .into_par_iter()
                    .with_min_len(1)
                    .with_max_len(1)
                    .map(|i| black_box(i as u64) * 2)
                    .collect::<Vec<_>>()
            })
        });
        row("rayon (len 1)", ray, &a, &sum_u64(&v), want);
        let (p, a, v) = time(r, || {
            par!(
                workers = 2,
                schedule = dynamic(1),
                for i in 0..20_000u64 {
                    black_box(i) * 2
                }
            )
        });
        row("par dynamic(1)", p, &a, &sum_u64(&v), want);
        let (pa, a, v) = time(r, || {
            par!(
                workers = 2,
                for i in 0..20_000u64 {
                    black_box(i) * 2
                }
            )
        });
        row("par auto", pa, &a, &sum_u64(&v), want);
        let py = external(&self.python, "W2", "python chunksize=1", want);
        external(&self.omp, "W2", "openmp dynamic,1", want);
        if let Some(py) = py {
            budget("par dynamic(1) / python", p / py, 0.2);
        }
        println!(
            "  per item with one item per chunk: par {:.2} us (2 workers)",
            p * 1e3 / 20_000.0
        );
    }

    fn w3(&self) {
        println!("W3 mandelbrot 2048^2, one row per item");
        let want = "199372603";
        let r = self.reps;
        let (seq, a, v) = time(r, || (0..2048).map(mandel_row).collect::<Vec<_>>());
        row("sequential", seq, &a, &rows_checksum(&v), want);
        let (ray, a, v) = time(r, || {
            self.pool.install(|| {
                (0..2048usize)
                    .into_par_iter()
                    .map(mandel_row)
                    .collect::<Vec<_>>()
            })
        });
        row("rayon", ray, &a, &rows_checksum(&v), want);
        let (p, a, v) = time(r, || {
            par!(
                workers = 2,
                for y in 0..2048usize {
                    mandel_row(y)
                }
            )
        });
        row("par auto", p, &a, &rows_checksum(&v), want);
        let (ps, a, v) = time(
            r,
            || par!(workers = 2, schedule = static, for y in 0..2048usize { mandel_row(y) }),
        );
        row("par static", ps, &a, &rows_checksum(&v), want);
        let (pd, a, v) = time(r, || {
            par!(
                workers = 2,
                schedule = dynamic(1),
                for y in 0..2048usize {
                    mandel_row(y)
                }
            )
        });
        row("par dynamic(1)", pd, &a, &rows_checksum(&v), want);
        external(&self.omp, "W3", "openmp dynamic,1", want);
        budget("par auto / rayon", p / ray, 1.05);
        println!(
            "  speedup over sequential: par {:.2}x, rayon {:.2}x",
            seq / p,
            seq / ray
        );
    }

    fn w4(&self) {
        println!("W4 imbalanced, 10 000 items costing i*10 steps");
        let want = "1.0050663677205715e4";
        let r = self.reps;
        let (seq, a, v) = time(r, || (0..10_000u64).map(w4).collect::<Vec<_>>());
        row("sequential", seq, &a, &f64s_checksum(&v), want);
        let (ray, a, v) = time(r, || {
            self.pool
                .install(|| (0..10_000u64).into_par_iter().map(w4).collect::<Vec<_>>())
        });
        row("rayon", ray, &a, &f64s_checksum(&v), want);
        let (p, a, v) = time(r, || {
            par!(
                workers = 2,
                for i in 0..10_000u64 {
                    w4(i)
                }
            )
        });
        row("par auto", p, &a, &f64s_checksum(&v), want);
        let (ps, a, v) = time(
            r,
            || par!(workers = 2, schedule = static, for i in 0..10_000u64 { w4(i) }),
        );
        row("par static", ps, &a, &f64s_checksum(&v), want);
        external(&self.omp, "W4", "openmp dynamic,1", want);
        budget("par auto / rayon", p / ray, 1.05);
    }

    fn w5(&self) {
        println!("W5 float sum of 1/(i+1), i < 1e8");
        let r = self.reps;
        let n = black_box(100_000_000u64);
        let (seq, a, s) = time(r, || {
            let mut acc = 0.0f64;
            for i in 0..n {
                acc += 1.0 / (i as f64 + 1.0);
            }
            acc
        });
        row(
            "sequential",
            seq,
            &a,
            &format!("{s:.16e}"),
            "1.8997896413852555e1",
        );
        let mut rayon_bits = std::collections::BTreeSet::new();
        let (ray, a, s) = time(r, || {
            self.pool.install(|| {
                (0..n)
                    .into_par_iter()
                    .map(|i| 1.0 / (i as f64 + 1.0))
                    .sum::<f64>()
            })
        });
        rayon_bits.insert(format!("{s:.16e}"));
        row("rayon", ray, &a, &format!("{s:.16e}"), &format!("{s:.16e}"));
        let sum = |w: usize| {
            let mut acc = 0.0f64;
            par!(workers = w, reduce(+: acc), for i in 0..n { acc += 1.0 / (i as f64 + 1.0); });
            acc
        };
        let (p, a, s) = time(r, || sum(2));
        let par_value = format!("{s:.16e}");
        row("par auto (reduce)", p, &a, &par_value, &par_value);
        external(
            &self.omp,
            "W5",
            "openmp static reduction",
            "1.8997896413853010e1",
        );
        let same = [1, 3, 8]
            .iter()
            .all(|&w| format!("{:.16e}", sum(w)) == par_value);
        println!(
            "  par bit-identical for 1, 2, 3, 8 workers: {}",
            if same { "yes" } else { "NO" }
        );
        println!("  rayon values seen: {rayon_bits:?}");
        budget("par / rayon", p / ray, 1.05);
    }

    fn w6(&self) {
        println!("W6 1024 results of 1 MiB (1 GiB kept)");
        let want = "1074002944";
        let r = self.reps;
        let check = |v: &[&[u8]]| {
            v.iter()
                .map(|b| b.len() + b[0] as usize + b[b.len() - 1] as usize)
                .sum::<usize>()
                .to_string()
        };
        let (ray, a, sum) = time(r, || {
            let v = self.pool.install(|| {
                (0..1024usize)
                    .into_par_iter()
                    .map(buffer)
                    .collect::<Vec<_>>()
            });
            check(&v.iter().map(|b| b.as_slice()).collect::<Vec<_>>())
        });
        row("rayon", ray, &a, &sum, want);
        let (p, a, sum) = time(r, || {
            let v = par!(
                workers = 2,
                for i in 0..1024usize {
                    serde_bytes::ByteBuf::from(buffer(i))
                }
            );
            check(&v.iter().map(|b| b.as_slice()).collect::<Vec<_>>())
        });
        row("par pipes (ByteBuf)", p, &a, &sum, want);
        let (ps, a, sum) = time(r, || {
            let out = par::SharedVec::<u8>::new(1024 * MIB).expect("1 GiB of shared memory");
            Loop::new().workers(2).for_each(0..1024usize, |i| {
                out.with_slice_mut(i * MIB..(i + 1) * MIB, |s| s.fill(i as u8))
            });
            (0..1024)
                .map(|i| MIB + out.get(i * MIB) as usize + out.get((i + 1) * MIB - 1) as usize)
                .sum::<usize>()
                .to_string()
        });
        row("par shared memory", ps, &a, &sum, want);
        let py = external(&self.python, "W6", "python Pool.map", want);
        if let Some(py) = py {
            budget("par pipes / python", p / py, 1.0 / 3.0);
        }
        budget("par shared memory / rayon", ps / ray, 1.5);
    }

    fn floors(&self) {
        println!("Floors");
        let r = self.reps.max(20);
        let (fork, _, _) = time(r, fork_wait);
        println!("  fork + exit + waitpid, small parent:   {:>8.3} ms", fork);
        let (two, _, _) = time(r, || {
            fork_wait();
            fork_wait();
        });
        println!("  two of them in a row:                  {:>8.3} ms", two);
        let (empty, _, _) = time(r, || {
            Loop::new()
                .workers(2)
                .schedule(Schedule::Static)
                .for_each(0..2u32, |_| {})
        });
        println!(
            "  par empty loop, 2 workers:             {:>8.3} ms ({:.1}x the two forks)",
            empty,
            empty / two
        );
        budget("empty loop / fork floor (2 workers)", empty / two, 3.0);
        let rtt = pipe_round_trip();
        println!("  8-byte pipe round trip:                {:>8.1} us", rtt);
        println!(
            "  pipe bandwidth, default 64 KiB pipe:   {:>8.0} MiB/s",
            pipe_bandwidth(None)
        );
        println!(
            "  pipe bandwidth, 1 MiB pipe:            {:>8.0} MiB/s",
            pipe_bandwidth(Some(MIB))
        );
        let big: Vec<u8> = vec![1; 1 << 30];
        let (fork_big, _, _) = time(5, fork_wait);
        println!(
            "  fork + exit + waitpid, 1 GiB parent:   {:>8.3} ms",
            fork_big
        );
        drop(black_box(big));
    }
}

fn fork_wait() {
    // SAFETY (benchmark): the child only calls `_exit`; the parent waits for exactly that pid.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}

fn pipe_round_trip() -> f64 {
    let mut a = [0; 2];
    let mut b = [0; 2];
    // SAFETY (benchmark): plain pipe/fork/read/write on fds created here; the child `_exit`s.
    unsafe {
        libc::pipe(a.as_mut_ptr());
        libc::pipe(b.as_mut_ptr());
        let pid = libc::fork();
        let mut buf = [0u8; 8];
        if pid == 0 {
            libc::close(a[1]);
            libc::close(b[0]);
            while libc::read(a[0], buf.as_mut_ptr().cast(), 8) == 8 {
                libc::write(b[1], buf.as_ptr().cast(), 8);
            }
            libc::_exit(0);
        }
        libc::close(a[0]);
        libc::close(b[1]);
        let n = 2000;
        let t = Instant::now();
        for _ in 0..n {
            libc::write(a[1], buf.as_ptr().cast(), 8);
            libc::read(b[0], buf.as_mut_ptr().cast(), 8);
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        libc::close(a[1]);
        libc::close(b[0]);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        us
    }
}

fn pipe_bandwidth(size: Option<usize>) -> f64 {
    let mut p = [0; 2];
    let total = 512 * MIB;
    // SAFETY (benchmark): as above.
    unsafe {
        libc::pipe(p.as_mut_ptr());
        if let Some(s) = size {
            libc::fcntl(p[1], libc::F_SETPIPE_SZ, s as libc::c_int);
        }
        let pid = libc::fork();
        if pid == 0 {
            libc::close(p[0]);
            let buf = vec![7u8; MIB];
            let mut sent = 0;
            while sent < total {
                let n = libc::write(p[1], buf.as_ptr().cast(), MIB);
                if n <= 0 {
                    break;
                }
                sent += n as usize;
            }
            libc::_exit(0);
        }
        libc::close(p[1]);
        let mut buf = vec![0u8; MIB];
        let t = Instant::now();
        let mut got = 0;
        while got < total {
            let n = libc::read(p[0], buf.as_mut_ptr().cast(), MIB);
            if n <= 0 {
                break;
            }
            got += n as usize;
        }
        let secs = t.elapsed().as_secs_f64();
        libc::close(p[0]);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        got as f64 / MIB as f64 / secs
    }
}

fn parse_lines(out: &str) -> Vec<(String, f64, String)> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                f.next()?.to_string(),
                f.next()?.parse().ok()?,
                f.next()?.to_string(),
            ))
        })
        .collect()
}

fn python(reps: usize, quick: bool) -> Vec<(String, f64, String)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/compare.py");
    let which = if quick { "W1,W2" } else { "W1,W2,W6" };
    match Command::new("python3")
        .args([script, &reps.to_string(), which])
        .output()
    {
        Ok(o) if o.status.success() => parse_lines(&String::from_utf8_lossy(&o.stdout)),
        Ok(o) => {
            eprintln!(
                "python comparison failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            Vec::new()
        }
        Err(e) => {
            eprintln!("python3 not available ({e}): skipping the Python comparison");
            Vec::new()
        }
    }
}

fn openmp(reps: usize) -> Vec<(String, f64, String)> {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/compare_omp.c");
    let exe = std::env::temp_dir().join(format!("par-compare-omp-{}", std::process::id()));
    let built = Command::new("gcc")
        .args(["-O2", "-fopenmp", "-ffp-contract=off", src, "-o"])
        .arg(&exe)
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("gcc with OpenMP not available: skipping the OpenMP comparison");
        return Vec::new();
    }
    let out = Command::new(&exe)
        .arg(reps.to_string())
        .env("OMP_NUM_THREADS", "2")
        .output();
    let _ = std::fs::remove_file(&exe);
    match out {
        Ok(o) if o.status.success() => parse_lines(&String::from_utf8_lossy(&o.stdout)),
        _ => Vec::new(),
    }
}

#[cfg(not(unix))]
fn main() {
    println!("the comparison forks: Unix only");
}

#[cfg(unix)]
fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick {
        1
    } else {
        std::env::var("BENCH_REPS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(3)
    };
    println!(
        "par comparison: 2 workers/threads each, best of {reps} (all repetitions in brackets), ms"
    );
    let b = Bench {
        reps,
        pool: rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a rayon pool"),
        python: python(reps, quick),
        omp: openmp(reps),
    };
    b.floors();
    b.w1();
    b.w2();
    b.w3();
    b.w4();
    b.w5();
    b.w6();
}
