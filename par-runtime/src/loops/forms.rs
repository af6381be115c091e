//! The loop forms as *jobs*: what a worker does with the items of one chunk, and how the values
//! it emits are put together. All forms emit values in item order; collect emits one per item
//! (for-each is a collect of `()`, which encodes to zero bytes), reduce one partial per grain.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::child::report::{panic_message, take_panic_location};
use crate::error::{ENCODE, Error, FAILED, PANICKED, Result, report_error};
use crate::loops::source::Source;
use crate::mode;
use crate::progress::Progress;
use crate::wire::codec::{self, Transfer};

/// Why an item failed in the body.
#[derive(Debug)]
pub(crate) enum Failure {
    Panicked {
        index: usize,
        message: String,
        location: Option<String>,
    },
    Failed {
        index: usize,
        message: String,
    },
    /// The value of the item could not be encoded (its `Serialize` returned `Err`).
    Encode {
        index: usize,
        message: String,
    },
}

impl Failure {
    pub(crate) fn into_error(self, pid: i32) -> Error {
        let (failed, index, message, location) = self.parts();
        report_error(failed, index, pid, message, location)
    }

    /// What a report of it says: its kind (`error::PANICKED`...), item, message, location.
    pub(crate) fn parts(self) -> (u8, usize, String, Option<String>) {
        match self {
            Failure::Panicked {
                index,
                message,
                location,
            } => (PANICKED, index, message, location),
            Failure::Failed { index, message } => (FAILED, index, message, None),
            Failure::Encode { index, message } => (ENCODE, index, message, None),
        }
    }
}

/// Where a job's values go: encoded into frames in a worker, straight into a `Vec` inline.
pub(crate) trait Emit<V> {
    /// Item `index` starts (for failure reports and timeouts): published at once.
    fn start(&mut self, index: usize);
    /// Item `index` starts, on a reduction's per-item path: as cheap as a store can be, and
    /// published at the latest when the next call is made (see `sys::SlotWriter::set`).
    fn item(&mut self, index: usize) {
        self.start(index);
    }
    /// A value covering `items` items.
    fn value(&mut self, value: V, items: usize) -> Result<()>;
    /// True where the job runs in the calling process (sequential mode): an in-place job then
    /// changes the caller's own data and has nothing to send back.
    fn inline(&self) -> bool {
        false
    }
}

/// Runs a chunk's loop `f` under one `catch_unwind` (one per item would keep accumulators in
/// memory across an opaque call and double the cost of a tight fold). `f` records the item it
/// is on in its `&mut usize`, so a panic is reported at that item, and so is a value whose
/// `Serialize` fails (a failure of the item, not of the runtime: the other workers go on as
/// after a panic). Values are encoded inside, so a panicking `Serialize` is the item's panic.
pub(crate) fn guarded(
    f: impl FnOnce(&mut usize) -> std::result::Result<(), JobError>,
) -> std::result::Result<(), JobError> {
    let mut at = 0;
    match catch_unwind(AssertUnwindSafe(|| f(&mut at))) {
        Ok(Err(JobError::Runtime(Error::Encode { message, .. }))) => {
            Err(JobError::Body(Failure::Encode { index: at, message }))
        }
        Ok(r) => r,
        Err(payload) => Err(JobError::Body(Failure::Panicked {
            index: at,
            message: panic_message(&*payload),
            location: take_panic_location(),
        })),
    }
}

