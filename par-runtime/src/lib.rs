//! Runtime of [par](https://docs.rs/par): forked worker teams that run a loop body, ship
//! results over pipes and report every failure with the item index and worker pid.
//!
//! Users depend on the facade crate `par`, which re-exports everything public here.
//!
//! Module map: one folder a layer, dependencies pointing one way, down this list
//! (`shared/tools/modcycles.py par-runtime/src` checks that there is no cycle):
//! - `macro_support`: the top floor, the helpers of the code `par!` and `#[parallel]`
//!   generate (it reaches every layer below, as that code does);
//! - `loops/`: the `par!` loop. `par_loop` (the forms on [`Loop`]) -> `exec` (`decide`, the one inline-or-
//!   team decision for every form, with what `learn` says about it) -> `team` (the parent's poll loop over its workers)
//!   -> `worker` (the child's loop) -> `forms` (what a worker does with a chunk: collect,
//!   reduce; the inline emitter), `in_place` (the in-place forms: `&mut` items whose changes the
//!   workers send back); beside them `options` ([`Loop`]'s options: what `exec` decides
//!   from, and the `Clauses` the team keeps), `report` ([`LoopReport`]: what a loop did,
//!   from small hooks in `team`, printed and traced as asked), `sched` (chunking), `source`
//!   (items), `shared` ([`SharedVec`]).
//! - `mpi/` upper half (feature `mpi`): `entry` ([`main`]) -> `pump` (the MPI thread; a rank's
//!   serving loop forks a child running `pool::serve`) and `loops` (a `par!` body on the ranks,
//!   through a [`Pool`]).
//! - `jobs/`: the callables. `queue` ([`Queue`], [`Map`], [`pmap`]; on MPI ranks a `Queue` runs
//!   through a `Pool`) -> `pool` ([`Pool`] and the registry of `#[parallel]` functions);
//!   `channel` ([`start`], [`Channel`], [`Exchange`]), `background`; under them `events` (the
//!   one event loop all of them wait, read, time out and cancel through), `spawner`
//!   ([`Spawner`]) and `limiter`, what Queue/Map and Pool share (job numbers, finished results,
//!   progress, retry decisions, per-job deadlines, cancel, and the families' one options
//!   value, `child::options`) and `report` (what a family did, printed and traced when it
//!   is dropped, as loops are).
//! - `mpi/` lower half: `mpi` itself and `mpi::world` (what this process knows of the job,
//!   and the links pools open to ranks); `pool` and `queue` ask it whether and how to link to
//!   ranks, and a rank's link is a `child::Child` that is a rank.
//! - `child/`: one forked child, for every family above: `spawn` (pipes, fork, death with the
//!   parent), `Child` (kill, reap, the death its end stands for, kill-and-reap on drop),
//!   `report` (the child's epilogue and its panic report), `wait` (many children at once),
//!   `limits` (a child's memory limit and thread-count environment, set right after the fork,
//!   and the names of the deaths they explain: a memory limit, the kernel's OOM killer),
//!   `place` (where a child runs: [`ProcBind`] over `PAR_PLACES`, the CPU masks children pin
//!   themselves to), `options` (the options loops and job families share, one value: limits,
//!   largest frame, timeout, retries, cancel, progress).
//! - `wire/`: frames (`wire`) and the serde codec (`wire::codec`).
//! - leaves used by all: `cancel`, `error`, `mode`, `progress`, `trace`;
//! - `sys/`: every system call and every `unsafe` block.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod cancel;
mod child;
mod error;
mod jobs;
mod loops;
mod macro_support;
mod mode;
// Feature `mpi`: ranks of an MPI job as pool workers (`par::main`, `par::mpi::rank`, ...).
pub mod mpi;
mod progress;
#[allow(unsafe_code)]
mod sys;
mod trace;
mod wire;

pub use cancel::Cancel;
pub use child::place::ProcBind;
pub use error::{Death, Error, Result};
pub use jobs::background::{Background, BackgroundQueue, background};
pub use jobs::channel::{Channel, Exchange, start};
pub use jobs::pool::{Ordered, Pool, registered};
pub use jobs::queue::{Map, Queue, pmap};
pub use jobs::report::{FamilyReport, FamilyWorker, last_family_report};
pub use jobs::spawner::Spawner;
pub use loops::exec::default_workers;
pub use loops::join::{join, try_join};
pub use loops::options::{Loop, ParseScheduleError};
pub use loops::par_loop::{InOrder, TryInOrder, TryUnordered, Unordered};
pub use loops::report::{LoopReport, WorkerReport, last_report};
pub use loops::sched::Schedule;
pub use loops::shared::{Plain, SharedVec};
pub use loops::source::{IntoSource, Items, Source, Stream, items, stream};
pub use mode::{MAX_WORKERS_PER_CORE, in_worker, sequential};
pub use mpi::entry::main;
pub use wire::codec::Transfer;

#[doc(hidden)]
/// Used by generated code, not public API.
pub mod __private {
    pub use crate::jobs::pool::{NotAPoolJob, Registered, trampoline};
    pub use crate::loops::in_place::{in_place, try_in_place};
    pub use crate::loops::source::{RangeIndex, RangeSource, items};
    pub use crate::macro_support::*;
    // `par!` over MPI ranks (emitted only when the facade's feature `mpi` is on).
    pub use crate::mpi::loops::{RankLoop, RankStays, RankTravels, probe, rank_function_of};
    pub use inventory;
    /// Test support, not public API: only with the `testing` feature, which par's own tests
    /// turn on (a dev-dependency), never a user's build.
    #[cfg(feature = "testing")]
    pub mod testing {
        pub use crate::child::report::send_raw;
        pub use crate::loops::in_place::testing::{force_in_place_pipe, in_place_paths};
        pub use crate::loops::report::bookkeeping;
    }
}
