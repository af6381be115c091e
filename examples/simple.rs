//! pprocess' `simple.py`, sequential: the reference every parallel port is checked against
//! (`.ci/examples` compares their grids with this one's).
//!
//! `cargo run --release --example simple [-- --delay-ms 1000]` (about 1 s with the default
//! 10 ms per cell, 100 s with pprocess' 1 s).

#[path = "pprocess/mod.rs"]
mod pprocess;

use pprocess::N;

fn main() {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut results = Vec::with_capacity((N * N) as usize);
    for (i, j) in pprocess::sequence() {
        let (_, _, value) = pprocess::calculate(o.delay_ms, i, j);
        results.push(value);
    }
    pprocess::print_rows(&results);
    pprocess::time_taken(start);
}
