//! The serde codec for everything that travels between processes: results, reduction partials,
//! streamed items, arguments of callables.
//!
//! bincode 2 with fixed-width integers: see `par-runtime/src/wire.md` for the measurement
//! behind the choice.

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
pub trait Transfer: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> Transfer for T {}

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
    encode_into(&value, &mut buf)?;
    decode(&buf)
}

/// Decodes one value from the front of `bytes`, returning it and the rest.
pub(crate) fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8])> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| decode_error(e.to_string()))?;
    Ok((value, &bytes[used..]))
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
}
