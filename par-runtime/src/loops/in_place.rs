//! In-place loops: a body that changes the elements of the caller's slice through a `&mut`
//! (`par!(for x in v.iter_mut() { *x *= 2.0 })`, `chunks_mut(k)`, `&mut v`), and whose changes
//! reach the caller's slice in every mode.
//!
//! After the fork each worker holds its own copy of the slice, at the same address. Two ways
//! back, chosen before the fork:
//! - **Staged** (plain numbers and small arrays of them, `sys::vm::is_plain`, slices of at
//!   least `STAGE_MIN_BYTES`): the parent maps a zeroed `MAP_SHARED` staging region as large
//!   as the slice. A worker copies its chunk's original values from its own copy of the slice
//!   into the region (block by block, just ahead of the items) and hands its body a `&mut`
//!   into the region, so its own copy is only read (no copy-on-write fault). It sends back
//!   only the number of elements it changed. When the loop has succeeded the parent copies
//!   the region into the caller's slice (on up to as many threads as the loop had workers) and
//!   unmaps it. If the mapping is refused the pipe does the job.
//! - **Piped** (every other element type): the body changes the worker's copy, and once a
//!   scheduling chunk is done the worker sends the chunk's elements back as one value
//!   (numbers travel as their bytes, in bulk); the parent writes them into the caller's
//!   slice, in place, when the loop has succeeded.
//!
//! Inline (sequential mode, a nested loop, `auto`'s choice) the body changes the caller's
//! slice itself and nothing travels.
//!
//! Retries: a chunk whose worker died is redone by another worker from the original values,
//! which the caller's slice still holds (nothing is written into it before the loop has
//! succeeded): a staged redo copies them into the region again over what the dead worker left
//! there. (A worker is only retired after its pipe closed, i.e. it has exited, or after it was
//! sent `SIGKILL` for a timeout, which stops it before it runs again in user space.)
//!
//! What this module must never do: hand out two `&mut` to one element in one process (every
//! part comes from [`Disjoint`], which refuses a second claim, over the caller's slice and over
//! the staging region alike), or write anything into the caller's slice when the loop failed
//! in the workers (the slice then keeps its old values; inline, the items that ran before the
//! failure keep their changes).

use std::fmt::Display;
use std::panic::Location;

use crate::error::{Error, Result};
use crate::loops::exec;
use crate::loops::forms::{Emit, Job, JobError, failed, guarded};
use crate::loops::options::Loop;
use crate::loops::par_loop::or_panic;
use crate::loops::source::{IntoSource, Prefix, RangeSource};
use crate::mode;
use crate::sys::{Disjoint, Staging, discard, plain_bytes_mut, prefault_read, prefault_write};
use crate::wire::codec::Transfer;

/// Slices of plain numbers smaller than this go through the pipe (a mapping costs more than
/// sending them).
const STAGE_MIN_BYTES: usize = 64 << 10;

/// Bytes of a staged chunk copied into the staging region at a time, just ahead of the items
/// that change them (so that the body finds them in cache); a block is at least one item.
const STAGE_BLOCK_BYTES: usize = 32 << 10;

/// The in-place job: item `i` is element `i` (`chunk == 1`) or the `i`-th chunk of `chunk`
/// elements; the body gets its index, its part of the slice and the zipped item.
struct InPlace<'a, T, F> {
    slice: Disjoint<'a, T>,
    /// Plain element types: the shared region the workers change their chunks in (each
    /// worker first copies its chunk's original values there from its own copy of `slice`),
    /// copied back into `slice` by the parent when the loop has succeeded.
    staging: Option<Disjoint<'a, T>>,
    chunk: usize,
    body: F,
}

/// The in-place job whose chunks travel back through the pipe: one value per chunk, the
/// elements it changed, in order.
struct Piped<'j, J>(&'j J);

/// The in-place job whose chunks are changed in the staging region: one value per chunk, the
/// number of elements it changed there.
struct Staged<'j, J>(&'j J);

