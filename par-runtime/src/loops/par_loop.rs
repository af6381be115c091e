//! The loop forms on [`Loop`] (collect, for-each, reduce, unordered and their `try_` twins):
//! the public face of the runtime, and what `par!` expands to. The options live in `options`.

use std::convert::Infallible;
use std::fmt::Display;
use std::panic::Location;

use crate::error::{Error, Result};
use crate::loops::exec;
use crate::loops::forms::{Collect, Find, Reduce};
use crate::loops::options::Loop;
use crate::loops::source::IntoSource;
use crate::loops::team::TeamIter;
use crate::wire::codec::Transfer;

impl Loop {
    /// Runs `body` on every item and collects the values in iteration order, like
    /// `src.into_iter().map(body).collect()`.
    ///
    /// # Panics
    ///
    /// If any item fails: a panic in the body (re-raised with its message, location, item index
    /// and worker pid), a worker killed by a signal, or a timeout. Use [`Loop::try_collect`] to
    /// get an [`Error`] instead.
    ///
    /// ```
    /// // Any `IntoIterator` whose items the parent can materialise: ranges ship nothing at all,
    /// // other inputs are collected before the fork and reached by index.
    /// let names = vec!["ada".to_string(), "grace".to_string()];
    /// let lens: Vec<usize> = par::Loop::new().collect(&names, |s| s.len());
    /// assert_eq!(lens, [3, 5]);
    /// let evens: Vec<u64> = par::Loop::new().workers(2).collect(0..5u64, |i| i * 2);
    /// assert_eq!(evens, [0, 2, 4, 6, 8]);
    /// ```
    #[track_caller]
    pub fn collect<S, T, F>(&self, src: S, body: F) -> Vec<T>
    where
        S: IntoSource,
        T: Transfer,
        F: Fn(S::Item) -> T,
    {
        or_panic(self.try_collect(src, |item| Ok::<T, Infallible>(body(item))))
    }

    /// [`Loop::collect`] for a fallible body, returning the first failure (lowest item index)
    /// as an [`Error`]: [`Error::Failed`] when the body returned `Err`, or any other variant.
    ///
    /// ```
    /// let r = par::Loop::new().workers(2).try_collect(0..100u32, |i| {
    ///     if i == 42 { Err(format!("bad item {i}")) } else { Ok(i) }
    /// });
    /// let err = r.unwrap_err();
    /// assert_eq!(err.index(), Some(42));
    /// assert!(err.to_string().contains("bad item 42"));
    /// ```
    #[track_caller]
    pub fn try_collect<S, T, E, F>(&self, src: S, body: F) -> Result<Vec<T>>
    where
        S: IntoSource,
        T: Transfer,
        E: Display,
        F: Fn(S::Item) -> std::result::Result<T, E>,
    {
        exec::run(
            self,
            src.into_source(),
            &Collect::new(body),
            Location::caller(),
        )
    }

