//! pprocess' `start`, `Channel` and `Exchange` in Rust idiom: a started child talks with its
//! parent over a typed duplex channel (two pipes, `Message` frames), and an [`Exchange`] waits
//! on many channels at once.
//!
//! What this module must never do: lose the way a child ended (a panic, a signal and an exit
//! status each reach the parent as an [`Error`]), leave a child unreaped, or start more than
//! `limit` children from one exchange.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::time::{Duration, Instant};

use crate::child::report::{self, panic_error, panic_frame, panic_message};
use crate::child::{self, Child, Pipes, What};
use crate::error::{Error, PANICKED, Result};
use crate::jobs::events::{self, Waited, Watched};
use crate::jobs::report::Recorder;
use crate::sys::{self, Fd, Pid};
use crate::wire::codec::{self, Transfer};
use crate::wire::{self, Fill, FrameBuf, FrameReader, Kind};

/// One end of a typed duplex channel between a parent and a child it [`start`]ed: `send`
/// values of type `S`, receive values of type `R`. The child's end is a `Channel<R, S>`.
///
/// Receiving blocks until a message arrives; [`Channel::recv`] returns `Ok(None)` once the
/// other side is finished (the child returned, or the parent closed its end), and `Err` if
/// the child panicked (message and location) or died (signal or exit status). Iterating a
/// channel yields its messages until then.
///
/// Each message is one frame on a pipe, with no acknowledgement round trip (pprocess sends
/// one per message). Pipes hold about 1 MiB: two processes that both send more than that
/// before either receives wait for each other forever, as with any pair of pipes.
///
/// Dropping the parent's end of a child that still runs kills and reaps the child; call
/// [`Channel::join`] to let it finish.
///
/// ```
/// use par::Channel;
/// // The child doubles what it receives until the parent closes its end.
/// let mut ch: Channel<u32, u32> = par::start(|ch: &mut Channel<u32, u32>| {
///     while let Ok(Some(x)) = ch.recv() {
///         ch.send(&(x * 2)).unwrap();
///     }
/// })
/// .unwrap();
/// ch.send(&21).unwrap();
/// assert_eq!(ch.recv().unwrap(), Some(42));
/// ch.join().unwrap();
/// ```
pub struct Channel<S, R> {
    /// The job number this channel reports in errors (its id in an [`Exchange`]; 0 otherwise).
    index: usize,
    /// The other process: the child on the parent's side, the parent on the child's.
    peer: Pid,
    /// On the parent's side: the child, to reap.
    child: Option<Child>,
    tx: Option<Fd>,
    rx: Fd,
    reader: FrameReader,
    out: FrameBuf,
    /// End of file seen on `rx` (or a read error, kept in `read_error`).
    eof: bool,
    read_error: Option<std::io::Error>,
    /// The child said its function returned (a `Done` frame): its end of file is its normal
    /// end. Without it, a child that exits with 0 stopped in the middle (`exit(0)`).
    returned: bool,
    /// The end was reported (the child reaped); every later `recv` is `Ok(None)`.
    finished: bool,
    /// What this end received, and on the parent's side the child's fork and end: printed
    /// and kept as the last family report when the parent's end is dropped (quiet on the
    /// child's side, and in an [`Exchange`], which reports for its channels).
    report: Recorder,
    _types: PhantomData<fn(S) -> R>,
}

impl<S, R> std::fmt::Debug for Channel<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("index", &self.index)
            .field("peer", &self.peer)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// Starts `f` in a forked child with a channel to it (pprocess' `start`): the parent keeps a
/// `Channel<S, R>`, `f` gets the other end, a `Channel<R, S>`. The child ends when `f`
/// returns; a panic in `f` reaches the parent as an [`Error::Panicked`] from `recv`.
///
/// A producer may send any number of messages (pprocess' `continuous`); the parent iterates
/// them:
///
/// ```
/// use par::Channel;
/// let squares: Channel<(), u64> = par::start(|ch: &mut Channel<u64, ()>| {
///     for i in 0..5u64 {
///         ch.send(&(i * i)).unwrap();
///     }
/// })
/// .unwrap();
/// let got: Vec<u64> = squares.map(|m| m.unwrap()).collect();
/// assert_eq!(got, [0, 1, 4, 9, 16]);
/// ```
///
/// Channels always fork, even with `PAR_WORKERS=1` or inside [`sequential`](crate::sequential)
/// (two ends that wait on each other cannot run inline); where there is no `fork`, `start`
/// returns an `Io` error.
///
/// The child dies with the parent, even by `SIGKILL`, whatever `f` does with its signals.
/// Started on the main thread (Linux), by a parent-death `SIGKILL`. Started on another
/// thread, which may end while the channel lives on, it is not tied to that thread: a thread
/// in the child waits on its death pipe and ends the child when the parent is gone (`f` need
/// not be `Send`, so it cannot be forked on a thread of par's, as [`Pool`](crate::Pool)
/// workers are; the child then has that one thread besides `f`'s).
///
/// The channel reports like the job families (see [`Channel::report`]): under `PAR_REPORT=1`
/// its block is printed when the parent's end is dropped, and [`last_family_report`]
/// returns it then.
///
/// [`last_family_report`]: crate::last_family_report
#[track_caller]
pub fn start<S: Transfer, R: Transfer>(
    f: impl FnOnce(&mut Channel<R, S>),
) -> Result<Channel<S, R>> {
    start_indexed(0, Location::caller(), f)
}

