//! The serde codec for everything that travels between processes: results, reduction partials,
//! streamed items, arguments of callables.
//!
//! bincode 2 with fixed-width integers: see `par-runtime/src/wire.md` for the measurement
//! behind the choice. Plain values (numbers, and `Vec`s of numbers) skip serde altogether: they
//! travel as their bytes, copied in bulk (see [`encode_value`]).

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// A value that can travel between a worker and the parent: results, reduction partials,
/// streamed items and arguments of parallel callables. Implemented for every type that is
/// `serde::Serialize + serde::de::DeserializeOwned`; derive those two to make a type travel.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot travel between processes: it does not implement `serde::Serialize` and `serde::de::DeserializeOwned`",
    label = "`{Self}` must be serializable: values computed in a worker process travel to the parent as bytes",
    note = "derive them: `#[derive(serde::Serialize, serde::Deserialize)]` on your type, or return a type that has them (numbers, `String`, `Vec`, tuples, ...)"
)]
pub trait Transfer: Serialize + DeserializeOwned + 'static {}

impl<T: Serialize + DeserializeOwned + 'static> Transfer for T {}

/// The largest encoded value: lengths inside a payload are checked against it before anything
/// is allocated for them (a corrupt `String` length must not become a 2^63-byte allocation).
pub(crate) const MAX_VALUE: usize = 1 << 30;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_fixed_int_encoding()
        .with_limit::<MAX_VALUE>()
}

/// Appends the encoding of `value` to `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    match bincode::serde::encode_into_std_write(value, out, config()) {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::Decode {
            index: None,
            pid: std::process::id() as i32,
            message: format!("could not encode a value: {e}"),
        }),
    }
}

/// Decodes a whole value from `bytes`; trailing bytes are an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    match decode_prefix(bytes)? {
        (value, []) => Ok(value),
        (_, rest) => Err(decode_error(format!(
            "{} unexpected trailing bytes",
            rest.len()
        ))),
    }
}

fn decode_error(message: String) -> Error {
    Error::Decode {
        index: None,
        pid: 0,
        message,
    }
}

/// Encodes and decodes `value`: what `PAR_CHECK=1` does to every result in sequential mode, so
/// serialization bugs show without forking.
pub(crate) fn round_trip<T: Transfer>(value: T) -> Result<T> {
    let mut buf = Vec::new();
    encode_value(&value, &mut buf)?;
    decode_value(&buf)
}

/// Decodes one value from the front of `bytes`, returning it and the rest.
pub(crate) fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8])> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| decode_error(e.to_string()))?;
    Ok((value, &bytes[used..]))
}

/// A number that travels as its little-endian bytes.
trait Number: crate::sys::Plain {
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    fn get(bytes: &[u8]) -> Self;
    /// Appends a slice of numbers: one copy on little-endian targets.
    fn put_all(values: &[Self], out: &mut Vec<u8>);
    /// Reads `n` numbers from the front of `bytes` (which holds at least `n * SIZE` bytes).
    fn get_all(bytes: &[u8], n: usize) -> Vec<Self>;
}

macro_rules! number {
    ($($t:ty)*) => {$(
        impl Number for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline(always)]
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline(always)]
            fn get(bytes: &[u8]) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(&bytes[..Self::SIZE]);
                <$t>::from_le_bytes(b)
            }
            fn put_all(values: &[Self], out: &mut Vec<u8>) {
                if cfg!(target_endian = "little") {
                    out.extend_from_slice(crate::sys::as_bytes(values));
                } else {
                    out.reserve(values.len() * Self::SIZE);
                    for v in values {
                        v.put(out);
                    }
                }
            }
            fn get_all(bytes: &[u8], n: usize) -> Vec<Self> {
                let bytes = &bytes[..n * Self::SIZE];
                if cfg!(target_endian = "little") {
                    crate::sys::vec_from_bytes(bytes, n)
                } else {
                    bytes.chunks_exact(Self::SIZE).map(Self::get).collect()
                }
            }
        }
    )*};
}
number!(u8 u16 u32 u64 u128 i8 i16 i32 i64 i128 f32 f64);

