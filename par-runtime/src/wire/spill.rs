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

impl<'a> Spilled<'a> {
    /// The payload of `len` bytes at `offset` of `fd`; an error (naming the setting) if `len`
    /// is above `max`.
    pub(crate) fn new(fd: BorrowedFd<'a>, offset: u64, len: u64, max: usize) -> Result<Self> {
        let left = usize::try_from(len)
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| {
                decode_error(format!(
                    "spilled frame declares {len} bytes, more than the maximum of {max} bytes (the max_frame setting)"
                ))
            })?;
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

#[cfg(all(test, target_os = "linux", not(par_fallback_sys)))]
mod tests {
    use super::*;
    use crate::sys::AsFd;
    use crate::wire::codec::{decode_values_from, encode_value};
    use crate::wire::{FrameBuf, FrameReader, Kind, parse_spilled};

    /// A results frame of `values`, spilled at `at` of a new spill file: the file and the
    /// `Spilled` frame's fields, read back through a frame reader.
    fn spill<T: crate::wire::codec::Transfer>(values: &[T], at: u64) -> (sys::Fd, u64, u64) {
        let file = sys::memfd::spill_file().unwrap().expect("Linux has memfd");
        let mut f = FrameBuf::default();
        f.results(ResultsHead {
            first: 5,
            items: values.len() as u64,
            values: values.len() as u64,
            elapsed_ns: 1,
            last: 1,
        });
        for v in values {
            encode_value(v, &mut f.buf).unwrap();
        }
        f.end().unwrap();
        let len = f.last_payload().len() as u64;
        sys::memfd::write_at(&file, at, f.last_payload()).unwrap();
        f.spill_last(at, len).unwrap();
        let mut r = FrameReader::new(64);
        let bytes = f.buf.clone();
        r.fill(|b| {
            b[..bytes.len()].copy_from_slice(&bytes);
            Ok(bytes.len())
        })
        .unwrap();
        let (kind, p) = r.next().unwrap().unwrap();
        assert_eq!(kind, Kind::Spilled);
        let (o, l) = parse_spilled(p).unwrap();
        (file, o, l)
    }

    fn read_back<T: crate::wire::codec::Transfer>(
        file: &sys::Fd,
        at: u64,
        len: u64,
        max: usize,
    ) -> Result<Vec<T>> {
        let mut src = Spilled::new(file.as_fd(), at, len, max)?;
        let head = src.head()?;
        assert_eq!(head.first, 5);
        let mut values = Vec::new();
        let mut scratch = Vec::new();
        decode_values_from(&mut src, head.values as usize, &mut values, &mut scratch)?;
        assert_eq!(src.left(), 0, "the whole payload is read");
        Ok(values)
    }

    #[test]
    fn spilled_values_of_every_kind_read_back_and_their_pages_go() {
        let bytes = vec![vec![3u8; 5000], vec![], vec![9u8; 70_000]];
        let (file, at, len) = spill(&bytes, 3 * 4096);
        assert_eq!(at, 3 * 4096);
        assert_eq!(
            read_back::<Vec<u8>>(&file, at, len, 1 << 20).unwrap(),
            bytes
        );
        assert_eq!(
            sys::memfd::held_bytes(&file).unwrap(),
            0,
            "pages given back"
        );

        let nums: Vec<f64> = (0..10_000).map(|i| i as f64 / 3.0).collect();
        let (file, at, len) = spill(&nums, 0);
        assert_eq!(read_back::<f64>(&file, at, len, 1 << 20).unwrap(), nums);

        let rows: Vec<(u32, String)> = (0..500).map(|i| (i, format!("row {i}"))).collect();
        let (file, at, len) = spill(&rows, 4096);
        assert_eq!(
            read_back::<(u32, String)>(&file, at, len, 1 << 20).unwrap(),
            rows
        );
    }

    #[test]
    fn a_spilled_payload_is_checked_like_a_frame() {
        let (file, at, len) = spill(&[vec![1u16; 1000]], 0);
        // Above max_frame: refused before anything is read.
        let e = read_back::<Vec<u16>>(&file, at, len, 100).unwrap_err();
        assert!(e.to_string().contains("(the max_frame setting)"), "{e}");
        // A declared length shorter than what the values need.
        let e = read_back::<Vec<u16>>(&file, at, len - 2, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("does not fit in the"), "{e}");
        // Past the file's end (a region never written): an error, not zeros.
        let e = read_back::<Vec<u16>>(&file, 1 << 30, len, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("spill file ends"), "{e}");
        // A vector length that no payload holds does not become an allocation.
        let file = sys::memfd::spill_file().unwrap().unwrap();
        let mut payload = vec![0u8; crate::wire::RESULTS_HEAD];
        payload[16] = 1; // one value
        payload.extend_from_slice(&(1u64 << 60).to_le_bytes());
        sys::memfd::write_at(&file, 0, &payload).unwrap();
        let mut src = Spilled::new(file.as_fd(), 0, payload.len() as u64, 1 << 20).unwrap();
        src.head().unwrap();
        let (mut values, mut scratch) = (Vec::<Vec<u64>>::new(), Vec::new());
        let e = decode_values_from(&mut src, 1, &mut values, &mut scratch).unwrap_err();
        assert!(
            e.to_string().contains("does not fit in the 0 bytes left"),
            "{e}"
        );
    }
}
