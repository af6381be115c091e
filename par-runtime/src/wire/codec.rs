//! The serde codec for everything that travels between processes: results, reduction partials,
//! streamed items, arguments of callables.
//!
//! postcard (varint integers): see `par-runtime/src/wire/README.md` for the measurement behind the
//! choice. Plain values (numbers, and `Vec`s of numbers) skip serde altogether: they travel as
//! their bytes, copied in bulk, in a format of their own (see [`encode_value`]).

use std::any::Any;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

use super::spill::Spilled;

/// A value that can travel between a worker and the parent: results, reduction partials,
/// streamed items and arguments of parallel callables. Implemented for every type that is
/// `serde::Serialize + serde::de::DeserializeOwned`; derive those two to make a type travel.
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Stats {
///     min: f64,
///     max: f64,
/// }
/// fn travels<T: par::Transfer>() {}
/// travels::<Stats>();
/// let rows = par::Loop::new().workers(2).collect(0..2u32, |i| Stats { min: i as f64, max: 10.0 });
/// assert_eq!(rows[1], Stats { min: 1.0, max: 10.0 });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot travel between processes: it does not implement `serde::Serialize` and `serde::de::DeserializeOwned`",
    label = "`{Self}` must be serializable: values computed in a worker process travel to the parent as bytes",
    note = "derive them: `#[derive(serde::Serialize, serde::Deserialize)]` on your type, or return a type that has them (numbers, `String`, `Vec`, tuples, ...)"
)]
pub trait Transfer: Serialize + DeserializeOwned + 'static {}

impl<T: Serialize + DeserializeOwned + 'static> Transfer for T {}

/// Appends encodings to a `Vec` with one copy per slice of bytes (postcard's `ExtendFlavor`
/// would do it byte by byte for a `Vec<u8>` that is not `serde_bytes`).
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();
    #[inline(always)]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }
    #[inline(always)]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Appends the encoding of `value` to `out`. On failure `out` is as it was, and the error
/// carries serde's message (see [`serde_message`]).
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    let len = out.len();
    match postcard::serialize_with_flavor(value, Append(out)) {
        Ok(()) => Ok(()),
        Err(e) => {
            out.truncate(len);
            Err(Error::Encode {
                index: None,
                pid: None,
                message: serde_message(value).unwrap_or_else(|| e.to_string()),
            })
        }
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
        pid: None,
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
///
/// Bounded: postcard reads from the slice, so a `String`'s or a byte buffer's length is checked
/// against the bytes that are there, and serde pre-allocates a `Vec` for at most a cautious
/// size hint (1 MiB), whatever length the payload declares.
///
/// Bounded in depth too: a value nested deeper than `depth::MAX_DEPTH` levels is an error,
/// and any depth below it decodes without overflowing the stack (see `wire/depth.rs`).
pub(crate) fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8])> {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let value = T::deserialize(super::depth::Deserializer::new(&mut de)).map_err(|e| {
        if super::depth::take_refusal() {
            decode_error(super::depth::refusal_message())
        } else {
            decode_error(e.to_string())
        }
    })?;
    let rest = de.finalize().map_err(|e| decode_error(e.to_string()))?;
    Ok((value, rest))
}

/// serde's message for why `value` cannot be serialized, found by serializing it again into
/// [`Probe`]: postcard keeps only "Serde Serialization Error" of a `Serialize` impl's own
/// error (`S::Error::custom(msg)`). `None` if the value serializes there (the failure was
/// postcard's own, such as a sequence of unknown length).
fn serde_message<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    value.serialize(Probe).err().map(|ProbeError(m)| m)
}

/// A serializer that writes nothing and keeps the message of the first error: see
/// [`serde_message`]. Only on the error path.
struct Probe;

#[derive(Debug)]
struct ProbeError(String);

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProbeError {}