impl<'a, T: Clone, F> InPlace<'a, T, F> {
    /// Runs the items of the chunk whose first item is `first`: inline on the caller's slice,
    /// else on this process' copy of it (`staged == false`) or in the staging region. Returns
    /// the part that was changed (`None` inline) and how many items and elements ran.
    fn run_chunk<I, E, V, It, Em>(
        &self,
        first: usize,
        items: It,
        emit: &mut Em,
        staged: bool,
    ) -> std::result::Result<(Option<&'a mut [T]>, usize, usize), JobError>
    where
        E: Display,
        F: Fn(usize, &mut [T], I) -> std::result::Result<(), E>,
        It: Iterator<Item = I>,
        Em: Emit<V>,
    {
        // Indexed sources know their chunk's length; anything else is counted first.
        match items.size_hint() {
            (lo, Some(hi)) if lo == hi => self.run_known(first, lo, items.take(lo), emit, staged),
            _ => {
                let items: Vec<I> = items.collect();
                let count = items.len();
                self.run_known(first, count, items.into_iter(), emit, staged)
            }
        }
    }

    fn run_known<I, E, V, Em>(
        &self,
        first: usize,
        count: usize,
        items: impl Iterator<Item = I>,
        emit: &mut Em,
        staged: bool,
    ) -> std::result::Result<(Option<&'a mut [T]>, usize, usize), JobError>
    where
        E: Display,
        F: Fn(usize, &mut [T], I) -> std::result::Result<(), E>,
        Em: Emit<V>,
    {
        let start = first * self.chunk;
        let end = ((first + count) * self.chunk).min(self.slice.len());
        let twice = || {
            JobError::Runtime(Error::Lost {
                index: Some(first),
                pid: None,
                message: format!(
                    "par internal error: elements {start}..{end} of an in-place loop were handed out twice"
                ),
            })
        };
        let inline = emit.inline();
        let own = self.slice.claim(start..end).ok_or_else(twice)?;
        // Staged: `own` (this worker's copy of the caller's values, untouched) is only read,
        // block by block, into `part`, which the body changes.
        let (part, original) = match (&self.staging, staged && !inline) {
            (Some(stage), true) => {
                let part = stage.claim(start..end).ok_or_else(twice)?;
                prefault_write(part);
                (part, Some(own))
            }
            _ => (own, None),
        };
        // Staged, items run a block at a time, each block's original values copied into the
        // region just before (so the body finds them in cache); otherwise all in one go.
        let step = match original {
            Some(_) => (STAGE_BLOCK_BYTES / std::mem::size_of::<T>().max(1) / self.chunk).max(1),
            None => usize::MAX,
        };
        let len = part.len();
        let span = |j: usize, k: usize| {
            let a = j.saturating_mul(self.chunk).min(len);
            (a, k.saturating_mul(self.chunk).saturating_add(a).min(len))
        };
        let mut done = 0;
        guarded(|at| {
            let mut items = items.enumerate();
            *at = first;
            emit.start(first);
            loop {
                let from = done;
                let (a, b) = span(from, step);
                if let Some(original) = &original {
                    part[a..b].clone_from_slice(&original[a..b]);
                }
                let block = &mut part[a..b];
                done = run_block(
                    &self.body, first, from, self.chunk, block, &mut items, at, emit,
                )?;
                if done < from.saturating_add(step) {
                    return Ok(());
                }
            }
        })?;
        let elements = (done * self.chunk).min(part.len());
        Ok(((!inline).then_some(part), done, elements))
    }
}

/// Runs items `from..` (numbered by `items`) on the consecutive chunks of `block`, until either
/// runs out; returns the number of the item after the last one run. Its own function on
/// purpose: with the part, the emitter and the failure index as arguments, the compiler knows
/// that the body's writes touch none of the others, and keeps pointers and bounds in
/// registers instead of reloading them per item (inline, 1e7 `f64` updated by a `sqrt`: 33 ms
/// in one function with the chunk's setup, 13 ms here, about the sequential loop's time).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn run_block<T, I, E, V, F, Em>(
    body: &F,
    first: usize,
    from: usize,
    chunk: usize,
    block: &mut [T],
    items: &mut impl Iterator<Item = (usize, I)>,
    at: &mut usize,
    emit: &mut Em,
) -> std::result::Result<usize, JobError>
where
    E: Display,
    F: Fn(usize, &mut [T], I) -> std::result::Result<(), E>,
    Em: Emit<V>,
{
    let mut done = from;
    if chunk == 1 {
        // Elements (`iter_mut()`, `&mut v`): no chunk arithmetic per item.
        for (x, (j, item)) in block.iter_mut().zip(items) {
            let index = first + j;
            *at = index;
            emit.item(index);
            body(index, std::slice::from_mut(x), item).map_err(|e| failed(index, e))?;
            done = j + 1;
        }
        return Ok(done);
    }
    for (part, (j, item)) in block.chunks_mut(chunk).zip(items) {
        let index = first + j;
        // Plain stores, as in a reduction's fold (see `Emit::item`): a body that calls
        // nothing cannot crash, and one that calls anything stores first.
        *at = index;
        emit.item(index);
        body(index, part, item).map_err(|e| failed(index, e))?;
        done = j + 1;
    }
    Ok(done)
}

impl<I, T, E, F> Job<I> for Piped<'_, InPlace<'_, T, F>>
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
        if let (Some(part), items, elements) = self.0.run_chunk(first, items, emit, false)? {
            guarded(|at| {
                // A value that cannot be encoded is the chunk's last item's failure.
                *at = first + items.saturating_sub(1);
                emit.value(part[..elements].to_vec(), items)?;
                Ok(())
            })?;
        }
        Ok(())
    }
}

