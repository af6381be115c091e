//! What the ports of pprocess' tutorial programs share: the grid size `N`, the per-cell
//! `delay`, `calculate`, the command line, printing the grid and the time taken.
//!
//! Not an example itself: each `simple*.rs` includes it with
//! `#[path = "pprocess/mod.rs"] mod pprocess;`.
//!
//! Command line (each program accepts the options that make sense for it):
//!
//! - `--delay-ms MS`: the delay of every cell, 10 ms by default (pprocess slept 1 s:
//!   `--delay-ms 1000`).
//! - `--limit N`: processes at once, 10 by default as in pprocess (not
//!   `par::default_workers()`: the work is sleeping, not computing, so more processes than
//!   cores still help, and the timings compare with pprocess').
//! - `--socket PATH`, `--start`, `--reconnect`: the background programs (see them).
#![allow(dead_code)] // each example uses part of it

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The grid is N x N; cell (i, j) holds i * N + j.
pub const N: usize = 10;

/// What `calculate` returns: `(i, j, i * N + j)`.
pub type Cell = (usize, usize, usize);

/// pprocess' `limit`: processes at once, unless `--limit` says otherwise.
pub const LIMIT: usize = 10;

/// The per-cell delay in ms, pprocess' module-level `delay`: set once from the command line,
/// before any process is forked, so every child inherits it.
static DELAY_MS: AtomicU64 = AtomicU64::new(10);

/// Sleeps for the per-cell delay (pprocess' `time.sleep(delay)`).
pub fn delay() {
    std::thread::sleep(Duration::from_millis(DELAY_MS.load(Ordering::Relaxed)));
}

/// "A supposedly time-consuming calculation on 'i' and 'j'": the delay, then `(i, j, i * N + j)`.
///
/// This is the `calculate` of `simple2.py` and of the queue and exchange programs; the map
/// programs' `calculate` returned `i * N + j` alone, which is `.2` of this one's result.
/// `#[par::parallel]` adds `calculate::spawn(&mut queue, i, j)`, pprocess'
/// `queue.manage(MakeParallel(calculate))(i, j)`.
#[par::parallel]
pub fn calculate(i: usize, j: usize) -> (usize, usize, usize) {
    delay();
    (i, j, i * N + j)
}

/// pprocess' `MakeParallel(f)` for an exchange: a function that a started child runs, sending
/// its result back over the child's channel. `exchange.start(make_parallel(move || f(i, j)))`
/// is pprocess' `exchange.start(MakeParallel(f), i, j)`.
pub fn make_parallel<T: par::Transfer>(
    f: impl FnOnce() -> T,
) -> impl FnOnce(&mut par::Channel<T, ()>) {
    move |ch| {
        ch.send(&f())
            .expect("could not send the result to the parent");
    }
}

/// Every cell as `(i, j)`, row by row: the map programs' `sequence`.
pub fn sequence() -> Vec<(usize, usize)> {
    let mut sequence = Vec::with_capacity(N * N);
    for i in 0..N {
        for j in 0..N {
            sequence.push((i, j));
        }
    }
    sequence
}

/// Prints one row: its numbers separated by spaces (pprocess' `print result,` per cell, then
/// `print`).
pub fn print_row(row: impl IntoIterator<Item = usize>) {
    let row: Vec<String> = row.into_iter().map(|n| n.to_string()).collect();
    println!("{}", row.join(" "));
}

/// Prints `results` (N * N cells, row by row) as N rows: pprocess'
/// `for i in range(0, N): for result in results[i*N:i*N+N]: ...`.
pub fn show(results: &[usize]) {
    for row in results.chunks(N) {
        print_row(row.iter().copied());
    }
}

/// Prints the time since `t`, as every tutorial program does last.
pub fn time_taken(t: Instant) {
    println!("Time taken: {:.3}", t.elapsed().as_secs_f64());
}

/// The parsed command line.
pub struct Options {
    /// `--limit`: processes at once.
    pub limit: usize,
    /// `--socket`: where a background job's result waits.
    pub socket: PathBuf,
    /// `--start`: only start the background job.
    pub start: bool,
    /// `--reconnect`: only collect the background job's result.
    pub reconnect: bool,
}

impl Options {
    /// The options of a sequential program: `--delay-ms`.
    pub fn sequential() -> Options {
        parse(&["--delay-ms"], LIMIT)
    }

    /// The options of a parallel program: `--delay-ms`, `--limit` (default [`LIMIT`]).
    pub fn parallel() -> Options {
        parse(&["--delay-ms", "--limit"], LIMIT)
    }

    /// The options of a background program: `--delay-ms`, `--limit` (default `limit`),
    /// `--socket` (default `par-PROGRAM.socket` in the temporary directory), `--start`,
    /// `--reconnect`.
    pub fn background(limit: usize) -> Options {
        parse(
            &[
                "--delay-ms",
                "--limit",
                "--socket",
                "--start",
                "--reconnect",
            ],
            limit,
        )
    }
}

fn usage(accepted: &[&str]) -> String {
    let flags: Vec<&str> = accepted
        .iter()
        .map(|&flag| match flag {
            "--delay-ms" => "[--delay-ms MS]",
            "--limit" => "[--limit N]",
            "--socket" => "[--socket PATH]",
            "--start" => "[--start | --reconnect]",
            _ => "",
        })
        .filter(|f| !f.is_empty())
        .collect();
    format!("usage: {} {}", program(), flags.join(" "))
}

/// This program's name, from its path.
fn program() -> String {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "simple".into())
}

fn fail(msg: &str, accepted: &[&str]) -> ! {
    eprintln!("{msg}\n{}", usage(accepted));
    std::process::exit(2)
}

/// Parses the command line, accepting the flags in `accepted`; sets the delay. Exits with the
/// usage on a bad command line.
fn parse(accepted: &[&str], limit: usize) -> Options {
    let mut o = Options {
        limit,
        socket: std::env::temp_dir().join(format!("par-{}.socket", program())),
        start: false,
        reconnect: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{}", usage(accepted));
            std::process::exit(0);
        }
        if !accepted.contains(&arg.as_str()) {
            fail(&format!("unknown argument {arg}"), accepted);
        }
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(&format!("{arg} needs a value"), accepted))
        };
        match arg.as_str() {
            "--delay-ms" => match value().parse() {
                Ok(ms) => DELAY_MS.store(ms, Ordering::Relaxed),
                Err(_) => fail("--delay-ms: expected a number of milliseconds", accepted),
            },
            "--limit" => match value().parse() {
                Ok(n) if n > 0 => o.limit = n,
                _ => fail("--limit: expected a number of processes above 0", accepted),
            },
            "--socket" => o.socket = PathBuf::from(value()),
            "--start" => o.start = true,
            "--reconnect" => o.reconnect = true,
            _ => unreachable!("every accepted flag is handled"),
        }
    }
    if o.start && o.reconnect {
        fail("--start and --reconnect exclude each other", accepted);
    }
    o
}
