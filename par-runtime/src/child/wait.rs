//! The parent waiting on many children at once: which result pipes are readable, and how much
//! of a deadline is left.

use std::time::{Duration, Instant};

use crate::sys::{self, Fd, RawFd, Watch};

/// Waits until one of `fds` is readable (or at end of file) or `timeout` passes; returns the
/// readable ones' numbers (compare with [`Fd::raw`]).
pub(crate) fn wait_readable<'a>(
    fds: impl Iterator<Item = &'a Fd>,
    timeout: Option<Duration>,
) -> std::io::Result<Vec<RawFd>> {
    let mut watches: Vec<Watch> = fds.map(|fd| Watch::new(fd, true, false)).collect();
    sys::poll(&mut watches, timeout)?;
    Ok(watches
        .iter()
        .filter(|w| w.readable)
        .map(|w| w.fd())
        .collect())
}

/// What is left until `deadline`: `Some(None)` without one, `None` once it has passed.
pub(crate) fn time_left(deadline: Option<Instant>) -> Option<Option<Duration>> {
    match deadline {
        None => Some(None),
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Some(Some(left)),
            _ => None,
        },
    }
}
