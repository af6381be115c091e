//! pprocess' `simple_map.py`: sequential, map-style: build the `sequence` of `(i, j)` pairs, then
//! `results = map(calculate, sequence)`.
//!
//! pprocess' `calculate(t)` took the pair and returned `i * N + j`: here a closure takes the
//! pair and keeps `.2` of the shared `calculate`. Its parallel version is `simple_pmap`.
//!
//! ```sh
//! cargo run --release --example simple_map [-- --delay-ms 1000]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use pprocess::calculate;

fn main() {
    pprocess::Options::sequential();
    let t = Instant::now();

    // Initialise an array.
    let sequence = pprocess::sequence();

    // Perform the work.
    let results: Vec<usize> = sequence
        .into_iter()
        .map(|(i, j)| calculate(i, j).2)
        .collect();

    // Show the results.
    pprocess::show(&results);
    pprocess::time_taken(t);
}