/// [`start`] for the channel numbered `index` (its id in an [`Exchange`]), reporting as
/// started at `site`.
pub(crate) fn start_indexed<S: Transfer, R: Transfer>(
    index: usize,
    site: &'static Location<'static>,
    f: impl FnOnce(&mut Channel<R, S>),
) -> Result<Channel<S, R>> {
    let pipes = Pipes {
        cmd: true,
        large: true,
        what: What::STARTED,
        // The channel may be moved to another thread and outlive this one; `f` need not be
        // `Send`, so the child is forked here (see `Pipes::outlives_call`).
        outlives_call: true,
        ..Pipes::default()
    };
    let parent = sys::getpid();
    // Made here, not in the child: the child allocates no more than it must before `f`.
    let mut child_report = Recorder::new("Channel", site, 1);
    child_report.quiet();
    // Made before the fork, so that its wall time includes it.
    let mut report = Recorder::new("Channel", site, 1);
    let at = Instant::now();
    let (child, ends) = child::spawn(pipes, move |ends| {
        let Some(down) = ends.cmd else { return 1 };
        if sys::set_nonblocking(&down).is_err() {
            return 2;
        }
        report::set_result_fd(&ends.res);
        let mut ch = Channel::<R, S>::new(index, parent, None, ends.res, down, child_report);
        child_main(&mut ch, f)
    })?;
    let took = at.elapsed();
    let Some(down) = ends.cmd else {
        unreachable!("a command pipe was asked for")
    };
    report.submitted();
    report.forked(child.pid(), at, took);
    Ok(Channel::new(
        index,
        child.process(),
        Some(child),
        down,
        ends.res,
        report,
    ))
}

/// The child's life: run `f`, report its panic, flush stdout. The exit code: 0, or 2 when the
/// panic could not be sent.
fn child_main<S: Transfer, R: Transfer>(
    ch: &mut Channel<S, R>,
    f: impl FnOnce(&mut Channel<S, R>),
) -> i32 {
    let mut code = 0;
    let outcome = catch_unwind(AssertUnwindSafe(|| f(&mut *ch)));
    report::flush_stdout();
    if outcome.is_ok() {
        // Says that the function returned, so that an `exit(0)` in the middle of it is told
        // apart from its end. (If the parent has closed its end, nobody is listening.)
        let mut frame = FrameBuf::default();
        frame.done();
        if frame.end().is_ok()
            && let Some(tx) = &ch.tx
        {
            let _ = sys::write_all(tx, &frame.buf);
        }
    }
    if let Err(p) = outcome {
        let mut frame = FrameBuf::default();
        let sent = panic_frame(&mut frame, ch.index, PANICKED, &panic_message(&*p))
            && ch
                .tx
                .as_ref()
                .is_some_and(|tx| sys::write_all(tx, &frame.buf).is_ok());
        if !sent {
            code = 2;
        }
    }
    code
}

impl<S: Transfer, R: Transfer> Channel<S, R> {
    fn new(
        index: usize,
        peer: Pid,
        child: Option<Child>,
        tx: Fd,
        rx: Fd,
        report: Recorder,
    ) -> Self {
        Channel {
            index,
            peer,
            child,
            tx: Some(tx),
            rx,
            reader: FrameReader::new(wire::DEFAULT_MAX),
            out: FrameBuf::default(),
            eof: false,
            read_error: None,
            returned: false,
            finished: false,
            report,
            _types: PhantomData,
        }
    }

