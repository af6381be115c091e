//! [`JobOptions`]: the options every job family takes ([`Queue`](crate::Queue),
//! [`Map`](crate::Map), [`Pool`](crate::Pool)), in one value that the family's bookkeeping
//! ([`Limiter`](super::limiter::Limiter)) holds; the families' builder methods each set one
//! field through it.
//!
//! What this module must never do: keep an option in two places (a family reads each one
//! here, nowhere else).

use std::time::Duration;

use crate::cancel::Cancel;
use crate::child::Limits;
use crate::wire;

/// The options of a job family; see the module docs. Each field is set by the builder method
/// of the same name on the families.
#[derive(Debug, Clone)]
pub(crate) struct JobOptions {
    /// The children's memory limit and thread-count environment (`memory_limit`,
    /// `threads_per_worker`).
    pub(crate) limits: Limits,
    /// The largest frame a child may send, its encoded value (`max_frame`).
    pub(crate) max_frame: usize,
    /// A job running longer than this is killed and fails with `Error::TimedOut` (`timeout`).
    pub(crate) timeout: Option<Duration>,
    /// A job whose child died (a signal, `exit`) runs again up to this many times (`retries`).
    pub(crate) retries: u32,
    /// Stops the family when cancelled (`cancel`).
    pub(crate) cancel: Option<Cancel>,
    /// Shows a progress bar of finished jobs (`progress`).
    pub(crate) progress: bool,
    /// What the bar says it counts instead of `par` (`progress_label`).
    pub(crate) progress_label: Option<String>,
}

impl JobOptions {
    /// The defaults for a family of `workers` children at once: no limit, no timeout, no
    /// retry, no cancel, no bar (nor label), frames up to [`wire::DEFAULT_MAX`].
    pub(crate) fn new(workers: usize) -> Self {
        JobOptions {
            limits: Limits::new(workers),
            max_frame: wire::DEFAULT_MAX,
            timeout: None,
            retries: 0,
            cancel: None,
            progress: false,
            progress_label: None,
        }
    }

    /// The options of the pool whose workers are MPI ranks that a `Queue`/`Map` sends its
    /// `#[parallel]` calls through: the family's timeout, retries, cancel handle and largest
    /// frame; no progress bar of its own (the family counts the calls it gets back).
    pub(crate) fn for_ranks(&self) -> JobOptions {
        JobOptions {
            progress: false,
            progress_label: None,
            ..self.clone()
        }
    }

    /// True when the family's calls must run in this process's forked children, not on MPI
    /// ranks: a memory limit or a thread count set in code, which a rank's serving process
    /// cannot apply (a `par!` loop with those clauses stays local too).
    pub(crate) fn stays_local(&self) -> bool {
        self.limits.set_in_code()
    }

    pub(crate) fn memory_limit(&mut self, bytes: u64) {
        self.limits = self.limits.clone().memory(Some(bytes));
    }

    pub(crate) fn threads_per_worker(&mut self, n: usize) {
        self.limits = self.limits.clone().threads(Some(n));
    }
}
