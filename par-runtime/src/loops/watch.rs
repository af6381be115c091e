//! A watchdog around a stream's pulls: `par::stream` accepts any iterator (not `Send`, not
//! `'static`), so the team pulls it on its own thread, and while the user's `next()` blocks the
//! poll loop checks no deadline and no cancel. [`Watchdog::arm`] arms a thread of the team
//! for the pull; it does meanwhile what the poll loop would: it kills a worker whose item has
//! run past the loop's `timeout`, and every worker once the loop's `Cancel` is cancelled, and
//! says what it did, so that the team reports `Error::TimedOut` (or `Error::Cancelled`) and
//! not the `SIGKILL` death it sees once the pull returns.
//!
//! Cost: the thread is started at a team's first watched pull and joined when the team is
//! dropped; it looks by itself every `tick`. Arming is a few plain atomic stores per worker,
//! disarming one compare-exchange: no lock, no wake-up, no syscall, no allocation unless it
//! looked during the pull. (A thread per pull cost 24-48 us a pull, a stream loop 8-50x
//! slower; two mutex locks a pull about 0.1 us, 10% of a stream of one-item chunks; see the
//! floors of benches/compare.rs.)
//!
//! Safety of its kills: it looks (and kills) only in the `LOOKING` phase, which it can enter
//! only from `ARMED`; disarming moves `ARMED` to `IDLE` and waits out a look in progress. So
//! no worker is signalled once the pull has returned or unwound and the team may reap it; and
//! no worker is reaped during a pull (only the team's thread reaps), so each pid it holds is
//! still its worker's. It allocates nothing, takes no lock but its own sleep's, and forks
//! nothing: a worker forked while it runs inherits nothing of it that matters.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::sys::{self, Pid, SLOT_STRIDE, Shared, SlotReader};

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
    /// (for the team's deadline bookkeeping), when the watchdog looked during the pull.
    pub(crate) seen: Vec<Watched>,
    /// Workers killed for running an item past the timeout: (worker, item index).
    pub(crate) timed_out: Vec<(usize, usize)>,
    /// Workers killed, for a timeout or the cancel (the team marks them killed by par).
    pub(crate) killed: Vec<usize>,
}

/// A team's watchdog: nothing until its first [`Watchdog::arm`] with something to watch.
#[derive(Default)]
pub(crate) struct Watchdog {
    running: Option<Running>,
    /// The thread could not be started: pulls run unwatched (as before the watchdog).
    failed: bool,
}

struct Running {
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

const IDLE: u8 = 0;
const ARMED: u8 = 1;
const LOOKING: u8 = 2;

/// `Entry::killed` of a worker killed for the cancel.
const CANCELLED: u64 = u64::MAX;

struct State {
    phase: AtomicU8,
    /// Set by a look; read and cleared by the disarm.
    looked: AtomicBool,
    tick_ns: AtomicU64,
    /// Per worker slot of the team: what the team published at the arm, and what the
    /// watchdog saw and did since. Written by one side at a time (the phase says which).
    entries: Box<[Entry]>,
    /// What `Entry::since` counts from.
    epoch: Instant,
    slots: SlotReader,
    timeout: Option<Duration>,
    cancel: Option<Cancel>,
    /// The thread's sleep, and `true` once it must end.
    stop: Mutex<bool>,
    wake: Condvar,
}

#[derive(Default)]
struct Entry {
    /// 0: not watched.
    pid: AtomicI32,
    seen: AtomicU64,
    /// Nanoseconds since `State::epoch`.
    since: AtomicU64,
    /// 0, or the item index + 1 it was killed on for the timeout, or `CANCELLED`.
    killed: AtomicU64,
}

impl State {
    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
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
        // IDLE here: only the team's thread arms, and it disarmed after the last pull.
        for e in state.entries.iter() {
            e.pid.store(0, Ordering::Relaxed);
            e.killed.store(0, Ordering::Relaxed);
        }
        let mut any = false;
        for w in workers {
            let Some(e) = state.entries.get(w.worker) else {
                continue;
            };
            e.seen.store(w.seen, Ordering::Relaxed);
            e.since.store(state.nanos(w.since), Ordering::Relaxed);
            e.pid.store(w.pid.as_raw(), Ordering::Relaxed);
            any = true;
        }
        if !any {
            return None;
        }
        let tick = u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX);
        state.tick_ns.store(tick, Ordering::Relaxed);
        state.phase.store(ARMED, Ordering::Release);
        Some(Armed(state))
    }

    /// The running thread's state, started now if need be.
    fn state(
        &mut self,
        slots: &Shared,
        timeout: Option<Duration>,
        cancel: Option<&Cancel>,
    ) -> Option<&State> {
        if self.running.is_none() {
            let workers = slots.len() / SLOT_STRIDE;
            let state = Arc::new(State {
                phase: AtomicU8::new(IDLE),
                looked: AtomicBool::new(false),
                tick_ns: AtomicU64::new(0),
                entries: (0..workers).map(|_| Entry::default()).collect(),
                // Before every `since` the team can have (its workers were forked moments ago).
                epoch: Instant::now()
                    .checked_sub(Duration::from_secs(24 * 3600))
                    .unwrap_or_else(Instant::now),
                slots: slots.reader(),
                timeout,
                cancel: cancel.cloned(),
                stop: Mutex::new(false),
                wake: Condvar::new(),
            });
            let looks = state.clone();
            match std::thread::Builder::new()
                .name("par-watchdog".into())
                .spawn(move || watch(&looks))
            {
                Ok(thread) => {
                    self.running = Some(Running {
                        state,
                        thread: Some(thread),
                    })
                }
                Err(_) => {
                    self.failed = true;
                    return None;
                }
            }
        }
        self.running.as_ref().map(|r| &*r.state)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        *self
            .state
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.state.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An armed watchdog (see [`Watchdog::arm`]).
pub(crate) struct Armed<'a>(&'a State);

