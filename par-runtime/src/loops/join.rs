//! `join`: two closures, each in its own worker process, at the same time (rayon's `join`,
//! OpenMP's `sections`). It is a keep-going loop over the items 0 and 1, one item a chunk, so
//! it shares the loops' decision (inline or forked), their options and their failure reports:
//! the first closure is item 0, the second item 1, and a failure of one never loses the
//! other's value. What this module must never do: fork by a path of its own, or run a closure
//! twice (each is taken out of its cell by the one process that runs it).

use std::cell::Cell;
use std::convert::Infallible;
use std::panic::Location;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::loops::exec;
use crate::loops::forms::Collect;
use crate::loops::options::Loop;
use crate::loops::sched::Schedule;
use crate::loops::source::IntoSource;
use crate::mode::{self, Here};
use crate::wire::codec::Transfer;

/// What one side sends back: the first closure's value or the second's.
#[derive(Serialize, Deserialize)]
enum Side<A, B> {
    First(A),
    Second(B),
}

/// "first" or "second": the closure item `index` stands for.
fn which(index: usize) -> &'static str {
    if index == 0 { "first" } else { "second" }
}

/// Runs `a` and `b` at the same time, each in its own worker process, and returns both values
/// (rayon's `join`, OpenMP's `sections`). Each closure may return its own type; both types
/// must implement [`Transfer`]. The closures reach the workers by `fork`, so they may borrow
/// from the caller and need not be `Send`.
///
/// `join` is [`Loop::join`] with the default options: see there for the modes, nesting and
/// how to run three or more computations.
///
/// ```
/// let (sum, name) = par::join(|| (1..=100u64).sum::<u64>(), || "done".to_string());
/// assert_eq!((sum, name.as_str()), (5050, "done"));
/// ```
///
/// # Panics
///
/// When either closure fails (a panic, a crash, a kill), with the loop's report of it and which
/// closure it was: "the second closure of `par::join` failed: item 1 panicked in worker 1234
/// at src/main.rs:7:9: ...". Use [`try_join`] to get both outcomes instead.
#[track_caller]
pub fn join<A, B, FA, FB>(a: FA, b: FB) -> (A, B)
where
    A: Transfer,
    B: Transfer,
    FA: FnOnce() -> A,
    FB: FnOnce() -> B,
{
    Loop::new().join(a, b)
}

/// [`join`] that returns each closure's outcome instead of panicking: `Err` for a closure
/// that panicked, crashed, was killed or timed out, with the item index 0 for the first
/// closure and 1 for the second. One side's failure never costs the other side its value.
///
/// ```
/// let (a, b) = par::try_join(|| 6 * 7, || -> u32 { panic!("no answer") });
/// assert_eq!(a.unwrap(), 42);
/// let e = b.unwrap_err();
/// assert_eq!(e.index(), Some(1)); // the second closure
/// assert!(e.to_string().contains("no answer"), "{e}");
/// ```
#[track_caller]
pub fn try_join<A, B, FA, FB>(a: FA, b: FB) -> (Result<A>, Result<B>)
where
    A: Transfer,
    B: Transfer,
    FA: FnOnce() -> A,
    FB: FnOnce() -> B,
{
    Loop::new().try_join(a, b)
}

impl Loop {
    /// [`join`] with this loop's options: the two closures run at the same time, each in its
    /// own worker process, and both values are returned.
    ///
    /// It is the loop over the items 0 (`a`) and 1 (`b`), one item a chunk, run as
    /// `keep_going` (see [`Loop::try_collect_each`]), on two workers unless
    /// [`Loop::workers`] says otherwise (`workers(1)`: one forked worker runs `a`, then `b`).
    /// So it obeys the loops' modes and options: a [`timeout`](Loop::timeout) per closure,
    /// [`retries`](Loop::retries) of a closure whose worker died,
    /// [`memory_limit`](Loop::memory_limit), [`cancel`](Loop::cancel). In the explicit
    /// sequential modes (`PAR_WORKERS=1`, [`sequential`](crate::sequential), a target that
    /// cannot fork) both closures run inline, one after the other, in the calling process
    /// (a panic still fails only its side; a crash is the caller's, and the process-only
    /// options are not applied). Inside a worker, a `join` forks two workers of its own, so
    /// nested joins run in parallel too.
    ///
    /// Three or more computations: nest joins, `join(|| a(), || join(|| b(), || c()))`, which
    /// runs `a`, `b` and `c` at the same time in four processes (the inner join's worker only
    /// waits); or, for many tasks of one result type, a loop over a list of them, which runs on
    /// as many workers as the loop has:
    ///
    /// ```
    /// let (a, (b, c)) = par::join(|| 1u8, || par::join(|| "two".to_string(), || 3.0f64));
    /// assert_eq!((a, b.as_str(), c), (1, "two", 3.0));
    ///
    /// // Many tasks: a loop over boxed closures (or over an enum naming each task).
    /// let tasks: Vec<Box<dyn Fn() -> u64>> = vec![
    ///     Box::new(|| (1..=10).sum()),
    ///     Box::new(|| (1..=10).product()),
    ///     Box::new(|| 2u64.pow(10)),
    /// ];
    /// let values: Vec<u64> = par::Loop::new()
    ///     .schedule(par::Schedule::Dynamic(1))
    ///     .collect(&tasks, |task| task());
    /// assert_eq!(values, [55, 3_628_800, 1024]);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`join`].
    #[track_caller]
    pub fn join<A, B, FA, FB>(&self, a: FA, b: FB) -> (A, B)
    where
        A: Transfer,
        B: Transfer,
        FA: FnOnce() -> A,
        FB: FnOnce() -> B,
    {
        let (a, b) = self.try_join(a, b);
        let a = a.unwrap_or_else(|e| panic!("the first closure of `par::join` failed: {e}"));
        let b = b.unwrap_or_else(|e| panic!("the second closure of `par::join` failed: {e}"));
        (a, b)
    }

