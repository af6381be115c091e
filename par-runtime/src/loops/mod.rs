//! The `par!` loop: its options and forms, how it runs (inline, or on a team of forked
//! workers), what a worker does, and where its items come from. See the module map in lib.rs.

pub(crate) mod exec;
pub(crate) mod forms;
pub(crate) mod in_place;
pub(crate) mod join;
pub(crate) mod learn;
pub(crate) mod options;
pub(crate) mod par_loop;
pub(crate) mod report;
pub(crate) mod sched;
pub(crate) mod shared;
pub(crate) mod source;
pub(crate) mod team;
pub(crate) mod watch;
pub(crate) mod worker;
