//! [`Cancel`]: stopping running loops and jobs from another thread or a signal handler.

/// A handle that stops running work from elsewhere: another thread, a Ctrl-C handler (its
/// [`cancel`](Cancel::cancel) is one atomic store, safe in a signal handler). Clone it, give a
/// clone to a loop with [`Loop::cancel`](crate::Loop::cancel) (or `par!(cancel = &c, ...)`), or to
/// a [`Queue`](crate::Queue), [`Map`](crate::Map) or [`Pool`](crate::Pool) with their `cancel`
/// method; call `cancel()` on any clone: no new item or job starts, the running workers are
/// killed and reaped, and a loop returns [`Error::Cancelled`](crate::Error) (`try_` forms; the
/// others panic with it) while each unfinished job yields `Err(Error::Cancelled)`. Work started
/// with a cancelled handle does not start at all. Python's `Future.cancel` can't stop a call
/// that runs; this can.
///
/// ```
/// use std::time::Duration;
/// let stop = par::Cancel::new();
/// let remote = stop.clone();
/// std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(300));
///     remote.cancel();
/// });
/// let r = par::Loop::new().workers(2).cancel(&stop).try_collect(0..1_000u32, |i| {
///     std::thread::sleep(Duration::from_millis(50)); // 25 s in all
///     Ok::<u32, String>(i)
/// });
/// assert!(matches!(r, Err(par::Error::Cancelled)));
/// assert!(stop.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// A handle not cancelled yet.
    ///
    /// ```
    /// assert!(!par::Cancel::new().is_cancelled());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops every loop this handle was given to (running or started later).
    ///
    /// ```
    /// let stop = par::Cancel::new();
    /// stop.clone().cancel(); // any clone
    /// // A loop given a cancelled handle does not start.
    /// let r = par::Loop::new().cancel(&stop).try_collect(0..10u32, |i| Ok::<_, String>(i));
    /// assert!(matches!(r, Err(par::Error::Cancelled)));
    /// ```
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// True once [`Cancel::cancel`] was called on any clone.
    ///
    /// ```
    /// let stop = par::Cancel::new();
    /// let seen = stop.clone();
    /// stop.cancel();
    /// assert!(seen.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}