    /// The largest message this end accepts, that is the encoded size of one message
    /// (default 1 GiB, as [`Loop::max_frame`](crate::Loop::max_frame)): a larger one makes
    /// `recv` return [`Error::Decode`], which names the setting and the size, never an
    /// allocation. Either end may set its own: the parent on the channel [`start`] returns,
    /// the child with [`Channel::set_max_frame`].
    ///
    /// ```
    /// use par::Channel;
    /// let mut ch: Channel<(), Vec<u8>> = par::start(|ch: &mut Channel<Vec<u8>, ()>| {
    ///     let _ = ch.send(&vec![1u8; 1000]);
    ///     let _ = ch.send(&vec![2u8; 256 << 10]);
    /// })
    /// .unwrap()
    /// .max_frame(64 << 10); // 64 KiB
    /// assert_eq!(ch.recv().unwrap().unwrap().len(), 1000);
    /// let e = ch.recv().unwrap_err();
    /// assert!(matches!(e, par::Error::Decode { .. }), "{e}");
    /// assert!(e.to_string().contains("max_frame"), "{e}");
    /// ```
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.set_max_frame(bytes);
        self
    }

    /// [`Channel::max_frame`] in place, for the child's end (which the child's function gets
    /// by `&mut`).
    ///
    /// ```
    /// use par::Channel;
    /// let mut ch: Channel<Vec<u8>, usize> = par::start(|ch: &mut Channel<usize, Vec<u8>>| {
    ///     ch.set_max_frame(64 << 10);
    ///     while let Ok(Some(v)) = ch.recv() {
    ///         ch.send(&v.len()).unwrap();
    ///     }
    /// })
    /// .unwrap();
    /// ch.send(&vec![0u8; 1000]).unwrap();
    /// assert_eq!(ch.recv().unwrap(), Some(1000));
    /// ch.join().unwrap();
    /// ```
    pub fn set_max_frame(&mut self, bytes: usize) {
        self.reader.set_max(bytes);
    }

    /// The other process' pid (the child's, on the parent's side).
    ///
    /// ```
    /// use par::Channel;
    /// let ch: Channel<(), ()> = par::start(|_: &mut Channel<(), ()>| {}).unwrap();
    /// assert_ne!(ch.pid(), std::process::id()); // the child's pid, on the parent's side
    /// ch.join().unwrap();
    /// ```
    pub fn pid(&self) -> u32 {
        self.peer.as_raw() as u32
    }

    /// What this channel did so far, as a [`FamilyReport`]. On the parent's end: family
    /// `"Channel"`, the site of the [`start`] call, one job, the child in `per_worker` (its
    /// pid, its messages and bytes, how it died if it did), the time forking it took
    /// (`fork`), the messages received and their bytes (`messages`, `result_bytes`: the
    /// encoded values, without frame headers), and how the child ended once `recv` saw it:
    /// `failed` for a panic or a death, `deaths` for a death (a signal, an `exit`). When the
    /// parent's end is dropped, `PAR_REPORT=1` prints the same and
    /// [`last_family_report`](crate::last_family_report) returns it. On the child's end:
    /// the messages it received from the parent (no job, nothing forked, never printed).
    ///
    /// ```
    /// use par::Channel;
    /// let mut ch: Channel<(), u64> = par::start(|ch: &mut Channel<u64, ()>| {
    ///     for i in 0..3u64 {
    ///         ch.send(&i).unwrap();
    ///     }
    /// })
    /// .unwrap();
    /// let got: Vec<u64> = ch.by_ref().map(|m| m.unwrap()).collect();
    /// assert_eq!(got, [0, 1, 2]);
    /// let r = ch.report();
    /// assert_eq!((r.family, r.jobs, r.messages, r.deaths), ("Channel", 1, 3, 0));
    /// assert_eq!(r.result_bytes, 3 * 8); // a `u64` travels as its 8 bytes
    /// assert_eq!(r.per_worker[0].pid as u32, ch.pid());
    /// drop(ch);
    /// let last = par::last_family_report().unwrap();
    /// assert_eq!((last.family, last.messages), ("Channel", 3));
    /// ```
    ///
    /// [`FamilyReport`]: crate::FamilyReport
    pub fn report(&self) -> crate::FamilyReport {
        self.report.snapshot()
    }

    /// Sends one message. Fails with an `Io` error if the other side has closed its end or
    /// is gone (its own failure, if any, is then what `recv` reports).
    ///
    /// ```
    /// use par::Channel;
    /// // The child answers each string with its length.
    /// let mut ch: Channel<String, usize> = par::start(|ch: &mut Channel<usize, String>| {
    ///     while let Ok(Some(s)) = ch.recv() {
    ///         ch.send(&s.len()).unwrap();
    ///     }
    /// })
    /// .unwrap();
    /// ch.send(&"four".to_string()).unwrap();
    /// assert_eq!(ch.recv().unwrap(), Some(4));
    /// ch.join().unwrap();
    /// ```
    pub fn send(&mut self, msg: &S) -> Result<()> {
        let Some(tx) = &self.tx else {
            return Err(Error::io(
                "could not send on a channel",
                std::io::Error::other(if self.finished {
                    "the other side has finished"
                } else {
                    "this end was closed by `close`"
                }),
            ));
        };
        self.out.clear();
        self.out.begin(Kind::Message);
        codec::encode_value(msg, &mut self.out.buf)
            .map_err(|e| e.about(self.index, sys::getpid().as_raw()))?;
        self.out
            .end()
            .and_then(|()| sys::write_all(tx, &self.out.buf))
            .map_err(|e| Error::io("could not send on a channel (the other side is gone?)", e))
    }

    /// Closes this end for sending: the other side's `recv` returns `Ok(None)` once it has
    /// received everything sent before. Receiving still works, and a child can still send
    /// after its `recv` said the parent closed (an answer computed from everything it got).
    ///
    /// ```
    /// use par::Channel;
    /// // The child answers with running totals until the parent closes its end.
    /// let mut ch: Channel<u64, u64> = par::start(|ch: &mut Channel<u64, u64>| {
    ///     let mut total = 0;
    ///     while let Ok(Some(x)) = ch.recv() {
    ///         total += x;
    ///         ch.send(&total).unwrap();
    ///     }
    ///     // `recv` returned `Ok(None)`: the parent closed its end, so the child returns.
    /// })
    /// .unwrap();
    /// for x in 1..=4 {
    ///     ch.send(&x).unwrap();
    /// }
    /// ch.close();
    /// let totals: Vec<u64> = ch.map(|m| m.unwrap()).collect(); // receiving still works
    /// assert_eq!(totals, [1, 3, 6, 10]);
    /// ```
    pub fn close(&mut self) {
        self.tx = None;
    }

    /// True when [`Channel::recv`] would not block: a message is there, or the other side has
    /// finished. Waits up to `timeout` for that (`None`: no limit; zero: just look).
    ///
    /// ```
    /// use std::time::Duration;
    /// use par::Channel;
    /// let mut ch: Channel<(), String> = par::start(|ch: &mut Channel<String, ()>| {
    ///     std::thread::sleep(Duration::from_millis(500));
    ///     ch.send(&"late".to_string()).unwrap();
    /// })
    /// .unwrap();
    /// assert!(!ch.ready(Some(Duration::ZERO))); // nothing yet: just look
    /// assert!(ch.ready(None)); // wait for it
    /// assert_eq!(ch.recv().unwrap().as_deref(), Some("late"));
    /// ```
    pub fn ready(&mut self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        events::wait(self, deadline, Channel::pump) == Waited::Enough
    }

    /// Reads what is available without blocking; true when `recv` would not block.
    fn pump(&mut self) -> bool {
        while !self.finished && !self.eof && !self.reader.ready() {
            let fd = &self.rx;
            match self.reader.fill(|b| sys::read(fd, b)) {
                Ok(Fill::Read(_)) => {}
                Ok(Fill::WouldBlock) => return false,
                Ok(Fill::Eof) => self.eof = true,
                Err(e) => {
                    self.read_error = Some(e);
                    self.eof = true;
                }
            }
        }
        true
    }

    /// Receives the next message, waiting for it. `Ok(None)`: the other side finished
    /// normally (and everything it sent was received). `Err`: it panicked, died, or sent
    /// something that does not decode as `R`; the channel is finished after that.
    ///
    /// ```
    /// use par::{Channel, Error};
    /// let mut ch: Channel<(), u32> = par::start(|ch: &mut Channel<u32, ()>| {
    ///     ch.send(&1).unwrap();
    ///     panic!("out of work");
    /// })
    /// .unwrap();
    /// assert_eq!(ch.recv().unwrap(), Some(1));
    /// let err = ch.recv().unwrap_err(); // the child's panic, with its message and location
    /// assert!(matches!(err, Error::Panicked { .. }));
    /// assert!(err.to_string().contains("out of work"));
    /// assert_eq!(ch.recv().unwrap(), None); // finished
    /// ```
    pub fn recv(&mut self) -> Result<Option<R>> {
        self.ready(None);
        let was_finished = self.finished;
        let r = self.take();
        if !was_finished && self.finished && self.child.is_some() {
            self.report.ended(self.index, &r); // once
        }
        r
    }

    /// What [`Channel::recv`] returns once [`Channel::ready`] said true.
    fn take(&mut self) -> Result<Option<R>> {
        if self.finished {
            return Ok(None);
        }
        let (index, pid) = (self.index, self.peer.as_raw());
        let bad = |message: String| Error::Decode {
            index: Some(index),
            pid: Some(pid),
            message,
        };
        match self.reader.next() {
            Ok(Some((Kind::Message, payload))) => {
                self.report.message(pid, payload.len());
                return codec::decode_value::<R>(payload)
                    .map(Some)
                    .map_err(|e| e.about(index, pid));
            }
            Ok(Some((Kind::Panic, payload))) => {
                // The frame carries the index the child was started with; an added channel
                // got its id later.
                let e = match panic_error(payload, pid) {
                    Error::Panicked {
                        message, location, ..
                    } => Error::Panicked {
                        index,
                        pid,
                        message,
                        location,
                    },
                    other => other,
                };
                self.end();
                return Err(e);
            }
            Ok(Some((Kind::Done, _))) if self.child.is_some() => {
                // The child's function returned: what follows is its end of file.
                self.returned = true;
                return self.take();
            }
            Ok(Some((kind, _))) => {
                let e = bad(format!("a channel received a {kind:?} frame"));
                self.end();
                return Err(e);
            }
            Err(m) => {
                self.end();
                return Err(bad(m));
            }
            Ok(None) => {}
        }
        // Nothing buffered: the other side is finished. How?
        let truncated = self.reader.pending();
        let death = self.end();
        if let Some(e) = self.read_error.take() {
            return Err(Error::io("could not read a channel", e));
        }
        match death {
            Some(e) => Err(e),
            None if truncated > 0 => Err(bad(format!(
                "the channel ended in the middle of a frame ({truncated} bytes)"
            ))),
            None => Ok(None),
        }
    }

    /// Marks the channel finished; on the parent's side reaps the child (killing it first if
    /// it is still running, as after a failure it has nothing more to say) and returns its
    /// death: any end but a clean exit after its function returned (a `Done` frame).
    fn end(&mut self) -> Option<Error> {
        if self.finished {
            return None;
        }
        self.finished = true;
        // The child's side: the parent closed its end (or is gone), but this end may still
        // send (half-close, as `close` promises); a failed send says so.
        let child = self.child.as_mut()?;
        self.tx = None;
        // A child that said its function returned is leaving by itself: waited for, not killed.
        if !self.eof && !self.returned {
            child.kill();
        }
        child.ended(Some(self.index), !self.returned)
    }

    /// Closes this end and waits for the child to finish, discarding messages it still sends;
    /// returns its failure, if it failed. (On the child's side: closes and returns.)
    ///
    /// ```
    /// use par::{Channel, Error};
    /// let ok: Channel<(), ()> = par::start(|_: &mut Channel<(), ()>| {}).unwrap();
    /// ok.join().unwrap();
    ///
    /// let failing: Channel<(), ()> = par::start(|_: &mut Channel<(), ()>| std::process::exit(3)).unwrap();
    /// assert!(matches!(failing.join(), Err(Error::WorkerDied { .. })));
    /// ```
    pub fn join(mut self) -> Result<()> {
        self.close();
        let mut failure = None;
        loop {
            match self.recv() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
            if self.finished {
                break;
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

/// The parent's end reports when it is dropped (as asked: `PAR_REPORT`, `PAR_TRACE`), before
/// its child, if it still runs, is killed and reaped.
impl<S, R> Drop for Channel<S, R> {
    fn drop(&mut self) {
        self.report.end();
    }
}

impl<S: Transfer, R: Transfer> Iterator for Channel<S, R> {
    type Item = Result<R>;
    fn next(&mut self) -> Option<Result<R>> {
        self.recv().transpose()
    }
}

type Starter<'a, S, R> = Box<dyn FnOnce(&mut Channel<R, S>) + 'a>;

/// Waits on many channels at once (pprocess' `Exchange`): start children with
/// [`Exchange::start`] (at most `limit` at a time; the others wait, FIFO, without blocking the
/// caller) or add channels with [`Exchange::add`]; then ask which are [`ready`](Exchange::ready)
/// and [`recv`](Exchange::recv) from those, or iterate `(id, message)` pairs as they arrive, or
/// hand every message to a hook with [`Exchange::finish`].
///
/// A channel leaves the exchange when it is finished (its `recv` returned `Ok(None)` or its
/// failure), and the next waiting start begins.
///
/// ```
/// use par::{Channel, Exchange};
/// let mut ex: Exchange<(), u32> = Exchange::new(2);
/// for i in 0..4u32 {
///     ex.start(move |ch: &mut Channel<u32, ()>| ch.send(&(i * 100)).unwrap());
/// }
/// let mut got = Vec::new();
/// ex.finish(|_id, msg| got.push(msg.unwrap()));
/// got.sort();
/// assert_eq!(got, [0, 100, 200, 300]);
/// ```
pub struct Exchange<'a, S, R> {
    limit: usize,
    /// Where it was made: the site of its report and of its channels'.
    site: &'static Location<'static>,
    /// What its channels did, one process each, reported when it is dropped.
    report: Recorder,
    submitted: usize,
    active: Vec<Channel<S, R>>,
    pending: VecDeque<(usize, Starter<'a, S, R>)>,
    /// Starts that failed (fork refused), reported as the first message of their id.
    failed: VecDeque<(usize, Error)>,
}

impl<S, R> std::fmt::Debug for Exchange<'_, S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("limit", &self.limit)
            .field("active", &self.active)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<'a, S: Transfer, R: Transfer> Exchange<'a, S, R> {
    /// An exchange running at most `limit` started children at once (at least 1).
    ///
    /// ```
    /// use par::{Channel, Exchange};
    /// // Three children, at most two at a time, each sending its id's square.
    /// let mut ex: Exchange<(), u32> = Exchange::new(2);
    /// for i in 0..3u32 {
    ///     ex.start(move |ch: &mut Channel<u32, ()>| ch.send(&(i * i)).unwrap());
    /// }
    /// let mut got: Vec<(usize, u32)> = ex.map(|(id, msg)| (id, msg.unwrap())).collect();
    /// got.sort();
    /// assert_eq!(got, [(0, 0), (1, 1), (2, 4)]);
    /// ```
    #[track_caller]
    pub fn new(limit: usize) -> Self {
        let site = Location::caller();
        Exchange {
            limit: limit.max(1),
            site,
            report: Recorder::new("Exchange", site, limit.max(1)),
            submitted: 0,
            active: Vec::new(),
            pending: VecDeque::new(),
            failed: VecDeque::new(),
        }
    }

    /// Starts `f` in a child with a channel to this exchange (now, or when fewer than `limit`
    /// run); returns the channel's id. Never blocks.
    ///
    /// ```
    /// use par::{Channel, Exchange};
    /// let mut ex: Exchange<u32, u32> = Exchange::new(4);
    /// // A child that adds 1 to whatever it receives, until its channel closes.
    /// let id = ex.start(|ch: &mut Channel<u32, u32>| {
    ///     while let Ok(Some(x)) = ch.recv() {
    ///         ch.send(&(x + 1)).unwrap();
    ///     }
    /// });
    /// ex.send(id, &41).unwrap();
    /// assert_eq!(ex.recv(id).unwrap(), Some(42));
    /// ```
    pub fn start(&mut self, f: impl FnOnce(&mut Channel<R, S>) + 'a) -> usize {
        let id = self.submitted;
        self.submitted += 1;
        self.report.submitted();
        self.pending.push_back((id, Box::new(f)));
        self.start_pending();
        id
    }

    /// Adds a channel started elsewhere; returns its id. It counts towards the limit.
    ///
    /// ```
    /// use par::{Channel, Exchange};
    /// let ch: Channel<(), String> =
    ///     par::start(|ch: &mut Channel<String, ()>| ch.send(&"hello".to_string()).unwrap()).unwrap();
    /// let mut ex = Exchange::new(1);
    /// let id = ex.add(ch);
    /// assert_eq!(ex.recv(id).unwrap().as_deref(), Some("hello"));
    /// ```
    pub fn add(&mut self, mut channel: Channel<S, R>) -> usize {
        let id = self.submitted;
        self.submitted += 1;
        self.report.submitted();
        channel.index = id;
        self.report.adopt(&mut channel.report);
        self.active.push(channel);
        id
    }

    fn start_pending(&mut self) {
        while self.active.len() < self.limit {
            let Some((id, f)) = self.pending.pop_front() else {
                return;
            };
            match start_indexed(id, self.site, f) {
                Ok(mut ch) => {
                    self.report.adopt(&mut ch.report);
                    self.active.push(ch);
                }
                Err(e) => self.failed.push_back((id, e)),
            }
        }
    }

    /// Channels still open plus starts still waiting: 0 when everything is finished.
    ///
    /// ```
    /// use par::{Channel, Exchange};
    /// let mut ex: Exchange<(), ()> = Exchange::new(1);
    /// ex.start(|_: &mut Channel<(), ()>| {});
    /// ex.start(|_: &mut Channel<(), ()>| {}); // waits for the first: limit 1
    /// assert_eq!(ex.active(), 2);
    /// ex.finish(|_, _| {});
    /// assert_eq!(ex.active(), 0);
    /// ```
    pub fn active(&self) -> usize {
        self.active.len() + self.pending.len() + self.failed.len()
    }

    /// Sends `msg` to channel `id`. An `Io` error if that channel is not (or no more) active.
    ///
    /// ```
    /// use par::{Channel, Exchange};
    /// let mut ex: Exchange<u32, u32> = Exchange::new(2);
    /// let id = ex.start(|ch: &mut Channel<u32, u32>| {
    ///     let x = ch.recv().unwrap().unwrap();
    ///     ch.send(&(x * 2)).unwrap();
    /// });
    /// ex.send(id, &21).unwrap();
    /// assert_eq!(ex.recv(id).unwrap(), Some(42));
    /// assert!(ex.send(12345, &1).is_err()); // no such channel
    /// ```
    pub fn send(&mut self, id: usize, msg: &S) -> Result<()> {
        match self.active.iter_mut().find(|c| c.index == id) {
            Some(ch) => ch.send(msg),
            None => Err(Error::io(
                "could not send on an exchange's channel",
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("channel {id} is not active (finished, waiting to start, or unknown)"),
                ),
            )),
        }
    }

    /// The ids of the channels whose `recv` would not block, waiting up to `timeout` for at
    /// least one (`None`: no limit). Empty when the time ran out, or nothing is active.
    ///
    /// ```
    /// use std::time::Duration;
    /// use par::{Channel, Exchange};
    /// let mut ex: Exchange<(), u32> = Exchange::new(2);
    /// let fast = ex.start(|ch: &mut Channel<u32, ()>| ch.send(&1).unwrap());
    /// ex.start(|ch: &mut Channel<u32, ()>| {
    ///     std::thread::sleep(Duration::from_millis(500));
    ///     ch.send(&2).unwrap();
    /// });
    /// let ready = ex.ready(Some(Duration::from_secs(10)));
    /// assert_eq!(ready, [fast]); // the slow child has not sent yet
    /// assert_eq!(ex.recv(fast).unwrap(), Some(1));
    /// ```
    pub fn ready(&mut self, timeout: Option<Duration>) -> Vec<usize> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut ready = Vec::new();
        events::wait(self, deadline, |ex| {
            ready = ex.failed.iter().map(|(id, _)| *id).collect();
            ready.extend(
                ex.active
                    .iter_mut()
                    .filter_map(|c| c.pump().then_some(c.index)),
            );
            !ready.is_empty()
        });
        ready
    }

    /// Receives from channel `id` (waiting if it is not ready). `Ok(None)`: it finished (it
    /// then leaves the exchange and a waiting start begins) or is unknown.
    ///
    /// ```
    /// use par::{Channel, Exchange};
    /// let mut ex: Exchange<(), u8> = Exchange::new(1);
    /// let id = ex.start(|ch: &mut Channel<u8, ()>| ch.send(&7).unwrap());
    /// assert_eq!(ex.recv(id).unwrap(), Some(7));
    /// assert_eq!(ex.recv(id).unwrap(), None); // it finished
    /// ```
    pub fn recv(&mut self, id: usize) -> Result<Option<R>> {
        if let Some(at) = self.failed.iter().position(|(i, _)| *i == id) {
            let (_, e) = self.failed.remove(at).expect("position is in range");
            let r: Result<Option<R>> = Err(e);
            self.report.finished(&r);
            return r;
        }
        let Some(at) = self.active.iter().position(|c| c.index == id) else {
            return Ok(None);
        };
        let ch = &mut self.active[at];
        // The channel counts what it receives; the exchange reports it as its own.
        let (was_finished, (messages, bytes)) = (ch.finished, ch.report.received());
        let r = ch.recv();
        let (now_messages, now_bytes) = ch.report.received();
        if now_messages > messages {
            let pid = ch.peer.as_raw();
            self.report
                .messages(pid, now_messages - messages, now_bytes - bytes);
        }
        if !was_finished && ch.finished {
            self.report.ended(id, &r);
        }
        if self.active[at].finished {
            self.active.swap_remove(at);
            self.start_pending();
        }
        r
    }

    /// Delivers to `hook` every message that arrives within `timeout`, as `(id, message)`;
    /// returns how many (pprocess' `store`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use par::{Channel, Exchange};
    /// let mut ex: Exchange<(), u32> = Exchange::new(4);
    /// for i in 0..4u32 {
    ///     ex.start(move |ch: &mut Channel<u32, ()>| ch.send(&i).unwrap());
    /// }
    /// let mut sum = 0;
    /// while ex.active() > 0 {
    ///     ex.store(Some(Duration::from_millis(100)), |_id, msg| sum += msg.unwrap());
    /// }
    /// assert_eq!(sum, 6);
    /// ```
    pub fn store(
        &mut self,
        timeout: Option<Duration>,
        mut hook: impl FnMut(usize, Result<R>),
    ) -> usize {
        let mut n = 0;
        for id in self.ready(timeout) {
            if let Some(m) = self.recv(id).transpose() {
                hook(id, m);
                n += 1;
            }
        }
        n
    }

    /// Waits for every channel and every waiting start to finish, handing each message (or
    /// failure) to `hook` as `(id, message)` as it arrives.
    ///
    /// ```
    /// use par::{Channel, Exchange};
    /// let mut ex: Exchange<(), String> = Exchange::new(2);
    /// ex.start(|ch: &mut Channel<String, ()>| ch.send(&"fine".to_string()).unwrap());
    /// ex.start(|_: &mut Channel<String, ()>| panic!("broken"));
    /// let (mut messages, mut failures) = (0, 0);
    /// ex.finish(|_id, msg| match msg {
    ///     Ok(_) => messages += 1,
    ///     Err(_) => failures += 1, // the panic, reported once for its id
    /// });
    /// assert_eq!((messages, failures), (1, 1));
    /// ```
    pub fn finish(&mut self, mut hook: impl FnMut(usize, Result<R>)) {
        while self.active() > 0 {
            self.store(None, &mut hook);
        }
    }

    /// What the exchange did so far, as a [`FamilyReport`]: family `"Exchange"`, the site of
    /// [`Exchange::new`], its limit, a job per child started or channel added, one
    /// `per_worker` entry per child (its pid, the messages and bytes received from it, how
    /// it died if it did), the time forking took, the messages and bytes received in all
    /// (`messages`, `result_bytes`: encoded values without frame headers), the channels that
    /// ended in an error (`failed`: a panic, a death, a refused fork) and the deaths. When
    /// the exchange is dropped, `PAR_REPORT=1` prints the same and
    /// [`last_family_report`](crate::last_family_report) returns it.
    ///
    /// ```
    /// use par::{Channel, Exchange};
    /// let mut ex: Exchange<(), u32> = Exchange::new(2);
    /// for i in 0..3u32 {
    ///     ex.start(move |ch: &mut Channel<u32, ()>| {
    ///         ch.send(&i).unwrap();
    ///         ch.send(&(i * 10)).unwrap();
    ///     });
    /// }
    /// ex.finish(|_id, msg| assert!(msg.is_ok()));
    /// let r = ex.report();
    /// assert_eq!((r.family, r.jobs, r.limit, r.failed), ("Exchange", 3, 2, 0));
    /// assert_eq!(r.per_worker.len(), 3); // a child each
    /// assert_eq!(r.messages, 6);
    /// assert_eq!(r.result_bytes, 6 * 4); // a `u32` travels as its 4 bytes
    /// assert!(r.per_worker.iter().all(|w| w.messages == 2));
    /// ```
    ///
    /// [`FamilyReport`]: crate::FamilyReport
    pub fn report(&self) -> crate::FamilyReport {
        self.report.snapshot()
    }
}

/// An exchange reports when it is dropped (as asked: `PAR_REPORT`, `PAR_TRACE`), before the
/// children still running are killed and reaped.
impl<S, R> Drop for Exchange<'_, S, R> {
    fn drop(&mut self) {
        self.report.end();
    }
}