impl serde::ser::Error for ProbeError {
    fn custom<M: std::fmt::Display>(message: M) -> Self {
        ProbeError(message.to_string())
    }
}

type Probed = std::result::Result<(), ProbeError>;

macro_rules! probe_scalars {
    ($($f:ident($t:ty)),*) => {$(
        fn $f(self, _: $t) -> Probed {
            Ok(())
        }
    )*};
}

impl serde::Serializer for Probe {
    type Ok = ();
    type Error = ProbeError;
    type SerializeSeq = Probe;
    type SerializeTuple = Probe;
    type SerializeTupleStruct = Probe;
    type SerializeTupleVariant = Probe;
    type SerializeMap = Probe;
    type SerializeStruct = Probe;
    type SerializeStructVariant = Probe;

    probe_scalars!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str)
    );
    fn serialize_none(self) -> Probed {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Probed {
        v.serialize(Probe)
    }
    fn serialize_unit(self) -> Probed {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Probed {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Probed {
        v.serialize(Probe)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Probed {
        v.serialize(Probe)
    }
    fn serialize_seq(self, _: Option<usize>) -> std::result::Result<Probe, ProbeError> {
        Ok(Probe)
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<Probe, ProbeError> {
        Ok(Probe)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Probe, ProbeError> {
        Ok(Probe)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Probe, ProbeError> {
        Ok(Probe)
    }
    fn serialize_map(self, _: Option<usize>) -> std::result::Result<Probe, ProbeError> {
        Ok(Probe)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> std::result::Result<Probe, ProbeError> {
        Ok(Probe)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Probe, ProbeError> {
        Ok(Probe)
    }
}

macro_rules! probe_compound {
    ($($tr:ident :: $f:ident),*) => {$(
        impl serde::ser::$tr for Probe {
            type Ok = ();
            type Error = ProbeError;
            fn $f<T: Serialize + ?Sized>(&mut self, v: &T) -> Probed {
                v.serialize(Probe)
            }
            fn end(self) -> Probed {
                Ok(())
            }
        }
    )*};
}
probe_compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl serde::ser::SerializeMap for Probe {
    type Ok = ();
    type Error = ProbeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Probed {
        k.serialize(Probe)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Probed {
        v.serialize(Probe)
    }
    fn end(self) -> Probed {
        Ok(())
    }
}

macro_rules! probe_struct {
    ($($tr:ident),*) => {$(
        impl serde::ser::$tr for Probe {
            type Ok = ();
            type Error = ProbeError;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, v: &T) -> Probed {
                v.serialize(Probe)
            }
            fn end(self) -> Probed {
                Ok(())
            }
        }
    )*};
}
probe_struct!(SerializeStruct, SerializeStructVariant);

/// A number that travels as its little-endian bytes.
trait Number: crate::sys::Pod {
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
    ($t:ty, $on:ident, $on_vec:ident, $($arg:expr_2021),*) => {{
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
/// per-element serde call. That is par's own format, not postcard's (which writes varints):
/// what this function encodes is read by [`decode_values`] and [`decode_value`], never by
/// [`decode`]. Everything else goes through serde.
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

/// For a `Vec` of numbers on a little-endian target: its length and its elements' bytes,
/// which are its plain encoding after the length (see [`encode_value`]), so that a large one
/// can be written out without being copied first. `None` for any other type.
pub(crate) fn plain_vec_bytes<T: Transfer>(value: &T) -> Option<(u64, &[u8])> {
    fn one<N: Number>(_: &dyn Any) -> Option<(u64, &[u8])> {
        None
    }
    fn vec<N: Number>(value: &dyn Any) -> Option<(u64, &[u8])> {
        let v = value.downcast_ref::<Vec<N>>()?;
        Some((v.len() as u64, crate::sys::as_bytes(v)))
    }
    if !cfg!(target_endian = "little") {
        return None;
    }
    let any: &dyn Any = value;
    dispatch_plain!(T, one, vec, any).flatten()
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

/// [`decode_values`] from a spilled payload (`wire::spill`): plain values are read from the
/// spill file straight into their own `Vec`s, so a large `Vec` of numbers is never held twice;
/// anything else is read into `scratch` first and decoded from there. The caller checks that
/// nothing is left over.
pub(crate) fn decode_values_from<T: Transfer>(
    src: &mut Spilled<'_>,
    count: usize,
    values: &mut Vec<T>,
    scratch: &mut Vec<u8>,
) -> Result<()> {
    type Out = Result<Box<dyn Any>>;
    fn one<N: Number>(src: &mut Spilled<'_>, count: usize) -> Out {
        Ok(Box::new(src.values::<N>(count)?))
    }
    fn vec<N: Number>(src: &mut Spilled<'_>, count: usize) -> Out {
        let mut out: Vec<Vec<N>> = Vec::with_capacity(count.min(src.left() / 8));
        for _ in 0..count {
            let n = src.u64()?;
            let n = usize::try_from(n).map_err(|_| {
                decode_error(format!("a vector of {n} values does not fit in memory"))
            })?;
            out.push(src.values::<N>(n)?);
        }
        Ok(Box::new(out))
    }
    // The plain format is little-endian: read in place only where that is native.
    let plain = if cfg!(target_endian = "little") {
        dispatch_plain!(T, one, vec, src, count)
    } else {
        None
    };
    if let Some(r) = plain {
        let mut decoded = r?
            .downcast::<Vec<T>>()
            .map_err(|_| decode_error("plain decoding produced another type".into()))?;
        values.append(&mut decoded);
        return Ok(());
    }
    src.rest_into(scratch)?;
    let rest = decode_values(scratch, count, values)?;
    if !rest.is_empty() {
        return Err(decode_error(format!(
            "{} unexpected bytes after {count} values",
            rest.len()
        )));
    }
    Ok(())
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

    /// postcard's variable-length encoding of `n` (how it writes lengths).
    fn varint(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(&n, &mut out).unwrap();
        out
    }

    #[test]
    fn a_huge_declared_length_does_not_allocate_it() {
        // A Vec<u64> claiming 2^60 elements in a few bytes: an error, not an abort.
        let mut buf = varint(1 << 60);
        buf.extend_from_slice(&[0; 8]);
        assert!(matches!(
            decode::<Vec<u64>>(&buf),
            Err(Error::Decode { .. })
        ));
        let mut s = varint(u64::MAX - 1);
        s.extend_from_slice(b"abc");
        assert!(decode::<String>(&s).is_err());
        let mut b = varint(1 << 40);
        b.extend_from_slice(&[1, 2, 3]);
        assert!(decode::<serde_bytes::ByteBuf>(&b).is_err());
    }

    #[test]
    fn plain_values_travel_in_bulk_in_their_own_format() {
        // What a worker writes out without copying: a `Vec` of numbers' length and bytes.
        if cfg!(target_endian = "little") {
            assert_eq!(
                plain_vec_bytes(&vec![1u16, 258]),
                Some((2, &[1u8, 0, 2, 1][..]))
            );
        }
        assert_eq!(plain_vec_bytes(&5u32), None);
        assert_eq!(plain_vec_bytes(&vec![String::new()]), None);
        let rows: Vec<Vec<u16>> = vec![vec![1, 2, 65535], vec![], vec![7; 1000]];
        let mut bulk = Vec::new();
        for r in &rows {
            encode_value(r, &mut bulk).unwrap();
        }
        // Each row: its length as a u64, then its elements, little-endian, fixed width.
        let mut expected = Vec::new();
        for r in &rows {
            expected.extend_from_slice(&(r.len() as u64).to_le_bytes());
            for x in r {
                expected.extend_from_slice(&x.to_le_bytes());
            }
        }
        assert!(
            bulk == expected,
            "the plain format is par's own fixed-width format"
        );
        let mut back = Vec::new();
        assert!(
            decode_values::<Vec<u16>>(&bulk, 3, &mut back)
                .unwrap()
                .is_empty()
        );
        assert_eq!(back, rows);

        let mut nums = Vec::new();
        for x in [1.5f64, -0.0, f64::NAN] {
            encode_value(&x, &mut nums).unwrap();
        }
        assert_eq!(nums.len(), 24);
        let mut got = Vec::new();
        decode_values::<f64>(&nums, 3, &mut got).unwrap();
        assert_eq!(got[0], 1.5);
        assert!(got[1] == 0.0 && got[1].is_sign_negative() && got[2].is_nan());
        assert_eq!(round_trip(vec![3u8; 5]).unwrap(), vec![3u8; 5]);
        assert_eq!(round_trip(-7i128).unwrap(), -7);
        // Anything else goes through serde, and back the same way.
        let mixed = vec![(1u8, String::from("x")), (2, String::new())];
        assert_eq!(round_trip(mixed.clone()).unwrap(), mixed);
    }

    /// A value whose `Serialize` fails deep inside, as a custom impl or `serialize_with` can.
    struct Refuses;

    impl Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct;
            let mut st = s.serialize_struct("Refuses", 2)?;
            st.serialize_field("ok", &1u8)?;
            st.serialize_field("bad", &Inner)?;
            st.end()
        }
    }

    struct Inner;

    impl Serialize for Inner {
        fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom(
                "inner refuses: no valid encoding",
            ))
        }
    }

    /// A sequence of unknown length, which postcard itself refuses.
    struct Unsized;

    impl Serialize for Unsized {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            s.serialize_seq(None)?.end()
        }
    }

    #[test]
    fn an_encode_error_keeps_serdes_message_and_leaves_the_buffer_as_it_was() {
        let mut out = vec![9, 9];
        match encode_into(&(5u32, Refuses), &mut out) {
            Err(Error::Encode { message, .. }) => {
                assert_eq!(message, "inner refuses: no valid encoding")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(out, [9, 9]);
        match encode_into(&Unsized, &mut out) {
            Err(Error::Encode { message, .. }) => {
                assert!(message.contains("length"), "{message}")
            }
            other => panic!("{other:?}"),
        }
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

/// The measurement behind the choice of codec (the table in `wire/README.md`): encode (worker side)
/// and decode (parent side) time of each candidate on the same values, side by side in one
/// run, values encoded one by one as a worker does. Prints a table; asserts nothing about time.
///
/// `cargo test --release -p par-runtime --lib measure_codecs -- --ignored --nocapture`
#[cfg(test)]
mod measure {
    use super::*;
    use std::time::Instant;

    const REPS: usize = 7;

    /// Best-of-`REPS` (encode ms, decode ms, bytes) of encoding every value into one buffer and
    /// decoding them back.
    fn time<T: PartialEq + std::fmt::Debug>(
        values: &[T],
        enc: impl Fn(&T, &mut Vec<u8>),
        dec: impl Fn(&[u8], usize) -> Vec<T>,
    ) -> (f64, f64, usize) {
        let (mut best_e, mut best_d, mut size) = (f64::MAX, f64::MAX, 0);
        for _ in 0..REPS {
            let mut buf = Vec::new();
            let t = Instant::now();
            for v in values {
                enc(v, &mut buf);
            }
            best_e = best_e.min(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let back = std::hint::black_box(dec(&buf, values.len()));
            best_d = best_d.min(t.elapsed().as_secs_f64() * 1e3);
            assert!(back == values, "a candidate did not round-trip");
            size = buf.len();
        }
        (best_e, best_d, size)
    }

    fn postcard_enc<T: Serialize>(v: &T, out: &mut Vec<u8>) {
        encode_into(v, out).unwrap();
    }
    fn postcard_dec<T: DeserializeOwned>(mut bytes: &[u8], n: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let (v, rest) = decode_prefix(bytes).unwrap();
            out.push(v);
            bytes = rest;
        }
        out
    }
    /// bitcode decodes whole buffers only, so each value travels behind its length (u32).
    fn bitcode_enc<T: Serialize>(v: &T, out: &mut Vec<u8>) {
        let bytes = bitcode::serialize(v).unwrap();
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    fn bitcode_dec<T: DeserializeOwned>(mut bytes: &[u8], n: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
            out.push(bitcode::deserialize(&bytes[4..4 + len]).unwrap());
            bytes = &bytes[4 + len..];
        }
        out
    }
    fn plain_enc<T: Transfer>(v: &T, out: &mut Vec<u8>) {
        encode_value(v, out).unwrap();
    }
    fn plain_dec<T: Transfer>(bytes: &[u8], n: usize) -> Vec<T> {
        let mut out = Vec::new();
        decode_values(bytes, n, &mut out).unwrap();
        out
    }

    fn cell((e, d, size): (f64, f64, usize)) -> String {
        format!("{e:.2} / {d:.2} ms ({:.1} MB)", size as f64 / 1e6)
    }

    fn row<T: Transfer + PartialEq + std::fmt::Debug>(name: &str, values: &[T], plain: bool) {
        let fast = if plain {
            cell(time(values, plain_enc, plain_dec))
        } else {
            "- (serde)".into()
        };
        let postcard = cell(time(values, postcard_enc, postcard_dec));
        let bitcode = cell(time(values, bitcode_enc, bitcode_dec));
        println!("| {name} | {fast} | {postcard} | {bitcode} |");
    }

    #[test]
    #[ignore = "a measurement: run it in release with --nocapture"]
    fn measure_codecs() {
        println!(
            "| payload | par's plain path enc / dec | postcard 1 enc / dec | bitcode 0.6 serde enc / dec |"
        );
        println!("|---|---|---|---|");
        // W1: `i * 2` for a million items (benches/README.md).
        let w1: Vec<u64> = (0..1_000_000u64).map(|i| i * 2).collect();
        row("W1: 1e6 x u64", &w1, true);
        // W3: 2048 rows of 2048 iteration counts (small numbers, some at the cap).
        let w3: Vec<Vec<u16>> = (0..2048u32)
            .map(|y| {
                (0..2048u32)
                    .map(|x| ((x * 7 + y * 13) % 1000) as u16)
                    .collect()
            })
            .collect();
        row("W3: 2048 rows of 2048 u16", &w3, true);
        // W6: 1 MiB results, every byte equal to the item's number.
        let buf = |i: usize| vec![i as u8; 1 << 20];
        let w6: Vec<serde_bytes::ByteBuf> = (0..64)
            .map(|i| serde_bytes::ByteBuf::from(buf(i)))
            .collect();
        row("W6: 64 x 1 MiB `ByteBuf`", &w6, false);
        let w6: Vec<Vec<u8>> = (0..16).map(buf).collect();
        row("W6: 16 x 1 MiB `Vec<u8>`", &w6, true);
        // Not plain: a struct-like tuple per item goes through serde with every codec.
        let mixed: Vec<(u32, f64, String)> = (0..200_000u32)
            .map(|i| (i, f64::from(i) * 0.5, format!("item {i}")))
            .collect();
        row("200k x (u32, f64, String)", &mixed, false);
    }
}

#[cfg(all(test, target_os = "linux", not(par_fallback_sys)))]
/// Spilled payloads read back (`wire::spill`, with this module's decoding).
mod spill_tests {
    use super::{decode_values_from, encode_value};
    use crate::error::Result;
    use crate::sys::{self, AsFd};
    use crate::wire::spill::Spilled;
    use crate::wire::{FrameBuf, FrameReader, Kind, ResultsHead, parse_spilled};

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
            sys::memfd::unread(&file, 0, 1 << 30).unwrap(),
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
