//! A watchdog around a stream's pulls: `par::stream` accepts any iterator (not `Send`, not
//! `'static`), so the team pulls it on its own thread, and while the user's `next()` blocks the
//! poll loop checks no deadline and no cancel. [`Watchdog::arm`] arms a thread of the team
//! for the pull; it does meanwhile what the poll loop would: it kills a worker whose item has
//! run past the loop's `timeout`, and every worker once the loop's `Cancel` is cancelled, and
//! says what it did, so that the team reports `Error::TimedOut` (or `Error::Cancelled`) and
//! not the `SIGKILL` death it sees once the pull returns.
//!
//! Cost: the thread is started at a team's first watched pull and joined when the team is
//! dropped; arming and disarming it is two uncontended locks (no wake-up, no syscall, no
//! allocation): it looks by itself every `tick`. A thread per pull cost 24-48 us a pull (a stream loop 8-50x
//! slower); this costs nothing measurable (benches/README.md).
//!
//! Safety of its kills: it kills only while armed, and disarming (when the pull returns or
//! unwinds) takes the lock it kills under, so no worker is signalled once the team may reap
//! it; no worker is reaped during a pull (only the team's thread reaps), so each pid it holds
//! is still its worker's. It allocates only to note a kill, takes no lock but its own and forks
//! nothing: a worker forked while it runs inherits nothing of it that matters.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::sys::{self, Pid, Shared, SlotReader};

/// A worker as the watchdog sees it: its index (and progress slot: item index + 1, 0 between
/// items), its pid, the slot value the team saw last and since when (`Team::check_deadlines`).
#[derive(Clone, Copy)]
pub(crate) struct Watched {
    pub(crate) worker: usize,
    pub(crate) pid: Pid,
    pub(crate) seen: u64,
    pub(crate) since: Instant,
}

/// What the watchdog saw and did during a pull.
#[derive(Default)]
pub(crate) struct Outcome {
    /// Every watched worker's slot value and since when it has held it, as of the pull's end
    /// (for the team's deadline bookkeeping).
    pub(crate) seen: Vec<Watched>,
    /// Workers killed for running an item past the timeout: (worker, item index).
    pub(crate) timed_out: Vec<(usize, usize)>,
    /// Workers killed, for a timeout or the cancel (the team marks them killed by par).
    pub(crate) killed: Vec<usize>,
}

/// A team's watchdog: nothing until its first [`Watchdog::around`] with something to watch.
#[derive(Default)]
pub(crate) struct Watchdog {
    running: Option<Running>,
    /// The thread could not be started: pulls run unwatched (as before the watchdog).
    failed: bool,
}

struct Running {
    shared: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    lock: Mutex<Inner>,
    wake: Condvar,
    slots: SlotReader,
    timeout: Option<Duration>,
    cancel: Option<Cancel>,
}

#[derive(Default)]
struct Inner {
    armed: bool,
    /// Looked at least once since armed: its view of the slots is newer than the team's.
    looked: bool,
    stop: bool,
    tick: Duration,
    workers: Vec<Watched>,
    out: Outcome,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Watchdog {
    /// Arms the watchdog over `workers` for a pull that follows (see the module docs); the
    /// pull is watched until [`Armed::disarm`] (or the drop of the returned handle, if the
    /// pull unwinds). `None` (nothing to do) without a timeout or a cancel handle, or without
    /// a worker to watch.
    pub(crate) fn arm(
        &mut self,
        slots: &Shared,
        timeout: Option<Duration>,
        cancel: Option<&Cancel>,
        tick: Duration,
        workers: impl Iterator<Item = Watched>,
    ) -> Option<Armed<'_>> {
        if (timeout.is_none() && cancel.is_none()) || self.failed {
            return None;
        }
        let state = self.state(slots, timeout, cancel)?;
        let mut inner = state.lock();
        inner.workers.clear();
        inner.workers.extend(workers);
        inner.tick = tick;
        inner.looked = false;
        inner.armed = !inner.workers.is_empty();
        let armed = inner.armed;
        drop(inner);
        armed.then_some(Armed(state))
    }

    /// The running thread's state, started now if need be.
    fn state(
        &mut self,
        slots: &Shared,
        timeout: Option<Duration>,
        cancel: Option<&Cancel>,
    ) -> Option<&State> {
        if self.running.is_none() {
            let shared = Arc::new(State {
                lock: Mutex::new(Inner::default()),
                wake: Condvar::new(),
                slots: slots.reader(),
                timeout,
                cancel: cancel.cloned(),
            });
            let looks = shared.clone();
            match std::thread::Builder::new()
                .name("par-watchdog".into())
                .spawn(move || watch(&looks))
            {
                Ok(thread) => {
                    self.running = Some(Running {
                        shared,
                        thread: Some(thread),
                    })
                }
                Err(_) => {
                    self.failed = true;
                    return None;
                }
            }
        }
        self.running.as_ref().map(|r| &*r.shared)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An armed watchdog (see [`Watchdog::arm`]).
pub(crate) struct Armed<'a>(&'a State);

impl Armed<'_> {
    /// Disarms it (no kill from now on) and says what it saw and did during the pull. Costs
    /// one uncontended lock, and allocates nothing when it did not look (a pull shorter than
    /// a tick, nearly every pull).
    pub(crate) fn disarm(self) -> Outcome {
        let mut inner = self.0.lock();
        inner.armed = false;
        let mut out = std::mem::take(&mut inner.out);
        if inner.looked {
            out.seen.clone_from(&inner.workers);
        }
        drop(inner);
        std::mem::forget(self); // disarmed already: no second lock in `drop`
        out
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.lock().armed = false;
    }
}

/// The watchdog thread: looks every `tick` until told to stop; acts only while armed. Its
/// looks and kills happen under the lock, so none happens once the puller has disarmed it.
fn watch(state: &State) {
    let mut inner = state.lock();
    while !inner.stop {
        if inner.armed {
            look(state, &mut inner);
        }
        let tick = inner.tick.max(Duration::from_millis(1));
        inner = state
            .wake
            .wait_timeout(inner, tick)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// One look while armed: a cancel kills every watched worker, a timeout the overdue ones.
fn look(state: &State, inner: &mut Inner) {
    inner.looked = true;
    let Inner { workers, out, .. } = inner;
    if state.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
        for w in workers.drain(..) {
            sys::kill(w.pid);
            out.killed.push(w.worker);
        }
        return;
    }
    let now = Instant::now();
    workers.retain_mut(|w| {
        let slot = state.slots.load(w.worker);
        if slot != w.seen {
            w.seen = slot;
            w.since = now;
            return true;
        }
        let overdue = state
            .timeout
            .is_some_and(|t| now.duration_since(w.since) > t);
        if slot == 0 || !overdue {
            return true;
        }
        sys::kill(w.pid);
        out.killed.push(w.worker);
        out.timed_out.push((w.worker, slot as usize - 1));
        false
    });
}