/// A channel's receiving pipe in the families' one event loop: what arrives is read by
/// `pump`, the loop's condition.
impl<S, R> Watched for Channel<S, R> {
    fn fds(&self) -> impl Iterator<Item = &Fd> {
        std::iter::once(&self.rx)
    }

    fn busy(&self) -> bool {
        true // until `pump` sees its end
    }

    fn read(&mut self, _: sys::RawFd) {}

    fn poll_failed(&mut self, e: &std::io::Error) {
        self.read_error = Some(events::again(e));
        self.eof = true;
    }
}

/// The active channels' receiving pipes in the families' one event loop: what arrives is read
/// by their `pump`, in the loop's condition ([`Exchange::ready`]).
impl<S, R> Watched for Exchange<'_, S, R> {
    fn fds(&self) -> impl Iterator<Item = &Fd> {
        self.active.iter().map(|c| &c.rx)
    }

    fn busy(&self) -> bool {
        !self.active.is_empty()
    }

    fn read(&mut self, _: sys::RawFd) {}

    fn poll_failed(&mut self, e: &std::io::Error) {
        // Nothing can be waited on any more: every channel reports it.
        for c in &mut self.active {
            c.poll_failed(e);
        }
    }
}

impl<S: Transfer, R: Transfer> Iterator for Exchange<'_, S, R> {
    type Item = (usize, Result<R>);
    /// The next message from any channel, as `(id, message)`; `None` once all are finished.
    fn next(&mut self) -> Option<(usize, Result<R>)> {
        while self.active() > 0 {
            for id in self.ready(None) {
                if let Some(m) = self.recv(id).transpose() {
                    return Some((id, m));
                }
            }
        }
        None
    }
}
