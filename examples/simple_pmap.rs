//! pprocess' `simple_pmap.py`: `results = pprocess.pmap(calculate, sequence, limit=limit)`, then
//! the results are read row by row, `results[i*N:i*N+N]`, in the order of `sequence`.
//!
//! par: `par::pmap(f, sequence, limit)` runs `f` on each item in its own forked child, at most
//! `limit` at once, and returns a `par::Map`, whose `get_range(a..b)` is the slice
//! `results[a:b]` (it waits for those calls). Each result is a `par::Result`: a call that
//! panicked or died is an error in its place.
//!
//! (`par!(for (i, j) in sequence { ... })` would do the same with a few workers each running
//! many items; `pmap` forks once per item, as pprocess does.)
//!
//! ```sh
//! cargo run --release --example simple_pmap [-- --delay-ms 1000 --limit 10]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::error::Error;
use std::time::Instant;

use pprocess::{N, calculate};

fn main() -> Result<(), Box<dyn Error>> {
    let o = pprocess::Options::parallel();
    let t = Instant::now();

    // Initialise an array.
    let sequence = pprocess::sequence();

    // Perform the work.
    let mut results = par::pmap(|(i, j)| calculate(i, j).2, sequence, o.limit);

    // Show the results.
    for i in 0..N {
        let mut row = Vec::with_capacity(N);
        for result in results.get_range(i * N..i * N + N) {
            // `get_range` lends its results, and a `par::Error` can't be cloned: take its message.
            row.push(*result.as_ref().map_err(|e| e.to_string())?);
        }
        pprocess::print_row(row);
    }
    pprocess::time_taken(t);
    Ok(())
}
