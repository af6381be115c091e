//! The serde codec for everything that travels between processes: results, reduction partials,
//! streamed items, arguments of callables.
//!
//! postcard: see `par-runtime/src/wire.md` for the measurement behind the choice.

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

/// Appends the encoding of `value` to `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    let buf = std::mem::take(out);
    match postcard::to_extend(value, buf) {
        Ok(buf) => {
            *out = buf;
            Ok(())
        }
        Err(e) => Err(Error::Decode {
            index: None,
            pid: std::process::id() as i32,
            message: format!("could not encode a value: {e}"),
        }),
    }
}

/// Decodes a whole value from `bytes`; trailing bytes are an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(decode_error(format!(
            "{} unexpected trailing bytes",
            rest.len()
        ))),
        Err(e) => Err(decode_error(e.to_string())),
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
    postcard::take_from_bytes::<T>(bytes).map_err(|e| decode_error(e.to_string()))
}
