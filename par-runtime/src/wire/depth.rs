//! Decoding that a deep value cannot turn into a stack overflow of the parent.
//!
//! A worker can send a value nested as deep as its frame is long (`enum Deep { Leaf,
//! Node(Box<Deep>) }` 200,000 levels deep is 200 KB), and serde decodes nesting by recursion:
//! plain postcard overflows the decoding thread's stack (an abort of the whole program). This
//! adapter of any `serde::Deserializer`, adapted from dtolnay's `serde_stacker` (MIT or
//! Apache-2.0), counts the nesting at each level (an `Option`'s content, a newtype, a sequence,
//! a map, an enum's variant) and
//! - refuses more than [`MAX_DEPTH`] levels: a decode error, which the caller turns into
//!   `Error::Decode` naming the item and the worker;
//! - below that, moves the decoding onto a new stack segment (`stacker::maybe_grow`) whenever
//!   the current one has less than [`RED_ZONE`] left, so any depth up to the limit decodes on
//!   any thread, whatever its stack size.
//!
//! The memory a hostile value can make the parent spend on stacks is so bounded by
//! `MAX_DEPTH` times a few hundred bytes per level.

use serde::de;
use std::fmt;

/// Nesting levels a decoded value may have (a linked list of 100,000 `Box`ed nodes decodes).
pub(crate) const MAX_DEPTH: usize = 100_000;
/// Stack left below which the next levels are decoded on a new segment.
const RED_ZONE: usize = 256 * 1024;
/// The stack is looked at every this many levels (a look costs about as much as decoding a
/// small value; 32 levels take far less than [`RED_ZONE`], even unoptimized).
const LOOK_EVERY: usize = 32;
/// The size of each new segment.
const STACK_SIZE: usize = 4 * 1024 * 1024;

