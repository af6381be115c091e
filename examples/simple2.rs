//! pprocess' `simple2.py`: sequential, with a function that returns `(i, j, result)`; each
//! result is stored at its cell of a preallocated array, `results[i*N+j]`, which is what lets
//! the parallel versions store results in whatever order they complete (`simple_managed_queue`).
//!
//! ```sh
//! cargo run --release --example simple2 [-- --delay-ms 1000]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use pprocess::{N, calculate};

fn main() {
    pprocess::Options::sequential();
    let t = Instant::now();

    // Initialise an array.
    let mut results = vec![0; N * N];

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            let (i2, j2, result) = calculate(i, j);
            results[i2 * N + j2] = result;
        }
    }

    // Show the results.
    pprocess::show(&results);
    pprocess::time_taken(t);
}
