//! pprocess' `simple_start.py`: message exchanges used directly. `calculate(ch, i, j)` takes a
//! channel and sends `(i, j, result)` over it; `exchange.start(calculate, i, j)` starts it in a
//! child for every cell; an `Exchange` subclass's `store_data(ch)` puts each message at
//! `results[i*N+j]`, and `exchange.finish()` waits for them all.
//!
//! par: `par::Exchange::start(f)` forks a child running `f` with its end of a `par::Channel`
//! (at most `limit` at once; `start` never blocks); the child sends with `ch.send(&value)`.
//! `Exchange::finish(hook)` waits for every channel, handing each message (or failure) to
//! `hook`, our `store_data`.
//!
//! ```sh
//! cargo run --release --example simple_start [-- --delay-ms 1000 --limit 10]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use par::{Channel, Exchange};
use pprocess::{Cell, N};

/// "A supposedly time-consuming calculation on 'i' and 'j', using 'ch' to communicate with the
/// parent process."
fn calculate(ch: &mut Channel<Cell, ()>, i: usize, j: usize) {
    ch.send(&pprocess::calculate(i, j))
        .expect("could not send the result to the parent");
}

fn main() -> Result<(), par::Error> {
    let o = pprocess::Options::parallel();
    let t = Instant::now();

    // Initialise the communications exchange with a limit on the number of processes.
    let mut exchange: Exchange<(), Cell> = Exchange::new(o.limit);

    // Initialise an array.
    let mut results = vec![0; N * N];

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            exchange.start(move |ch| calculate(ch, i, j));
        }
    }

    // Wait for the results, storing each as it arrives (the first failure, if any, is kept).
    let mut failure = None;
    let store_data = |_id, message: par::Result<Cell>| match message {
        Ok((i, j, result)) => results[i * N + j] = result,
        Err(e) => {
            failure.get_or_insert(e);
        }
    };
    exchange.finish(store_data);
    if let Some(e) = failure {
        return Err(e);
    }

    // Show the results.
    pprocess::show(&results);
    pprocess::time_taken(t);
    Ok(())
}
