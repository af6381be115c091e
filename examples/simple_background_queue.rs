//! pprocess' `simple_background_queue.py`: the whole computation, `task()` (a `Queue` of
//! managed `calculate` calls filling the results array), runs in a background process:
//! `ptask = pprocess.BackgroundCallable("task.socket", pprocess.MakeParallel(task))`, `ptask()`;
//! then `queue = pprocess.BackgroundQueue("task.socket")` connects to it and waits for its one
//! result. As in pprocess, `--start` only starts the task and `--reconnect` only collects it
//! (a later run of the program can); without either it does both.
//!
//! par: `par::background(path, || task())` forks a detached process (it is not our child, and
//! would outlive this program) whose result waits at the Unix socket `path`;
//! `par::BackgroundQueue::connect(path)` collects it, from this process or any other. The task
//! forks its own workers (a `par::Queue`) like any program. A calculation that fails makes the
//! task panic, which the collector receives as its error.
//!
//! ```sh
//! cargo run --release --example simple_background_queue [-- --delay-ms 1000 --limit 10]
//! cargo run --release --example simple_background_queue -- --start --socket /tmp/task.socket
//! cargo run --release --example simple_background_queue -- --reconnect --socket /tmp/task.socket
//! ```
//!
//! The socket is `par-simple_background_queue.socket` in the temporary directory unless
//! `--socket` says otherwise.

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::error::Error;
use std::time::Instant;

use pprocess::{LIMIT, N, calculate};

/// The main computation, run in the background process.
fn task(limit: usize) -> Vec<usize> {
    // Initialise the communications queue with a limit on the number of processes.
    let mut queue = par::Queue::new(limit);

    // Initialise an array.
    let mut results = vec![0; N * N];

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            calculate::spawn(&mut queue, i, j);
        }
    }

    // Store the results as they arrive.
    for (_job, result) in queue {
        let (i, j, result) = result.unwrap_or_else(|e| panic!("{e}"));
        results[i * N + j] = result;
    }
    results
}

fn main() -> Result<(), Box<dyn Error>> {
    let o = pprocess::Options::background(LIMIT);
    let t = Instant::now();

    if !o.reconnect {
        // Perform the work in the background.
        let limit = o.limit;
        let ptask = par::background(&o.socket, move || task(limit))?;
        eprintln!(
            "Started the task in background process {}; its result waits at {}",
            ptask.pid(),
            ptask.path().display()
        );
    }

    if !o.start {
        // Open a queue and reconnect to the task.
        let mut queue = par::BackgroundQueue::<Vec<usize>>::connect(&o.socket)?;

        // Wait for the results (one element).
        let results = queue.recv()?;

        // Show the results.
        pprocess::show(&results);
        pprocess::time_taken(t);
    }
    Ok(())
}
