//! pprocess' `simple_create_map.py`: `ch = results.create()`, then `if ch:` the code at the
//! call site runs in the child and sends its result; a `Map` keeps submission order.
//!
//! par: the code that runs in the child is a closure given to `Map::spawn`: it sees everything
//! in scope (by fork), so nothing but its result needs to be serializable.
//!
//! `cargo run --release --example simple_create_map [-- --delay-ms 1000 --limit 10]`

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Duration;

use pprocess::N;

fn main() -> Result<(), par::Error> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut results = par::Map::new(o.limit);
    for (i, j) in pprocess::sequence() {
        // The body of pprocess' `if ch:` block.
        results.spawn(move || {
            std::thread::sleep(Duration::from_millis(o.delay_ms));
            i * N + j
        });
    }
    let cells: Vec<u32> = results.collect::<Result<_, _>>()?;
    pprocess::print_rows(&cells);
    pprocess::time_taken(start);
    Ok(())
}
