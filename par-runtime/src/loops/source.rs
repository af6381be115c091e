//! What a loop iterates over, and how items reach the workers.
//!
//! Two plans exist. An *indexed* source is materialised in the parent before the fork (ranges
//! need not be), so every worker already holds every item and only index ranges travel: items
//! need no trait at all. A *stream* pulls a lazy (even endless) iterator in the parent and ships
//! the items themselves, serialized, as workers need them.

use std::ops::{Range, RangeInclusive};

use crate::error::Result;
use crate::wire::codec::{self, Transfer};

/// How items reach workers; see the module docs.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// `len` items, available in every worker by index.
    Indexed(usize),
    /// Items pulled in the parent and shipped.
    Stream,
}

/// Something a parallel loop can run over. Built with [`IntoSource`]; see [`items`] and
/// [`stream`] for iterators that are not ranges, vectors, arrays or slices.
///
/// It is sealed: the protocol between a loop and its workers (how items are taken by index,
/// pulled, shipped and decoded) is par's own, so only par's sources implement it.
///
/// ```
/// // A function that takes any source a loop can run over, and the loop's results.
/// fn squares<S: par::IntoSource<Item = u64>>(src: S) -> Vec<u64> {
///     par::Loop::new().collect(src, |x| x * x)
/// }
/// assert_eq!(squares(1..4u64), [1, 4, 9]);
/// assert_eq!(squares(vec![5, 6]), [25, 36]);
/// assert_eq!(squares(par::stream((0..3u64).map(|x| x + 1))), [1, 4, 9]);
/// ```
pub trait Source: sealed::Sealed {
    /// The loop variable's type.
    type Item;
    #[doc(hidden)]
    fn plan(&self) -> Plan;
    /// Indexed plan: the item at `index`. Each index is taken at most once per process.
    #[doc(hidden)]
    fn take(&mut self, index: usize) -> Self::Item;
    /// Indexed plan: items `first..first + count`, in order. An integer range computes them
    /// from a start it copies, so a tight loop over them keeps everything in registers.
    #[doc(hidden)]
    fn take_range(&mut self, first: usize, count: usize) -> impl Iterator<Item = Self::Item> + '_ {
        (first..first + count).map(move |i| self.take(i))
    }
    /// Stream plan: pull up to `max` items and append them, encoded, to `out`; returns how many
    /// were pulled (0 = the stream has ended).
    #[doc(hidden)]
    fn pull(&mut self, max: usize, out: &mut Vec<u8>) -> Result<usize>;
    /// Stream plan, in the worker: decode what [`Source::pull`] wrote.
    #[doc(hidden)]
    fn decode(&mut self, bytes: &[u8]) -> Result<Vec<Self::Item>>;
    /// Sequential mode: the next item, in order.
    #[doc(hidden)]
    fn next_item(&mut self) -> Option<Self::Item>;
}

/// Conversion into a [`Source`]: implemented for integer ranges, `Vec<T>`, arrays, slices and
/// the wrappers [`items`] and [`stream`].
///
/// ```
/// use par::IntoSource;
/// let src = [1u8, 2, 3].into_source(); // what a loop does with its input
/// let doubled = par::Loop::new().workers(2).collect(src, |x| x * 2);
/// assert_eq!(doubled, [2, 4, 6]);
/// ```
pub trait IntoSource {
    /// The loop variable's type.
    type Item;
    /// The source.
    type Source: Source<Item = Self::Item>;
    /// Converts.
    fn into_source(self) -> Self::Source;
}

impl<S: Source> IntoSource for S {
    type Item = S::Item;
    type Source = S;
    fn into_source(self) -> S {
        self
    }
}

mod sealed {
    /// Only par's own types are sources (see [`Source`](super::Source)).
    pub trait Sealed {}
    impl<T: super::RangeIndex> Sealed for super::RangeSource<T> {}
    impl<T> Sealed for super::Items<T> {}
    impl<I: Iterator> Sealed for super::Stream<I> {}
    impl<S: super::Source> Sealed for super::Prefix<S> {}
}

/// An integer type that can index a range source (generated code's helper, not public API).
pub trait RangeIndex: Copy + sealed::Sealed {
    #[doc(hidden)]
    fn to_i128(self) -> i128;
    #[doc(hidden)]
    fn from_i128(v: i128) -> Self;
}

macro_rules! range_index {
    ($($t:ty)*) => {$(
        impl sealed::Sealed for $t {}
        impl RangeIndex for $t {
            fn to_i128(self) -> i128 { self as i128 }
            fn from_i128(v: i128) -> Self { v as $t }
        }
    )*};
}
range_index!(u8 u16 u32 u64 usize i8 i16 i32 i64 isize);

