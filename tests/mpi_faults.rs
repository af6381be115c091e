//! How an MPI job ends when something goes wrong (feature `mpi`). .ci/run runs it under
//! `mpirun -np 3` once per fault, given as the one argument, and checks its exit status:
//!
//! - `die`: call 2 kills the process serving it on its rank (`abort()`): it is reported as
//!   `WorkerDied` with its job index and rank, the rank forks a new serving process, and every
//!   other call succeeds (exit status 0).
//! - `stall`: call 2 never returns; with `PAR_MPI_TIMEOUT=2` its rank kills the serving
//!   process after 2 s and the call is reported as `TimedOut` with its index and rank (0).
//! - `panic`: rank 0's `main` panics: the other ranks are told to stop, MPI is finalized and
//!   the exit status is 101, as for any Rust program whose `main` panicked.
//! - `exit`: rank 0's `main` returns `ExitCode::from(3)`: the job's exit status is 3.
//! - `early`: rank 0 returns while the ranks still hold calls and send 4 MiB answers: the
//!   job ends at once with status 0 (nothing waits for an answer nobody reads).
//!
//! Without an argument (as `cargo test` runs it) it does nothing. (No libtest harness:
//! `par::main` owns `main`.)

use std::process::ExitCode;

#[par::parallel]
fn big(x: u64) -> Vec<u8> {
    vec![x as u8; 4 << 20]
}

#[par::parallel]
fn fault(x: u64, kind: String) -> u64 {
    if x == 2 {
        match kind.as_str() {
            "die" => std::process::abort(),
            "stall" => std::thread::sleep(std::time::Duration::from_secs(3600)),
            _ => {}
        }
    }
    x
}

fn main() -> ExitCode {
    let kind = std::env::args().nth(1).unwrap_or_default();
    par::main(|| match kind.as_str() {
        "die" | "stall" => {
            assert!(par::mpi::size() > 1, "run this fault under mpirun -np 3");
            let mut pool = par::Pool::new(2);
            for x in 0..8 {
                fault::spawn(&mut pool, x, kind.clone());
            }
            let results: Vec<par::Result<u64>> = pool.ordered().collect();
            let mut ok = true;
            for (x, r) in results.iter().enumerate() {
                match r {
                    Ok(v) => ok &= x != 2 && *v == x as u64,
                    Err(e) => {
                        println!("job {x}: {e}");
                        let kind_ok = match kind.as_str() {
                            "die" => matches!(e, par::Error::OnRank { source, .. }
                                if matches!(**source, par::Error::WorkerDied { death: par::Death::Signal(6), .. })),
                            _ => matches!(e, par::Error::OnRank { source, .. }
                                if matches!(**source, par::Error::TimedOut { .. })),
                        };
                        ok &= x == 2 && e.index() == Some(2) && e.rank().is_some() && kind_ok;
                    }
                }
            }
            println!("{}", if ok { "as expected" } else { "NOT as expected" });
            ExitCode::from(if ok { 0 } else { 1 })
        }
        "panic" => panic!("rank 0's main panics on purpose"),
        "exit" => ExitCode::from(3),
        "early" => {
            let mut pool = par::Pool::new(2);
            for x in 0..40 {
                big::spawn(&mut pool, x);
            }
            let first = pool.next().map(|(_, r)| r.map(|v| v.len()));
            println!("first answer: {first:?}; returning with 39 calls out");
            ExitCode::SUCCESS
        }
        "" => {
            println!("mpi_faults: give a fault (die|stall|panic|exit|early) and run under mpirun");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: mpi_faults die|stall|panic|exit|early");
            ExitCode::from(2)
        }
    })
}