std::thread_local! {
    static REFUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True (once) if the last decode on this thread failed because the value was too deep.
pub(crate) fn take_refusal() -> bool {
    REFUSED.with(|r| r.replace(false))
}

/// The message of that refusal.
pub(crate) fn refusal_message() -> String {
    format!(
        "the value is nested deeper than {MAX_DEPTH} levels (refused: decoding it could exhaust the parent's stack)"
    )
}

/// Runs `f` (the next level's decoding) on a new stack segment when the current one is nearly
/// used up; looks only every [`LOOK_EVERY`] levels, so that shallow values pay nothing.
fn grow<R>(param: Param, f: impl FnOnce() -> R) -> R {
    if param.depth.is_multiple_of(LOOK_EVERY) {
        stacker::maybe_grow(RED_ZONE, STACK_SIZE, f)
    } else {
        f()
    }
}

#[derive(Copy, Clone)]
struct Param {
    depth: usize,
}

impl Param {
    /// One level deeper, or an error past [`MAX_DEPTH`].
    fn deeper<E: de::Error>(self) -> Result<Param, E> {
        if self.depth >= MAX_DEPTH {
            // postcard keeps no custom message: `take_refusal` tells the caller what it was.
            REFUSED.with(|r| r.set(true));
            return Err(E::custom(refusal_message()));
        }
        Ok(Param {
            depth: self.depth + 1,
        })
    }
}

/// `de`, decoding with its nesting counted and its stack grown (see the module's docs).
pub(crate) struct Deserializer<D> {
    de: D,
    param: Param,
}

impl<D> Deserializer<D> {
    pub(crate) fn new(de: D) -> Self {
        Deserializer {
            de,
            param: Param { depth: 0 },
        }
    }
}

impl<'de, D> de::Deserializer<'de> for Deserializer<D>
where
    D: de::Deserializer<'de>,
{
    type Error = D::Error;

    fn deserialize_any<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_any(Visitor::new(visitor, param))
    }

    fn deserialize_bool<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_bool(Visitor::new(visitor, param))
    }

    fn deserialize_u8<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_u8(Visitor::new(visitor, param))
    }

    fn deserialize_u16<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_u16(Visitor::new(visitor, param))
    }

    fn deserialize_u32<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_u32(Visitor::new(visitor, param))
    }

    fn deserialize_u64<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_u64(Visitor::new(visitor, param))
    }

    fn deserialize_u128<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_u128(Visitor::new(visitor, param))
    }

    fn deserialize_i8<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_i8(Visitor::new(visitor, param))
    }

    fn deserialize_i16<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_i16(Visitor::new(visitor, param))
    }

    fn deserialize_i32<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_i32(Visitor::new(visitor, param))
    }

    fn deserialize_i64<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_i64(Visitor::new(visitor, param))
    }

    fn deserialize_i128<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_i128(Visitor::new(visitor, param))
    }

    fn deserialize_f32<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_f32(Visitor::new(visitor, param))
    }

    fn deserialize_f64<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_f64(Visitor::new(visitor, param))
    }

    fn deserialize_char<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_char(Visitor::new(visitor, param))
    }

    fn deserialize_str<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_str(Visitor::new(visitor, param))
    }

    fn deserialize_string<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_string(Visitor::new(visitor, param))
    }

    fn deserialize_bytes<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_bytes(Visitor::new(visitor, param))
    }

    fn deserialize_byte_buf<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_byte_buf(Visitor::new(visitor, param))
    }

    fn deserialize_option<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_option(Visitor::new(visitor, param))
    }

    fn deserialize_unit<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_unit(Visitor::new(visitor, param))
    }

    fn deserialize_unit_struct<V>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de
            .deserialize_unit_struct(name, Visitor::new(visitor, param))
    }

    fn deserialize_newtype_struct<V>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de
            .deserialize_newtype_struct(name, Visitor::new(visitor, param))
    }

    fn deserialize_seq<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_seq(Visitor::new(visitor, param))
    }

    fn deserialize_tuple<V>(self, len: usize, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_tuple(len, Visitor::new(visitor, param))
    }

    fn deserialize_tuple_struct<V>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de
            .deserialize_tuple_struct(name, len, Visitor::new(visitor, param))
    }

    fn deserialize_map<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_map(Visitor::new(visitor, param))
    }

    fn deserialize_struct<V>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de
            .deserialize_struct(name, fields, Visitor::new(visitor, param))
    }

    fn deserialize_enum<V>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de
            .deserialize_enum(name, variants, Visitor::new(visitor, param))
    }

    fn deserialize_ignored_any<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de
            .deserialize_ignored_any(Visitor::new(visitor, param))
    }

    fn deserialize_identifier<V>(self, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        let param = self.param;
        self.de.deserialize_identifier(Visitor::new(visitor, param))
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

struct Visitor<V> {
    delegate: V,
    param: Param,
}

impl<V> Visitor<V> {
    fn new(delegate: V, param: Param) -> Self {
        Visitor { delegate, param }
    }
}

impl<'de, V> de::Visitor<'de> for Visitor<V>
where
    V: de::Visitor<'de>,
{
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        self.delegate.expecting(formatter)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_bool(v)
    }

    fn visit_i8<E>(self, v: i8) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_i8(v)
    }

    fn visit_i16<E>(self, v: i16) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_i16(v)
    }

    fn visit_i32<E>(self, v: i32) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_i32(v)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_i64(v)
    }

    fn visit_i128<E>(self, v: i128) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_i128(v)
    }

    fn visit_u8<E>(self, v: u8) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_u8(v)
    }

    fn visit_u16<E>(self, v: u16) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_u16(v)
    }

    fn visit_u32<E>(self, v: u32) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_u32(v)
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_u64(v)
    }

    fn visit_u128<E>(self, v: u128) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_u128(v)
    }

    fn visit_f32<E>(self, v: f32) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_f32(v)
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_f64(v)
    }

    fn visit_char<E>(self, v: char) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_char(v)
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_str(v)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_borrowed_str(v)
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_string(v)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_unit()
    }

    fn visit_none<E>(self) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_none()
    }

    fn visit_some<D>(self, deserializer: D) -> Result<Self::Value, D::Error>
    where
        D: de::Deserializer<'de>,
    {
        let param = self.param.deeper()?;
        grow(param, || {
            self.delegate.visit_some(Deserializer {
                de: deserializer,
                param,
            })
        })
    }

    fn visit_newtype_struct<D>(self, deserializer: D) -> Result<Self::Value, D::Error>
    where
        D: de::Deserializer<'de>,
    {
        let param = self.param.deeper()?;
        grow(param, || {
            self.delegate.visit_newtype_struct(Deserializer {
                de: deserializer,
                param,
            })
        })
    }

    fn visit_seq<A>(self, visitor: A) -> Result<Self::Value, A::Error>
    where
        A: de::SeqAccess<'de>,
    {
        let param = self.param.deeper()?;
        grow(param, || {
            self.delegate.visit_seq(SeqAccess::new(visitor, param))
        })
    }

    fn visit_map<A>(self, visitor: A) -> Result<Self::Value, A::Error>
    where
        A: de::MapAccess<'de>,
    {
        let param = self.param.deeper()?;
        grow(param, || {
            self.delegate.visit_map(MapAccess::new(visitor, param))
        })
    }

    fn visit_enum<A>(self, visitor: A) -> Result<Self::Value, A::Error>
    where
        A: de::EnumAccess<'de>,
    {
        let param = self.param.deeper()?;
        grow(param, || {
            self.delegate.visit_enum(EnumAccess::new(visitor, param))
        })
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_bytes(v)
    }

    fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_borrowed_bytes(v)
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Self::Value, E>
    where
        E: de::Error,
    {
        self.delegate.visit_byte_buf(v)
    }
}