impl Armed<'_> {
    /// Disarms it (no kill from now on) and says what it saw and did during the pull.
    pub(crate) fn disarm(self) -> Outcome {
        let state = self.0;
        std::mem::forget(self); // `drop` would only disarm again
        disarm(state);
        if !state.looked.swap(false, Ordering::Relaxed) {
            return Outcome::default();
        }
        let mut out = Outcome::default();
        for (i, e) in state.entries.iter().enumerate() {
            let pid = e.pid.load(Ordering::Relaxed);
            match e.killed.load(Ordering::Relaxed) {
                0 if pid != 0 => out.seen.push(Watched {
                    worker: i,
                    pid: Pid::from_raw(pid),
                    seen: e.seen.load(Ordering::Relaxed),
                    since: state.epoch + Duration::from_nanos(e.since.load(Ordering::Relaxed)),
                }),
                0 => {}
                CANCELLED => out.killed.push(i),
                item => {
                    out.killed.push(i);
                    out.timed_out.push((i, item as usize - 1));
                }
            }
        }
        out
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        disarm(self.0);
    }
}

/// `ARMED` to `IDLE`, waiting out a look in progress (a few microseconds).
fn disarm(state: &State) {
    while let Err(LOOKING) =
        state
            .phase
            .compare_exchange(ARMED, IDLE, Ordering::Acquire, Ordering::Relaxed)
    {
        std::thread::yield_now();
    }
}

/// The watchdog thread: looks every `tick` until told to stop; acts only while armed.
fn watch(state: &State) {
    let mut stop = state.stop.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stop {
        if state
            .phase
            .compare_exchange(ARMED, LOOKING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            look(state);
            state.phase.store(ARMED, Ordering::Release);
        }
        let tick = Duration::from_nanos(state.tick_ns.load(Ordering::Relaxed))
            .max(Duration::from_millis(1));
        stop = state
            .wake
            .wait_timeout(stop, tick)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// One look while armed (phase `LOOKING`): a cancel kills every watched worker, a timeout the
/// overdue ones; a worker killed is watched no more.
fn look(state: &State) {
    state.looked.store(true, Ordering::Relaxed);
    let cancelled = state.cancel.as_ref().is_some_and(Cancel::is_cancelled);
    let now = state.nanos(Instant::now());
    for (i, e) in state.entries.iter().enumerate() {
        let pid = e.pid.load(Ordering::Relaxed);
        if pid == 0 {
            continue;
        }
        let slot = state.slots.load(i);
        let killed = if cancelled {
            CANCELLED
        } else if slot != e.seen.load(Ordering::Relaxed) {
            e.seen.store(slot, Ordering::Relaxed);
            e.since.store(now, Ordering::Relaxed);
            continue;
        } else {
            let since = Duration::from_nanos(now.saturating_sub(e.since.load(Ordering::Relaxed)));
            if slot == 0 || state.timeout.is_none_or(|t| since <= t) {
                continue;
            }
            slot
        };
        sys::kill(Pid::from_raw(pid));
        e.killed.store(killed, Ordering::Relaxed);
        e.pid.store(0, Ordering::Relaxed);
    }
}
