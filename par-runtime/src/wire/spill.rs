//! The parent's reader of a spilled results payload: `len` bytes at `offset` of a worker's
//! spill file (`sys::memfd`), named by a `Spilled` frame. Read front to back, each plain value
//! straight into its own memory ([`codec::decode_values_from`](super::codec)); every length is
//! checked against the bytes the frame declared before anything is allocated for it, and the
//! frame's own length against the loop's `max_frame`, as for a frame that came through the
//! pipe. Whatever happens, the payload's pages are given back when the reader is dropped.

use crate::error::{Error, Result};
use crate::sys::{self, BorrowedFd, Pod};

use super::{RESULTS_HEAD, ResultsHead};

/// A decoding error that the caller places (item and worker).
fn decode_error(message: String) -> Error {
    Error::Decode {
        index: None,
        pid: None,
        message,
    }
}

/// A spilled payload being read (see the module docs).
#[derive(Debug)]
pub(crate) struct Spilled<'a> {
    fd: BorrowedFd<'a>,
    start: u64,
    /// Offset of the next byte to read.
    at: u64,
    /// Bytes of the payload not read yet.
    left: usize,
}

/// `len` as a `usize`, or an error naming the setting if it is above `max` (a loop's
/// `max_frame`).
pub(crate) fn check_len(len: u64, max: usize) -> Result<usize> {
    usize::try_from(len)
        .ok()
        .filter(|&l| l <= max)
        .ok_or_else(|| {
            decode_error(format!(
                "spilled frame declares {len} bytes, more than the maximum of {max} bytes (the max_frame setting)"
            ))
        })
}

impl<'a> Spilled<'a> {
    /// The payload of `len` bytes at `offset` of `fd`; an error (naming the setting) if `len`
    /// is above `max`.
    pub(crate) fn new(fd: BorrowedFd<'a>, offset: u64, len: u64, max: usize) -> Result<Self> {
        let left = check_len(len, max)?;
        offset
            .checked_add(len)
            .ok_or_else(|| decode_error(format!("spilled frame at offset {offset} overflows")))?;
        Ok(Spilled {
            fd,
            start: offset,
            at: offset,
            left,
        })
    }

    /// Bytes not read yet.
    pub(crate) fn left(&self) -> usize {
        self.left
    }

    /// Claims the next `n` bytes: their offset.
    fn take(&mut self, n: usize, what: &str) -> Result<u64> {
        if n > self.left {
            return Err(decode_error(format!(
                "{what} of {n} bytes does not fit in the {} bytes left",
                self.left
            )));
        }
        let at = self.at;
        self.at += n as u64;
        self.left -= n;
        Ok(at)
    }

    fn io(e: std::io::Error) -> Error {
        decode_error(format!("reading the spilled frame: {e}"))
    }

    /// The results frame's fixed fields, at its front.
    pub(crate) fn head(&mut self) -> Result<ResultsHead> {
        let at = self.take(RESULTS_HEAD, "a results frame's fixed fields")?;
        let mut b = [0u8; RESULTS_HEAD];
        sys::memfd::read_at(self.fd, at, &mut b).map_err(Self::io)?;
        super::parse_results(&b)
            .map(|(head, _)| head)
            .map_err(decode_error)
    }

    /// A little-endian u64.
    pub(crate) fn u64(&mut self) -> Result<u64> {
        let at = self.take(8, "a vector's length")?;
        let mut b = [0u8; 8];
        sys::memfd::read_at(self.fd, at, &mut b).map_err(Self::io)?;
        Ok(u64::from_le_bytes(b))
    }

    /// `n` plain values in their native representation, read into a new `Vec` in one piece.
    pub(crate) fn values<T: Pod>(&mut self, n: usize) -> Result<Vec<T>> {
        let size = n
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| decode_error(format!("{n} values overflow")))?;
        let what = format!("{n} values of {} bytes", std::mem::size_of::<T>());
        let at = self.take(size, &what)?;
        sys::memfd::read_vec_at(self.fd, at, n).map_err(Self::io)
    }

    /// The rest of the payload, into `buf` (replacing what it held).
    pub(crate) fn rest_into(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        let n = self.left;
        let at = self.take(n, "the rest")?;
        buf.clear();
        buf.try_reserve_exact(n)
            .map_err(|e| decode_error(format!("{n} bytes for a spilled frame: {e}")))?;
        buf.resize(n, 0);
        sys::memfd::read_at(self.fd, at, buf).map_err(Self::io)
    }
}

impl Drop for Spilled<'_> {
    fn drop(&mut self) {
        let end = self.at + self.left as u64;
        sys::memfd::punch(self.fd, self.start, end - self.start);
    }
}
