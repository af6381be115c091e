//! Runtime of [par](https://docs.rs/par): forked worker teams that run a loop body, ship
//! results over pipes and report every failure with the item index and worker pid.
//!
//! Users depend on the facade crate `par`, which re-exports everything public here.
//!
//! Module map (dependencies point one way, down the list; `shared/tools/modcycles.py` checks
//! that there is no cycle):
//! - the public faces: `par_loop` (the forms on [`Loop`]), `jobs` ([`Queue`], [`Map`], [`pmap`]),
//!   `pool` ([`Pool`] and the registry of `#[parallel]` functions), `channel` ([`start`],
//!   [`Channel`], [`Exchange`]), `background`; `mpi` (feature `mpi`: ranks of an MPI job as
//!   pool workers, below `pool` and `jobs`, which ask it whether and how to link to ranks);
//! - `exec` (a loop inline or on a team, and what `learn` says about it) -> `team` (the parent's
//!   poll loop over its workers) -> `worker` (the child's loop) -> `forms` (what a worker does
//!   with a chunk: collect, reduce; the inline emitter);
//! - below them: `options` ([`Loop`]'s options), `sched` (chunking), `source` (items),
//!   `progress`, `learn`, `panics` (where a child's panic happened), `mode`, `trace`;
//! - `wire` (frames) and `codec` (serde, and plain values as bytes) -> `error` -> `sys` (every
//!   syscall and every `unsafe` block).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod background;
mod channel;
mod codec;
mod error;
mod exec;
mod forms;
mod jobs;
mod learn;
mod macro_support;
mod mode;
// Feature `mpi`: ranks of an MPI job as pool workers (`par::main`, `par::mpi::rank`, ...).
pub mod mpi;
mod options;
mod panics;
mod par_loop;
mod pool;
mod progress;
mod sched;
mod shared;
mod source;
#[allow(unsafe_code)]
mod sys;
mod team;
mod trace;
mod wire;
mod worker;

pub use background::{background, Background, BackgroundQueue};
pub use channel::{start, Channel, Exchange};
pub use codec::Transfer;
pub use error::{Death, Error, Result};
pub use jobs::{pmap, Map, Queue, Spawner};
pub use mode::{default_workers, in_worker, sequential, MAX_WORKERS_PER_CORE};
pub use mpi::main;
pub use options::{Cancel, Loop};
pub use par_loop::{TryUnordered, Unordered};
pub use pool::{registered, NotAPoolJob, Ordered, Pool};
pub use sched::Schedule;
pub use shared::SharedVec;
pub use source::{items, stream, IntoSource, Items, RangeIndex, RangeSource, Source, Stream};
pub use sys::Plain;

#[doc(hidden)]
/// Used by generated code, not public API.
pub mod __private {
    pub use crate::macro_support::*;
    // `par!` over MPI ranks (emitted only when the facade's feature `mpi` is on).
    pub use crate::mpi::loops::{probe, rank_function_of, RankLoop, RankStays, RankTravels};
    pub use crate::pool::{trampoline, Registered};
    pub use crate::source::items;
    pub use inventory;
    /// Test support, not public API.
    pub mod testing {
        pub use crate::worker::send_raw;
    }
}
