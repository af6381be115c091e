//! pprocess' `simple_create_queue.py`: `ch = queue.create()`, the child computes and sends
//! `(i, j, result)`, the parent reads the queue in completion order.
//!
//! par: a closure given to `Queue::spawn` is the code that runs in the child.
//!
//! `cargo run --release --example simple_create_queue [-- --delay-ms 1000 --limit 10]`

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Duration;

use pprocess::N;

fn main() -> Result<(), par::Error> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut queue = par::Queue::new(o.limit);
    for (i, j) in pprocess::sequence() {
        queue.spawn(move || {
            std::thread::sleep(Duration::from_millis(o.delay_ms));
            (i, j, i * N + j)
        });
    }
    let mut grid = pprocess::Grid::new();
    for (_job, result) in queue {
        grid.set(result?);
    }
    grid.print();
    pprocess::time_taken(start);
    Ok(())
}
