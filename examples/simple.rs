//! pprocess' `simple.py`: the computation done sequentially, with no function at all: two
//! nested loops sleep for each cell and store `i * N + j` in the results array. (The only
//! program of the tutorial without a `calculate`; the delay is inline here as there.)
//!
//! This is the reference: `.ci/examples` checks that every other port prints its grid.
//!
//! ```sh
//! cargo run --release --example simple                      # 10 ms per cell, about 1 s
//! cargo run --release --example simple -- --delay-ms 1000   # pprocess' 1 s per cell
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use pprocess::N;

fn main() {
    pprocess::Options::sequential();
    let t = Instant::now();

    // Initialise an array.
    let mut results = vec![0; N * N];

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            pprocess::delay();
            results[i * N + j] = i * N + j;
        }
    }

    // Show the results.
    pprocess::show(&results);
    pprocess::time_taken(t);
}
