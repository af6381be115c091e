//! pprocess' `simple_create_map.py`: `results = pprocess.Map(limit=limit)`; for every cell,
//! `ch = results.create()` forks, and `if ch:` the code at the call site runs in the child:
//! sleep, `ch.send(i * N + j)`, `pprocess.exit(ch)`. The results are read row by row by
//! slicing the map, `results[i*N:i*N+N]`, in creation order.
//!
//! par: the code that runs in the child is a closure given to `par::Map::spawn`; the child is
//! forked from the call site, so the closure sees everything in scope and only its result has
//! to be serializable; returning is `ch.send` and `pprocess.exit` in one. `get_range(a..b)` is
//! the slice `results[a:b]`.
//!
//! ```sh
//! cargo run --release --example simple_create_map [-- --delay-ms 1000 --limit 10]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::error::Error;
use std::time::Instant;

use pprocess::N;

fn main() -> Result<(), Box<dyn Error>> {
    let o = pprocess::Options::parallel();
    let t = Instant::now();

    // Initialise the results using a map with a limit on the number of processes.
    let mut results = par::Map::new(o.limit);

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            results.spawn(move || {
                // Calculation work, in the child.
                pprocess::delay();
                i * N + j
            });
        }
    }

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
