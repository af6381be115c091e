//! Runs a loop: inline or on a team of workers. [`decide`] is the one place that chooses, for
//! every loop form, from the options, the input, the mode and (for `auto`) what was learnt
//! about the loop; its [`Decision`] carries the reason, which the `tracing` span reports. Sits
//! above the forms (what a worker does with a chunk) and the team (the parent's side of the
//! workers). What it must never do: fork where the decision said inline, or run inline a loop
//! whose clauses need a process outside an explicit sequential mode.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::loops::forms::{Job, run_inline};
use crate::loops::learn;
use crate::loops::options::Loop;
use crate::loops::report::{self, Context};
use crate::loops::sched::Schedule;
use crate::loops::source::{Plan, Source};
use crate::loops::team::{self, Failures, TeamIter};
use crate::mode::{self, Here};
use crate::progress::Progress;
use crate::trace;

/// Which loop form is being decided for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `collect`, `for_each`, `reduce`: values in item order.
    Ordered,
    /// `position_any`, `any`: ended by the first match (never learns to run inline).
    Find,
    /// `unordered`: values as they complete.
    Unordered,
    /// `keep_going`: one `Result` per item, a crash fails only its item.
    Each,
}

/// A clause that only a worker process gives: a loop with one forks, whatever the cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clause {
    Timeout,
    Retries,
    MemoryLimit,
    /// `max_items_per_worker`: workers recycled after their share (a leak in the body stays
    /// in a worker that leaves; inline it would pile up in the caller).
    MaxItems,
    /// `if = true` / `parallel(true)`.
    ParallelTrue,
    Cancel,
    /// `keep_going`: a crash fails only its item.
    KeepGoing,
}

impl Clause {
    /// The first clause of `opts` (and the form) that needs a process, if any.
    fn of(opts: &Loop, form: Form) -> Option<Clause> {
        let c = &opts.clauses;
        if c.common.timeout.is_some() {
            Some(Clause::Timeout)
        } else if c.common.retries > 0 {
            Some(Clause::Retries)
        } else if c.common.limits.memory_limit().is_some() {
            Some(Clause::MemoryLimit)
        } else if c.max_items_per_worker.is_some() {
            Some(Clause::MaxItems)
        } else if opts.parallel == Some(true) {
            Some(Clause::ParallelTrue)
        } else if c.common.cancel.is_some() {
            Some(Clause::Cancel)
        } else if form == Form::Each {
            Some(Clause::KeepGoing)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Clause::Timeout => "timeout",
            Clause::Retries => "retries",
            Clause::MemoryLimit => "memory_limit",
            Clause::MaxItems => "max_items_per_worker",
            Clause::ParallelTrue => "`if = true`",
            Clause::Cancel => "cancel",
            Clause::KeepGoing => "keep_going's crash isolation",
        }
    }
}

/// Why a loop runs where it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Reason {
    /// No items: nothing to fork for.
    Empty,
    /// `if = false` / `parallel(false)`.
    ParallelFalse,
    /// An explicit sequential mode; the clause it drops, if any.
    Sequential(mode::Sequential, Option<Clause>),
    /// Nested in a worker, and no clause needs a process.
    Nested,
    /// One worker (asked for, or one core), and no clause needs a process.
    OneWorker,
    /// Forks: a clause only a process gives.
    Needs(Clause),
    /// `auto` predicted from what it learnt (see `learn.rs`).
    Auto(learn::Prediction),
    /// Forks: nothing says otherwise (an explicit schedule, a stream, a first run).
    Default,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Empty => f.write_str("no items"),
            Reason::ParallelFalse => f.write_str("if = false"),
            Reason::Sequential(why, None) => write!(f, "{why} runs loops inline"),
            Reason::Sequential(why, Some(c)) => {
                write!(f, "{why} runs loops inline ({} ignored)", c.name())
            }
            Reason::Nested => f.write_str("nested in a worker"),
            Reason::OneWorker => f.write_str("one worker"),
            Reason::Needs(c) => write!(f, "{} needs a worker process", c.name()),
            Reason::Auto(p) => write!(
                f,
                "auto: inline {:.0} us, forked {:.0} us predicted",
                p.inline_ns / 1e3,
                p.parallel_ns / 1e3
            ),
            Reason::Default => f.write_str("forks"),
        }
    }
}

