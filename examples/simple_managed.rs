//! pprocess' `simple_managed.py`: an `Exchange` subclass whose `store_data` hook puts each
//! received `(i, j, result)` in the grid, `exchange.manage(MakeParallel(calculate))` to start
//! the calls, and `exchange.finish()` to wait for them all.
//!
//! par: a `par::Exchange` starts each call in a child with a channel back (at most `limit` at
//! once); `finish(hook)` hands every message to the hook as it arrives.
//!
//! `cargo run --release --example simple_managed [-- --delay-ms 1000 --limit 10]`

#[path = "pprocess/mod.rs"]
mod pprocess;

use par::{Channel, Exchange};

fn main() -> Result<(), par::Error> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut exchange: Exchange<(), (u32, u32, u32)> = Exchange::new(o.limit);
    let delay = o.delay_ms;
    for (i, j) in pprocess::sequence() {
        // MakeParallel: the call runs in the child, its result is sent back.
        exchange.start(move |ch: &mut Channel<(u32, u32, u32), ()>| {
            pprocess::calculate_to(ch, delay, i, j)
        });
    }
    let mut grid = pprocess::Grid::new();
    let mut failure = None;
    // store_data: the hook.
    exchange.finish(|_id, message| match message {
        Ok(cell) => grid.set(cell),
        Err(e) => failure = Some(e),
    });
    if let Some(e) = failure {
        return Err(e);
    }
    grid.print();
    pprocess::time_taken(start);
    Ok(())
}