// One impl for every index type, not one per type: the loop variable's type then comes from
// how the body uses it, as in a plain `for` (`for i in 0..n { v[i] }` makes the range `usize`;
// with an impl per type rustc falls back to `i32` first and reports a mismatch).
impl<T: RangeIndex> IntoSource for Range<T> {
    type Item = T;
    type Source = RangeSource<T>;
    fn into_source(self) -> RangeSource<T> {
        RangeSource::new(self.start.to_i128(), self.end.to_i128())
    }
}

impl<T: RangeIndex> IntoSource for RangeInclusive<T> {
    type Item = T;
    type Source = RangeSource<T>;
    fn into_source(self) -> RangeSource<T> {
        let (start, end) = self.into_inner();
        RangeSource::new(start.to_i128(), end.to_i128() + 1)
    }
}

/// An integer range: items are computed from their index, nothing is materialised.
#[derive(Debug, Clone)]
pub struct RangeSource<T> {
    start: i128,
    len: usize,
    next: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: RangeIndex> RangeSource<T> {
    fn new(start: i128, end: i128) -> Self {
        let len = usize::try_from((end - start).max(0)).unwrap_or(usize::MAX);
        RangeSource {
            start,
            len,
            next: 0,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: RangeIndex> Source for RangeSource<T> {
    type Item = T;
    fn plan(&self) -> Plan {
        Plan::Indexed(self.len)
    }
    fn take(&mut self, index: usize) -> T {
        debug_assert!(index < self.len);
        T::from_i128(self.start + index as i128)
    }
    fn take_range(&mut self, first: usize, count: usize) -> impl Iterator<Item = T> + '_ {
        debug_assert!(first + count <= self.len);
        let start = self.start;
        (first..first + count).map(move |i| T::from_i128(start + i as i128))
    }
    fn pull(&mut self, _: usize, _: &mut Vec<u8>) -> Result<usize> {
        unreachable_plan()
    }
    fn decode(&mut self, _: &[u8]) -> Result<Vec<T>> {
        unreachable_plan()
    }
    fn next_item(&mut self) -> Option<T> {
        (self.next < self.len).then(|| {
            self.next += 1;
            self.take(self.next - 1)
        })
    }
}

fn unreachable_plan<T>() -> T {
    unreachable!("par internal error: an indexed source was used as a stream")
}

/// Items materialised in the parent before the fork; see [`items`].
///
/// ```
/// let words: par::Items<&str> = par::items("a bb ccc".split(' '));
/// assert_eq!(par::Loop::new().collect(words, |w| w.len()), [1, 2, 3]);
/// ```
#[derive(Debug)]
pub struct Items<T> {
    items: Vec<Option<T>>,
    next: usize,
}

/// Materialises any iterable in the parent (before the fork), so that workers receive only
/// index ranges and the items need no trait bound. This is what `par!` does for every iterable
/// that is not an integer range.
///
/// ```
/// let words = vec!["a", "bb", "ccc"];
/// let lens = par::Loop::new().collect(par::items(words.iter()), |w| w.len());
/// assert_eq!(lens, [1, 2, 3]);
/// ```
pub fn items<I: IntoIterator>(iter: I) -> Items<I::Item> {
    Items {
        items: iter.into_iter().map(Some).collect(),
        next: 0,
    }
}

impl<T> Source for Items<T> {
    type Item = T;
    fn plan(&self) -> Plan {
        Plan::Indexed(self.items.len())
    }
    fn take(&mut self, index: usize) -> T {
        match self.items[index].take() {
            Some(item) => item,
            None => unreachable!("par internal error: item {index} taken twice"),
        }
    }
    fn pull(&mut self, _: usize, _: &mut Vec<u8>) -> Result<usize> {
        unreachable_plan()
    }
    fn decode(&mut self, _: &[u8]) -> Result<Vec<T>> {
        unreachable_plan()
    }
    fn next_item(&mut self) -> Option<T> {
        let item = self.items.get_mut(self.next)?.take();
        self.next += 1;
        item
    }
}

impl<T> IntoSource for Vec<T> {
    type Item = T;
    type Source = Items<T>;
    fn into_source(self) -> Items<T> {
        items(self)
    }
}

impl<'a, T> IntoSource for &'a Vec<T> {
    type Item = &'a T;
    type Source = Items<&'a T>;
    fn into_source(self) -> Items<&'a T> {
        items(self)
    }
}

impl<'a, T> IntoSource for &'a [T] {
    type Item = &'a T;
    type Source = Items<&'a T>;
    fn into_source(self) -> Items<&'a T> {
        items(self)
    }
}

impl<T, const N: usize> IntoSource for [T; N] {
    type Item = T;
    type Source = Items<T>;
    fn into_source(self) -> Items<T> {
        items(self)
    }
}

/// A lazy iterator shipped item by item; see [`stream`].
///
/// ```
/// let lines: par::Stream<_> = par::stream((1..=3u32).map(|n| format!("line {n}")));
/// assert_eq!(par::Loop::new().collect(lines, |l| l.len()), [6, 6, 6]);
/// ```
#[derive(Debug)]
pub struct Stream<I> {
    iter: I,
}

/// Runs over a lazy or endless iterator: the parent pulls items only as workers need them and
/// ships them serialized, so memory is bounded by the in-flight window, not the input size.
/// Items must therefore be serializable ([`Transfer`]).
///
/// The iterator need not be `Send` nor `'static` (`text.lines()` will do): it is pulled on
/// the calling thread, a chunk at a time, as workers need items. If its `next()` blocks (a
/// socket, a channel, a slow reader), the loop's `timeout` and [`Cancel`](crate::Cancel) keep
/// working meanwhile: a worker whose item runs past the timeout is killed at its deadline, and
/// a cancel kills every worker at once, while `next()` is still blocked. The loop itself can
/// return only once `next()` does (it runs on the caller's thread): the error
/// ([`Error::TimedOut`](crate::Error::TimedOut) naming the item and worker,
/// [`Error::Cancelled`](crate::Error::Cancelled)) is returned then, and no item is pulled
/// after it. A `next()` that never returns holds the loop for ever: give such a source a
/// timeout of its own.
///
/// ```
/// let squares: Vec<u64> = par::Loop::new()
///     .collect(par::stream((0..10u64).map(|x| x + 1)), |x| x * x);
/// assert_eq!(squares, [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]);
/// ```
pub fn stream<I: IntoIterator>(iter: I) -> Stream<I::IntoIter>
where
    I::Item: Transfer,
{
    Stream {
        iter: iter.into_iter(),
    }
}

impl<I: Iterator> Source for Stream<I>
where
    I::Item: Transfer,
{
    type Item = I::Item;
    fn plan(&self) -> Plan {
        Plan::Stream
    }
    fn take(&mut self, _: usize) -> I::Item {
        unreachable!("par internal error: a stream was indexed")
    }
    fn pull(&mut self, max: usize, out: &mut Vec<u8>) -> Result<usize> {
        let batch: Vec<I::Item> = self.iter.by_ref().take(max).collect();
        codec::encode_into(&batch, out)?;
        Ok(batch.len())
    }
    fn decode(&mut self, bytes: &[u8]) -> Result<Vec<I::Item>> {
        codec::decode(bytes)
    }
    fn next_item(&mut self) -> Option<I::Item> {
        self.iter.next()
    }
}

/// The first `len` items of an indexed source: what an in-place loop zipped with a longer
/// iterable runs over (a zip stops at the shorter side).
#[doc(hidden)]
#[derive(Debug)]
pub struct Prefix<S> {
    src: S,
    len: usize,
    next: usize,
}

impl<S: Source> Prefix<S> {
    /// `src` cut to at most `len` items; `None` for a stream (which has no length).
    pub(crate) fn new(src: S, len: usize) -> Option<Self> {
        match src.plan() {
            Plan::Indexed(n) => Some(Prefix {
                src,
                len: len.min(n),
                next: 0,
            }),
            Plan::Stream => None,
        }
    }
}

impl<S: Source> Source for Prefix<S> {
    type Item = S::Item;
    fn plan(&self) -> Plan {
        Plan::Indexed(self.len)
    }
    fn take(&mut self, index: usize) -> S::Item {
        debug_assert!(index < self.len);
        self.src.take(index)
    }
    fn take_range(&mut self, first: usize, count: usize) -> impl Iterator<Item = S::Item> + '_ {
        debug_assert!(first + count <= self.len);
        self.src.take_range(first, count)
    }
    fn pull(&mut self, _: usize, _: &mut Vec<u8>) -> Result<usize> {
        unreachable_plan()
    }
    fn decode(&mut self, _: &[u8]) -> Result<Vec<S::Item>> {
        unreachable_plan()
    }
    fn next_item(&mut self) -> Option<S::Item> {
        if self.next >= self.len {
            return None;
        }
        self.next += 1;
        self.src.next_item()
    }
}
