//! The worker process: read a chunk, run its items under `catch_unwind`, send the values back,
//! repeat; on `Done` or when the parent's pipe closes, flush stdout and `_exit`.
//!
//! What this module must never do: return into the user's code after the fork (every path ends
//! in `sys::exit_now`), or let a panic of the runtime itself unwind (it aborts the worker
//! instead, which the parent reports as a death).

use std::time::Instant;

use crate::child::report::{self, UNSENT};
use crate::error::{Error, Result};
use crate::loops::forms::{Emit, Failure, Job, JobError};
use crate::loops::source::{Plan, Source};
use crate::sys::{self, BorrowedFd, SlotWriter};
use crate::wire::codec;
use crate::wire::{self, FrameBuf, FrameReader, Kind, ResultsHead};

/// A results frame is sent once it holds this much, so one chunk's results never need one
/// huge buffer and the parent can decode while the worker computes.
const FLUSH: usize = 1 << 20;

/// A results frame with at least this many payload bytes goes through the worker's spill file
/// instead of the pipe (see `wire/README.md`, "Large frames").
const SPILL_MIN: usize = 512 << 10;

/// A worker spills no further frame while its region of the spill file holds this much that the
/// parent has not read yet (unless it holds nothing: one frame of any size may always go): the
/// pipe, which blocks, then holds it back, as it holds back every frame without a spill file.
const SPILL_HELD: u64 = 64 << 20;

/// A worker's part of its team's spill file (`sys::memfd`): the file, and the offsets
/// `from..to` that are this worker's alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spill<'a> {
    pub(crate) fd: BorrowedFd<'a>,
    pub(crate) from: u64,
    pub(crate) to: u64,
}

impl Spill<'_> {
    /// True when `len` more bytes may go at `at`: they fit in the region, and the parent is
    /// not too far behind.
    fn room(&self, at: u64, len: u64) -> bool {
        if at.checked_add(len).is_none_or(|end| end > self.to) {
            return false;
        }
        let held = sys::memfd::unread(self.fd, self.from, at).unwrap_or(u64::MAX);
        held == 0 || held.saturating_add(len) <= SPILL_HELD
    }
}

/// The fds a worker is given (the child layer made them, with its stdout and death pipe).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fds<'a> {
    pub(crate) cmd: BorrowedFd<'a>,
    pub(crate) res: BorrowedFd<'a>,
    /// Each value leaves as soon as it is made (keep-going loops): a crash then takes no
    /// finished item's value with it, so no item has to run twice.
    pub(crate) each_item: bool,
    /// The worker's part of the spill file for large results frames (`sys::memfd`), where
    /// the system has one.
    pub(crate) spill: Option<Spill<'a>>,
}

/// The worker's life in the child (which `child::spawn` started and will end). Returns the
/// exit code: 0 done, 1 the parent sent garbage, 2 a write failed (the parent is gone).
pub(crate) fn main<S: Source, J: Job<S::Item>>(
    fds: Fds<'_>,
    slot: SlotWriter,
    src: &mut S,
    job: &J,
    grain: usize,
) -> i32 {
    report::set_result_fd(fds.res);
    // A worker forked by a loop nested in a worker's item inherits that worker's batched
    // result frames: they are its parent's to send, not this worker's.
    UNSENT.with(|u| u.borrow_mut().clear());
    match serve(fds, slot, src, job, grain) {
        Ok(()) => 0,
        Err(Exit(code)) => code,
    }
}

struct Exit(i32);

