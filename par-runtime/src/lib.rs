//! Runtime of [par](https://docs.rs/par): forked worker teams that run a loop body, ship
//! results over pipes and report every failure with the item index and worker pid.
//!
//! Users depend on the facade crate `par`, which re-exports everything public here.
//!
//! Module map (dependencies point one way, down the list):
//! `par_loop` (public builder) -> `forms` (collect/for-each/reduce jobs) -> `team` (the
//! parent's poll loop) and `worker` (the child's loop) -> `wire` (frames), `sched` (chunking),
//! `codec` (serde) -> `sys` (every syscall and every `unsafe` block).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod background;
mod channel;
mod codec;
mod error;
mod forms;
mod jobs;
mod learn;
mod macro_support;
mod mode;
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
pub use mode::{default_workers, in_worker, sequential};
pub use par_loop::{Loop, TryUnordered, Unordered};
pub use pool::{registered, NotAPoolJob, Ordered, Pool};
pub use sched::Schedule;
pub use shared::SharedVec;
pub use source::{items, stream, IntoSource, Items, RangeIndex, RangeSource, Source, Stream};
pub use sys::Plain;

#[doc(hidden)]
/// Used by generated code, not public API.
pub mod __private {
    pub use crate::macro_support::*;
    pub use crate::pool::{trampoline, Registered};
    pub use crate::source::items;
    pub use inventory;
    /// Test support, not public API.
    pub mod testing {
        pub use crate::worker::send_raw;
    }
}
