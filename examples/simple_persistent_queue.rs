//! pprocess' `simple_persistent_queue.py`: the background task of `simple_background_queue`,
//! collected by a *later run* of the program: `--start` only starts it and exits,
//! `--reconnect` only connects to its socket and waits for the result; no flag does both.
//!
//! par: the result of `par::background` waits at its socket path until a process connects with
//! `par::BackgroundQueue::connect`, whichever process that is. (The time printed by a
//! `--reconnect` run is its own waiting time.)
//!
//! ```sh
//! cargo run --release --example simple_persistent_queue -- --start
//! cargo run --release --example simple_persistent_queue -- --reconnect
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    if !o.reconnect {
        let (delay, limit) = (o.delay_ms, o.limit);
        let job = par::background(&o.socket, move || pprocess::task(delay, limit))?;
        eprintln!(
            "Started process {} in the background; its result waits at {}",
            job.pid(),
            job.path().display()
        );
    }
    if !o.start {
        eprintln!("Reconnecting to {}", o.socket.display());
        let queue = par::BackgroundQueue::<Result<Vec<u32>, String>>::connect(&o.socket)?;
        for results in queue {
            pprocess::print_rows(&results??);
        }
        pprocess::time_taken(start);
    }
    Ok(())
}