/// Calls `$on::<N>` for the number type `N` that `$t` is, or `Vec<N>` is (`$on_vec::<N>`);
/// evaluates to `None` for any other type. `TypeId` comparisons fold at compile time, so the
/// dispatch costs nothing at run time.
macro_rules! dispatch_plain {
    ($t:ty, $on:ident, $on_vec:ident, $($arg:expr),*) => {{
        use std::any::TypeId;
        let id = TypeId::of::<$t>();
        dispatch_plain!(@each id, $on, $on_vec, ($($arg),*),
            u8 u16 u32 u64 u128 i8 i16 i32 i64 i128 f32 f64)
    }};
    (@each $id:ident, $on:ident, $on_vec:ident, $args:tt, $($n:ty)*) => {
        $(
            if $id == TypeId::of::<$n>() {
                Some($on::<$n> $args)
            } else if $id == TypeId::of::<Vec<$n>>() {
                Some($on_vec::<$n> $args)
            } else
        )* {
            None
        }
    };
}

/// Appends the encoding of `value` to `out`. A number travels as its little-endian bytes and a
/// `Vec` of numbers as its length (u64) then its elements' bytes, copied in one piece: no
/// per-element serde call. That is also bincode's fixed-width encoding of those types, so
/// [`decode`] reads either. Everything else goes through serde.
#[inline]
pub(crate) fn encode_value<T: Transfer>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    fn one<N: Number>(value: &dyn Any, out: &mut Vec<u8>) {
        if let Some(n) = value.downcast_ref::<N>() {
            n.put(out);
        }
    }
    fn vec<N: Number>(value: &dyn Any, out: &mut Vec<u8>) {
        if let Some(v) = value.downcast_ref::<Vec<N>>() {
            (v.len() as u64).put(out);
            N::put_all(v, out);
        }
    }
    let any: &dyn Any = value;
    match dispatch_plain!(T, one, vec, any, out) {
        Some(()) => Ok(()),
        None => encode_into(value, out),
    }
}

/// Decodes `count` values encoded back to back by [`encode_value`] from the front of `bytes`,
/// appending them to `values`; returns the rest of `bytes`. Plain values are read in bulk.
pub(crate) fn decode_values<'b, T: Transfer>(
    mut bytes: &'b [u8],
    count: usize,
    values: &mut Vec<T>,
) -> Result<&'b [u8]> {
    type Out<'b> = Result<(Box<dyn Any>, &'b [u8])>;
    fn one<'b, N: Number>(bytes: &'b [u8], count: usize) -> Out<'b> {
        let need = count
            .checked_mul(N::SIZE)
            .filter(|&n| n <= bytes.len())
            .ok_or_else(|| {
                decode_error(format!(
                    "{count} values of {} bytes do not fit in {} bytes",
                    N::SIZE,
                    bytes.len()
                ))
            })?;
        Ok((Box::new(N::get_all(bytes, count)), &bytes[need..]))
    }
    fn vec<'b, N: Number>(mut bytes: &'b [u8], count: usize) -> Out<'b> {
        let mut out: Vec<Vec<N>> = Vec::with_capacity(count.min(bytes.len() / 8));
        for _ in 0..count {
            if bytes.len() < 8 {
                return Err(decode_error("a vector's length is cut short".into()));
            }
            let n = u64::get(bytes);
            let size = usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(N::SIZE))
                .filter(|&s| s <= bytes.len() - 8)
                .ok_or_else(|| {
                    decode_error(format!(
                        "a vector of {n} values of {} bytes does not fit in the {} bytes left",
                        N::SIZE,
                        bytes.len() - 8
                    ))
                })?;
            out.push(N::get_all(&bytes[8..], n as usize));
            bytes = &bytes[8 + size..];
        }
        Ok((Box::new(out), bytes))
    }
    match dispatch_plain!(T, one, vec, bytes, count) {
        Some(r) => {
            let (boxed, rest) = r?;
            let mut decoded = boxed
                .downcast::<Vec<T>>()
                .map_err(|_| decode_error("plain decoding produced another type".into()))?;
            values.append(&mut decoded);
            Ok(rest)
        }
        None => {
            values.reserve(count.min(1 << 20));
            for _ in 0..count {
                let (v, rest) = decode_prefix::<T>(bytes)?;
                values.push(v);
                bytes = rest;
            }
            Ok(bytes)
        }
    }
}