    /// [`try_join`] with this loop's options; see [`Loop::join`]. A failure of the loop itself
    /// (a fork refused, a cancel) is reported on both sides.
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = par::Loop::new().timeout(Duration::from_secs(60));
    /// let (a, b) = opts.try_join(|| vec![1u8, 2], || Some('x'));
    /// assert_eq!((a.unwrap(), b.unwrap()), (vec![1, 2], Some('x')));
    /// ```
    #[track_caller]
    pub fn try_join<A, B, FA, FB>(&self, a: FA, b: FB) -> (Result<A>, Result<B>)
    where
        A: Transfer,
        B: Transfer,
        FA: FnOnce() -> A,
        FB: FnOnce() -> B,
    {
        let (a, b) = (Cell::new(Some(a)), Cell::new(Some(b)));
        let mut opts = self.clone().schedule(Schedule::Dynamic(1));
        if opts.workers.is_none() {
            opts = opts.workers(2);
        }
        if let Here::Sequential(_) = mode::here() {
            // Both inline, as any loop there; without the note that keep-going's crash
            // isolation is dropped, which would name a clause the caller never wrote.
            opts = opts.parallel(false);
        }
        let body = |i: usize| -> std::result::Result<Side<A, B>, Infallible> {
            let side = match i {
                0 => a.take().map(|a| Side::First(a())),
                _ => b.take().map(|b| Side::Second(b())),
            };
            // A closure runs at most once per process: a worker runs its one item, a retry
            // runs on a fresh worker forked from the parent, whose cells are still full.
            Ok(side.unwrap_or_else(|| {
                panic!(
                    "the {} closure of `par::join` ran twice in one process (par internal error)",
                    which(i)
                )
            }))
        };
        let job = Collect::new(body);
        let sides = exec::run_each(&opts, (0..2usize).into_source(), &job, Location::caller());
        match sides {
            Ok(sides) => {
                let mut sides = sides.into_iter();
                let first = match sides.next() {
                    Some(Ok(Side::First(a))) => Ok(a),
                    Some(Err(e)) => Err(e),
                    _ => Err(mixed_up(0)),
                };
                let second = match sides.next() {
                    Some(Ok(Side::Second(b))) => Ok(b),
                    Some(Err(e)) => Err(e),
                    _ => Err(mixed_up(1)),
                };
                (first, second)
            }
            Err(e) => {
                let again = copy(&e);
                (Err(e), Err(again))
            }
        }
    }
}

/// The value of the closure at `index` is missing or is the other closure's.
fn mixed_up(index: usize) -> Error {
    Error::Lost {
        index: Some(index),
        pid: None,
        message: format!(
            "no value of the {} closure of `par::join` arrived",
            which(index)
        ),
    }
}

/// A copy of a loop-level failure, for the second side (`Error` is not `Clone`: an I/O error
/// is copied as its kind and text).
fn copy(e: &Error) -> Error {
    match e {
        Error::Panicked {
            index,
            pid,
            message,
            location,
        } => Error::Panicked {
            index: *index,
            pid: *pid,
            message: message.clone(),
            location: location.clone(),
        },
        Error::Failed {
            index,
            pid,
            message,
        } => Error::Failed {
            index: *index,
            pid: *pid,
            message: message.clone(),
        },
        Error::WorkerDied { index, pid, death } => Error::WorkerDied {
            index: *index,
            pid: *pid,
            death: *death,
        },
        Error::Interrupted { index, pid, signal } => Error::Interrupted {
            index: *index,
            pid: *pid,
            signal: *signal,
        },
        Error::TimedOut {
            index,
            pid,
            timeout,
            parent_threads,
        } => Error::TimedOut {
            index: *index,
            pid: *pid,
            timeout: *timeout,
            parent_threads: *parent_threads,
        },
        Error::Encode {
            index,
            pid,
            message,
        } => Error::Encode {
            index: *index,
            pid: *pid,
            message: message.clone(),
        },
        Error::Decode {
            index,
            pid,
            message,
        } => Error::Decode {
            index: *index,
            pid: *pid,
            message: message.clone(),
        },
        Error::Lost {
            index,
            pid,
            message,
        } => Error::Lost {
            index: *index,
            pid: *pid,
            message: message.clone(),
        },
        Error::Retried {
            index,
            attempts,
            last,
        } => Error::Retried {
            index: *index,
            attempts: *attempts,
            last: Box::new(copy(last)),
        },
        Error::Cancelled => Error::Cancelled,
        Error::OnRank { rank, host, source } => Error::OnRank {
            rank: *rank,
            host: host.clone(),
            source: Box::new(copy(source)),
        },
        Error::Io { context, source } => Error::Io {
            context,
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
    }
}