/// Where a loop runs, and why: [`decide`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decision {
    /// `None`: inline, in the calling process; `Some(n)`: on `n` forked workers, the loop's
    /// one worker count (n >= 1, and no more than the input's scheduling units: see
    /// [`workers`]). The team takes it as it is.
    pub(crate) workers: Option<usize>,
    pub(crate) reason: Reason,
    /// `auto` learns from this run (an indexed, clause-free ordered loop in a parent).
    pub(crate) learns: bool,
}

impl Decision {
    fn inline(reason: Reason) -> Self {
        Decision {
            workers: None,
            reason,
            learns: false,
        }
    }

    fn team(workers: usize, units: Option<usize>, reason: Reason) -> Self {
        Decision {
            workers: Some(units.map_or(workers, |u| workers.min(u)).max(1)),
            reason,
            learns: false,
        }
    }
}

/// The worker count of a loop that asked for `requested` (its `workers` option) in mode
/// `here`: the option, else `PAR_WORKERS`, else one per core; a loop nested in a worker (or
/// in a sequential mode) that forks at all forks one unless it asks for more. At least 1.
/// [`decide`] caps it by the input's units; [`default_workers`] is it for no option.
pub(crate) fn workers(requested: Option<usize>, here: Here) -> usize {
    match here {
        Here::Workers(env) => requested.or(env).unwrap_or_else(mode::cores),
        Here::InWorker | Here::Sequential(_) => requested.unwrap_or(1),
    }
    .max(1)
}

/// The number of worker processes a loop without a `workers` option gets here and now:
/// `PAR_WORKERS`, else the number of CPUs this process may use (on Linux the size of its
/// `sched_getaffinity` set, as `taskset` or a cgroup cpuset leaves it, and no more than a
/// cgroup CPU quota allows: `taskset -c 0` gives 1, `taskset -c 0,1` 2); 1 when loops run
/// inline (inside a worker, inside [`sequential`](crate::sequential), on a non-Unix target).
/// A loop with a clause only a process gives (a `timeout`, say) still forks one worker where
/// this says 1 because of the cores or of being in a worker; see [`Loop`]'s "Workers and
/// sequential mode".
///
/// ```
/// assert!(par::default_workers() >= 1);
/// assert_eq!(par::sequential(par::default_workers), 1);
/// ```
pub fn default_workers() -> usize {
    workers(None, mode::here())
}

/// The one decision, for every loop form: inline or a team of how many workers, and why.
/// `len` is the number of items (`None` for a stream), `grain` the items per scheduling unit
/// (the job's: a reduction's grain, else 1); `here` is the mode ([`mode::here`]).
/// Prints the "clause ignored" note of an explicit sequential mode (once per call site).
pub(crate) fn decide(
    opts: &Loop,
    len: Option<usize>,
    grain: usize,
    form: Form,
    here: Here,
    site: learn::Site,
) -> Decision {
    let units = len.map(|n| n.div_ceil(grain.max(1)));
    if len == Some(0) {
        return Decision::inline(Reason::Empty);
    }
    if opts.parallel == Some(false) {
        return Decision::inline(Reason::ParallelFalse);
    }
    let needs = Clause::of(opts, form);
    let n = workers(opts.workers, here);
    match here {
        Here::Sequential(why) => {
            if let Some(c) = needs {
                mode::warn_ignored(site, c.name(), why);
            }
            return Decision::inline(Reason::Sequential(why, needs));
        }
        Here::InWorker => match needs {
            // A nested loop that needs a process forks its own (one unless it asks for more).
            Some(c) => return Decision::team(n, units, Reason::Needs(c)),
            None => return Decision::inline(Reason::Nested),
        },
        Here::Workers(_) => {}
    }
    if let Some(c) = needs {
        return Decision::team(n, units, Reason::Needs(c));
    }
    if n <= 1 {
        return Decision::inline(Reason::OneWorker);
    }
    match len {
        Some(items) if opts.clauses.schedule == Schedule::Auto && form == Form::Ordered => {
            let mut d = match learn::predict(site, items, n) {
                Some(p) if p.inline_pays() => Decision::inline(Reason::Auto(p)),
                Some(p) => Decision::team(n, units, Reason::Auto(p)),
                None => Decision::team(n, units, Reason::Default),
            };
            d.learns = true;
            d
        }
        _ => Decision::team(n, units, Reason::Default),
    }
}

