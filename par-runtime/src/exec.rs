//! Runs a loop: inline or on a team of workers, as the options, the mode and (for `auto`) what
//! was learnt about the loop say. Sits above the forms (what a worker does with a chunk) and
//! the team (the parent's side of the workers).

use std::time::Instant;

use crate::error::Result;
use crate::forms::{run_inline, Job};
use crate::learn;
use crate::mode;
use crate::options::Loop;
use crate::sched::Schedule;
use crate::source::{Plan, Source};
use crate::team::{self, TeamIter};
use crate::trace;

/// Runs a job to completion and returns its values in item order: inline or on a team, as the
/// options, the mode and (for `auto`) what was learnt about the loop at `site` say.
pub(crate) fn run<S: Source, J: Job<S::Item>>(
    opts: &Loop,
    src: S,
    job: &J,
    site: learn::Site,
) -> Result<Vec<J::Value>> {
    run_until(opts, src, job, site, None)
}

/// [`run`], ended early by the first value for which `stop_on` is true (a short circuit:
/// `position_any`). Such loops never learn to run inline.
pub(crate) fn run_until<S: Source, J: Job<S::Item>>(
    opts: &Loop,
    mut src: S,
    job: &J,
    site: learn::Site,
    stop_on: Option<fn(&J::Value) -> bool>,
) -> Result<Vec<J::Value>> {
    let len = match src.plan() {
        Plan::Indexed(n) => Some(n),
        Plan::Stream => None,
    };
    if opts.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
        return Err(crate::error::Error::Cancelled);
    }
    let workers = mode::workers(opts.workers);
    let _span = trace::loop_span(len, workers);
    let started = Instant::now();
    // Only an indexed `auto` loop without a timeout or an explicit `parallel` learns (learn.rs).
    let learns = match len {
        // A loop with retries expects crashes: it never gives up its isolation.
        Some(n)
            if opts.schedule == Schedule::Auto
                && opts.timeout.is_none()
                && opts.retries == 0
                && stop_on.is_none() =>
        {
            opts.parallel.is_none().then_some(n)
        }
        _ => None,
    };
    let inline = workers <= 1
        || len == Some(0)
        || opts.parallel == Some(false)
        || learns.is_some_and(|n| learn::inline_pays(site, n, workers));
    let result = if inline {
        let r = run_inline(&mut src, job, len, opts.progress, opts.cancel.clone());
        if let (Some(n), Ok(_)) = (learns, &r) {
            learn::inline_run(site, n, started.elapsed());
        }
        r
    } else {
        let r = team::run(opts, workers, &mut src, job, stop_on);
        match (learns, &r) {
            (Some(n), Ok((_, m))) => {
                learn::parallel_run(site, n, m.workers, m.busy, m.start, started.elapsed())
            }
            (Some(_), Err(_)) => learn::forget(site),
            _ => {}
        }
        r.map(|(values, _)| values)
    };
    match &result {
        Ok(values) => trace::finished(values.len(), started),
        Err(e) => trace::failed(e),
    }
    result
}

/// Starts a job whose values are wanted as they complete.
pub(crate) fn start_unordered<'a, S, J>(opts: &Loop, src: S, job: J) -> TeamIter<'a, J::Value>
where
    S: Source + 'a,
    J: Job<S::Item> + 'a,
{
    let workers = mode::workers(opts.workers);
    let len = match src.plan() {
        Plan::Indexed(n) => Some(n),
        Plan::Stream => None,
    };
    if workers <= 1 || len == Some(0) {
        return TeamIter::inline(src, job, len);
    }
    TeamIter::start(opts, workers, src, &job)
}
