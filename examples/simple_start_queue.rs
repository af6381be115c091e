//! pprocess' `simple_start_queue.py`: `queue = pprocess.Queue(limit=limit)`,
//! `calc = pprocess.MakeParallel(calculate)`, `queue.start(calc, i, j)` for every cell (each
//! call started in a child with a channel back, which `MakeParallel` sends the result over),
//! then `for i, j, result in queue: results[i*N+j] = result` as results arrive.
//!
//! par: a pprocess `Queue` is an exchange of channels: `par::Exchange::start(f)` forks a child
//! running `f` with its end of a `par::Channel` (at most `limit` at once; `start` never
//! blocks), `pprocess::make_parallel` is `MakeParallel`, and iterating the exchange yields
//! `(channel id, message)` as messages arrive.
//!
//! ```sh
//! cargo run --release --example simple_start_queue [-- --delay-ms 1000 --limit 10]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use par::Exchange;
use pprocess::{Cell, N, calculate, make_parallel};

fn main() -> Result<(), par::Error> {
    let o = pprocess::Options::parallel();
    let t = Instant::now();

    // Initialise the communications queue with a limit on the number of processes.
    let mut queue: Exchange<(), Cell> = Exchange::new(o.limit);

    // Initialise an array.
    let mut results = vec![0; N * N];

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            queue.start(make_parallel(move || calculate(i, j)));
        }
    }

    // Store the results as they arrive.
    for (_id, message) in queue {
        let (i, j, result) = message?;
        results[i * N + j] = result;
    }

    // Show the results.
    pprocess::show(&results);
    pprocess::time_taken(t);
    Ok(())
}