impl<I, T, E, F> Job<I> for Staged<'_, InPlace<'_, T, F>>
where
    T: Clone,
    E: Display,
    F: Fn(usize, &mut [T], I) -> std::result::Result<(), E>,
{
    /// The number of elements a scheduling chunk changed in the staging region.
    type Value = u64;

    fn run<It: Iterator<Item = I>, Em: Emit<u64>>(
        &self,
        first: usize,
        _: usize,
        items: It,
        emit: &mut Em,
    ) -> std::result::Result<(), JobError> {
        if let (Some(_), items, elements) = self.0.run_chunk(first, items, emit, true)? {
            emit.value(elements as u64, items)?;
        }
        Ok(())
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
    // Plain numbers, enough of them: the staging region. Refused (no memory for the mapping),
    // the pipe does the job, as for every other element type.
    // (Not in an explicit sequential mode, where the loop cannot fork.)
    let here = mode::here();
    let may_fork = !matches!(here, mode::Here::Sequential(_));
    let mut stage =
        if may_fork && std::mem::size_of_val(slice) >= STAGE_MIN_BYTES && !testing::pipe_forced() {
            Staging::<T>::new(n).ok().flatten()
        } else {
            None
        };
    let job = InPlace {
        slice: Disjoint::new(slice),
        staging: stage.as_mut().map(|s| Disjoint::new(s.as_mut_slice())),
        chunk,
        body,
    };
    testing::note(job.staging.is_some());
    // The copy into the caller's slice is part of the loop (its wall time, its report's
    // `write_back`, what `auto` learns): a forked in-place loop pays for it, an inline one
    // does not.
    let bytes = |total: usize| (total * std::mem::size_of::<T>()) as u64;
    match &job.staging {
        Some(stage) => exec::run_then(opts, src, &Staged(&job), site, |done| {
            let total = done.iter().map(|&d| d as usize).sum();
            let staged = stage.claim(0..total).ok_or_else(|| too_many(total, n))?;
            if total == 0 {
                return Ok(((), 0));
            }
            let dst = job
                .slice
                .claim(0..total)
                .ok_or_else(|| too_many(total, n))?;
            // As many threads as the loop's workers (the count `exec` resolved for it; one
            // nested in a worker), no more than the cores.
            let threads = match here {
                mode::Here::Workers(_) => exec::workers(opts.workers, here),
                _ => 1,
            }
            .min(mode::cores());
            match (plain_bytes_mut(dst), plain_bytes_mut(staged)) {
                (Some(dst), Some(staged)) => copy_back(dst, staged, threads),
                // Not reached: only plain types are staged.
                _ => dst.clone_from_slice(staged),
            }
            Ok(((), bytes(total)))
        }),
        None => exec::run_then(opts, src, &Piped(&job), site, |parts| {
            let total = parts.iter().map(Vec::len).sum();
            write_back(&job.slice, n, total, parts.iter().map(Vec::as_slice))?;
            Ok(((), bytes(total)))
        }),
    }
}

/// Bytes copied back by one thread at least: below this a thread costs more than it saves.
const COPY_BACK_SPLIT: usize = 4 << 20;

/// Copies the staged bytes into the caller's slice on up to `threads` threads (the loop's
/// workers have finished, so their cores are free): the copy, and the page fault of every page
/// of the slice (which the fork write-protected), are most of what a staged loop costs the
/// parent. Each thread gives its part of the staging region back to the system once copied,
/// so unmapping it is cheap. The threads end before this returns: none is alive at the next
/// fork.
fn copy_back(dst: &mut [u8], staged: &mut [u8], threads: usize) {
    fn part(dst: &mut [u8], staged: &mut [u8]) {
        prefault_write(dst);
        prefault_read(staged);
        dst.copy_from_slice(staged);
        discard(staged);
    }
    let threads = threads.min(dst.len() / COPY_BACK_SPLIT).max(1);
    // Parts of whole 64 KiB, so that each thread gives back whole pages of the region; taken
    // from one queue, so that this thread does them all if no other thread can be started.
    let per = dst.len().div_ceil(threads).next_multiple_of(64 << 10);
    let queue = std::sync::Mutex::new(dst.chunks_mut(per).zip(staged.chunks_mut(per)));
    let work = || loop {
        let next = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .next();
        match next {
            Some((d, s)) => part(d, s),
            None => return,
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            // Not started (no threads left): the parts stay in the queue for this thread.
            let _ = std::thread::Builder::new()
                .name("par-copy-back".into())
                .spawn_scoped(scope, work);
        }
        work();
    });
}

