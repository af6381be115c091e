//! Beyond one machine: the ranks of an MPI job as workers (feature `mpi`).
//!
//! The same program, launched with `mpirun -np N ./prog` (or Slurm's `srun`), spreads calls of
//! `#[parallel]` functions over the ranks; launched plainly, it behaves as without MPI. Wrap
//! the body of `main` in [`par::main`](crate::main): on rank 0 it runs your code; on every other
//! rank it serves calls of `#[parallel]` functions, found by their registered name, until
//! rank 0 returns (or panics), then exits.
//!
//! ```no_run
//! #[par::parallel]
//! fn simulate(seed: u64) -> f64 {
//!     (seed as f64).sqrt() // the expensive part
//! }
//!
//! fn main() {
//!     par::main(|| {
//!         // Under `mpirun -np 4`: ranks 1..3 run the calls; plainly: 4 forked workers.
//!         let mut pool = par::Pool::new(4);
//!         for seed in 0..100 {
//!             simulate::spawn(&mut pool, seed);
//!         }
//!         let total: f64 = pool.map(|(_, r)| r.unwrap()).sum();
//!         println!("{total}");
//!     })
//! }
//! ```
//!
//! **What goes to the ranks** (on rank 0, inside [`par::main`](crate::main), launched under MPI
//! with two ranks or more): every worker of a [`Pool`](crate::Pool), and every call of a
//! `#[parallel]` function submitted with `f::spawn(&mut queue_or_map, ...)` to a
//! [`Queue`](crate::Queue) or [`Map`](crate::Map), or mapped with its companion's
//! `f::pmap(items, limit)`; and the calls of a `par!` loop whose body
//! is one call of a `#[parallel]` function (`par!(for y in 0..h { render_row(y) })`, no clause
//! but `workers` and `schedule`). Their arguments and results travel as bytes, as they do to a
//! local pool worker. Calls are scheduled dynamically: an idle rank gets the next call, and
//! each rank holds its next call (more when calls are short) to hide the round trip.
//!
//! **What stays on this node**: closures (`queue.spawn(|| ...)`, [`pmap`](crate::pmap)'s
//! function, `par!` bodies): they reach a worker by `fork`, and cannot travel to another
//! machine. They run on this rank's forked workers, as they do without MPI. Any rank may fork
//! local workers: a `par!` loop inside a `#[parallel]` function running on rank 2 runs on
//! rank 2's forked workers (MPI between nodes, fork within a node).
//!
//! **Failures**: a call that fails on a rank yields [`Error::OnRank`]
//! around the error a local pool worker would give, with the job index:
//! [`Error::Panicked`] (message, location),
//! [`Error::WorkerDied`] (each rank runs calls in a forked process,
//! replaced after a death), [`Error::TimedOut`] (a call longer than
//! `PAR_MPI_TIMEOUT=seconds`, read on rank 0, is killed by its rank). A rank that dies entirely
//! ends the whole job (MPI launchers abort every rank when one exits without finalizing, and
//! name it). A rank that stops answering for twice the timeout plus 10 s makes rank 0 print the
//! job and the rank and call `MPI_Abort`, so that the job never hangs.
//!
//! How it works: one thread per rank owns MPI (it initializes, sends, receives and finalizes;
//! no other thread calls MPI). On rank 0 it moves frames between each pool's pipes and the
//! ranks, speaking exactly the frame protocol of a local pool worker, so a `Pool` whose workers
//! are ranks differs from a local one only in how a worker is started. On the
//! other ranks it feeds the pool worker's serving loop (`pool::serve`, in a forked child)
//! through a pipe. The protocol and its rules: `README.md` beside this file.
//!
//! What this module must never do: call MPI from any thread but its own, or from a forked
//! child (children never see the MPI thread: only the forking thread exists in a child); let
//! rank 0 hang on a rank that stopped answering (`PAR_MPI_TIMEOUT`); change anything when the
//! program was not launched under MPI.

// Layers, lowest first: this file and `world` (what the process knows of the job, links to
// ranks: used by the pools), then `jobs::pool`, then `pump` (the MPI thread, whose serving
// loops run `pool::serve`) and `loops`, then `entry` (`par::main`). Nothing here names the
// modules above it.
pub(crate) mod entry;
pub(crate) mod loops;
#[cfg(feature = "mpi")]
mod pump;
#[cfg(feature = "mpi")]
mod world;

use crate::error::{Error, Result};