fn serve<S: Source, J: Job<S::Item>>(
    fds: Fds<'_>,
    slot: SlotWriter,
    src: &mut S,
    job: &J,
    grain: usize,
) -> std::result::Result<(), Exit> {
    let mut reader = FrameReader::new(wire::DEFAULT_MAX);
    let mut frame = FrameBuf::default();
    // One allocation for the worker's life: a results frame is sent once it passes `FLUSH`.
    frame.buf.reserve(FLUSH + (64 << 10));
    let mut out = Sender {
        fds,
        slot,
        frame,
        head: None,
        first: 0,
        spill_at: fds.spill.map_or(0, |s| s.from),
    };
    let indexed = matches!(src.plan(), Plan::Indexed(_));
    loop {
        let (first, count, items) = loop {
            match reader.next() {
                Ok(Some((Kind::Chunk, payload))) => {
                    let (head, rest) = wire::parse_chunk(payload).map_err(|_| Exit(1))?;
                    let items = if indexed {
                        Vec::new()
                    } else {
                        src.decode(rest).map_err(|_| Exit(1))?
                    };
                    break (head.first as usize, head.count as usize, items);
                }
                Ok(Some((Kind::Done, _))) => return out.write_out().map_err(|_| Exit(2)),
                Ok(Some(_)) | Err(_) => return Err(Exit(1)),
                Ok(None) => {
                    // About to wait for the parent: what is buffered must be on its way first.
                    out.write_out().map_err(|_| Exit(2))?;
                    match reader.fill(|b| sys::read(fds.cmd, b)) {
                        Ok(wire::Fill::Read(_)) => {}
                        // The parent is gone or gave up on us: nothing left to do.
                        Ok(_) | Err(_) => return Ok(()),
                    }
                }
            }
        };
        let started = Instant::now();
        out.first = first;
        let result = if indexed {
            job.run(first, grain, src.take_range(first, count), &mut out)
        } else {
            job.run(first, grain, items.into_iter(), &mut out)
        };
        out.slot.mark(0);
        match result {
            // The results of consecutive chunks leave in one write while the next chunk is
            // already here (one-item chunks: one syscall per batch, not per item).
            Ok(()) => out
                .flush(true, started, !reader.ready())
                .map_err(|_| Exit(2))?,
            Err(JobError::Body(failure)) => {
                out.flush(false, started, true).map_err(|_| Exit(2))?;
                out.failure(failure).map_err(|_| Exit(2))?;
                // The loop has failed: the parent hands out no more work, so leave now.
                return Ok(());
            }
            Err(JobError::Runtime(_)) => return Err(Exit(2)),
        }
    }
}

/// The worker's [`Emit`]: values are encoded into a results frame that is sent when full and at
/// the end of the chunk.
struct Sender<'a> {
    fds: Fds<'a>,
    slot: SlotWriter,
    frame: FrameBuf,
    /// The results frame being filled: (first item, items, values).
    head: Option<ResultsHead>,
    /// The first item not yet covered by a sent frame.
    first: usize,
    /// Where the next spilled payload goes in the spill file: offsets never repeat, so the
    /// parent never reads a payload that is being written.
    spill_at: u64,
}

