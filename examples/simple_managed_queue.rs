//! pprocess' `simple_managed_queue.py`: a `Queue(limit)`, `queue.manage(MakeParallel(calculate))`,
//! then `for i, j, result in queue: results[i*N+j] = result` as results complete.
//!
//! par: `#[par::parallel]` + `calculate::spawn(&mut queue, ...)`; a `par::Queue` yields
//! `(job, result)` in completion order.
//!
//! `cargo run --release --example simple_managed_queue [-- --delay-ms 1000 --limit 10]`

#[path = "pprocess/mod.rs"]
mod pprocess;

use pprocess::calculate;

fn main() -> Result<(), par::Error> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut queue = par::Queue::new(o.limit);
    for (i, j) in pprocess::sequence() {
        calculate::spawn(&mut queue, o.delay_ms, i, j);
    }
    let mut grid = pprocess::Grid::new();
    for (_job, result) in queue {
        grid.set(result?);
    }
    grid.print();
    pprocess::time_taken(start);
    Ok(())
}
