//! The shared-memory output mode: a `MAP_SHARED` region created before the fork, which workers
//! write in place, so large `Copy` outputs (an image, a matrix) travel with zero copies and no
//! serialization.

use std::cell::RefCell;
use std::ops::Range;

use crate::error::{Error, Result};
use crate::sys::{Pod, Shared};

/// A plain value type for [`SharedVec`]: `Copy`, no padding, no pointers, and every bit
/// pattern valid: the integers, `f32`, `f64`, and arrays of them. Implemented for exactly
/// those (it cannot be implemented elsewhere: a type with padding or pointers would make the
/// shared views unsound).
///
/// ```
/// fn zeroed<T: par::Plain>(n: usize) -> par::SharedVec<T> {
///     par::SharedVec::new(n).unwrap()
/// }
/// let v = zeroed::<[f32; 3]>(4);
/// assert_eq!(v.len(), 4);
/// ```
pub trait Plain: Pod {}

impl<T: Pod> Plain for T {}

/// A fixed-length vector in memory shared by the parent and its workers. Create it before the
/// loop; the body writes its items' outputs in place with [`SharedVec::set`],
/// [`SharedVec::write`] or [`SharedVec::with_slice_mut`]; after the loop the parent reads them.
/// Nothing is serialized and nothing is copied through a pipe.
///
/// Different items must write different elements (as they would different slots of a result
/// `Vec`); if two write the same element, its value is whichever came last.
///
/// ```
/// const W: usize = 64;
/// let image = par::SharedVec::<u16>::new(W * W).unwrap();
/// par::Loop::new().workers(2).for_each(0..W, |y| {
///     image.with_slice_mut(y * W..(y + 1) * W, |row| {
///         for (x, px) in row.iter_mut().enumerate() {
///             *px = (x * y) as u16;
///         }
///     })
/// });
/// assert_eq!(image.get(3 * W + 5), 15);
/// ```
///
/// A `SharedVec` is not `Sync`: within one process it is used by one thread, which is what a
/// loop body in a worker is.
#[derive(Debug)]
pub struct SharedVec<T: Plain> {
    region: RefCell<Shared>,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Plain> SharedVec<T> {
    /// A shared vector of `len` zeroed values (`0`, `0.0`).
    ///
    /// An `Io` error if the system refuses the mapping.
    ///
    /// ```
    /// let v = par::SharedVec::<f64>::new(1000).unwrap();
    /// assert_eq!(v.len(), 1000);
    /// assert!(v.to_vec().iter().all(|&x| x == 0.0));
    /// ```
    pub fn new(len: usize) -> Result<Self> {
        let bytes = len.checked_mul(std::mem::size_of::<T>()).ok_or_else(|| {
            Error::io(
                "could not map shared memory",
                std::io::Error::other("size overflows"),
            )
        })?;
        let region = Shared::new(bytes).map_err(|e| Error::io("could not map shared memory", e))?;
        debug_assert!(region.len() >= bytes);
        Ok(SharedVec {
            region: RefCell::new(region),
            len,
            _t: std::marker::PhantomData,
        })
    }

    /// The number of values.
    ///
    /// ```
    /// assert_eq!(par::SharedVec::<u8>::new(3).unwrap().len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if it holds no values.
    ///
    /// ```
    /// assert!(par::SharedVec::<u8>::new(0).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets value `index`. Panics if out of bounds.
    ///
    /// ```
    /// // Each item writes its own element; the parent reads them after the loop.
    /// let squares = par::SharedVec::<u64>::new(100).unwrap();
    /// par::Loop::new().workers(2).for_each(0..100usize, |i| squares.set(i, (i * i) as u64));
    /// assert_eq!(squares.get(9), 81);
    /// ```
    pub fn set(&self, index: usize, value: T) {
        self.with_slice_mut(index..index + 1, |s| s[0] = value);
    }

    /// Value `index`. Panics if out of bounds.
    ///
    /// ```
    /// let v = par::SharedVec::<i32>::new(4).unwrap();
    /// v.set(2, -7);
    /// assert_eq!(v.get(2), -7);
    /// assert_eq!(v.get(3), 0);
    /// ```
    pub fn get(&self, index: usize) -> T {
        self.with_slice_mut(index..index + 1, |s| s[0])
    }

    /// Copies `values` to positions `start..start + values.len()`. Panics if out of bounds.
    ///
    /// ```
    /// // One row of 8 values per item.
    /// let grid = par::SharedVec::<f32>::new(4 * 8).unwrap();
    /// par::Loop::new().workers(2).for_each(0..4usize, |y| {
    ///     let row: Vec<f32> = (0..8).map(|x| (y * 8 + x) as f32).collect();
    ///     grid.write(y * 8, &row);
    /// });
    /// assert_eq!(grid.get(3 * 8 + 7), 31.0);
    /// ```
    pub fn write(&self, start: usize, values: &[T]) {
        self.with_slice_mut(start..start + values.len(), |s| s.copy_from_slice(values));
    }

    /// Runs `f` on the values in `range`, mutably, in place.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds, or if called again from inside `f` on the same vector.
    ///
    /// ```
    /// let v = par::SharedVec::<u8>::new(6).unwrap();
    /// let n = v.with_slice_mut(2..5, |s| {
    ///     s.fill(9);
    ///     s.len()
    /// });
    /// assert_eq!(n, 3);
    /// assert_eq!(v.to_vec(), [0, 0, 9, 9, 9, 0]);
    /// ```
    pub fn with_slice_mut<R>(&self, range: Range<usize>, f: impl FnOnce(&mut [T]) -> R) -> R {
        assert!(
            range.start <= range.end && range.end <= self.len,
            "range {range:?} out of bounds of a SharedVec of {}",
            self.len
        );
        let mut region = self
            .region
            .try_borrow_mut()
            .expect("SharedVec::with_slice_mut called from inside itself");
        region.with_mut(range.start, range.len(), f)
    }

    /// All values, read in place.
    ///
    /// ```
    /// let mut v = par::SharedVec::<u32>::new(3).unwrap();
    /// v.set(0, 5);
    /// assert_eq!(v.as_slice(), &[5, 0, 0]);
    /// ```
    pub fn as_slice(&mut self) -> &[T] {
        let len = self.len;
        self.region.get_mut().as_slice(len)
    }

    /// A copy of all values.
    ///
    /// ```
    /// let v = par::SharedVec::<u16>::new(3).unwrap();
    /// v.write(1, &[1, 2]);
    /// assert_eq!(v.to_vec(), vec![0, 1, 2]);
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        self.with_slice_mut(0..self.len, |s| s.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_bounds() {
        let mut v = SharedVec::<f64>::new(10).unwrap();
        assert_eq!(v.to_vec(), vec![0.0; 10]);
        v.set(3, 1.5);
        v.write(8, &[2.0, 3.0]);
        assert_eq!(v.get(3), 1.5);
        assert_eq!(&v.as_slice()[8..], &[2.0, 3.0]);
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| v.get(10))).is_err());
        let empty = SharedVec::<u8>::new(0).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn nested_views_panic_instead_of_aliasing() {
        let v = SharedVec::<u32>::new(4).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            v.with_slice_mut(0..2, |_| v.get(0))
        }));
        assert!(r.is_err());
    }
}