/// Decodes one whole value encoded by [`encode_value`]; trailing bytes are an error.
pub(crate) fn decode_value<T: Transfer>(bytes: &[u8]) -> Result<T> {
    let mut one = Vec::with_capacity(1);
    match decode_values::<T>(bytes, 1, &mut one)? {
        [] => one
            .pop()
            .ok_or_else(|| decode_error("no value decoded".into())),
        rest => Err(decode_error(format!(
            "{} unexpected trailing bytes",
            rest.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_corruption_is_an_error() {
        let v = (7u64, String::from("seven"), vec![1.5f64, -0.0], Some('x'));
        let mut buf = Vec::new();
        encode_into(&v, &mut buf).unwrap();
        assert_eq!(
            decode::<(u64, String, Vec<f64>, Option<char>)>(&buf).unwrap(),
            v
        );
        assert!(
            decode::<(u64, String)>(&buf[..buf.len() - 3]).is_err(),
            "truncated"
        );
        buf.push(0);
        assert!(
            decode::<(u64, String, Vec<f64>, Option<char>)>(&buf).is_err(),
            "trailing byte"
        );
    }

    #[test]
    fn a_huge_declared_length_does_not_allocate_it() {
        // A Vec<u64> claiming 2^60 elements in a 16-byte buffer: an error, not an abort.
        let mut buf = (1u64 << 60).to_le_bytes().to_vec();
        buf.extend_from_slice(&[0; 8]);
        assert!(decode::<Vec<u64>>(&buf).is_err());
        let mut s = (u64::MAX - 1).to_le_bytes().to_vec();
        s.extend_from_slice(b"abc");
        assert!(decode::<String>(&s).is_err());
    }

    #[test]
    fn plain_values_travel_in_bulk_and_match_bincode() {
        let rows: Vec<Vec<u16>> = vec![vec![1, 2, 65535], vec![], vec![7; 1000]];
        let mut bulk = Vec::new();
        for r in &rows {
            encode_value(r, &mut bulk).unwrap();
        }
        let mut serde = Vec::new();
        for r in &rows {
            encode_into(r, &mut serde).unwrap();
        }
        assert_eq!(
            bulk, serde,
            "the bulk format is bincode's fixed-width format"
        );
        let mut back = Vec::new();
        assert!(decode_values::<Vec<u16>>(&bulk, 3, &mut back)
            .unwrap()
            .is_empty());
        assert_eq!(back, rows);

        let mut nums = Vec::new();
        for x in [1.5f64, -0.0, f64::NAN] {
            encode_value(&x, &mut nums).unwrap();
        }
        let mut got = Vec::new();
        decode_values::<f64>(&nums, 3, &mut got).unwrap();
        assert_eq!(got[0], 1.5);
        assert!(got[1] == 0.0 && got[1].is_sign_negative() && got[2].is_nan());
        assert_eq!(round_trip(vec![3u8; 5]).unwrap(), vec![3u8; 5]);
        assert_eq!(round_trip(-7i128).unwrap(), -7);
    }

    #[test]
    fn corrupt_plain_values_are_errors() {
        // Too few bytes for the count, a vector longer than what is left, a cut-short length.
        assert!(decode_values::<u64>(&[0; 15], 2, &mut Vec::new()).is_err());
        let mut huge = (1u64 << 62).to_le_bytes().to_vec();
        huge.extend_from_slice(&[1, 2, 3, 4]);
        assert!(decode_values::<Vec<u32>>(&huge, 1, &mut Vec::new()).is_err());
        assert!(decode_values::<Vec<u8>>(&[1, 0, 0], 1, &mut Vec::new()).is_err());
        assert!(decode_value::<u32>(&[0; 5]).is_err(), "a trailing byte");
    }
}
