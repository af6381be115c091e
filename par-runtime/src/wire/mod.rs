//! Frames between the parent and its workers: `[u32 len][u8 kind][payload of len bytes]`,
//! integers little-endian. A declared length above the reader's maximum is an error before any
//! allocation, so a corrupt or hostile frame can't make the parent allocate gigabytes.
//!
//! Parent -> worker: `Chunk` (run these items), `Done` (no more work: flush and exit).
//! Worker -> parent: `Results` (encoded values for consecutive items), `Panic` (an item failed),
//! `Spilled` (a `Results` frame too large for the pipe: its payload is in the worker's spill
//! file, see [`spill`] and `sys::memfd`).
//!
//! Channels (`channel.rs`) send `Message` frames both ways (one encoded value each); a pool
//! (`pool.rs`) sends its workers `Call` frames (`[u64 job][u32 name length][name][arguments]`).

pub(crate) mod codec;
mod depth;
pub(crate) mod spill;

use std::io;

/// The frame kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Chunk = 1,
    Results = 2,
    Panic = 3,
    Done = 4,
    Message = 5,
    Call = 6,
    /// `[u64 offset][u64 len]`: the payload of a `Results` frame, `len` bytes at `offset` of
    /// the sender's spill file.
    Spilled = 7,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Chunk,
            2 => Kind::Results,
            3 => Kind::Panic,
            4 => Kind::Done,
            5 => Kind::Message,
            6 => Kind::Call,
            7 => Kind::Spilled,
            _ => return None,
        })
    }
}

pub(crate) const HEADER: usize = 5;

/// Default maximum payload: 1 GiB.
pub(crate) const DEFAULT_MAX: usize = 1 << 30;

/// Fixed fields of a `Chunk` frame, followed by encoded items for a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkHead {
    /// Index (in iteration order) of the chunk's first item.
    pub(crate) first: u64,
    /// Number of items.
    pub(crate) count: u64,
}

/// Fixed fields of a `Results` frame, followed by `values` encoded values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResultsHead {
    /// Index of the first item these values cover.
    pub(crate) first: u64,
    /// Items covered (a reduction frame covers many items with one value per grain).
    pub(crate) items: u64,
    /// Encoded values in the payload.
    pub(crate) values: u64,
    /// Nanoseconds the worker spent on these items (feeds the auto schedule).
    pub(crate) elapsed_ns: u64,
    /// 1 when this frame ends its chunk.
    pub(crate) last: u8,
}

/// Fixed fields of a `Panic` frame, followed by the encoded `(message, location)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PanicHead {
    pub(crate) index: u64,
    /// 0: the body panicked; 1: the body returned `Err`; 2: the value could not be encoded
    /// (`error::PANICKED`, `FAILED`, `ENCODE`).
    pub(crate) failed: u8,
}

pub(crate) const CHUNK_HEAD: usize = 16;
pub(crate) const RESULTS_HEAD: usize = 33;
pub(crate) const PANIC_HEAD: usize = 9;

/// Writes frames into one buffer, so a frame (header and payload) leaves in one `write`.
#[derive(Debug, Default)]
pub(crate) struct FrameBuf {
    pub(crate) buf: Vec<u8>,
    start: usize,
}

