//! In-place loops: a body that changes the elements of the caller's slice through a `&mut`
//! (`par!(for x in v.iter_mut() { *x *= 2.0 })`, `chunks_mut(k)`, `&mut v`), and whose changes
//! reach the caller's slice in every mode.
//!
//! After the fork each worker holds its own copy of the slice, at the same address. A worker
//! hands its body a real `&mut` into that copy, one element (or chunk) per item, and once a
//! scheduling chunk is done sends the chunk's elements back as one value (numbers travel as
//! their bytes, in bulk); the parent writes them into the caller's slice, in place, when the
//! loop has succeeded. Inline (sequential mode, a nested loop, `auto`'s choice) the body
//! changes the caller's slice itself and nothing travels.
//!
//! What this module must never do: hand out two `&mut` to one element in one process (every
//! part comes from [`Disjoint`], which refuses a second claim), or write anything into the
//! caller's slice when the loop failed in the workers (the slice then keeps its old values;
//! inline, the items that ran before the failure keep their changes).

use std::fmt::Display;
use std::panic::Location;

use crate::error::{Error, Result};
use crate::loops::exec;
use crate::loops::forms::{failed, guarded, Emit, Job, JobError};
use crate::loops::options::Loop;
use crate::loops::par_loop::or_panic;
use crate::loops::source::{IntoSource, Prefix, RangeSource};
use crate::sys::Disjoint;
use crate::wire::codec::Transfer;

/// The in-place job: item `i` is element `i` (`chunk == 1`) or the `i`-th chunk of `chunk`
/// elements; the body gets its index, its part of the slice and the zipped item.
struct InPlace<'a, T, F> {
    slice: Disjoint<'a, T>,
    chunk: usize,
    body: F,
}

impl<I, T, E, F> Job<I> for InPlace<'_, T, F>
where
    T: Transfer + Clone,
    E: Display,
    F: Fn(usize, &mut [T], I) -> std::result::Result<(), E>,
{
    /// The elements a scheduling chunk changed, in order.
    type Value = Vec<T>;

    fn run<It: Iterator<Item = I>, Em: Emit<Vec<T>>>(
        &self,
        first: usize,
        _: usize,
        items: It,
        emit: &mut Em,
    ) -> std::result::Result<(), JobError> {
        // Indexed sources know their chunk's length; anything else is counted first.
        let items: Vec<I> = items.collect();
        let count = items.len();
        let start = first * self.chunk;
        let end = ((first + count) * self.chunk).min(self.slice.len());
        let part = self.slice.claim(start..end).ok_or_else(|| {
            JobError::Runtime(Error::Lost {
                index: Some(first),
                pid: None,
                message: format!(
                    "par internal error: elements {start}..{end} of an in-place loop were handed out twice"
                ),
            })
        })?;
        guarded(|at| {
            for (j, item) in items.into_iter().enumerate() {
                let index = first + j;
                *at = index;
                emit.start(index);
                let a = j * self.chunk;
                let b = (a + self.chunk).min(part.len());
                (self.body)(index, &mut part[a..b], item).map_err(|e| failed(index, e))?;
            }
            if !emit.inline() {
                emit.value(part.to_vec(), count)?;
            }
            Ok(())
        })
    }
}

