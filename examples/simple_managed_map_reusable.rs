//! pprocess' `simple_managed_map_reusable.py`: as `simple_managed_map`, but with
//! `pprocess.Map(limit=limit, reuse=1)` and `results.manage(pprocess.MakeReusable(calculate))`:
//! at most `limit` processes, each kept to run call after call instead of one fork per call.
//!
//! par: a `par::Pool` forks at most `limit` workers, when first needed, and sends them the calls
//! of the `#[par::parallel]` function (its registered name and its arguments as bytes):
//! `calculate::spawn(&mut results, i, j)` as for a `Map`. `results.ordered()` yields the
//! results in submission order; taking `N` of them at a time reads the rows, pprocess'
//! `results[i*N:i*N+N]`. On stderr it says how many workers served the 100 calls.
//!
//! ```sh
//! cargo run --release --example simple_managed_map_reusable [-- --delay-ms 1000 --limit 10]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use pprocess::{N, calculate};

fn main() -> Result<(), par::Error> {
    let o = pprocess::Options::parallel();
    let t = Instant::now();

    // Initialise the results using a pool of reusable processes.
    let mut results = par::Pool::new(o.limit);

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            calculate::spawn(&mut results, i, j);
        }
    }

    // Show the results.
    for _ in 0..N {
        let mut row = Vec::with_capacity(N);
        for result in results.ordered().take(N) {
            let (_, _, value) = result?;
            row.push(value);
        }
        pprocess::print_row(row);
    }
    eprintln!(
        "({} calls served by {} worker processes)",
        N * N,
        results.forks()
    );
    pprocess::time_taken(t);
    Ok(())
}
