//! pprocess' `simple1.py`: sequential, with a function: nested loops append `calculate(i, j)`
//! to a list, in order.
//!
//! pprocess' `calculate` here returned `i * N + j`; the shared one returns `(i, j, i * N + j)`
//! (as in `simple2.py`), so this takes its `.2`. Its parallel counterparts are
//! `simple_managed_map` and `simple_managed_queue`.
//!
//! ```sh
//! cargo run --release --example simple1 [-- --delay-ms 1000]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use pprocess::{N, calculate};

fn main() {
    pprocess::Options::sequential();
    let t = Instant::now();

    // Initialise an array.
    let mut results = Vec::with_capacity(N * N);

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            results.push(calculate(i, j).2);
        }
    }

    // Show the results.
    pprocess::show(&results);
    pprocess::time_taken(t);
}