/// The report's view of a decided loop.
fn context(
    opts: &Loop,
    site: learn::Site,
    len: Option<usize>,
    form: Form,
    d: &Decision,
) -> Context {
    let reason = match d.reason {
        Reason::Default if d.learns => "auto: the first run here forks and measures".to_string(),
        // What a plain "forks" stands for: nothing here learns to run inline.
        Reason::Default => format!(
            "forks: {}",
            if len.is_none() {
                "a stream (only indexed inputs learn to run inline)".to_string()
            } else if form == Form::Find {
                "a search (searches never learn to run inline)".to_string()
            } else if form == Form::Unordered {
                "values as they complete (never learns to run inline)".to_string()
            } else {
                format!(
                    "schedule {} (only auto learns to run inline)",
                    report::schedule_name(opts.clauses.schedule)
                )
            }
        ),
        Reason::Auto(p) => format!(
            "auto: inline {}, forked {} predicted{}",
            report::human(Duration::from_nanos(p.inline_ns as u64)),
            report::human(Duration::from_nanos(p.parallel_ns as u64)),
            if p.recheck {
                "; forks once to measure again"
            } else if p.probe && p.inline_ns >= p.parallel_ns {
                "; inline once to measure its items there"
            } else {
                ""
            }
        ),
        r => r.to_string(),
    };
    Context::new(site, len, &reason, opts.clauses.schedule, opts.report).search(form == Form::Find)
}

fn len_of<S: Source>(src: &S) -> Option<usize> {
    match src.plan() {
        Plan::Indexed(n) => Some(n),
        Plan::Stream => None,
    }
}

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

/// [`run`], then `finish` on the values, inside the loop's measured time: what the loop does
/// with its values before the caller has its answer (an in-place loop's copy into the
/// caller's slice). `finish` returns its answer and the bytes it wrote back; its time is in
/// the loop's wall time, its report (`write_back`) and what `auto` learns (as bytes moved, so
/// that it scales with the loop's size).
pub(crate) fn run_then<S: Source, J: Job<S::Item>, R>(
    opts: &Loop,
    src: S,
    job: &J,
    site: learn::Site,
    finish: impl FnOnce(Vec<J::Value>) -> Result<(R, u64)>,
) -> Result<R> {
    run_form(opts, src, job, site, None, Form::Ordered, finish)
}

/// [`run`], ended early by the first value for which `stop_on` is true (a short circuit:
/// `position_any`). Such loops never learn to run inline.
pub(crate) fn run_until<S: Source, J: Job<S::Item>>(
    opts: &Loop,
    src: S,
    job: &J,
    site: learn::Site,
    stop_on: Option<fn(&J::Value) -> bool>,
) -> Result<Vec<J::Value>> {
    run_form(opts, src, job, site, stop_on, Form::Ordered, |v| Ok((v, 0)))
}

