//! pprocess' `simple_start_queue.py`: `queue.start(calculate, i, j)` with a channel-taking
//! `calculate(ch, i, j)`, then `for i, j, result in queue` as results arrive.
//!
//! par: an `Exchange` is also an iterator of `(channel id, message)` in arrival order.
//!
//! `cargo run --release --example simple_start_queue [-- --delay-ms 1000 --limit 10]`

#[path = "pprocess/mod.rs"]
mod pprocess;

use par::{Channel, Exchange};

fn main() -> Result<(), par::Error> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut queue: Exchange<(), (u32, u32, u32)> = Exchange::new(o.limit);
    let delay = o.delay_ms;
    for (i, j) in pprocess::sequence() {
        queue.start(move |ch: &mut Channel<(u32, u32, u32), ()>| {
            pprocess::calculate_to(ch, delay, i, j)
        });
    }
    let mut grid = pprocess::Grid::new();
    for (_id, message) in queue {
        grid.set(message?);
    }
    grid.print();
    pprocess::time_taken(start);
    Ok(())
}
