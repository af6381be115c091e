//! Runs a loop: inline or on a team of workers, as the options, the mode and (for `auto`) what
//! was learnt about the loop say. Sits above the forms (what a worker does with a chunk) and
//! the team (the parent's side of the workers).

use std::time::Instant;

use crate::error::Result;
use crate::loops::forms::{run_inline, Job};
use crate::loops::learn;
use crate::loops::options::Loop;
use crate::loops::sched::Schedule;
use crate::loops::source::{Plan, Source};
use crate::loops::team::{self, TeamIter};
use crate::mode;
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
        let r = team::run(opts, workers, &mut src, job, stop_on, false);
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

/// Keep going: runs a one-value-per-item job to the end whatever fails, and returns one
/// `Result` per item in order: a panic, an `Err`, a crash, a kill or a timeout fails only its
/// item. Inline (sequential mode) each item runs on its own, so a panic or an `Err` stays its
/// item's too (a crash there is the caller's).
pub(crate) fn run_each<S: Source, J: Job<S::Item>>(
    opts: &Loop,
    mut src: S,
    job: &J,
) -> Result<Vec<Result<J::Value>>> {
    if opts.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
        return Err(crate::error::Error::Cancelled);
    }
    let len = match src.plan() {
        Plan::Indexed(n) => n,
        Plan::Stream => {
            // Streams ship items that are not kept: they run to their first failure.
            let values = run(opts, src, job, std::panic::Location::caller())?;
            return Ok(values.into_iter().map(Ok).collect());
        }
    };
    let workers = mode::workers(opts.workers);
    let _span = trace::loop_span(Some(len), workers);
    if workers <= 1 || len == 0 || opts.parallel == Some(false) {
        let mut out = Vec::with_capacity(len);
        for i in 0..len {
            let item = src.take(i);
            let r = crate::loops::forms::run_one(job, i, item, opts.cancel.clone());
            if matches!(r, Err(crate::error::Error::Cancelled)) {
                return Err(crate::error::Error::Cancelled);
            }
            out.push(r);
        }
        return Ok(out);
    }
    let (values, measured) = team::run(opts, workers, &mut src, job, None, true)?;
    let mut failed = measured.failed;
    let mut values = values.into_iter();
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        match failed.remove(&i) {
            Some(e) => out.push(Err(e)),
            None => match values.next() {
                Some(v) => out.push(Ok(v)),
                None => {
                    return Err(crate::error::Error::Lost {
                        index: Some(i),
                        pid: None,
                        message: "the workers returned no value for this item".into(),
                    })
                }
            },
        }
    }
    Ok(out)
}