/// [`run_until`] deciding for `form` (`Each` for a keep-going stream, which runs to its first
/// failure but keeps its crash isolation), then [`run_then`]'s `finish`.
fn run_form<S: Source, J: Job<S::Item>, R>(
    opts: &Loop,
    mut src: S,
    job: &J,
    site: learn::Site,
    stop_on: Option<fn(&J::Value) -> bool>,
    form: Form,
    finish: impl FnOnce(Vec<J::Value>) -> Result<(R, u64)>,
) -> Result<R> {
    let len = len_of(&src);
    if opts.clauses.cancelled() {
        return Err(crate::error::Error::Cancelled);
    }
    let form = if stop_on.is_some() { Form::Find } else { form };
    let decision = decide(opts, len, job.grain(len), form, mode::here(), site);
    let _span = trace::loop_span(len, decision.workers, &decision.reason);
    let ctx = context(opts, site, len, form, &decision);
    let started = Instant::now();
    let learns = len.filter(|_| decision.learns);
    // Values that arrived (a stream's count is known only at the end).
    let mut count = 0;
    let result = if let Some(workers) = decision.workers {
        report::expect_team(ctx, false);
        let r = team::run(
            &opts.clauses,
            workers,
            &mut src,
            job,
            stop_on,
            Failures::Stop,
        );
        let finishing = Instant::now();
        let r = r.and_then(|(values, m)| {
            count = values.len();
            finish(values).map(|(out, bytes)| (out, bytes, m))
        });
        let back = finishing.elapsed();
        let written = r.as_ref().map_or(0, |(_, bytes, _)| *bytes);
        report::team_finished(r.as_ref().err(), back, written);
        match (learns, &r) {
            (Some(n), Ok((_, bytes, m))) => learn::parallel_run(
                site,
                learn::Run {
                    n,
                    workers: m.workers,
                    busy: m.busy,
                    start: m.start,
                    wall: started.elapsed(),
                    // What was written back was moved like the results, after them.
                    result_bytes: m.result_bytes + bytes,
                    decode: m.decode + back,
                },
            ),
            (Some(_), Err(_)) => learn::forget(site),
            _ => {}
        }
        r.map(|(out, _, _)| out)
    } else {
        let progress = Progress::labelled(
            len.map(|n| n as u64),
            opts.clauses.common.progress,
            opts.clauses.common.progress_label.as_deref(),
        );
        let r = run_inline(
            &mut src,
            job,
            len,
            progress,
            opts.clauses.common.cancel.clone(),
        );
        let items = r.as_ref().map_or(0, |v| len.unwrap_or(v.len()));
        count = items;
        let r = r.and_then(|values| finish(values).map(|(out, _)| out));
        if let (Some(n), Ok(_)) = (learns, &r) {
            learn::inline_run(site, n, started.elapsed());
        }
        report::inline_done(ctx, items, r.as_ref().err());
        r
    };
    match &result {
        Ok(_) => trace::finished(count, started),
        Err(e) => trace::failed(e),
    }
    result
}

/// Starts a job whose values are wanted as they complete (`ordered` false), or in item order,
/// each as soon as it and every item before it are done (`ordered` true). Both are decided as
/// an unordered loop (they never learn to run inline); inline they run one item per `next`.
pub(crate) fn start_iter<'a, S, J>(
    opts: &Loop,
    src: S,
    job: J,
    site: learn::Site,
    ordered: bool,
) -> TeamIter<'a, J::Value>
where
    S: Source + 'a,
    J: Job<S::Item> + 'a,
{
    let len = len_of(&src);
    let decision = decide(
        opts,
        len,
        job.grain(len),
        Form::Unordered,
        mode::here(),
        site,
    );
    let _span = trace::loop_span(len, decision.workers, &decision.reason);
    if decision.workers.is_some() {
        // The team's drop (the iterator's) ends the report.
        report::expect_team(context(opts, site, len, Form::Unordered, &decision), true);
    }
    let iter = match decision.workers {
        Some(workers) if ordered => TeamIter::start_ordered(&opts.clauses, workers, src, &job),
        Some(workers) => TeamIter::start(&opts.clauses, workers, src, &job),
        None => TeamIter::inline(src, job, len),
    };
    // A team that could not start took no context: it must not go to the next one.
    drop(report::take_pending());
    iter
}

