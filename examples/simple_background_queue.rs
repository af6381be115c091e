//! pprocess' `simple_background_queue.py`: `BackgroundCallable("task.socket",
//! MakeParallel(task))` runs the whole computation in a background process, and
//! `BackgroundQueue("task.socket")` connects to it and waits for its result.
//!
//! par: `par::background(path, || task())` starts a detached process (it would outlive this
//! one) whose result waits at the Unix socket `path`; `par::BackgroundQueue::connect(path)`
//! collects it. The task itself runs a `par::Queue`: a background process forks its workers
//! like any program.
//!
//! `cargo run --release --example simple_background_queue [-- --delay-ms 1000 --socket PATH]`

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let (delay, limit) = (o.delay_ms, o.limit);
    let job = par::background(&o.socket, move || pprocess::task(delay, limit))?;
    eprintln!("Waiting for persistent results from process {}", job.pid());
    let queue = par::BackgroundQueue::<Result<Vec<u32>, String>>::connect(job.path())?;
    for results in queue {
        pprocess::print_rows(&results??);
    }
    pprocess::time_taken(start);
    Ok(())
}
