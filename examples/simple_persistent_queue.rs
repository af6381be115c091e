//! pprocess' `simple_persistent_queue.py`: N background tasks, one per row, each running a
//! `Queue` of managed `calculate` calls (with `limit = 2`, "since N background processes will
//! be used") and returning `(i, row)`. A first run of the program starts them
//! (`pprocess.BackgroundCallable("task-%d.socket" % i, MakeParallel(task))`, `ptask_i(i)`) and
//! exits with `--start`; a later run with `--reconnect` opens a `pprocess.PersistentQueue`,
//! `connect`s it to the N sockets and stores each `(i, row)` as it arrives. Without either
//! flag one run does both.
//!
//! par: `par::background(path, || task(i))` forks a detached process (not our child; it
//! outlives this program) whose result waits at the Unix socket `path` until any process
//! collects it with `par::BackgroundQueue::connect(path)`. par has no `PersistentQueue` that
//! waits on many sockets at once: the collector connects to all N and receives from each in
//! turn, which takes as long, since the tasks run at the same time. A `--reconnect` run prints
//! the time it waited.
//!
//! ```sh
//! cargo run --release --example simple_persistent_queue -- --start      # starts, exits
//! cargo run --release --example simple_persistent_queue -- --reconnect  # collects, prints
//! ```
//!
//! `--socket PATH` names the sockets: `PATH` is `task.socket` for `task-0.socket` ...
//! `task-9.socket` beside it (by default `par-simple_persistent_queue.socket` in the temporary
//! directory, for `par-simple_persistent_queue-0.socket` ...). `--limit` is per task (default 2).

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use pprocess::{N, calculate};

/// Each background task's limit on processes, as in pprocess (N tasks run at once).
const LIMIT: usize = 2;

/// The background computation of row `i`.
fn task(i: usize, limit: usize) -> (usize, Vec<usize>) {
    // Initialise the communications queue with a limit on the number of processes.
    let mut queue = par::Queue::new(limit);

    // Initialise an array.
    let mut results = vec![0; N];

    // Perform the work.
    for j in 0..N {
        calculate::spawn(&mut queue, i, j);
    }

    // Store the results as they arrive.
    for (_job, result) in queue {
        let (_, j, result) = result.unwrap_or_else(|e| panic!("{e}"));
        results[j] = result;
    }
    (i, results)
}

/// Task `i`'s socket: `task.socket` gives `task-i.socket` beside it ("task-%d.socket" % i).
fn socket(path: &Path, i: usize) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    match path.extension() {
        Some(ext) => path.with_file_name(format!("{stem}-{i}.{}", ext.to_string_lossy())),
        None => path.with_file_name(format!("{stem}-{i}")),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let o = pprocess::Options::background(LIMIT);
    let t = Instant::now();

    if !o.reconnect {
        // Perform the work: a distinct background task for each part of the computation.
        for i in 0..N {
            let limit = o.limit;
            par::background(socket(&o.socket, i), move || task(i, limit))?;
        }
        eprintln!(
            "Started {N} background tasks; their results wait at {} ... {}",
            socket(&o.socket, 0).display(),
            socket(&o.socket, N - 1).display()
        );
    }

    if !o.start {
        // Open a queue and reconnect to the tasks.
        let mut queue = Vec::with_capacity(N);
        for i in 0..N {
            queue.push(par::BackgroundQueue::<(usize, Vec<usize>)>::connect(
                socket(&o.socket, i),
            )?);
        }

        // Initialise an array.
        let mut results = vec![Vec::new(); N];

        // Wait for the results.
        for task in &mut queue {
            let (i, row) = task.recv()?;
            results[i] = row;
        }

        // Show the results.
        for row in results {
            pprocess::print_row(row);
        }
        pprocess::time_taken(t);
    }
    Ok(())
}
