//! pprocess' `simple_continuous_queue.py`: `queue.start(calculate, i)` starts one process per
//! row, and each sends N results over its channel (`continuous`) as it computes them.
//!
//! par: a started child sends as many messages as it likes; the `Exchange` yields them all, in
//! arrival order, and ends when every producer has returned. With the default `--limit 10`
//! the ten producers run at once.
//!
//! `cargo run --release --example simple_continuous_queue [-- --delay-ms 1000 --limit 10]`

#[path = "pprocess/mod.rs"]
mod pprocess;

use par::{Channel, Exchange};
use pprocess::N;

fn main() -> Result<(), par::Error> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut queue: Exchange<(), (u32, u32, u32)> = Exchange::new(o.limit);
    let delay = o.delay_ms;
    for i in 0..N {
        queue.start(move |ch: &mut Channel<(u32, u32, u32), ()>| {
            for j in 0..N {
                pprocess::calculate_to(ch, delay, i, j);
            }
        });
    }
    let mut grid = pprocess::Grid::new();
    for (_producer, message) in queue {
        grid.set(message?);
    }
    grid.print();
    pprocess::time_taken(start);
    Ok(())
}