/// True when this process was started by an MPI launcher (`mpirun`, `mpiexec`, `srun`): one
/// of `OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`, `PMI_RANK`, `PMIX_RANK` or `SLURM_PROCID` is set.
/// [`par::main`](crate::main) initializes MPI only then.
///
/// ```
/// if !par::mpi::launched() {
///     println!("not under mpirun: loops use local workers");
/// }
/// ```
pub fn launched() -> bool {
    [
        "OMPI_COMM_WORLD_SIZE",
        "PMI_SIZE",
        "PMI_RANK",
        "PMIX_RANK",
        "SLURM_PROCID",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some())
}

/// This process' rank in the MPI job (0 when not running under [`par::main`](crate::main) with MPI).
///
/// ```
/// if !par::mpi::launched() {
///     assert_eq!(par::mpi::rank(), 0);
/// }
/// ```
pub fn rank() -> usize {
    #[cfg(feature = "mpi")]
    if let Some(w) = world::world() {
        return w.rank;
    }
    0
}

/// The number of ranks of the MPI job (1 when not running under [`par::main`](crate::main) with MPI).
///
/// ```
/// assert_eq!(par::mpi::size(), 1); // not launched by mpirun
/// assert_eq!(par::mpi::rank(), 0);
/// ```
pub fn size() -> usize {
    #[cfg(feature = "mpi")]
    if let Some(w) = world::world() {
        return w.size;
    }
    1
}

/// The number of ranks that serve calls for this process (the ranks other than 0), when this
/// process is rank 0 running [`par::main`](crate::main)'s body with at least one other rank; `None`
/// everywhere else (a forked worker, another rank, no MPI).
pub(crate) fn ranks() -> Option<usize> {
    #[cfg(feature = "mpi")]
    if let Some(w) = world::world()
        && w.serving()
        && !crate::mode::in_worker()
    {
        return Some(w.size - 1);
    }
    None
}

/// A link to a rank: the ends of the pipes that the MPI thread pumps to and from it. A pool
/// writes `Call` frames to `tx` and reads `Results`/`Panic` frames from `rx`, as with a forked
/// worker.
pub(crate) struct Link {
    /// Its number, which routes the rank's answers back to this link.
    pub(crate) id: u64,
    /// The rank (1 or more).
    pub(crate) rank: usize,
    /// The rank's process id (on its own node).
    pub(crate) pid: crate::sys::Pid,
    pub(crate) tx: crate::sys::Fd,
    pub(crate) rx: crate::sys::Fd,
}

/// Opens a new link to `rank` (only where [`ranks`] is `Some`).
pub(crate) fn connect(rank: usize) -> Result<Link> {
    #[cfg(feature = "mpi")]
    return world::connect(rank);
    #[cfg(not(feature = "mpi"))]
    Err(Error::io(
        "could not link to an MPI rank",
        std::io::Error::other(format!(
            "rank {rank}: par was built without its `mpi` feature"
        )),
    ))
}

/// `r`, with an error said to have happened on `rank` (when the call ran on one).
pub(crate) fn on_rank<T>(rank: Option<usize>, r: Result<T>) -> Result<T> {
    r.map_err(|e| at_rank(rank, e))
}

/// `r` for job `job` of link `link`, with an error said to have happened on `rank` (when the
/// call ran on one) in the rank's process that ran it (its serving child, which the rank
/// names with each failure it sends).
pub(crate) fn on_rank_call<T>(
    rank: Option<usize>,
    link: u64,
    job: usize,
    r: Result<T>,
) -> Result<T> {
    #[cfg(feature = "mpi")]
    let r = match (rank, r) {
        (Some(_), Err(e)) => Err(match world::served_by(link, job as u64) {
            Some(pid) => e.ran_in(pid),
            None => e,
        }),
        (_, r) => r,
    };
    #[cfg(not(feature = "mpi"))]
    let _ = (link, job);
    on_rank(rank, r)
}

/// `e`, said to have happened on `rank` (when the call ran on one).
pub(crate) fn at_rank(rank: Option<usize>, e: Error) -> Error {
    match rank {
        Some(rank) => Error::OnRank {
            rank,
            host: host(rank),
            source: Box::new(e),
        },
        None => e,
    }
}

/// The error for a call whose link to `rank` closed before its result came.
pub(crate) fn link_lost(rank: usize, job: Option<usize>, pid: i32) -> Error {
    Error::OnRank {
        rank,
        host: host(rank),
        source: Box::new(Error::Lost {
            index: job,
            pid: Some(pid),
            message: "the link to the rank closed before the call's result came".into(),
        }),
    }
}

/// The name of the node `rank` runs on, as MPI reports it.
fn host(rank: usize) -> String {
    #[cfg(feature = "mpi")]
    if let Some(w) = world::world()
        && let Some(p) = w.peers.get(rank)
    {
        return p.host.clone();
    }
    format!("rank {rank}")
}
