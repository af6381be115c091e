//! pprocess' `simple2.py`, sequential: `calculate` returns `(i, j, result)` and each result is
//! stored at its place in a preallocated grid.
//!
//! `cargo run --release --example simple2 [-- --delay-ms 1000]`; compare with
//! `simple_managed_map`, its parallel version.

#[path = "pprocess/mod.rs"]
mod pprocess;

use pprocess::N;

fn main() {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut grid = pprocess::Grid::new();
    for i in 0..N {
        for j in 0..N {
            grid.set(pprocess::calculate(o.delay_ms, i, j));
        }
    }
    grid.print();
    pprocess::time_taken(start);
}
