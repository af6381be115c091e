//! What the ports of pprocess' tutorial programs share: the options, `calculate` with its
//! per-cell delay, the 10x10 grid and the clock. Not an example itself: each `simple*.rs`
//! includes it with `#[path = "pprocess/mod.rs"] mod pprocess;`.
#![allow(dead_code)] // each example uses part of it

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The grid is N x N; cell (i, j) holds i * N + j.
pub const N: u32 = 10;

/// Command-line options of every port.
pub struct Options {
    /// Per-cell delay in ms (`--delay-ms`, default 10; pprocess slept 1 s: `--delay-ms 1000`).
    pub delay_ms: u64,
    /// Processes at once (`--limit`, default 10 as in pprocess).
    pub limit: usize,
    /// Where a background job's result waits (`--socket`).
    pub socket: PathBuf,
    /// `--start`: only start the background job (simple_persistent_queue).
    pub start: bool,
    /// `--reconnect`: only collect the background job's result (simple_persistent_queue).
    pub reconnect: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("{msg}\nusage: [--delay-ms MS] [--limit N] [--socket PATH] [--start | --reconnect]");
    std::process::exit(2)
}

/// Parses the command line (exits with a usage message on a bad one).
pub fn options() -> Options {
    let mut o = Options {
        delay_ms: 10,
        limit: 10,
        socket: std::env::temp_dir().join("par-task.socket"),
        start: false,
        reconnect: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs {what}")))
        };
        match arg.as_str() {
            "--delay-ms" => {
                o.delay_ms = value("a number of milliseconds")
                    .parse()
                    .unwrap_or_else(|_| usage("--delay-ms: expected a number of milliseconds"))
            }
            "--limit" => {
                o.limit = match value("a number of processes").parse() {
                    Ok(n) if n > 0 => n,
                    _ => usage("--limit: expected a number of processes above 0"),
                }
            }
            "--socket" => o.socket = PathBuf::from(value("a path")),
            "--start" => o.start = true,
            "--reconnect" => o.reconnect = true,
            other => usage(&format!("unknown argument {other}")),
        }
    }
    o
}

/// The work of one cell: wait, then compute i * N + j (pprocess' `calculate`).
#[par::parallel]
pub fn calculate(delay_ms: u64, i: u32, j: u32) -> (u32, u32, u32) {
    std::thread::sleep(Duration::from_millis(delay_ms));
    (i, j, i * N + j)
}

/// The same work for a started child: the result goes over its channel (pprocess'
/// `calculate(ch, i, j)` of the `start` programs).
pub fn calculate_to(ch: &mut par::Channel<(u32, u32, u32), ()>, delay_ms: u64, i: u32, j: u32) {
    ch.send(&calculate(delay_ms, i, j))
        .expect("the parent reads the channel");
}

/// An empty grid, filled in by `(i, j, value)` triples.
pub struct Grid(Vec<u32>);

impl Grid {
    pub fn new() -> Self {
        Grid(vec![0; (N * N) as usize])
    }

    pub fn set(&mut self, (i, j, value): (u32, u32, u32)) {
        self.0[(i * N + j) as usize] = value;
    }

    pub fn print(&self) {
        print_rows(&self.0);
    }
}

/// Prints `cells` as N rows of N numbers.
pub fn print_rows(cells: &[u32]) {
    for row in cells.chunks(N as usize) {
        let row: Vec<String> = row.iter().map(u32::to_string).collect();
        println!("{}", row.join(" "));
    }
}

/// Every cell, row by row, as pprocess' `sequence`.
pub fn sequence() -> impl Iterator<Item = (u32, u32)> {
    (0..N).flat_map(|i| (0..N).map(move |j| (i, j)))
}

/// Prints the time since `start`, as the tutorial programs do at the end.
pub fn time_taken(start: Instant) {
    println!("Time taken: {:.3}", start.elapsed().as_secs_f64());
}

/// The whole computation as one task, for the background programs: a `Queue` of `calculate`
/// calls whose results fill the grid (pprocess' `task()`).
pub fn task(delay_ms: u64, limit: usize) -> Result<Vec<u32>, String> {
    let mut queue = par::Queue::new(limit);
    for (i, j) in sequence() {
        calculate::spawn(&mut queue, delay_ms, i, j);
    }
    let mut grid = Grid::new();
    for (_job, result) in queue {
        grid.set(result.map_err(|e| e.to_string())?);
    }
    Ok(grid.0)
}
