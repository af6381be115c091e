//! pprocess' `simple_managed_map.py`: `results = pprocess.Map(limit=limit)`,
//! `calc = results.manage(pprocess.MakeParallel(calculate))`, `calc(i, j)` for every cell, then
//! the results are read row by row by slicing the map, `results[i*N:i*N+N]`: in submission
//! order, each slice waiting for its calls.
//!
//! par: `#[par::parallel] fn calculate` (in `pprocess/mod.rs`) is the managed callable:
//! `calculate::spawn(&mut results, i, j)` runs the call in a forked child (at most `limit` at
//! once; `spawn` never blocks) and `par::Map::get_range(a..b)` is the slice `results[a:b]`.
//!
//! ```sh
//! cargo run --release --example simple_managed_map [-- --delay-ms 1000 --limit 10]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::error::Error;
use std::time::Instant;

use pprocess::{N, calculate};

fn main() -> Result<(), Box<dyn Error>> {
    let o = pprocess::Options::parallel();
    let t = Instant::now();

    // Initialise the results using a map with a limit on the number of processes.
    let mut results = par::Map::new(o.limit);

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            calculate::spawn(&mut results, i, j);
        }
    }

    // Show the results.
    for i in 0..N {
        let mut row = Vec::with_capacity(N);
        for result in results.get_range(i * N..i * N + N) {
            // `get_range` lends its results, and a `par::Error` can't be cloned: take its message.
            let &(_, _, value) = result.as_ref().map_err(|e| e.to_string())?;
            row.push(value);
        }
        pprocess::print_row(row);
    }
    pprocess::time_taken(t);
    Ok(())
}
