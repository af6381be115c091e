//! pprocess' `simple_create_queue.py`: `queue = pprocess.Queue(limit=limit)`; for every cell,
//! `ch = queue.create()` forks, and `if ch:` the code at the call site runs in the child:
//! sleep, `ch.send((i, j, i * N + j))`, `pprocess.exit(ch)`. Then
//! `for i, j, result in queue: results[i*N+j] = result` as results arrive.
//!
//! par: the code that runs in the child is a closure given to `par::Queue::spawn`; the child is
//! forked from the call site, so the closure sees everything in scope and only its result has
//! to be serializable; returning is `ch.send` and `pprocess.exit` in one. Iterating the queue
//! yields `(job, result)` as jobs complete.
//!
//! ```sh
//! cargo run --release --example simple_create_queue [-- --delay-ms 1000 --limit 10]
//! ```

#[path = "pprocess/mod.rs"]
mod pprocess;

use std::time::Instant;

use pprocess::N;

fn main() -> Result<(), par::Error> {
    let o = pprocess::Options::parallel();
    let t = Instant::now();

    // Initialise the communications queue with a limit on the number of processes.
    let mut queue = par::Queue::new(o.limit);

    // Initialise an array.
    let mut results = vec![0; N * N];

    // Perform the work.
    for i in 0..N {
        for j in 0..N {
            queue.spawn(move || {
                // Calculation work, in the child.
                pprocess::delay();
                (i, j, i * N + j)
            });
        }
    }

    // Store the results as they arrive.
    for (_job, result) in queue {
        let (i, j, result) = result?;
        results[i * N + j] = result;
    }

    // Show the results.
    pprocess::show(&results);
    pprocess::time_taken(t);
    Ok(())
}