    /// Runs `body` on every item for its side effects (files, stdout) in the workers.
    ///
    /// # Panics
    ///
    /// As [`Loop::collect`].
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("par-doc-for-each-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// // Side effects that outlive the worker (files, stdout) are seen by the parent; changes to
    /// // the worker's memory are not (see `par!`).
    /// par::Loop::new().workers(2).for_each(0..3u32, |i| {
    ///     std::fs::write(dir.join(format!("{i}.txt")), i.to_string()).unwrap();
    /// });
    /// assert_eq!(std::fs::read_to_string(dir.join("2.txt")).unwrap(), "2");
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    #[track_caller]
    pub fn for_each<S, F>(&self, src: S, body: F)
    where
        S: IntoSource,
        F: Fn(S::Item),
    {
        or_panic(self.try_for_each(src, |item| {
            body(item);
            Ok::<(), Infallible>(())
        }))
    }

    /// [`Loop::for_each`] for a fallible body; see [`Loop::try_collect`].
    ///
    /// ```
    /// let opts = par::Loop::new().workers(2);
    /// assert!(opts.try_for_each(0..5u32, |_| Ok::<(), String>(())).is_ok());
    /// let r = opts.try_for_each(0..5u32, |i| {
    ///     if i == 3 { Err(format!("item {i}: disk full")) } else { Ok(()) }
    /// });
    /// let e = r.unwrap_err();
    /// assert_eq!(e.index(), Some(3));
    /// assert!(e.to_string().contains("disk full"), "{e}");
    /// ```
    #[track_caller]
    pub fn try_for_each<S, E, F>(&self, src: S, body: F) -> Result<()>
    where
        S: IntoSource,
        E: Display,
        F: Fn(S::Item) -> std::result::Result<(), E>,
    {
        exec::run(
            self,
            src.into_source(),
            &Collect::new(body),
            Location::caller(),
        )
        .map(drop)
    }

    /// A reduction: every *grain* of consecutive items starts from `identity()` and is folded
    /// with `fold`, then the grains' partials are combined with `combine` **in iteration order**.
    /// The grains depend only on the input's length (about 4096 of them for a large input, see
    /// the README's "Reduction order"; a stream's hold 64 items each), never on the worker
    /// count, the schedule or timing, so a float sum is bit-identical for any number of
    /// workers, including sequential mode.
    ///
    /// ```
    /// let sum = |w| par::Loop::new().workers(w)
    ///     .reduce(0..100_000u32, || 0.0f64, |acc, i| *acc += 1.0 / (i as f64 + 1.0), |a, b| a + b);
    /// assert_eq!(sum(1).to_bits(), sum(3).to_bits());
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Loop::collect`].
    #[track_caller]
    pub fn reduce<S, A, I, Fo, C>(&self, src: S, identity: I, fold: Fo, combine: C) -> A
    where
        S: IntoSource,
        A: Transfer,
        I: Fn() -> A,
        Fo: Fn(&mut A, S::Item),
        C: Fn(A, A) -> A,
    {
        or_panic(self.try_reduce(src, identity, never_fails_mut(fold), combine))
    }

    /// [`Loop::reduce`] for a fallible fold; see [`Loop::try_collect`].
    ///
    /// ```
    /// // The sum of numbers written as text; one that does not parse fails the loop, naming it.
    /// let sum = |words: Vec<&str>| par::Loop::new().workers(2).try_reduce(
    ///     words,
    ///     || 0u32,
    ///     |acc, w| {
    ///         *acc += w.parse::<u32>().map_err(|e| format!("{w:?}: {e}"))?;
    ///         Ok::<(), String>(())
    ///     },
    ///     |a, b| a + b,
    /// );
    /// assert_eq!(sum(vec!["1", "2", "3", "4"]).unwrap(), 10);
    /// let e = sum(vec!["1", "2", "x", "4"]).unwrap_err();
    /// assert_eq!(e.index(), Some(2));
    /// assert!(e.to_string().contains("\"x\""), "{e}");
    /// ```
    #[track_caller]
    pub fn try_reduce<S, A, E, I, Fo, C>(
        &self,
        src: S,
        identity: I,
        fold: Fo,
        combine: C,
    ) -> Result<A>
    where
        S: IntoSource,
        A: Transfer,
        E: Display,
        I: Fn() -> A,
        Fo: Fn(&mut A, S::Item) -> std::result::Result<(), E>,
        C: Fn(A, A) -> A,
    {
        self.__try_reduce_by_value(src, identity, by_value(fold), combine, false)
    }

    /// [`Loop::reduce`] for a fold whose result does not depend on how the items are grouped
    /// (integer sums and counts, `min`/`max` of `Ord` values, bitwise operators, set unions,
    /// histograms of integers): a worker folds each whole chunk into one partial, instead of
    /// one partial per grain, so a large accumulator (a histogram, a map) travels and combines
    /// once per chunk, not about 4096 times. `combine` must still be associative and `identity()`
    /// its identity; the partials are still combined in iteration order. Not for a float sum:
    /// its last bits would then depend on the worker count and the schedule ([`Loop::reduce`]
    /// keeps them the same).
    ///
    /// ```
    /// // A 256-bin histogram: one 2 KiB partial per chunk instead of one per grain.
    /// let bins = |w| par::Loop::new().workers(w).reduce_exact(
    ///     0..1_000_000u64,
    ///     || vec![0u64; 256],
    ///     |h, i| h[(i.wrapping_mul(2_654_435_761) % 256) as usize] += 1,
    ///     |mut a, b| { a.iter_mut().zip(b).for_each(|(x, y)| *x += y); a },
    /// );
    /// let h = bins(2);
    /// assert_eq!(h.iter().sum::<u64>(), 1_000_000);
    /// assert_eq!(h, bins(1));
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Loop::collect`].
    #[track_caller]
    pub fn reduce_exact<S, A, I, Fo, C>(&self, src: S, identity: I, fold: Fo, combine: C) -> A
    where
        S: IntoSource,
        A: Transfer,
        I: Fn() -> A,
        Fo: Fn(&mut A, S::Item),
        C: Fn(A, A) -> A,
    {
        or_panic(self.try_reduce_exact(src, identity, never_fails_mut(fold), combine))
    }

    /// [`Loop::reduce_exact`] for a fallible fold; see [`Loop::try_reduce`].
    ///
    /// ```
    /// let longest = par::Loop::new().workers(2).try_reduce_exact(
    ///     vec!["a", "abc", "ab"],
    ///     || 0usize,
    ///     |best, w| { *best = (*best).max(w.len()); Ok::<(), String>(()) },
    ///     |a, b| a.max(b),
    /// );
    /// assert_eq!(longest.unwrap(), 3);
    /// ```
    #[track_caller]
    pub fn try_reduce_exact<S, A, E, I, Fo, C>(
        &self,
        src: S,
        identity: I,
        fold: Fo,
        combine: C,
    ) -> Result<A>
    where
        S: IntoSource,
        A: Transfer,
        E: Display,
        I: Fn() -> A,
        Fo: Fn(&mut A, S::Item) -> std::result::Result<(), E>,
        C: Fn(A, A) -> A,
    {
        self.__try_reduce_by_value(src, identity, by_value(fold), combine, true)
    }

    /// Keep going, for a reduction: folds every item whatever fails, and returns the
    /// reduction of the items that succeeded and the failures, in item order. A panic, an
    /// `Err`, a crash, a kill or a timeout leaves out only its item (as in
    /// [`Loop::try_collect_each`], whose rules it follows). Each item's fold starts from
    /// `identity()` and travels to the parent on its own, so that a crash loses no other item:
    /// the partials are then combined in item order, so the result is the same for any number
    /// of workers (but can differ in the last bits of a float sum from [`Loop::reduce`], whose
    /// partials cover grains of items).
    ///
    /// ```
    /// let (sum, failed) = par::Loop::new().workers(2).try_reduce_each(
    ///     0..10u64,
    ///     || 0,
    ///     |acc, i| {
    ///         if i == 3 { panic!("three") }
    ///         if i == 5 { return Err("five") }
    ///         *acc += i;
    ///         Ok(())
    ///     },
    ///     |a, b| a + b,
    /// ).unwrap();
    /// assert_eq!(sum, 45 - 3 - 5);
    /// assert_eq!(failed.iter().map(|e| e.index()).collect::<Vec<_>>(), [Some(3), Some(5)]);
    /// ```
    #[track_caller]
    pub fn try_reduce_each<S, A, E, I, Fo, C>(
        &self,
        src: S,
        identity: I,
        fold: Fo,
        combine: C,
    ) -> Result<(A, Vec<Error>)>
    where
        S: IntoSource,
        A: Transfer,
        E: Display,
        I: Fn() -> A,
        Fo: Fn(&mut A, S::Item) -> std::result::Result<(), E>,
        C: Fn(A, A) -> A,
    {
        self.__try_reduce_each_by_value(src, identity, by_value(fold), combine)
    }

    /// [`Loop::try_reduce_each`] for an infallible fold, that panics only on a failure of the
    /// loop itself (a fork refused, a cancel).
    ///
    /// ```
    /// let (sum, failed) = par::Loop::new().workers(2).reduce_each(
    ///     0..10u64,
    ///     || 0,
    ///     |acc, i| {
    ///         if i == 7 { panic!("seven") }
    ///         *acc += i;
    ///     },
    ///     |a, b| a + b,
    /// );
    /// assert_eq!(sum, 45 - 7); // every item but 7
    /// assert_eq!(failed.len(), 1);
    /// assert!(matches!(failed[0], par::Error::Panicked { index: 7, .. }));
    /// ```
    #[track_caller]
    pub fn reduce_each<S, A, I, Fo, C>(
        &self,
        src: S,
        identity: I,
        fold: Fo,
        combine: C,
    ) -> (A, Vec<Error>)
    where
        S: IntoSource,
        A: Transfer,
        I: Fn() -> A,
        Fo: Fn(&mut A, S::Item),
        C: Fn(A, A) -> A,
    {
        or_panic(self.try_reduce_each(src, identity, never_fails_mut(fold), combine))
    }

    /// [`Loop::try_reduce`] with a fold that takes the accumulator by value and gives it back:
    /// what `par!`'s reductions call, moving their private copies through the body with no
    /// copy or placeholder per item. `exact`: the fold gives the same value however the items
    /// are grouped (par!'s integer, `bool` and `Ord` operators), so a worker folds each chunk
    /// into one partial instead of one per grain. Not public API.
    #[doc(hidden)]
    #[track_caller]
    pub fn __try_reduce_by_value<S, A, E, I, Fo, C>(
        &self,
        src: S,
        identity: I,
        fold: Fo,
        combine: C,
        exact: bool,
    ) -> Result<A>
    where
        S: IntoSource,
        A: Transfer,
        E: Display,
        I: Fn() -> A,
        Fo: Fn(A, S::Item) -> std::result::Result<A, E>,
        C: Fn(A, A) -> A,
    {
        let job = Reduce::new(identity, fold).grouped(exact);
        let partials: Vec<A> = exec::run(self, src.into_source(), &job, Location::caller())?;
        Ok(partials
            .into_iter()
            .reduce(combine)
            .unwrap_or_else(|| (job.identity)()))
    }

    /// [`Loop::__try_reduce_by_value`] for an infallible fold. Not public API.
    #[doc(hidden)]
    #[track_caller]
    pub fn __reduce_by_value<S, A, I, Fo, C>(
        &self,
        src: S,
        identity: I,
        fold: Fo,
        combine: C,
        exact: bool,
    ) -> A
    where
        S: IntoSource,
        A: Transfer,
        I: Fn() -> A,
        Fo: Fn(A, S::Item) -> A,
        C: Fn(A, A) -> A,
    {
        or_panic(self.__try_reduce_by_value(src, identity, never_fails(fold), combine, exact))
    }

    /// [`Loop::try_reduce_each`] with a by-value fold (see [`Loop::__try_reduce_by_value`]).
    /// Not public API.
    #[doc(hidden)]
    #[track_caller]
    pub fn __try_reduce_each_by_value<S, A, E, I, Fo, C>(
        &self,
        src: S,
        identity: I,
        fold: Fo,
        combine: C,
    ) -> Result<(A, Vec<Error>)>
    where
        S: IntoSource,
        A: Transfer,
        E: Display,
        I: Fn() -> A,
        Fo: Fn(A, S::Item) -> std::result::Result<A, E>,
        C: Fn(A, A) -> A,
    {
        let each = self.try_collect_each(src, |item| fold(identity(), item))?;
        let mut acc = identity();
        let mut failed = Vec::new();
        for r in each {
            match r {
                Ok(partial) => acc = combine(acc, partial),
                Err(e) => failed.push(e),
            }
        }
        Ok((acc, failed))
    }

    /// [`Loop::__try_reduce_each_by_value`] for an infallible fold. Not public API.
    #[doc(hidden)]
    #[track_caller]
    pub fn __reduce_each_by_value<S, A, I, Fo, C>(
        &self,
        src: S,
        identity: I,
        fold: Fo,
        combine: C,
    ) -> (A, Vec<Error>)
    where
        S: IntoSource,
        A: Transfer,
        I: Fn() -> A,
        Fo: Fn(A, S::Item) -> A,
        C: Fn(A, A) -> A,
    {
        or_panic(self.__try_reduce_each_by_value(src, identity, never_fails(fold), combine))
    }

    /// Keep going: runs `body` on every item whatever fails, and returns one `Result` per item,
    /// in order. A panic, an `Err` from the body, a crash, a kill or a timeout fails only its
    /// item: the failed worker is replaced and the rest of its work goes to the others, so no
    /// other item is lost or runs twice (a keep-going worker sends each value as soon as it is
    /// made). With [`Loop::retries`], deaths and timeouts (and with `retry_panics`, panics) are
    /// retried first; an item that failed every attempt holds [`Error::Retried`]. Failures
    /// of the loop itself (a fork refused, a corrupt frame, a cancel) are the outer `Err`.
    /// (joblib#367 asks for this since 2016; `concurrent.futures` loses the pool instead.)
    ///
    /// For reductions see [`Loop::reduce_each`]; streams run to their first failure; in
    /// sequential mode a crash is the caller's.
    ///
    /// ```
    /// let out = par::Loop::new().workers(2).try_collect_each(0..6u32, |i| {
    ///     if i == 2 { panic!("two is bad") }
    ///     if i == 4 { return Err(format!("four is worse")) }
    ///     Ok(i * 10)
    /// }).unwrap();
    /// assert_eq!(out[0].as_ref().ok(), Some(&0));
    /// assert!(matches!(out[2], Err(par::Error::Panicked { index: 2, .. })));
    /// assert!(matches!(out[4], Err(par::Error::Failed { index: 4, .. })));
    /// assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 4);
    /// ```
    #[track_caller]
    pub fn try_collect_each<S, T, E, F>(&self, src: S, body: F) -> Result<Vec<Result<T>>>
    where
        S: IntoSource,
        T: Transfer,
        E: Display,
        F: Fn(S::Item) -> std::result::Result<T, E>,
    {
        exec::run_each(
            self,
            src.into_source(),
            &Collect::new(body),
            Location::caller(),
        )
    }

    /// [`Loop::try_collect_each`] that panics only on a failure of the loop itself.
    ///
    /// ```
    /// let out = par::Loop::new().workers(3).collect_each(vec!["4", "x", "16"], |s| s.parse::<u32>());
    /// assert_eq!(out.len(), 3); // one `Result` per item, in order
    /// assert_eq!(out[0].as_ref().ok(), Some(&4));
    /// assert!(matches!(out[1], Err(par::Error::Failed { index: 1, .. })));
    /// assert_eq!(out[2].as_ref().ok(), Some(&16));
    /// ```
    #[track_caller]
    pub fn collect_each<S, T, E, F>(&self, src: S, body: F) -> Vec<Result<T>>
    where
        S: IntoSource,
        T: Transfer,
        E: Display,
        F: Fn(S::Item) -> std::result::Result<T, E>,
    {
        or_panic(self.try_collect_each(src, body))
    }

    /// Looks for an item for which `pred` is true and returns its index, stopping the search
    /// as soon as one is found: workers still running are killed, no new item starts (rayon's
    /// `position_any`). Which match is returned, when several items match, depends on timing;
    /// `None` when no item matches (every item was looked at).
    ///
    /// ```
    /// let hit = par::Loop::new().workers(2).position_any(0..1_000_000u64, |i| i * i == 49);
    /// assert_eq!(hit, Some(7));
    /// assert_eq!(par::Loop::new().workers(2).position_any(0..100u32, |_| false), None);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Loop::collect`].
    #[track_caller]
    pub fn position_any<S, F>(&self, src: S, pred: F) -> Option<usize>
    where
        S: IntoSource,
        F: Fn(S::Item) -> bool,
    {
        or_panic(self.try_position_any(src, |item| Ok::<bool, Infallible>(pred(item))))
    }

    /// [`Loop::position_any`] for a fallible predicate; see [`Loop::try_collect`].
    ///
    /// ```
    /// let opts = par::Loop::new().workers(2);
    /// let hit = opts.try_position_any(vec!["10", "20", "30"], |s| s.parse::<u32>().map(|n| n == 30));
    /// assert_eq!(hit.unwrap(), Some(2));
    /// // No match, and an item whose predicate fails: the failure, naming the item.
    /// let r = opts.try_position_any(vec!["10", "oops", "30"], |s| s.parse::<u32>().map(|n| n == 99));
    /// assert_eq!(r.unwrap_err().index(), Some(1));
    /// ```
    #[track_caller]
    pub fn try_position_any<S, E, F>(&self, src: S, pred: F) -> Result<Option<usize>>
    where
        S: IntoSource,
        E: Display,
        F: Fn(S::Item) -> std::result::Result<bool, E>,
    {
        let found = exec::run_until(
            self,
            src.into_source(),
            &Find::new(pred),
            Location::caller(),
            Some(Option::is_some),
        )?;
        Ok(found.into_iter().flatten().next().map(|i| i as usize))
    }

    /// True when `pred` holds for some item; stops at the first found (see
    /// [`Loop::position_any`]).
    ///
    /// ```
    /// assert!(par::Loop::new().workers(2).any(0..10_000u32, |i| i == 9_999));
    /// ```
    #[track_caller]
    pub fn any<S, F>(&self, src: S, pred: F) -> bool
    where
        S: IntoSource,
        F: Fn(S::Item) -> bool,
    {
        self.position_any(src, pred).is_some()
    }

    /// Runs `body` on every item and yields the values **as they complete** (pprocess' `Queue`).
    /// Workers are forked when this is called; dropping the iterator early kills and reaps them.
    ///
    /// ```
    /// let mut got: Vec<u32> = par::Loop::new().workers(2).unordered(0..50u32, |i| i * 3).collect();
    /// got.sort();
    /// assert_eq!(got, (0..50).map(|i| i * 3).collect::<Vec<_>>());
    /// ```
    ///
    /// # Panics
    ///
    /// The iterator's `next` panics as [`Loop::collect`] does when an item fails.
    #[track_caller]
    pub fn unordered<'a, S, T, F>(&self, src: S, body: F) -> Unordered<'a, T>
    where
        S: IntoSource + 'a,
        S::Source: 'a,
        T: Transfer + 'a,
        F: Fn(S::Item) -> T + 'a,
    {
        Unordered {
            inner: self.try_unordered(src, move |item| Ok::<T, Infallible>(body(item))),
        }
    }

    /// [`Loop::unordered`] yielding `Result`s: after the first `Err` the iterator ends.
    ///
    /// ```
    /// let opts = par::Loop::new().workers(2);
    /// let mut ok: Vec<u32> = opts
    ///     .try_unordered(0..5u32, |i| Ok::<u32, String>(i * i))
    ///     .map(|r| r.unwrap())
    ///     .collect();
    /// ok.sort();
    /// assert_eq!(ok, [0, 1, 4, 9, 16]);
    /// let got: Vec<par::Result<u32>> = opts
    ///     .try_unordered(0..100u32, |i| if i == 50 { Err(format!("item {i}")) } else { Ok(i) })
    ///     .collect();
    /// // Some values (as they completed), then the failure, then the end.
    /// assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
    /// assert_eq!(got.last().unwrap().as_ref().unwrap_err().index(), Some(50));
    /// ```
    #[track_caller]
    pub fn try_unordered<'a, S, T, E, F>(&self, src: S, body: F) -> TryUnordered<'a, T>
    where
        S: IntoSource + 'a,
        S::Source: 'a,
        T: Transfer + 'a,
        E: Display + 'a,
        F: Fn(S::Item) -> std::result::Result<T, E> + 'a,
    {
        TryUnordered {
            inner: exec::start_iter(
                self,
                src.into_source(),
                Collect::new(body),
                Location::caller(),
                false,
            ),
        }
    }

    /// Runs `body` on every item and yields the values **in item order**, each as soon as it
    /// and every item before it are done (Python's `imap`, OpenMP's `ordered`): "process in
    /// parallel, write the output in order as it comes". Workers are forked when this is
    /// called; dropping the iterator early kills and reaps them.
    ///
    /// Memory is bounded, whatever the input's length: the loop never runs more than a window
    /// of `4 x workers` chunks ahead of the first value the caller has not taken yet, so it
    /// buffers at most that many values and pulls a [`stream`](crate::stream) no further. A
    /// chunk holds at most 64 items (or `k` for `dynamic(k)` with a larger `k`): a slow item
    /// holds back the values after it, never the work on them within the window. `static`
    /// runs as `auto` here (a block per worker would be past the window). Like
    /// [`Loop::unordered`], it does not retry items or recycle workers; inline (one worker,
    /// sequential mode) it runs one item per `next`.
    ///
    /// ```
    /// use std::io::Write;
    /// let mut out = Vec::new();
    /// for line in par::Loop::new().workers(2).ordered(0..5u32, |i| format!("line {i}")) {
    ///     writeln!(out, "{line}").unwrap(); // written as soon as it and the lines before it are in
    /// }
    /// assert_eq!(String::from_utf8(out).unwrap(), "line 0\nline 1\nline 2\nline 3\nline 4\n");
    /// ```
    ///
    /// # Panics
    ///
    /// The iterator's `next` panics as [`Loop::collect`] does when an item fails, once every
    /// value before that item has been yielded.
    #[track_caller]
    pub fn ordered<'a, S, T, F>(&self, src: S, body: F) -> InOrder<'a, T>
    where
        S: IntoSource + 'a,
        S::Source: 'a,
        T: Transfer + 'a,
        F: Fn(S::Item) -> T + 'a,
    {
        InOrder {
            inner: self.try_ordered(src, move |item| Ok::<T, Infallible>(body(item))),
        }
    }

    /// [`Loop::ordered`] yielding `Result`s: the values before the first failing item, then
    /// that item's `Err` (its index is the failing item's), then the end. Never a gap: when a
    /// worker dies, the values of the items it ran before the one it died on die with it (a
    /// worker sends a chunk's values together); the `Err` then comes in place of the first of
    /// them, an [`Error::Lost`](crate::Error::Lost) naming the missing items and the death.
    ///
    /// ```
    /// let got: Vec<_> = par::Loop::new().workers(2).try_ordered(0..10u32, |i| {
    ///     if i == 6 { Err(format!("six")) } else { Ok(i * 2) }
    /// }).collect();
    /// assert_eq!(got.len(), 7);
    /// assert_eq!(got[5].as_ref().ok(), Some(&10));
    /// assert_eq!(got[6].as_ref().unwrap_err().index(), Some(6));
    /// ```
    #[track_caller]
    pub fn try_ordered<'a, S, T, E, F>(&self, src: S, body: F) -> TryInOrder<'a, T>
    where
        S: IntoSource + 'a,
        S::Source: 'a,
        T: Transfer + 'a,
        E: Display + 'a,
        F: Fn(S::Item) -> std::result::Result<T, E> + 'a,
    {
        TryInOrder {
            inner: exec::start_iter(
                self,
                src.into_source(),
                Collect::new(body),
                Location::caller(),
                true,
            ),
        }
    }
}

/// Values in item order, as soon as each and the items before it are done; see
/// [`Loop::ordered`].
///
/// ```
/// let firsts: Vec<u64> = par::Loop::new().ordered(0..1_000_000u64, |i| i * i).take(3).collect();
/// assert_eq!(firsts, [0, 1, 4]); // dropping the iterator stops the rest
/// ```
pub struct InOrder<'a, T: Transfer> {
    inner: TryInOrder<'a, T>,
}

