//! pprocess' `simple1.py`, sequential: nested loops append each cell's result to a list.
//!
//! `cargo run --release --example simple1 [-- --delay-ms 1000]`; compare with
//! `simple_managed_queue`, its parallel version.

#[path = "pprocess/mod.rs"]
mod pprocess;

use pprocess::N;

fn main() {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut results = Vec::new();
    for i in 0..N {
        for j in 0..N {
            results.push(pprocess::calculate(o.delay_ms, i, j).2);
        }
    }
    pprocess::print_rows(&results);
    pprocess::time_taken(start);
}