impl FrameBuf {
    /// Starts a frame of `kind`; write its payload into `self.buf`, then call [`FrameBuf::end`].
    pub(crate) fn begin(&mut self, kind: Kind) {
        self.start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0, kind as u8]);
    }

    /// Ends the frame begun last, filling in its length.
    pub(crate) fn end(&mut self) -> io::Result<()> {
        let len = self.buf.len() - self.start - HEADER;
        let len = u32::try_from(len).map_err(|_| {
            io::Error::other(format!(
                "a frame of {len} bytes is too large (the limit is 4 GiB)"
            ))
        })?;
        self.buf[self.start..self.start + 4].copy_from_slice(&len.to_le_bytes());
        Ok(())
    }

    pub(crate) fn chunk(&mut self, head: ChunkHead) {
        self.begin(Kind::Chunk);
        self.buf.extend_from_slice(&head.first.to_le_bytes());
        self.buf.extend_from_slice(&head.count.to_le_bytes());
    }

    pub(crate) fn results(&mut self, head: ResultsHead) {
        self.begin(Kind::Results);
        for v in [head.first, head.items, head.values, head.elapsed_ns] {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.buf.push(head.last);
    }

    /// Patches the fixed fields of the `Results` frame begun last.
    pub(crate) fn patch_results(&mut self, head: ResultsHead) {
        let at = self.start + HEADER;
        for (i, v) in [head.first, head.items, head.values, head.elapsed_ns]
            .into_iter()
            .enumerate()
        {
            self.buf[at + 8 * i..at + 8 * i + 8].copy_from_slice(&v.to_le_bytes());
        }
        self.buf[at + 32] = head.last;
    }

    pub(crate) fn panic(&mut self, head: PanicHead) {
        self.begin(Kind::Panic);
        self.buf.extend_from_slice(&head.index.to_le_bytes());
        self.buf.push(head.failed);
    }

    /// A `Call` frame for a pool worker: run the registered function `name` on `args`.
    pub(crate) fn call(&mut self, job: u64, name: &str, args: &[u8]) -> io::Result<()> {
        self.begin(Kind::Call);
        self.buf.extend_from_slice(&job.to_le_bytes());
        self.buf
            .extend_from_slice(&(name.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(args);
        self.end()
    }

    /// Payload bytes of the frame begun last (call after [`FrameBuf::end`]).
    pub(crate) fn last_payload(&self) -> &[u8] {
        &self.buf[self.start + HEADER..]
    }

    /// Replaces the frame begun last, once ended, by a `Spilled` frame saying that its
    /// payload is `len` bytes at `offset` of the spill file.
    pub(crate) fn spill_last(&mut self, offset: u64, len: u64) -> io::Result<()> {
        self.buf.truncate(self.start);
        self.begin(Kind::Spilled);
        self.buf.extend_from_slice(&offset.to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.end()
    }

    pub(crate) fn done(&mut self) {
        self.begin(Kind::Done);
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn short(what: &str, need: usize, got: usize) -> String {
    format!("{what} frame too short: {got} bytes, its fixed fields need {need}")
}

pub(crate) fn parse_chunk(p: &[u8]) -> Result<(ChunkHead, &[u8]), String> {
    if p.len() < CHUNK_HEAD {
        return Err(short("chunk", CHUNK_HEAD, p.len()));
    }
    Ok((
        ChunkHead {
            first: u64_at(p, 0),
            count: u64_at(p, 8),
        },
        &p[CHUNK_HEAD..],
    ))
}

pub(crate) fn parse_results(p: &[u8]) -> Result<(ResultsHead, &[u8]), String> {
    if p.len() < RESULTS_HEAD {
        return Err(short("results", RESULTS_HEAD, p.len()));
    }
    let head = ResultsHead {
        first: u64_at(p, 0),
        items: u64_at(p, 8),
        values: u64_at(p, 16),
        elapsed_ns: u64_at(p, 24),
        last: p[32],
    };
    Ok((head, &p[RESULTS_HEAD..]))
}

pub(crate) fn parse_panic(p: &[u8]) -> Result<(PanicHead, &[u8]), String> {
    if p.len() < PANIC_HEAD {
        return Err(short("panic", PANIC_HEAD, p.len()));
    }
    Ok((
        PanicHead {
            index: u64_at(p, 0),
            failed: p[8],
        },
        &p[PANIC_HEAD..],
    ))
}

/// A `Spilled` frame's fields: the offset and length of a results payload in the sender's
/// spill file.
pub(crate) fn parse_spilled(p: &[u8]) -> Result<(u64, u64), String> {
    if p.len() != 16 {
        return Err(format!("spilled frame of {} bytes, not 16", p.len()));
    }
    Ok((u64_at(p, 0), u64_at(p, 8)))
}

/// A `Call` frame's fields: job number, function name, encoded arguments.
pub(crate) fn parse_call(p: &[u8]) -> Result<(u64, &str, &[u8]), String> {
    if p.len() < 12 {
        return Err(short("call", 12, p.len()));
    }
    let job = u64_at(p, 0);
    let len = u32::from_le_bytes([p[8], p[9], p[10], p[11]]) as usize;
    let name = p
        .get(12..12 + len)
        .ok_or_else(|| short("call", 12 + len, p.len()))?;
    let name = std::str::from_utf8(name).map_err(|e| format!("call frame: bad name: {e}"))?;
    Ok((job, name, &p[12 + len..]))
}

/// Accumulates bytes from a non-blocking fd and cuts them into frames.
#[derive(Debug)]
pub(crate) struct FrameReader {
    buf: Vec<u8>,
    /// Bytes of `buf` holding data; frames are consumed from `pos`.
    filled: usize,
    pos: usize,
    max: usize,
}

/// What [`FrameReader::fill`] saw.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    /// Read this many bytes.
    Read(usize),
    /// Nothing available now.
    WouldBlock,
    /// The writer closed its end.
    Eof,
}

thread_local! {
    /// Buffers of dropped readers, reused by the next ones on this thread: a loop's results
    /// land in memory that is already mapped, instead of faulting in fresh pages every loop.
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Readers' buffers up to this size are kept for reuse, at most `SPARE_COUNT` of them.
const SPARE_MAX: usize = 4 << 20;
const SPARE_COUNT: usize = 8;

impl FrameReader {
    pub(crate) fn new(max: usize) -> Self {
        let buf = SPARE
            .try_with(|s| s.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        FrameReader {
            buf,
            filled: 0,
            pos: 0,
            max,
        }
    }

    /// Sets the largest frame accepted from now on (the families' `max_frame` setting, which
    /// may be given after a reader exists); what is buffered is kept.
    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// Reads what `read` gives into the buffer, sized to finish the frame in progress.
    pub(crate) fn fill(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<Fill> {
        if self.pos == self.filled {
            self.pos = 0;
            self.filled = 0;
        }
        // Room for the rest of the current frame (its length is known once its header is in),
        // and at least 256 KiB so that many small frames come in with one read.
        let have = self.filled - self.pos;
        let want = match self.declared() {
            Some(len) if len <= self.max => HEADER + len,
            _ => HEADER,
        };
        // The buffer grows with what has arrived, never by more than it holds (or 256 KiB): a
        // header declaring a huge length gets memory only as its bytes come.
        let need = want
            .saturating_sub(have)
            .min(have.max(self.buf.len()).max(256 << 10))
            .max(256 << 10);
        if self.buf.len() - self.filled < need {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.filled, 0);
                self.filled -= self.pos;
                self.pos = 0;
            }
            if self.buf.len() - self.filled < need {
                self.buf.resize(self.filled + need, 0);
            }
        }
        match read(&mut self.buf[self.filled..]) {
            Ok(0) => Ok(Fill::Eof),
            Ok(n) => {
                self.filled += n;
                Ok(Fill::Read(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Fill::WouldBlock),
            Err(e) => Err(e),
        }
    }

    fn declared(&self) -> Option<usize> {
        let b = self.buf.get(self.pos..self.pos + 4)?;
        (self.filled - self.pos >= 4).then(|| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// The next complete frame, if one is buffered. Errors: an unknown kind, or a declared
    /// length above the maximum (checked before anything is allocated for it).
    pub(crate) fn next(&mut self) -> Result<Option<(Kind, &[u8])>, String> {
        let Some(len) = self.declared() else {
            return Ok(None);
        };
        if len > self.max {
            return Err(format!(
                "frame declares {len} bytes, more than the maximum of {} bytes (the max_frame setting)",
                self.max
            ));
        }
        if self.filled - self.pos < HEADER + len {
            return Ok(None);
        }
        let kind_byte = self.buf[self.pos + 4];
        let Some(kind) = Kind::from_u8(kind_byte) else {
            return Err(format!("unknown frame kind {kind_byte}"));
        };
        let start = self.pos + HEADER;
        self.pos = start + len;
        Ok(Some((kind, &self.buf[start..start + len])))
    }

    /// True when [`FrameReader::next`] has something to say without more input: a complete
    /// frame, or a declared length it will refuse.
    pub(crate) fn ready(&self) -> bool {
        match self.declared() {
            Some(len) => len > self.max || self.filled - self.pos >= HEADER + len,
            None => false,
        }
    }

    /// Bytes of an unfinished frame (non-zero at EOF means the writer died mid-frame).
    pub(crate) fn pending(&self) -> usize {
        self.filled - self.pos
    }

    /// Frees a large buffer once it is drained, so one huge result doesn't pin memory.
    pub(crate) fn shrink(&mut self) {
        if self.pos == self.filled && self.buf.len() > (8 << 20) {
            self.buf = Vec::new();
            self.pos = 0;
            self.filled = 0;
        }
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() >= (64 << 10) && buf.len() <= SPARE_MAX {
            let _ = SPARE.try_with(|s| {
                let mut s = s.borrow_mut();
                if s.len() < SPARE_COUNT {
                    s.push(buf);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sys::alloc_probe::largest_allocation;

    fn feed(r: &mut FrameReader, mut bytes: &[u8], step: usize) {
        while !bytes.is_empty() {
            let n = step.min(bytes.len());
            let (now, rest) = bytes.split_at(n);
            r.fill(|b| {
                b[..now.len()].copy_from_slice(now);
                Ok(now.len())
            })
            .unwrap();
            bytes = rest;
        }
    }

    #[test]
    fn frames_round_trip_through_any_split() {
        let mut w = FrameBuf::default();
        w.chunk(ChunkHead { first: 7, count: 3 });
        w.buf.extend_from_slice(b"xyz");
        w.end().unwrap();
        let head = ResultsHead {
            first: 1,
            items: 2,
            values: 2,
            elapsed_ns: 99,
            last: 1,
        };
        w.results(head);
        w.end().unwrap();
        w.done();
        w.end().unwrap();
        for step in [1, 2, 5, 1000] {
            let mut r = FrameReader::new(DEFAULT_MAX);
            feed(&mut r, &w.buf, step);
            let (k, p) = r.next().unwrap().unwrap();
            assert_eq!(k, Kind::Chunk);
            assert_eq!(
                parse_chunk(p).unwrap(),
                (ChunkHead { first: 7, count: 3 }, &b"xyz"[..])
            );
            let (k, p) = r.next().unwrap().unwrap();
            assert_eq!(k, Kind::Results);
            assert_eq!(parse_results(p).unwrap().0, head);
            assert_eq!(r.next().unwrap().unwrap().0, Kind::Done);
            assert_eq!(r.next().unwrap(), None);
        }
    }

    #[test]
    fn an_oversized_length_is_an_error_not_an_allocation() {
        let mut r = FrameReader::new(1024);
        feed(&mut r, &[0xff, 0xff, 0xff, 0xff, 2], 5);
        let e = r.next().unwrap_err();
        assert!(e.contains("more than the maximum"), "{e}");
    }

    #[test]
    fn unknown_kinds_and_short_frames_are_errors() {
        let mut r = FrameReader::new(1024);
        feed(&mut r, &[0, 0, 0, 0, 9], 5);
        assert!(r.next().unwrap_err().contains("unknown frame kind 9"));
        assert!(parse_results(&[0; 10]).unwrap_err().contains("too short"));
        assert!(parse_chunk(&[0; 3]).is_err());
        assert!(parse_panic(&[]).is_err());
        assert!(parse_call(&[0; 11]).is_err());
        let mut call = [0u8; 12];
        call[8] = 200; // a name longer than the frame
        assert!(parse_call(&call).unwrap_err().contains("too short"));
    }

    #[test]
    fn call_frames_round_trip() {
        let mut b = FrameBuf::default();
        b.call(7, "m::f", &[1, 2, 3]).unwrap();
        let mut r = FrameReader::new(1024);
        feed(&mut r, &b.buf, 3);
        let (kind, p) = r.next().unwrap().unwrap();
        assert_eq!(kind, Kind::Call);
        assert_eq!(parse_call(p).unwrap(), (7, "m::f", &[1u8, 2, 3][..]));
    }

    proptest::proptest! {
        /// A header declaring any length up to u32::MAX, followed by a few bytes of any kind,
        /// fed in any split: the reader allocates for what arrived (at most twice it, or its
        /// 256 KiB minimum), never for what was declared, and says what is wrong.
        #[test]
        fn declared_lengths_never_become_allocations(
            len in proptest::num::u32::ANY,
            kind in proptest::num::u8::ANY,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            step in 1usize..64,
        ) {
            let mut bytes = len.to_le_bytes().to_vec();
            bytes.push(kind);
            bytes.extend_from_slice(&body);
            let (largest, checked) = largest_allocation(|| {
                let mut r = FrameReader::new(DEFAULT_MAX);
                feed(&mut r, &bytes, step);
                match r.next() {
                    Ok(Some((k, p))) => {
                        proptest::prop_assert_eq!(k as u8, kind);
                        proptest::prop_assert_eq!(p.len(), len as usize);
                    }
                    Ok(None) => proptest::prop_assert!(
                        (len as usize) > body.len() && (len as usize) <= DEFAULT_MAX
                    ),
                    Err(e) => proptest::prop_assert!(
                        e.contains("more than the maximum") || e.contains("unknown frame kind"),
                        "{}", e
                    ),
                }
                Ok(())
            });
            checked?;
            proptest::prop_assert!(largest <= 1 << 20, "allocated {} bytes", largest);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200), step in 1usize..17) {
            let mut r = FrameReader::new(64);
            feed(&mut r, &bytes, step);
            while let Ok(Some((kind, p))) = r.next() {
                let _ = match kind {
                    Kind::Chunk => parse_chunk(p).map(|_| ()),
                    Kind::Results => parse_results(p).map(|_| ()),
                    Kind::Panic => parse_panic(p).map(|_| ()),
                    Kind::Call => parse_call(p).map(|_| ()),
                    Kind::Spilled => parse_spilled(p).map(|_| ()),
                    Kind::Done | Kind::Message => Ok(()),
                };
            }
        }
    }
}