struct EnumAccess<D> {
    delegate: D,
    param: Param,
}

impl<D> EnumAccess<D> {
    fn new(delegate: D, param: Param) -> Self {
        EnumAccess { delegate, param }
    }
}

impl<'de, D> de::EnumAccess<'de> for EnumAccess<D>
where
    D: de::EnumAccess<'de>,
{
    type Error = D::Error;
    type Variant = VariantAccess<D::Variant>;

    fn variant_seed<V>(self, seed: V) -> Result<(V::Value, Self::Variant), D::Error>
    where
        V: de::DeserializeSeed<'de>,
    {
        let param = self.param;
        self.delegate
            .variant_seed(DeserializeSeed::new(seed, param))
            .map(|(v, vis)| (v, VariantAccess::new(vis, param)))
    }
}

struct VariantAccess<D> {
    delegate: D,
    param: Param,
}

impl<D> VariantAccess<D> {
    fn new(delegate: D, param: Param) -> Self {
        VariantAccess { delegate, param }
    }
}

impl<'de, D> de::VariantAccess<'de> for VariantAccess<D>
where
    D: de::VariantAccess<'de>,
{
    type Error = D::Error;

    fn unit_variant(self) -> Result<(), D::Error> {
        self.delegate.unit_variant()
    }

    fn newtype_variant_seed<T>(self, seed: T) -> Result<T::Value, D::Error>
    where
        T: de::DeserializeSeed<'de>,
    {
        self.delegate
            .newtype_variant_seed(DeserializeSeed::new(seed, self.param))
    }

    fn tuple_variant<V>(self, len: usize, visitor: V) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        self.delegate
            .tuple_variant(len, Visitor::new(visitor, self.param))
    }

    fn struct_variant<V>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error>
    where
        V: de::Visitor<'de>,
    {
        self.delegate
            .struct_variant(fields, Visitor::new(visitor, self.param))
    }
}

struct DeserializeSeed<S> {
    delegate: S,
    param: Param,
}

impl<S> DeserializeSeed<S> {
    fn new(delegate: S, param: Param) -> Self {
        DeserializeSeed { delegate, param }
    }
}

impl<'de, S> de::DeserializeSeed<'de> for DeserializeSeed<S>
where
    S: de::DeserializeSeed<'de>,
{
    type Value = S::Value;

    fn deserialize<D>(self, deserializer: D) -> Result<Self::Value, D::Error>
    where
        D: de::Deserializer<'de>,
    {
        self.delegate.deserialize(Deserializer {
            de: deserializer,
            param: self.param,
        })
    }
}

struct SeqAccess<D> {
    delegate: D,
    param: Param,
}

