//! pprocess' `simple_start.py`: `exchange.start(calculate, i, j)`, where `calculate(ch, i, j)`
//! receives a channel and sends its result over it; an `Exchange` subclass stores them.
//!
//! par: `Exchange::start` gives the child its `par::Channel`; the parent waits with
//! `ready(timeout)` and `recv(id)`, the lower-level loop under `finish`.
//!
//! `cargo run --release --example simple_start [-- --delay-ms 1000 --limit 10]`

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Duration;

use par::{Channel, Exchange};

fn main() -> Result<(), par::Error> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut exchange: Exchange<(), (u32, u32, u32)> = Exchange::new(o.limit);
    let delay = o.delay_ms;
    for (i, j) in pprocess::sequence() {
        exchange.start(move |ch: &mut Channel<(u32, u32, u32), ()>| {
            pprocess::calculate_to(ch, delay, i, j)
        });
    }
    let mut grid = pprocess::Grid::new();
    while exchange.active() > 0 {
        for id in exchange.ready(Some(Duration::from_secs(1))) {
            if let Some(cell) = exchange.recv(id)? {
                grid.set(cell);
            }
        }
    }
    grid.print();
    pprocess::time_taken(start);
    Ok(())
}
