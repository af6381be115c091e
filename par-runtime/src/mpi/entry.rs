//! `par::main`: the program's entry under MPI, above everything it starts (the MPI thread and
//! the ranks' serving loops in `pump`, which serve pools' calls).

#[cfg(feature = "mpi")]
use super::{launched, pump};

/// Runs the program's body under MPI when launched by `mpirun`/`srun`, and plainly otherwise.
///
/// Launched under MPI (feature `mpi`), rank 0 runs `body` and returns its value; every other
/// rank serves calls of `#[parallel]` functions from rank 0 until `body` returns or panics,
/// then exits with status 0 without returning. MPI is finalized before this returns (or
/// re-raises `body`'s panic), so the program's exit status is rank 0's. Not launched under
/// MPI, or without the feature, it is `body()`.
///
/// Call it once, from `main`, before anything forks: on a rank other than 0, nothing written
/// before it in `main` should have side effects other ranks must not repeat.
///
/// ```
/// fn main() -> std::process::ExitCode {
///     par::main(|| {
///         let squares: Vec<u64> = par::par!(for x in 0..10u64 { x * x });
///         assert_eq!(squares[3], 9);
///         std::process::ExitCode::SUCCESS
///     })
/// }
/// ```
pub fn main<T>(body: impl FnOnce() -> T) -> T {
    #[cfg(feature = "mpi")]
    if launched() {
        return pump::main(body);
    }
    body()
}