impl<D> SeqAccess<D> {
    fn new(delegate: D, param: Param) -> Self {
        SeqAccess { delegate, param }
    }
}

impl<'de, D> de::SeqAccess<'de> for SeqAccess<D>
where
    D: de::SeqAccess<'de>,
{
    type Error = D::Error;

    fn next_element_seed<T>(&mut self, seed: T) -> Result<Option<T::Value>, D::Error>
    where
        T: de::DeserializeSeed<'de>,
    {
        self.delegate
            .next_element_seed(DeserializeSeed::new(seed, self.param))
    }

    fn size_hint(&self) -> Option<usize> {
        self.delegate.size_hint()
    }
}

struct MapAccess<D> {
    delegate: D,
    param: Param,
}

impl<D> MapAccess<D> {
    fn new(delegate: D, param: Param) -> Self {
        MapAccess { delegate, param }
    }
}

impl<'de, D> de::MapAccess<'de> for MapAccess<D>
where
    D: de::MapAccess<'de>,
{
    type Error = D::Error;

    fn next_key_seed<K>(&mut self, seed: K) -> Result<Option<K::Value>, D::Error>
    where
        K: de::DeserializeSeed<'de>,
    {
        self.delegate
            .next_key_seed(DeserializeSeed::new(seed, self.param))
    }

    fn next_value_seed<V>(&mut self, seed: V) -> Result<V::Value, D::Error>
    where
        V: de::DeserializeSeed<'de>,
    {
        self.delegate
            .next_value_seed(DeserializeSeed::new(seed, self.param))
    }

    fn size_hint(&self) -> Option<usize> {
        self.delegate.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::MAX_DEPTH;
    use crate::wire::codec;

    /// A linked list `Deep(Some(Box(Deep(Some(...None)))))`: two levels a node (the newtype and
    /// its `Option`), with a `Drop` that unlinks it in a loop (the default drop would recurse
    /// as deep as the value).
    #[derive(serde::Deserialize)]
    struct Deep(Option<Box<Deep>>);

    impl Drop for Deep {
        fn drop(&mut self) {
            let mut next = self.0.take();
            while let Some(mut node) = next {
                next = node.0.take();
            }
        }
    }

    fn depth_of(mut d: &Deep) -> usize {
        let mut n = 0;
        while let Some(inner) = &d.0 {
            n += 1;
            d = inner;
        }
        n
    }

    /// postcard's bytes of a `Deep` with `n` nodes: `Some` `n` times, then `None`.
    fn deep_bytes(n: usize) -> Vec<u8> {
        let mut b = vec![1u8; n];
        b.push(0);
        b
    }

    #[test]
    fn a_value_deeper_than_the_limit_is_a_decode_error_not_a_stack_overflow() {
        let e = codec::decode::<Deep>(&deep_bytes(2 * MAX_DEPTH))
            .err()
            .expect("refused");
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("nested deeper than {MAX_DEPTH} levels")),
            "{msg}"
        );
        assert!(!super::take_refusal(), "the refusal was reported once");
    }

    #[test]
    fn a_deep_value_below_the_limit_decodes_on_a_small_stack() {
        // A 256 KiB stack could not hold 40,000 levels of plain recursive decoding.
        let t = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let d = codec::decode::<Deep>(&deep_bytes(40_000)).expect("decodes");
                depth_of(&d)
            })
            .expect("spawn");
        assert_eq!(t.join().expect("no overflow"), 40_000);
    }

    #[test]
    fn the_limit_holds_at_its_boundary() {
        // Each node nests two levels (the newtype, its `Option`): MAX_DEPTH / 2 nodes is the
        // most that decodes.
        let d = codec::decode::<Deep>(&deep_bytes(MAX_DEPTH / 2 - 1)).expect("decodes");
        assert_eq!(depth_of(&d), MAX_DEPTH / 2 - 1);
        let e = codec::decode::<Deep>(&deep_bytes(MAX_DEPTH / 2 + 1)).err();
        assert!(e.is_some_and(|e| e.to_string().contains("nested deeper")));
    }
}
