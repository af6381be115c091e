//! A watchdog around a stream's pull: `par::stream` accepts any iterator (not `Send`, not
//! `'static`), so the team pulls it on its own thread, and while the user's `next()` blocks the
//! poll loop checks no deadline and no cancel. [`around`] runs the pull with a scoped thread
//! beside it that does what the poll loop would: it kills a worker whose item has run past the
//! loop's `timeout`, and every worker once the loop's `Cancel` is cancelled, and says what it
//! did, so that the team reports `Error::TimedOut` (or `Error::Cancelled`) and not the
//! `SIGKILL` death it sees once the pull returns.
//!
//! The thread lives only as long as the pull, and stops killing the moment the pull returns
//! (both happen under one lock): a worker is never signalled once the team may have reaped it.
//! No worker is reaped during the pull (only the team's thread reaps), so each pid it holds
//! is still its worker's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::sys::{self, Pid};

/// A worker as the watchdog sees it: its progress slot (item index + 1, 0 between items), the
/// slot value the team saw last and since when (`Team::check_deadlines`), its pid.
pub(crate) struct Watched<'a> {
    pub(crate) worker: usize,
    pub(crate) slot: &'a AtomicU64,
    pub(crate) pid: Pid,
    pub(crate) seen: u64,
    pub(crate) since: Instant,
}

/// What to watch during one pull.
pub(crate) struct Plan<'a> {
    pub(crate) workers: Vec<Watched<'a>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cancel: Option<&'a Cancel>,
    /// How often to look (the poll loop's own wake-up rule).
    pub(crate) tick: Duration,
}

/// What the watchdog saw and did during a pull.
#[derive(Default)]
pub(crate) struct Outcome {
    /// Every watched worker's slot value and since when it has held it, as of the pull's end
    /// (for the team's deadline bookkeeping): (worker, seen, since).
    pub(crate) seen: Vec<(usize, u64, Instant)>,
    /// Workers killed for running an item past the timeout: (worker, item index).
    pub(crate) timed_out: Vec<(usize, usize)>,
    /// Workers killed, for a timeout or the cancel (the team marks them killed by par).
    pub(crate) killed: Vec<usize>,
}

/// Runs `pull` with a watchdog beside it (see the module docs). Without a timeout or a cancel
/// handle, or without a worker to watch, it is just `pull()`. If the thread cannot be started,
/// the pull runs unwatched (as before the watchdog existed).
pub(crate) fn around<R>(plan: Plan<'_>, pull: impl FnOnce() -> R) -> (R, Outcome) {
    if plan.workers.is_empty() || (plan.timeout.is_none() && plan.cancel.is_none()) {
        return (pull(), Outcome::default());
    }
    let stop = Stop {
        done: Mutex::new(false),
        wake: Condvar::new(),
    };
    std::thread::scope(|s| {
        let watching = std::thread::Builder::new()
            .name("par-watchdog".into())
            .spawn_scoped(s, || watch(plan, &stop));
        // Told to stop even if `pull` panics: the scope joins the thread before it unwinds.
        let guard = StopOnDrop(&stop);
        let r = pull();
        drop(guard);
        let outcome = match watching {
            Ok(handle) => handle.join().unwrap_or_default(),
            Err(_) => Outcome::default(),
        };
        (r, outcome)
    })
}

struct Stop {
    done: Mutex<bool>,
    wake: Condvar,
}

struct StopOnDrop<'a>(&'a Stop);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        *self.0.done.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.0.wake.notify_one();
    }
}

/// The watchdog thread: looks every `tick` until told to stop. Its looks and kills happen
/// under the `done` lock, so none happens once the puller has set `done`.
fn watch(plan: Plan<'_>, stop: &Stop) -> Outcome {
    let Plan {
        mut workers,
        timeout,
        cancel,
        tick,
    } = plan;
    let mut out = Outcome::default();
    let mut done = stop.done.lock().unwrap_or_else(PoisonError::into_inner);
    while !*done {
        let now = Instant::now();
        if cancel.is_some_and(Cancel::is_cancelled) {
            for w in workers.drain(..) {
                sys::kill(w.pid);
                out.killed.push(w.worker);
            }
            break;
        }
        workers.retain_mut(|w| {
            let slot = w.slot.load(Ordering::Relaxed);
            if slot != w.seen {
                w.seen = slot;
                w.since = now;
                return true;
            }
            let overdue = timeout.is_some_and(|t| now.duration_since(w.since) > t);
            if slot == 0 || !overdue {
                return true;
            }
            sys::kill(w.pid);
            out.killed.push(w.worker);
            out.timed_out.push((w.worker, slot as usize - 1));
            false
        });
        if workers.is_empty() {
            break; // nothing left to kill (a cancel is seen by the team after the pull)
        }
        done = stop
            .wake
            .wait_timeout(done, tick)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    out.seen = workers
        .iter()
        .map(|w| (w.worker, w.seen, w.since))
        .collect();
    out
}