/// Runs `body` on each element (`chunk == 1`) or chunk of `slice` in place, zipped with the
/// items of `extra` (a zip stops at the shorter side; pass `0..usize::MAX` for none).
/// `exact`: `chunks_exact_mut`, whose last partial chunk is not visited.
pub(crate) fn run<T, S, E, F>(
    opts: &Loop,
    slice: &mut [T],
    chunk: usize,
    exact: bool,
    extra: S,
    body: F,
    site: &'static Location<'static>,
) -> Result<()>
where
    T: Transfer + Clone,
    S: IntoSource,
    E: Display,
    F: Fn(usize, &mut [T], S::Item) -> std::result::Result<(), E>,
{
    assert!(chunk != 0, "chunk size must be non-zero");
    let n = slice.len();
    let units = if exact { n / chunk } else { n.div_ceil(chunk) };
    let src = Prefix::new(extra.into_source(), units).ok_or_else(|| Error::Lost {
        index: None,
        pid: None,
        message: "an in-place loop can be zipped with a range, a `Vec`, a slice or any iterator, not with a `par::stream`".into(),
    })?;
    let job = InPlace {
        slice: Disjoint::new(slice),
        chunk,
        body,
    };
    let parts = exec::run(opts, src, &job, site)?;
    if parts.is_empty() {
        // Inline: the body changed the slice itself (or there was nothing to do).
        return Ok(());
    }
    let total: usize = parts.iter().map(Vec::len).sum();
    let dst = job.slice.claim(0..total).ok_or_else(|| Error::Lost {
        index: None,
        pid: None,
        message: format!(
            "the workers sent back {total} elements of an in-place loop over {n} elements"
        ),
    })?;
    let mut at = 0;
    for part in parts {
        for (d, v) in dst[at..].iter_mut().zip(part) {
            *d = v;
            at += 1;
        }
    }
    Ok(())
}

impl Loop {
    /// Runs `body` on every element of `slice`, **in place**: the body gets a `&mut` to its
    /// element, and what it leaves there is in `slice` when the loop returns, whether the loop
    /// forked or ran inline (rayon's `par_iter_mut().for_each`, OpenMP's `a[i] = f(a[i])`).
    /// This is what `par!(for x in v.iter_mut() { ... })` and `par!(for x in &mut v { ... })`
    /// expand to.
    ///
    /// In the workers each element is changed in the worker's copy of the slice and sent back
    /// after its chunk (numbers as their bytes), so elements must be [`Transfer`] and `Clone`.
    ///
    /// ```
    /// let mut v: Vec<f64> = (0..1000).map(f64::from).collect();
    /// par::Loop::new().workers(2).for_each_mut(&mut v, |x| *x = *x * 2.0 + 1.0);
    /// assert_eq!(v[10], 21.0);
    /// assert_eq!(v.iter().sum::<f64>(), 1_000_000.0);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Loop::collect`]. When the loop fails in the workers, `slice` keeps its old values;
    /// inline, the items that ran before the failure keep their changes.
    #[track_caller]
    pub fn for_each_mut<T, F>(&self, slice: &mut [T], body: F)
    where
        T: Transfer + Clone,
        F: Fn(&mut T),
    {
        or_panic(self.try_for_each_mut(slice, |x| {
            body(x);
            Ok::<(), std::convert::Infallible>(())
        }))
    }

    /// [`Loop::for_each_mut`] for a fallible body; see [`Loop::try_collect`].
    ///
    /// ```
    /// let sqrt = |x: &mut f64| {
    ///     if *x < 0.0 {
    ///         return Err(format!("{x} has no square root"));
    ///     }
    ///     *x = x.sqrt();
    ///     Ok(())
    /// };
    /// let opts = par::Loop::new().workers(2);
    /// let mut v = vec![1.0, 4.0, 9.0];
    /// opts.try_for_each_mut(&mut v, sqrt).unwrap();
    /// assert_eq!(v, [1.0, 2.0, 3.0]);
    /// let mut w = vec![4.0, -1.0, 9.0];
    /// let e = opts.try_for_each_mut(&mut w, sqrt).unwrap_err();
    /// assert_eq!(e.index(), Some(1));
    /// // The failed item and those after it are unchanged (forked, every element is).
    /// assert_eq!(w[1..], [-1.0, 9.0]);
    /// ```
    #[track_caller]
    pub fn try_for_each_mut<T, E, F>(&self, slice: &mut [T], body: F) -> Result<()>
    where
        T: Transfer + Clone,
        E: Display,
        F: Fn(&mut T) -> std::result::Result<(), E>,
    {
        run(
            self,
            slice,
            1,
            false,
            no_extra(),
            |_, part, _| body(&mut part[0]),
            Location::caller(),
        )
    }

