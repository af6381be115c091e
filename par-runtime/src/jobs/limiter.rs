//! The bookkeeping every job family shares ([`Queue`](crate::Queue) and [`Map`](crate::Map),
//! [`Pool`](crate::Pool)): job numbers, finished results in completion order, the progress bar,
//! how often a job was run again after its child died, per-job deadlines and cancellation.
//!
//! What this module must never do: let a job end twice or not at all (every submitted job is
//! `finish`ed exactly once), or retry a failure that is the job's own answer (a panic).

use std::collections::{HashMap, VecDeque};
use std::panic::Location;
use std::time::Instant;

use crate::cancel::Cancel;
use crate::child::options::Options;
use crate::error::{Error, Result};
use crate::jobs::report::Recorder;
use crate::progress::Progress;
use crate::sys;

/// The shared bookkeeping of a job family; see the module docs.
pub(crate) struct Limiter<T> {
    /// Children running at once, at most.
    pub(crate) limit: usize,
    pub(crate) submitted: usize,
    finished: usize,
    /// Finished jobs not taken yet, in completion order.
    pub(crate) done: VecDeque<(usize, Result<T>)>,
    progress: Progress,
    attempts: HashMap<usize, u32>,
    /// The family's options: retries, timeout, cancel, progress, the children's limits and
    /// largest frame (the value loops keep in their clauses too).
    pub(crate) opts: Options,
    /// What the family did, reported when it is dropped (`PAR_REPORT`, `PAR_TRACE`).
    pub(crate) report: Recorder,
}

/// What to do with a job whose child died.
pub(crate) enum AfterDeath {
    /// Run it again (retries are left).
    Again,
    /// It is finished with this error (the death, or `Retried` after several).
    Fail(Error),
}

impl<T> Limiter<T> {
    /// At most `limit` children at once, with the default options for as many, reporting
    /// as `family` made at `site`.
    pub(crate) fn new(
        limit: usize,
        family: &'static str,
        site: &'static Location<'static>,
    ) -> Self {
        Limiter::with_options(
            limit,
            Options::new(limit),
            Recorder::new(family, site, limit),
        )
    }

    /// At most `limit` children at once, with `opts`, reporting to `report`.
    pub(crate) fn with_options(limit: usize, opts: Options, report: Recorder) -> Self {
        Limiter {
            limit: limit.max(1),
            submitted: 0,
            finished: 0,
            done: VecDeque::new(),
            progress: Progress::off(),
            attempts: HashMap::new(),
            opts,
            report,
        }
    }

    /// Numbers a new job.
    pub(crate) fn submit(&mut self) -> usize {
        let job = self.submitted;
        self.submitted += 1;
        self.report.submitted();
        self.progress.grow(1);
        job
    }

    /// Records job `job`'s result (or failure): it is finished.
    pub(crate) fn finish(&mut self, job: usize, r: Result<T>) {
        self.finished += 1;
        self.report.finished(&r);
        self.progress.advance(1);
        self.done.push_back((job, r));
        if self.finished == self.submitted {
            self.progress.finish();
        }
    }

    /// The `progress` option: a bar of finished jobs out of those submitted, from now on.
    pub(crate) fn show_progress(&mut self, on: bool) {
        self.opts.progress = on;
        let label = self.opts.progress_label.as_deref();
        self.progress = Progress::labelled(Some(self.submitted as u64), on, label);
        self.progress.advance(self.finished as u64);
    }

    /// The `progress_label` option: the bar says `label` instead of `par`, and is on.
    pub(crate) fn label_progress(&mut self, label: String) {
        self.opts.progress_label = Some(label);
        self.show_progress(true);
    }

    /// True once the family's [`Cancel`] handle is cancelled.
    pub(crate) fn cancelled(&self) -> bool {
        self.opts.cancel.as_ref().is_some_and(Cancel::is_cancelled)
    }

    /// Job `job`'s child ended with `e`: run it again, or fail it. Only deaths are run again
    /// (a panic, an error or a timeout is the job's own answer).
    ///
    /// An interruption (a Ctrl-C, see [`Error::Interrupted`]) is never run again: with a
    /// [`Cancel`] it cancels the handle, and the job (like every other job, at the family's
    /// next look) is [`Error::Cancelled`].
    pub(crate) fn after_failure(&mut self, job: usize, e: Error) -> AfterDeath {
        if matches!(e, Error::Interrupted { .. }) {
            if let Some(c) = &self.opts.cancel {
                c.cancel();
                return AfterDeath::Fail(Error::Cancelled);
            }
            return AfterDeath::Fail(e);
        }
        if !matches!(e, Error::WorkerDied { .. }) {
            return AfterDeath::Fail(e);
        }
        self.report.death(job, &e);
        let attempts = self.attempts.entry(job).or_insert(0);
        *attempts += 1;
        let attempts = *attempts;
        if attempts <= self.opts.retries {
            crate::trace::retry(job, attempts, &e);
            self.report.retry(job, attempts, &e);
            return AfterDeath::Again;
        }
        if attempts > 1 {
            return AfterDeath::Fail(Error::Retried {
                index: job,
                attempts,
                last: Box::new(e),
            });
        }
        AfterDeath::Fail(e)
    }

    /// When a job that started at `started` must have finished.
    pub(crate) fn deadline(&self, started: Instant) -> Option<Instant> {
        self.opts.timeout.map(|t| started + t)
    }

    /// The error of job `job`, killed in process `pid` for running past the timeout.
    pub(crate) fn timed_out(&mut self, job: usize, pid: i32) -> Error {
        self.report.timed_out(job, pid);
        Error::TimedOut {
            index: job,
            pid,
            timeout: self.opts.timeout.unwrap_or_default(),
            parent_threads: sys::thread_count(),
        }
    }
}

/// A family's report is printed and traced when it is dropped (as asked: `PAR_REPORT`,
/// `PAR_TRACE`).
impl<T> Drop for Limiter<T> {
    fn drop(&mut self) {
        self.report.end();
    }
}