impl<T: Transfer> Iterator for InOrder<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.inner.next().map(or_panic)
    }
}

/// Values in item order, then the first failure; see [`Loop::try_ordered`].
///
/// ```
/// let mut it = par::Loop::new().try_ordered(0..3u8, |i| Ok::<u8, String>(i + 1));
/// assert_eq!(it.next().unwrap().unwrap(), 1);
/// ```
pub struct TryInOrder<'a, T: Transfer> {
    inner: TeamIter<'a, T>,
}

impl<T: Transfer> Iterator for TryInOrder<'_, T> {
    type Item = Result<T, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

/// Re-raises a loop's failure in the caller. `#[track_caller]` (here and on the forms that
/// call it) makes the panic's location the user's `par!` or `Loop` call, not this file; the
/// message carries the worker's own report (item, pid, location of the original panic).
#[track_caller]
pub(crate) fn or_panic<T>(r: Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// Results as they complete; see [`Loop::unordered`].
///
/// ```
/// let total: u64 = par::Loop::new().workers(2).unordered(1..=100u64, |i| i).sum();
/// assert_eq!(total, 5050); // any order, every value once
/// ```
pub struct Unordered<'a, T: Transfer> {
    inner: TryUnordered<'a, T>,
}

impl<T: Transfer> Iterator for Unordered<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.inner.next().map(or_panic)
    }
}