    /// Runs `body` on every chunk of `size` elements of `slice` (the last may be shorter), in
    /// place, as [`Loop::for_each_mut`] does for elements: `par!(for c in v.chunks_mut(size)
    /// { ... })`. Rows of an image or a matrix stored row by row are the usual chunks.
    ///
    /// ```
    /// let (w, h) = (64, 48);
    /// let mut image = vec![0u8; w * h];
    /// par::Loop::new().workers(2).for_each_chunk_mut(&mut image, w, |row| {
    ///     for (x, px) in row.iter_mut().enumerate() { *px = (x % 256) as u8; }
    /// });
    /// assert_eq!(image[w + 5], 5);
    /// ```
    ///
    /// # Panics
    ///
    /// If `size` is 0, and as [`Loop::for_each_mut`].
    #[track_caller]
    pub fn for_each_chunk_mut<T, F>(&self, slice: &mut [T], size: usize, body: F)
    where
        T: Transfer + Clone,
        F: Fn(&mut [T]),
    {
        or_panic(self.try_for_each_chunk_mut(slice, size, |c| {
            body(c);
            Ok::<(), std::convert::Infallible>(())
        }))
    }

    /// [`Loop::for_each_chunk_mut`] for a fallible body; see [`Loop::try_collect`].
    ///
    /// ```
    /// // Scale each row of a matrix (3 columns) to sum 1; a row of zeros cannot be.
    /// let normalise = |row: &mut [f64]| {
    ///     let sum: f64 = row.iter().sum();
    ///     if sum == 0.0 {
    ///         return Err("a row of zeros");
    ///     }
    ///     row.iter_mut().for_each(|x| *x /= sum);
    ///     Ok(())
    /// };
    /// let opts = par::Loop::new().workers(2);
    /// let mut m = vec![1.0, 1.0, 2.0, 3.0, 0.0, 1.0];
    /// opts.try_for_each_chunk_mut(&mut m, 3, normalise).unwrap();
    /// assert_eq!(m, [0.25, 0.25, 0.5, 0.75, 0.0, 0.25]);
    /// let mut z = vec![1.0, 1.0, 2.0, 0.0, 0.0, 0.0];
    /// let e = opts.try_for_each_chunk_mut(&mut z, 3, normalise).unwrap_err();
    /// assert_eq!(e.index(), Some(1)); // the chunk's index: row 1
    /// ```
    #[track_caller]
    pub fn try_for_each_chunk_mut<T, E, F>(
        &self,
        slice: &mut [T],
        size: usize,
        body: F,
    ) -> Result<()>
    where
        T: Transfer + Clone,
        E: Display,
        F: Fn(&mut [T]) -> std::result::Result<(), E>,
    {
        run(
            self,
            slice,
            size,
            false,
            no_extra(),
            |_, part, _| body(part),
            Location::caller(),
        )
    }
}

/// The items zipped with an in-place loop that zips with nothing.
pub(crate) fn no_extra() -> RangeSource<usize> {
    (0..usize::MAX).into_source()
}

/// What `par!`'s in-place forms call (through `par::__private`): [`run`], panicking on failure.
#[track_caller]
#[doc(hidden)]
pub fn in_place<T, S, E, F>(
    opts: &Loop,
    slice: &mut [T],
    chunk: usize,
    exact: bool,
    extra: S,
    body: F,
) where
    T: Transfer + Clone,
    S: IntoSource,
    E: Display,
    F: Fn(usize, &mut [T], S::Item) -> std::result::Result<(), E>,
{
    or_panic(try_in_place(opts, slice, chunk, exact, extra, body))
}

/// [`in_place`] of `par!(try, ...)`.
#[track_caller]
#[doc(hidden)]
pub fn try_in_place<T, S, E, F>(
    opts: &Loop,
    slice: &mut [T],
    chunk: usize,
    exact: bool,
    extra: S,
    body: F,
) -> Result<()>
where
    T: Transfer + Clone,
    S: IntoSource,
    E: Display,
    F: Fn(usize, &mut [T], S::Item) -> std::result::Result<(), E>,
{
    run(opts, slice, chunk, exact, extra, body, Location::caller())
}
