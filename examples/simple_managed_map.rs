//! pprocess' `simple_managed_map.py`: a `Map(limit)` and a callable made parallel with
//! `results.manage(pprocess.MakeParallel(calculate))`; results are read back by slicing the map
//! row by row, in submission order.
//!
//! par: `#[par::parallel] fn calculate` gives `calculate::spawn(&mut map, ...)`; a `par::Map`
//! yields results in submission order (and `map.get(i)` waits for one). Each call runs in its
//! own forked child.
//!
//! `cargo run --release --example simple_managed_map [-- --delay-ms 1000 --limit 10]`

#[path = "pprocess/mod.rs"]
mod pprocess;

use pprocess::{calculate, N};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut results = par::Map::new(o.limit);
    for (i, j) in pprocess::sequence() {
        calculate::spawn(&mut results, o.delay_ms, i, j);
    }
    // pprocess: `for result in results[i*N:i*N+N]`, row by row, each slice waiting for its calls.
    let mut grid = pprocess::Grid::new();
    for i in 0..N as usize {
        for result in results.get_range(i * N as usize..(i + 1) * N as usize) {
            grid.set(*result.as_ref().map_err(|e| e.to_string())?);
        }
    }
    grid.print();
    pprocess::time_taken(start);
    Ok(())
}