/// Results (or the first failure) as they complete; see [`Loop::try_unordered`].
///
/// ```
/// let it: par::TryUnordered<u32> = par::Loop::new().try_unordered(0..3u32, |i| Ok::<u32, String>(i));
/// let mut v: Vec<u32> = it.collect::<par::Result<_>>().unwrap();
/// v.sort();
/// assert_eq!(v, [0, 1, 2]);
/// ```
pub struct TryUnordered<'a, T: Transfer> {
    inner: TeamIter<'a, T>,
}

impl<T: Transfer> Iterator for TryUnordered<'_, T> {
    type Item = Result<T, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

/// An infallible `&mut` fold as the fallible one the `try_` forms take.
fn never_fails_mut<A, T>(
    fold: impl Fn(&mut A, T),
) -> impl Fn(&mut A, T) -> std::result::Result<(), Infallible> {
    move |acc, item| {
        fold(acc, item);
        Ok(())
    }
}

/// An infallible by-value fold as the fallible one.
fn never_fails<A, T>(
    fold: impl Fn(A, T) -> A,
) -> impl Fn(A, T) -> std::result::Result<A, Infallible> {
    move |acc, item| Ok(fold(acc, item))
}

/// A `&mut` fold as the by-value fold the reduction job runs: the accumulator is moved in and
/// out, a local of the grain's loop (see `forms::fold_grain`).
fn by_value<A, T, E>(
    fold: impl Fn(&mut A, T) -> std::result::Result<(), E>,
) -> impl Fn(A, T) -> std::result::Result<A, E> {
    move |mut acc, item| fold(&mut acc, item).map(|()| acc)
}
