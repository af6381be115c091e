//! [`Options`]: the options a `par!` loop and a job family ([`Queue`](crate::Queue),
//! [`Map`](crate::Map), [`Pool`](crate::Pool)) share, in one value: the children's memory
//! limit and threads per worker ([`Limits`]), the largest frame a child may send, the
//! timeout, the retries, the cancel handle and the progress bar. A loop keeps it inside its
//! clauses (`loops::options::Clauses`), a family inside its limiter (`jobs::limiter`); the
//! builder methods of both set its fields, and the team or the family reads them here.
//!
//! What this module must never do: keep an option in two places (a loop or a family reads
//! each of these here, nowhere else), or decide anything: what an option does is the
//! family's.

use std::time::Duration;

use crate::cancel::Cancel;
use crate::child::Limits;
use crate::wire;

/// The options loops and job families share; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The children's memory limit and thread-count environment (`memory_limit`,
    /// `threads_per_worker`), for as many children at once as the family runs.
    pub(crate) limits: Limits,
    /// The largest frame a child may send (`max_frame`).
    pub(crate) max_frame: usize,
    /// An item or a job running longer than this is killed and fails with
    /// `Error::TimedOut` (`timeout`).
    pub(crate) timeout: Option<Duration>,
    /// An item or a job whose child died runs again up to this many times (`retries`).
    pub(crate) retries: u32,
    /// Stops the loop or the family when cancelled (`cancel`).
    pub(crate) cancel: Option<Cancel>,
    /// Shows a progress bar (`progress`).
    pub(crate) progress: bool,
    /// What the bar says it counts instead of `par` (`progress_label`).
    pub(crate) progress_label: Option<String>,
}

/// The defaults of a loop, whose worker count is known only when its team starts (see
/// [`Options::new`] for a family's).
impl Default for Options {
    fn default() -> Self {
        Options::new(1)
    }
}

impl Options {
    /// The defaults for `workers` children at once: no memory limit, the default threads
    /// per worker, no timeout, no retry, no cancel, no bar (nor label), frames up to
    /// [`wire::DEFAULT_MAX`].
    pub(crate) fn new(workers: usize) -> Self {
        Options {
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
    pub(crate) fn for_ranks(&self) -> Options {
        Options {
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

    /// Each child may have at most `bytes` of data.
    pub(crate) fn memory_limit(&mut self, bytes: u64) {
        self.limits = self.limits.clone().memory(Some(bytes));
    }

    /// Threads per child set in code (`0`: leave the environment alone).
    pub(crate) fn threads_per_worker(&mut self, n: usize) {
        self.limits = self.limits.clone().threads(Some(n));
    }
}