/// Keep going: runs a one-value-per-item job to the end whatever fails, and returns one
/// `Result` per item in order: a panic, an `Err`, a crash, a kill or a timeout fails only its
/// item. Inline (sequential mode) each item runs on its own, so a panic or an `Err` stays its
/// item's too (a crash there is the caller's).
pub(crate) fn run_each<S: Source, J: Job<S::Item>>(
    opts: &Loop,
    mut src: S,
    job: &J,
    site: learn::Site,
) -> Result<Vec<Result<J::Value>>> {
    if opts.clauses.cancelled() {
        return Err(crate::error::Error::Cancelled);
    }
    let len = match src.plan() {
        Plan::Indexed(n) => n,
        Plan::Stream => {
            // Streams ship items that are not kept: they run to their first failure.
            let values = run_form(opts, src, job, site, None, Form::Each, |v| Ok((v, 0)))?;
            return Ok(values.into_iter().map(Ok).collect());
        }
    };
    let grain = job.grain(Some(len));
    let decision = decide(opts, Some(len), grain, Form::Each, mode::here(), site);
    let _span = trace::loop_span(Some(len), decision.workers, &decision.reason);
    let ctx = context(opts, site, Some(len), Form::Each, &decision);
    let Some(workers) = decision.workers else {
        let mut out = Vec::with_capacity(len);
        for i in 0..len {
            let item = src.take(i);
            let r = crate::loops::forms::run_one(job, i, item, opts.clauses.common.cancel.clone());
            if matches!(r, Err(crate::error::Error::Cancelled)) {
                report::inline_done(ctx, i, Some(&crate::error::Error::Cancelled));
                return Err(crate::error::Error::Cancelled);
            }
            out.push(r);
        }
        report::inline_done(ctx, len, None);
        return Ok(out);
    };
    report::expect_team(ctx, false);
    let r = team::run(
        &opts.clauses,
        workers,
        &mut src,
        job,
        None,
        Failures::KeepGoing,
    );
    report::team_finished(r.as_ref().err(), Duration::ZERO, 0);
    let (values, measured) = r?;
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
                    });
                }
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::mode::Sequential;

    #[track_caller]
    fn here() -> learn::Site {
        std::panic::Location::caller()
    }

    fn at(opts: &Loop, len: Option<usize>, form: Form, mode: Here) -> Decision {
        decide(opts, len, 1, form, mode, here())
    }

    #[test]
    fn every_decision_path_gives_its_answer_and_reason() {
        let plain = Loop::new();
        let timeout = Loop::new().timeout(Duration::from_millis(200));
        let w = |n| Here::Workers(Some(n));
        // Nothing to run, or `if = false`: inline, whatever else.
        assert_eq!(
            at(&timeout, Some(0), Form::Ordered, w(4)).reason,
            Reason::Empty
        );
        let off = Loop::new().workers(4).parallel(false);
        for form in [Form::Ordered, Form::Unordered, Form::Each, Form::Find] {
            let d = at(&off, Some(10), form, w(4));
            assert_eq!(
                (d.workers, d.reason),
                (None, Reason::ParallelFalse),
                "{form:?}"
            );
        }
        // One worker: inline without clauses, one forked worker with one.
        let d = at(&plain, Some(10), Form::Ordered, w(1));
        assert_eq!((d.workers, d.reason), (None, Reason::OneWorker));
        let d = at(&timeout, Some(10), Form::Ordered, w(1));
        assert_eq!(
            (d.workers, d.reason),
            (Some(1), Reason::Needs(Clause::Timeout))
        );
        for (opts, clause) in [
            (Loop::new().retries(1), Clause::Retries),
            (Loop::new().memory_limit(1 << 30), Clause::MemoryLimit),
            (Loop::new().parallel(true), Clause::ParallelTrue),
            (Loop::new().cancel(&crate::Cancel::new()), Clause::Cancel),
        ] {
            let d = at(&opts, None, Form::Unordered, w(1));
            assert_eq!((d.workers, d.reason), (Some(1), Reason::Needs(clause)));
        }
        let d = at(&plain, Some(10), Form::Each, w(1));
        assert_eq!(
            (d.workers, d.reason),
            (Some(1), Reason::Needs(Clause::KeepGoing))
        );
        // Nested in a worker: inline unless a clause needs a process (then its own worker).
        let d = at(&plain, Some(10), Form::Ordered, Here::InWorker);
        assert_eq!((d.workers, d.reason), (None, Reason::Nested));
        let d = at(&timeout, Some(10), Form::Ordered, Here::InWorker);
        assert_eq!(
            (d.workers, d.reason),
            (Some(1), Reason::Needs(Clause::Timeout))
        );
        let d = at(
            &timeout.clone().workers(3),
            Some(10),
            Form::Ordered,
            Here::InWorker,
        );
        assert_eq!(d.workers, Some(3));
        // The explicit sequential modes run everything inline and name the dropped clause.
        for why in [
            Sequential::EnvOne,
            Sequential::Scope,
            Sequential::CannotFork,
        ] {
            let d = at(&timeout, Some(10), Form::Ordered, Here::Sequential(why));
            assert_eq!(d.workers, None);
            assert_eq!(d.reason, Reason::Sequential(why, Some(Clause::Timeout)));
            assert!(
                d.reason.to_string().contains("timeout ignored"),
                "{}",
                d.reason
            );
        }
        // Several workers, no clause: explicit schedules, searches, streams and unordered
        // loops fork without learning; an ordered auto loop over an indexed input learns.
        let dynamic = Loop::new().schedule(Schedule::Dynamic(1));
        for (opts, len, form) in [
            (&dynamic, Some(10), Form::Ordered),
            (&plain, None, Form::Ordered),
            (&plain, Some(10), Form::Find),
            (&plain, Some(10), Form::Unordered),
        ] {
            let d = at(opts, len, form, w(4));
            assert_eq!(
                (d.workers, d.reason, d.learns),
                (Some(4), Reason::Default, false)
            );
        }
        // The count is resolved here, once: `workers(0)` is one worker, and a team never
        // has more workers than the input has units (items, or a reduction's grains).
        let d = at(&Loop::new().workers(0), Some(10), Form::Ordered, w(4));
        assert_eq!((d.workers, d.reason), (None, Reason::OneWorker));
        let d = at(&dynamic.clone().workers(8), Some(3), Form::Ordered, w(4));
        assert_eq!(d.workers, Some(3));
        let d = decide(&dynamic, Some(100), 50, Form::Ordered, w(4), here());
        assert_eq!(d.workers, Some(2));
        let d = at(&timeout, Some(10), Form::Ordered, w(1));
        assert_eq!(d.workers, Some(1));
        let site = here();
        let d = decide(&plain, Some(10), 1, Form::Ordered, w(4), site);
        assert_eq!(
            (d.workers, d.reason, d.learns),
            (Some(4), Reason::Default, true)
        );
        // Once learnt cheap, the same site runs inline for auto's numbers.
        learn::parallel_run(
            site,
            learn::Run {
                n: 10,
                workers: 4,
                busy: Duration::from_micros(1),
                start: Duration::from_millis(1),
                wall: Duration::from_millis(3),
                result_bytes: 0,
                decode: Duration::ZERO,
            },
        );
        let d = decide(&plain, Some(10), 1, Form::Ordered, w(4), site);
        assert_eq!(d.workers, None);
        assert!(
            matches!(d.reason, Reason::Auto(p) if p.inline_pays()),
            "{:?}",
            d.reason
        );
        learn::forget(site);
    }
}