/// Runs `f` on each item of a chunk whose first item is `first`, recording in `at` and
/// publishing through `emit` the item it is on; stops when `f` says `true` (and says so).
fn each_item<I, V, Em: Emit<V>>(
    first: usize,
    items: impl Iterator<Item = I>,
    at: &mut usize,
    emit: &mut Em,
    mut f: impl FnMut(usize, I, &mut Em) -> std::result::Result<bool, JobError>,
) -> std::result::Result<bool, JobError> {
    for (index, item) in (first..).zip(items) {
        *at = index;
        emit.start(index);
        if f(index, item, emit)? {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn failed<E: Display>(index: usize, e: E) -> JobError {
    JobError::Body(Failure::Failed {
        index,
        message: e.to_string(),
    })
}

/// What a job can fail with while running a chunk.
pub(crate) enum JobError {
    Body(Failure),
    Runtime(Error),
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        JobError::Runtime(e)
    }
}

/// One loop form.
pub(crate) trait Job<I> {
    type Value: Transfer;
    /// Items per scheduling unit for a source of `len` items (`None`: a stream).
    fn grain(&self, _len: Option<usize>) -> usize {
        1
    }
    /// Runs consecutive items starting at index `first`, emitting values in order.
    fn run<It: Iterator<Item = I>, E: Emit<Self::Value>>(
        &self,
        first: usize,
        grain: usize,
        items: It,
        emit: &mut E,
    ) -> std::result::Result<(), JobError>;
}

/// `collect`, `unordered` and `for_each`: one value per item (for `for_each` a `()`, which
/// encodes to nothing).
pub(crate) struct Collect<F> {
    body: F,
}

impl<F> Collect<F> {
    pub(crate) fn new(body: F) -> Self {
        Collect { body }
    }
}

impl<I, T: Transfer, E: Display, F: Fn(I) -> std::result::Result<T, E>> Job<I> for Collect<F> {
    type Value = T;
    fn run<It: Iterator<Item = I>, Em: Emit<T>>(
        &self,
        first: usize,
        _: usize,
        items: It,
        emit: &mut Em,
    ) -> std::result::Result<(), JobError> {
        guarded(|at| {
            each_item(first, items, at, emit, |index, item, emit| {
                let v = (self.body)(item).map_err(|e| failed(index, e))?;
                emit.value(v, 1)?;
                Ok(false)
            })
            .map(drop)
        })
    }
}

/// `position_any`: per chunk, the index of its first item for which the predicate holds
/// (ending the chunk there), or `None` for the whole chunk.
pub(crate) struct Find<F> {
    pred: F,
}

impl<F> Find<F> {
    pub(crate) fn new(pred: F) -> Self {
        Find { pred }
    }
}

impl<I, E: Display, F: Fn(I) -> std::result::Result<bool, E>> Job<I> for Find<F> {
    type Value = Option<u64>;
    fn run<It: Iterator<Item = I>, Em: Emit<Option<u64>>>(
        &self,
        first: usize,
        _: usize,
        items: It,
        emit: &mut Em,
    ) -> std::result::Result<(), JobError> {
        guarded(|at| {
            let mut seen = 0;
            let hit = each_item(first, items, at, emit, |index, item, emit| {
                seen += 1;
                let hit = (self.pred)(item).map_err(|e| failed(index, e))?;
                if hit {
                    emit.value(Some(index as u64), seen)?;
                }
                Ok(hit)
            })?;
            if !hit {
                emit.value(None, seen)?;
            }
            Ok(())
        })
    }
}

/// `reduce`: one partial per grain of consecutive items. The fold takes the grain's accumulator
/// by value and gives it back (`Fn(A, I) -> Result<A, E>`): the public `&mut A` folds are wrapped
/// into that form, and `par!`'s reductions move their private copies through the body with no
/// copy or placeholder per item.
pub(crate) struct Reduce<I, F> {
    pub(crate) identity: I,
    fold: F,
    /// The fold gives the same value however its items are grouped (integer and `bool`
    /// operators, `min`/`max` of `Ord` values; see `ops::Sum::EXACT`): a worker then folds each
    /// chunk into one partial, not one per grain. A `[u64; 256]` histogram over 10^7 items
    /// sent 4096 partials of 2 KiB (8 MiB) before; now one per chunk.
    grouped: bool,
}

impl<Id, F> Reduce<Id, F> {
    pub(crate) fn new(identity: Id, fold: F) -> Self {
        Reduce {
            identity,
            fold,
            grouped: false,
        }
    }

    /// A reduction whose fold is exact (see [`Reduce::grouped`]): one partial per chunk.
    pub(crate) fn grouped(mut self, grouped: bool) -> Self {
        self.grouped = grouped;
        self
    }
}

/// Grains per indexed reduction, at most: 16 for each of 256 workers, so that many workers
/// balance (a worker's last grain is a small part of its share). 16,384 was measured too:
/// W10's `[u64; 256]` histogram then sent 32 MiB of partials and took about 2x as long.
const GRAINS: usize = 4096;
/// An input's grains hold at least [`MIN_GRAIN`] items, unless that leaves fewer than this
/// many grains: a partial costs an encode, a decode and a combine, which a grain of a few cheap
/// items would not repay.
const FEW_GRAINS: usize = 1024;
/// See [`FEW_GRAINS`].
const MIN_GRAIN: usize = 16;

/// Items per grain of an indexed reduction of `n` items: fixed by `n` alone (never by the
/// worker count, the schedule or timing), so that a float reduction gives the same bits for
/// any worker count. `n <= 1024`: one item each; up to 16,384 items: about 1024 grains (of at
/// most 16 items); then grains of 16 items up to 65,536 items; above, about 4096 grains.
fn indexed_grain(n: usize) -> usize {
    n.div_ceil(GRAINS)
        .max(n.div_ceil(FEW_GRAINS).min(MIN_GRAIN))
        .max(1)
}
/// Items per grain of a streamed reduction (unless `dynamic(k)` says otherwise).
const STREAM_GRAIN: usize = 64;

impl<I, A: Transfer, E: Display, Id: Fn() -> A, F: Fn(A, I) -> std::result::Result<A, E>> Job<I>
    for Reduce<Id, F>
{
    type Value = A;
    fn grain(&self, len: Option<usize>) -> usize {
        len.map_or(STREAM_GRAIN, indexed_grain)
    }
    fn run<It: Iterator<Item = I>, Em: Emit<A>>(
        &self,
        first: usize,
        grain: usize,
        items: It,
        emit: &mut Em,
    ) -> std::result::Result<(), JobError> {
        guarded(|at| {
            let mut items = items;
            *at = first;
            // Grains are aligned to multiples of `grain` in item-index space, whatever the chunk;
            // a grouped fold takes the whole chunk as one.
            let mut end = if self.grouped {
                usize::MAX
            } else {
                (first / grain + 1) * grain
            };
            loop {
                let start = *at;
                let (acc, rest) =
                    fold_grain(&self.fold, (self.identity)(), items, end - start, at, emit)?;
                items = rest;
                if *at == start {
                    return Ok(());
                }
                emit.value(acc, *at - start)?;
                end = end.saturating_add(grain);
            }
        })
    }
}

/// Folds up to `n` items into `acc`, advancing `index`. Its own function on purpose: the
/// accumulator is a by-value local here, so a tight fold keeps it in a register (inlined into
/// the chunk loop, it was kept in memory and a float sum ran 3x slower).
/// The fold takes `acc` by value and gives it back: for a number that is a register, for a
/// `par!` array reduction a pointer (its copy is boxed, see `ops::Operand::Private`).
/// The items travel the same way, by value and back: through a `&mut` the iterator's position
/// was stored to the caller's memory after every item (a panic in the fold must leave it
/// there), and W10's histogram took 1.3 ns an item in a worker, 1.08 ns without that store.
#[inline(never)]
fn fold_grain<I, A, E, F, Em, It>(
    fold: &F,
    mut acc: A,
    items: It,
    n: usize,
    index: &mut usize,
    emit: &mut Em,
) -> std::result::Result<(A, It), JobError>
where
    E: Display,
    F: Fn(A, I) -> std::result::Result<A, E>,
    Em: Emit<A>,
    It: Iterator<Item = I>,
{
    // A local the body cannot reach (not the argument's memory, which is the caller's): a body
    // LLVM cannot see through (`black_box`, a call) then leaves the position in registers.
    let mut items = items;
    let mut at = *index;
    emit.start(at);
    for item in items.by_ref().take(n) {
        // `index` is what a panic is reported at, the slot what a death or a timeout is: both
        // plain stores, kept in registers by a fold that calls nothing (see `Emit::item`).
        *index = at;
        emit.item(at);
        acc = fold(acc, item).map_err(|e| failed(at, e))?;
        at += 1;
    }
    *index = at;
    Ok((acc, items))
}

/// Sequential mode: the job runs here, item by item, with the same grains as in parallel.
pub(crate) fn run_inline<S: Source, J: Job<S::Item>>(
    src: &mut S,
    job: &J,
    len: Option<usize>,
    progress: Progress,
    cancel: Option<crate::cancel::Cancel>,
) -> Result<Vec<J::Value>> {
    let mut emit = Inline::with_extras(progress, cancel);
    let grain = job.grain(len);
    let r = match len {
        Some(n) => {
            emit.values.reserve_exact(n.div_ceil(grain));
            job.run(0, grain, src.take_range(0, n), &mut emit)
        }
        None => job.run(0, grain, std::iter::from_fn(|| src.next_item()), &mut emit),
    };
    if let Some(x) = &mut emit.extras {
        // The last line of `PAR_PROGRESS=1` (as a team's end prints it).
        x.progress.finish();
    }
    match r {
        Ok(()) => Ok(emit.values),
        Err(JobError::Body(f)) => Err(f.into_error(crate::sys::getpid().as_raw())),
        Err(JobError::Runtime(e)) => Err(e),
    }
}

/// Runs item `index` alone, inline: its value, or how it failed (a keep-going loop in
/// sequential mode).
pub(crate) fn run_one<I, J: Job<I>>(
    job: &J,
    index: usize,
    item: I,
    cancel: Option<crate::cancel::Cancel>,
) -> Result<J::Value> {
    let mut emit = Inline::with_extras(Progress::off(), cancel);
    match job.run(index, 1, std::iter::once(item), &mut emit) {
        Ok(()) => emit.values.pop().ok_or_else(|| Error::Lost {
            index: Some(index),
            pid: Some(crate::sys::getpid().as_raw()),
            message: "the item gave no value".into(),
        }),
        Err(JobError::Body(f)) => Err(f.into_error(crate::sys::getpid().as_raw())),
        Err(JobError::Runtime(e)) => Err(e),
    }
}

/// The emitter of sequential mode: values into a `Vec`, through the codec if `PAR_CHECK=1`.
/// The per-item path is a push and one test: progress and the codec check live apart.
pub(crate) struct Inline<V> {
    pub(crate) values: Vec<V>,
    extras: Option<Box<Extras>>,
}

/// What an inline run does besides collecting: show progress, check values (`PAR_CHECK=1`),
/// stop when cancelled.
struct Extras {
    progress: Progress,
    check: bool,
    index: usize,
    cancel: Option<crate::cancel::Cancel>,
}

impl<V> Inline<V> {
    pub(crate) fn new() -> Self {
        Self::with_progress(Progress::off())
    }

    pub(crate) fn with_progress(progress: Progress) -> Self {
        Self::with_extras(progress, None)
    }

    pub(crate) fn with_extras(progress: Progress, cancel: Option<crate::cancel::Cancel>) -> Self {
        let check = mode::check();
        Inline {
            values: Vec::new(),
            extras: (check || progress.is_shown() || cancel.is_some()).then(|| {
                Box::new(Extras {
                    progress,
                    check,
                    index: 0,
                    cancel,
                })
            }),
        }
    }
}

impl Extras {
    /// `PAR_CHECK=1`: the value as it comes out of the codec.
    #[cold]
    fn value<V: Transfer>(&mut self, value: V, items: usize) -> Result<V> {
        if self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            return Err(Error::Cancelled);
        }
        self.progress.advance(items as u64);
        if !self.check {
            return Ok(value);
        }
        codec::round_trip(value).map_err(|e| match e {
            Error::Encode { message, .. } => Error::Encode {
                index: Some(self.index),
                pid: Some(crate::sys::getpid().as_raw()),
                message,
            },
            Error::Decode { message, .. } => Error::Decode {
                index: Some(self.index),
                pid: Some(crate::sys::getpid().as_raw()),
                message: format!(
                    "PAR_CHECK: the value of item {} does not survive serialization: {message}",
                    self.index
                ),
            },
            other => other,
        })
    }
}

impl<V: Transfer> Emit<V> for Inline<V> {
    fn inline(&self) -> bool {
        true
    }
    #[inline]
    fn start(&mut self, index: usize) {
        if let Some(x) = &mut self.extras {
            x.index = index;
        }
    }
    #[inline]
    fn value(&mut self, value: V, items: usize) -> Result<()> {
        let value = match &mut self.extras {
            Some(x) => x.value(value, items)?,
            None => value,
        };
        self.values.push(value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::indexed_grain;

    /// The grouping the docs describe: 2,048 to 4,096 grains for large inputs (8 to 16 each
    /// for 256 workers), at least 16 items a grain unless that leaves fewer than 1024 grains.
    #[test]
    fn grains_scale_with_the_input_alone() {
        let grains = |n: usize| n.div_ceil(indexed_grain(n));
        for (n, grain) in [
            (0, 1),
            (1, 1),
            (1024, 1),
            (1025, 2),
            (16_384, 16),
            (65_536, 16),
            (100_000, 25),
            (1_000_000, 245),
            (100_000_000, 24_415),
        ] {
            assert_eq!(indexed_grain(n), grain, "n = {n}");
        }
        for n in [70_000, 1_000_000, 10_000_000, 100_000_000, usize::MAX / 2] {
            assert!((2_048..=4_096).contains(&grains(n)), "{n}: {}", grains(n));
        }
        for n in [2_000, 10_000, 16_384] {
            assert!((512..=1024).contains(&grains(n)), "{n}: {}", grains(n));
        }
    }
}
