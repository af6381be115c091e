//! pprocess' `simple_managed_queue.py`: `queue = pprocess.Queue(limit=limit)`,
//! `calc = queue.manage(pprocess.MakeParallel(calculate))`, `calc(i, j)` for every cell, then
//! `for i, j, result in queue: results[i*N+j] = result`: results in the order they complete,
//! each stored at its own cell.
//!
//! par: `calculate::spawn(&mut queue, i, j)` (from `#[par::parallel]`) runs the call in a forked
//! child, at most `limit` at once; iterating a `par::Queue` yields `(job, result)` as calls
//! complete.
//!
//! ```sh
//! cargo run --release --example simple_managed_queue [-- --delay-ms 1000 --limit 10]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use pprocess::{N, calculate};

fn main() -> Result<(), par::Error> {
    let o = pprocess::Options::parallel();
    let t = Instant::now();

    // Initialise the communications queue with a limit on the number of processes.
    let mut queue = par::Queue::new(o.limit);

    // Initialise an array.
    let mut results = vec![0; N * N];

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            calculate::spawn(&mut queue, i, j);
        }
    }

    // Store the results as they arrive.
    for (_job, result) in queue {
        let (i, j, result) = result?;
        results[i * N + j] = result;
    }

    // Show the results.
    pprocess::show(&results);
    pprocess::time_taken(t);
    Ok(())
}