impl Sender<'_> {
    fn begin(&mut self) -> &mut ResultsHead {
        if self.head.is_none() {
            let head = ResultsHead {
                first: self.first as u64,
                items: 0,
                values: 0,
                elapsed_ns: 0,
                last: 0,
            };
            self.frame.results(head);
            self.head = Some(head);
        }
        self.head.as_mut().unwrap_or_else(|| unreachable!())
    }

    /// Ends the frame being filled (an empty one if `last` and nothing is pending, so the
    /// parent learns the chunk is complete) and writes what is buffered if `write` says so or
    /// it is large.
    fn flush(&mut self, last: bool, started: Instant, write: bool) -> Result<()> {
        if self.head.is_none() && !last {
            return Ok(());
        }
        let mut head = *self.begin();
        head.last = u8::from(last);
        head.elapsed_ns = if last {
            started.elapsed().as_nanos() as u64
        } else {
            0
        };
        self.frame.patch_results(head);
        self.frame
            .end()
            .map_err(|e| Error::io("a worker could not frame its results", e))?;
        self.first = (head.first + head.items) as usize;
        self.head = None;
        let large = self.frame.buf.len() >= FLUSH;
        self.spill_last();
        if write || large {
            self.write_out()?;
        } else {
            UNSENT.with(|u| u.borrow_mut().extend_from_slice(&self.frame.buf));
            self.frame.clear();
        }
        Ok(())
    }

    /// Moves the frame just ended into the spill file, leaving a `Spilled` frame naming it in
    /// its place, if it is large, the file is there and the parent is not too far behind. On
    /// any failure (the system's memory limit, say) the frame stays, for the pipe.
    fn spill_last(&mut self) {
        let Some(spill) = self.fds.spill else { return };
        let fd = spill.fd;
        let len = self.frame.last_payload().len();
        let at = self.spill_at;
        if len < SPILL_MIN || !spill.room(at, len as u64) {
            return;
        }
        if sys::memfd::write_at(fd, at, self.frame.last_payload()).is_err() {
            // What was written of it is not the parent's to read: give it back.
            sys::memfd::punch(fd, at, len as u64);
            return;
        }
        // Sent or not, the region is used: the next payload goes after it.
        self.spill_at = (at + len as u64).next_multiple_of(sys::memfd::ALIGN);
        if self.frame.spill_last(at, len as u64).is_err() {
            unreachable!("a 16-byte frame always fits");
        }
    }

    /// A large `Vec` of `len` numbers (`bytes`: its elements' little-endian bytes) written
    /// straight from the value into the spill file, after the frame filled so far and the
    /// value's length, and the frame sent as `Spilled` at once: the value is never copied into
    /// the frame buffer. `false`, with nothing changed, when it cannot go that way (no spill
    /// file, the parent behind); on a failed write the value joins the frame as usual.
    fn spill_value(&mut self, len: u64, bytes: &[u8], items: usize) -> Result<bool> {
        let Some(spill) = self.fds.spill else {
            return Ok(false);
        };
        let fd = spill.fd;
        // The frame so far and the length go in front: room for them too (a frame holds
        // under `FLUSH` bytes before a value is added).
        if !spill.room(self.spill_at, (bytes.len() + FLUSH + 64) as u64) {
            return Ok(false);
        }
        self.begin();
        // The value's plain encoding (`codec::encode_value`): its length, then its bytes.
        self.frame.buf.extend_from_slice(&len.to_le_bytes());
        let mut head = *self.begin();
        head.items += items as u64;
        head.values += 1;
        self.head = Some(head);
        // The fixed fields as `flush` leaves them for a frame that is not its chunk's last.
        head.last = 0;
        head.elapsed_ns = 0;
        self.frame.patch_results(head);
        let at = self.spill_at;
        let front = self.frame.last_payload();
        let total = front.len() as u64 + bytes.len() as u64;
        let wrote = sys::memfd::write_at(fd, at, front)
            .and_then(|()| sys::memfd::write_at(fd, at + front.len() as u64, bytes));
        if wrote.is_err() {
            sys::memfd::punch(fd, at, total);
            self.frame.buf.extend_from_slice(bytes);
            if self.fds.each_item || self.frame.buf.len() >= FLUSH {
                self.flush(false, Instant::now(), true)?;
            }
            return Ok(true);
        }
        self.spill_at = (at + total).next_multiple_of(sys::memfd::ALIGN);
        self.frame
            .spill_last(at, total)
            .map_err(|e| Error::io("a worker could not frame its results", e))?;
        self.first = (head.first + head.items) as usize;
        self.head = None;
        self.write_out()?;
        Ok(true)
    }

    fn failure(&mut self, failure: Failure) -> Result<()> {
        let (failed, index, message, location) = failure.parts();
        report::append_report(
            &mut self.frame,
            index,
            failed,
            &message,
            location.as_deref(),
        )?;
        self.write_out()
    }

    /// Writes every complete frame buffered so far.
    fn write_out(&mut self) -> Result<()> {
        let mut unsent = UNSENT.with(|u| std::mem::take(&mut *u.borrow_mut()));
        // One write for the batch: the frame joins the waiting ones (small, when any wait).
        let r = if unsent.is_empty() {
            sys::write_all(self.fds.res, &self.frame.buf)
        } else {
            unsent.extend_from_slice(&self.frame.buf);
            sys::write_all(self.fds.res, &unsent)
        };
        self.frame.clear();
        UNSENT.with(|u| {
            let mut u = u.borrow_mut();
            if u.capacity() < unsent.capacity() {
                *u = unsent;
                u.clear();
            }
        });
        r.map_err(|e| Error::io("a worker could not send its results", e))
    }
}

impl<V: codec::Transfer> Emit<V> for Sender<'_> {
    fn start(&mut self, index: usize) {
        self.slot.mark(index as u64 + 1);
    }

    #[inline(always)]
    fn item(&mut self, index: usize) {
        self.slot.set(index as u64 + 1);
    }

    fn value(&mut self, value: V, items: usize) -> Result<()> {
        if let Some((len, bytes)) = codec::plain_vec_bytes(&value)
            && bytes.len() >= SPILL_MIN
            && self.spill_value(len, bytes, items)?
        {
            return Ok(());
        }
        self.begin();
        codec::encode_value(&value, &mut self.frame.buf)?;
        if let Some(h) = self.head.as_mut() {
            h.items += items as u64;
            h.values += 1;
        }
        if self.fds.each_item || self.frame.buf.len() >= FLUSH {
            self.flush(false, Instant::now(), true)?;
        }
        Ok(())
    }
}
