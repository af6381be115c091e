//! pprocess' `simple_continuous_queue.py`: `queue = pprocess.Queue(limit=limit, continuous=1)`,
//! `calc = queue.manage(calculate)` with a channel-taking `calculate(ch, i)` that computes a
//! whole row and sends each `(i, j, result)` as soon as it has it; `calc(i)` for every row (N
//! producers, N messages each), then `for i, j, result in queue: results[i*N+j] = result` as
//! messages arrive.
//!
//! par: `par::Exchange::start(f)` forks a child running `f` with its end of a `par::Channel`,
//! over which it may send any number of messages (no `continuous` flag needed); iterating the
//! exchange yields every message as `(channel id, message)` in arrival order, and ends when
//! every producer has returned. With the default `--limit 10` the ten producers run at once.
//!
//! ```sh
//! cargo run --release --example simple_continuous_queue [-- --delay-ms 1000 --limit 10]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use par::{Channel, Exchange};
use pprocess::{Cell, N};

/// "A supposedly time-consuming calculation on 'i'": row `i`, one message per cell.
fn calculate(ch: &mut Channel<Cell, ()>, i: usize) {
    for j in 0..N {
        ch.send(&pprocess::calculate(i, j))
            .expect("could not send a result to the parent");
    }
}

fn main() -> Result<(), par::Error> {
    let o = pprocess::Options::parallel();
    let t = Instant::now();

    // Initialise the communications queue with a limit on the number of processes.
    let mut queue: Exchange<(), Cell> = Exchange::new(o.limit);

    // Initialise an array.
    let mut results = vec![0; N * N];

    // Manage the calculate function.
    let mut calc = |i| queue.start(move |ch| calculate(ch, i));

    // Perform the work.
    for i in 0..N {
        calc(i);
    }

    // Store the results as they arrive.
    for (_producer, message) in queue {
        let (i, j, result) = message?;
        results[i * N + j] = result;
    }

    // Show the results.
    pprocess::show(&results);
    pprocess::time_taken(t);
    Ok(())
}
