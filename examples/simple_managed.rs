//! pprocess' `simple_managed.py`: an `Exchange` subclass whose `store_data(ch)` puts each
//! received `(i, j, result)` at `results[i*N+j]`;
//! `calc = exchange.manage(pprocess.MakeParallel(calculate))`, `calc(i, j)` for every cell,
//! then `exchange.finish()` waits for every call, handing each message to `store_data`.
//!
//! par: `par::Exchange::start(f)` forks a child running `f` with a channel back (at most
//! `limit` at once; `start` never blocks); `pprocess::make_parallel` is `MakeParallel`, and
//! `calc` below is the managed callable. `Exchange::finish(hook)` waits for every channel,
//! handing each message (or failure) to `hook`, our `store_data`.
//!
//! ```sh
//! cargo run --release --example simple_managed [-- --delay-ms 1000 --limit 10]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use par::Exchange;
use pprocess::{Cell, N, calculate, make_parallel};

fn main() -> Result<(), par::Error> {
    let o = pprocess::Options::parallel();
    let t = Instant::now();

    // Initialise the communications exchange with a limit on the number of processes.
    let mut exchange: Exchange<(), Cell> = Exchange::new(o.limit);

    // Initialise an array.
    let mut results = vec![0; N * N];

    // Wrap the calculate function and manage it.
    let mut calc = |i, j| exchange.start(make_parallel(move || calculate(i, j)));

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            calc(i, j);
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