fn too_many(total: usize, n: usize) -> Error {
    Error::Lost {
        index: None,
        pid: None,
        message: format!(
            "the workers sent back {total} elements of an in-place loop over {n} elements"
        ),
    }
}

/// Writes the changed elements the workers sent (or staged), in order, into the caller's
/// slice; nothing if there are none (the loop ran inline and changed the slice itself).
fn write_back<'p, T: Clone + 'p>(
    slice: &Disjoint<'_, T>,
    n: usize,
    total: usize,
    parts: impl IntoIterator<Item = &'p [T]>,
) -> Result<()> {
    if total == 0 {
        return Ok(());
    }
    let dst = slice.claim(0..total).ok_or_else(|| too_many(total, n))?;
    prefault_write(dst);
    let mut at = 0;
    for part in parts {
        let part = &part[..part.len().min(total - at)];
        dst[at..at + part.len()].clone_from_slice(part);
        at += part.len();
    }
    Ok(())
}

/// Test support (feature `testing`): force the pipe path on this thread, and count which path
/// this thread's forked in-place loops took.
#[cfg(feature = "testing")]
pub mod testing {
    use std::cell::Cell;

    thread_local! {
        static PIPE: Cell<bool> = const { Cell::new(false) };
        static COUNTS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    }

    /// From now on, this thread's in-place loops send every element through the pipe
    /// (`true`), or stage plain numbers in shared memory as usual (`false`).
    pub fn force_in_place_pipe(on: bool) {
        PIPE.with(|p| p.set(on));
    }

    /// How many of this thread's in-place loops were set up to change their elements in the
    /// staging region when they fork, and how many to send them through the pipe (counted
    /// whether they then fork or run inline).
    pub fn in_place_paths() -> (usize, usize) {
        COUNTS.with(Cell::get)
    }

    pub(crate) fn pipe_forced() -> bool {
        PIPE.with(Cell::get)
    }

    pub(crate) fn note(staged: bool) {
        COUNTS.with(|c| {
            let (s, p) = c.get();
            c.set(if staged { (s + 1, p) } else { (s, p + 1) });
        });
    }
}

#[cfg(not(feature = "testing"))]
mod testing {
    pub(crate) fn pipe_forced() -> bool {
        false
    }
    pub(crate) fn note(_: bool) {}
}

impl Loop {
    /// Runs `body` on every element of `slice`, **in place**: the body gets a `&mut` to its
    /// element, and what it leaves there is in `slice` when the loop returns, whether the loop
    /// forked or ran inline (rayon's `par_iter_mut().for_each`, OpenMP's `a[i] = f(a[i])`).
    /// This is what `par!(for x in v.iter_mut() { ... })` and `par!(for x in &mut v { ... })`
    /// expand to.
    ///
    /// In the workers, numbers (and small arrays of them, such as `[u8; 4]` pixels) are changed
    /// in memory shared with the parent, which copies them into `slice` when the loop has
    /// succeeded; any other element is changed in the worker's copy of the slice and sent back
    /// after its chunk, so elements must be [`Transfer`] and `Clone`.
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
