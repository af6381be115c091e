//! The one event loop of the job families ([`Queue`](crate::Queue) and [`Map`](crate::Map),
//! [`Pool`](crate::Pool), [`Channel`](crate::Channel) and [`Exchange`](crate::Exchange)): wait
//! until a child's pipe is readable, a job's deadline passes, the family's [`Cancel`] handle
//! is due a look or the caller's time is up; then read what is ready, cancel, time out, and
//! start what may start, until the caller has what it waits for.
//!
//! A family says what it watches and how it reacts through [`Watched`]; the order of a round
//! and how long one `poll` may last are decided here, once.
//!
//! What this module must never do: wait longer than the first deadline (a job's, or the
//! caller's), or wait on a cancel handle without looking at it every [`CANCEL_LOOK`].

use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::child::wait::{time_left, wait_readable};
use crate::sys::{Fd, RawFd};

/// How often a family looks at its [`Cancel`] handle while it waits for children.
pub(crate) const CANCEL_LOOK: Duration = Duration::from_millis(20);

/// A job family as the event loop sees it: the pipes it reads, its deadlines, and what it does
/// on each event. Only `fds`, `busy`, `read` and `poll_failed` are required; a family without
/// deadlines, cancel handle or waiting jobs leaves the others as they are.
pub(crate) trait Watched {
    /// The pipes to wait on (compare with [`Fd::raw`] in [`Watched::read`]).
    fn fds(&self) -> impl Iterator<Item = &Fd>;
    /// True while something can still arrive on [`Watched::fds`]: false ends the wait.
    fn busy(&self) -> bool;
    /// `fd` (one of [`Watched::fds`]) is readable or at end of file: read it.
    fn read(&mut self, fd: RawFd);
    /// `poll` itself failed: nothing can be waited on any more, fail what waits.
    fn poll_failed(&mut self, e: &std::io::Error);
    /// When the running jobs must have finished.
    fn deadlines(&self) -> impl Iterator<Item = Instant> {
        std::iter::empty()
    }
    /// The family's cancel handle, if it has one.
    fn cancel(&self) -> Option<&Cancel> {
        None
    }
    /// The cancel handle is cancelled: stop everything.
    fn cancel_all(&mut self) {}
    /// Kills the jobs past their deadline.
    fn time_out(&mut self) {}
    /// Starts what may start (waiting jobs, calls for idle workers); runs first in every round.
    fn refill(&mut self) {}
}

/// How [`wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The caller's condition holds.
    Enough,
    /// Nothing is left to wait for ([`Watched::busy`] is false) and the condition does not hold.
    Idle,
    /// The caller's deadline passed first.
    TimeUp,
}

/// The event loop: rounds of refill, check `enough`, `poll`, read the ready pipes, cancel and
/// time out, until `enough(family)` holds, the family is idle, or `until` passes.
pub(crate) fn wait<W: Watched>(
    family: &mut W,
    until: Option<Instant>,
    mut enough: impl FnMut(&mut W) -> bool,
) -> Waited {
    loop {
        family.refill();
        if enough(family) {
            return Waited::Enough;
        }
        if !family.busy() {
            return Waited::Idle;
        }
        let Some(left) = time_left(until) else {
            return Waited::TimeUp;
        };
        let wait = soonest(left, family.deadlines(), family.cancel().is_some());
        match wait_readable(family.fds(), wait) {
            Ok(ready) => {
                for fd in ready {
                    family.read(fd);
                }
            }
            Err(e) => family.poll_failed(&e),
        }
        if family.cancel().is_some_and(Cancel::is_cancelled) {
            family.cancel_all();
        }
        family.time_out();
    }
}

/// How long one `poll` may wait: `left` (the caller's), cut to the first of `deadlines`, and
/// to [`CANCEL_LOOK`] with a cancel handle. `None`: no limit.
fn soonest(
    left: Option<Duration>,
    deadlines: impl Iterator<Item = Instant>,
    cancel: bool,
) -> Option<Duration> {
    let now = Instant::now();
    let first = deadlines.map(|d| d.saturating_duration_since(now)).min();
    let look = cancel.then_some(CANCEL_LOOK);
    [left, first, look].into_iter().flatten().min()
}

/// The same `io::Error` again, for each of the many waiters a failed `poll` fails.
pub(crate) fn again(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soonest_takes_the_first_limit() {
        let ms = Duration::from_millis;
        assert_eq!(soonest(None, std::iter::empty(), false), None);
        assert_eq!(soonest(None, std::iter::empty(), true), Some(CANCEL_LOOK));
        assert_eq!(soonest(Some(ms(5)), std::iter::empty(), true), Some(ms(5)));
        let far = Instant::now() + Duration::from_secs(60);
        let got = soonest(Some(ms(500)), [far].into_iter(), false);
        assert_eq!(got, Some(ms(500)));
        let past = Instant::now() - ms(1);
        assert_eq!(
            soonest(None, [far, past].into_iter(), true),
            Some(Duration::ZERO)
        );
    }

    /// A family with nothing to watch: `wait` ends at once, idle, or when its condition holds.
    struct Nothing {
        refills: usize,
    }

    impl Watched for Nothing {
        fn fds(&self) -> impl Iterator<Item = &Fd> {
            std::iter::empty()
        }
        fn busy(&self) -> bool {
            false
        }
        fn read(&mut self, _: RawFd) {}
        fn poll_failed(&mut self, _: &std::io::Error) {}
        fn refill(&mut self) {
            self.refills += 1;
        }
    }

    #[test]
    fn idle_or_enough_after_one_refill() {
        let mut n = Nothing { refills: 0 };
        assert_eq!(wait(&mut n, None, |_| false), Waited::Idle);
        assert_eq!(wait(&mut n, None, |n| n.refills == 2), Waited::Enough);
        assert_eq!(n.refills, 2);
    }
}
