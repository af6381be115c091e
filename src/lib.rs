//! par: a par construct for Rust. Mark a loop, and its iterations run in forked worker
//! processes: the body needs no `Send`, `Sync` or `'static`, a crash in one item is reported
//! instead of killing the program, and only the results travel back, serialized over pipes.
//!
//! Converting a sequential loop, one loop at a time, by wrapping it (the README's example):
//!
//! ```
//! # struct Scene { width: u32 }
//! # fn render_row(scene: &Scene, y: u32) -> Vec<u8> {
//! #     (0..scene.width).map(|x| (x * 7 + y * 13) as u8).collect()
//! # }
//! # fn trial(s: u64) -> bool { s.wrapping_mul(2_654_435_761) % 100 < 30 }
//! # let (scene, height, samples) = (Scene { width: 64 }, 48u32, 10_000u64);
//! use par::par;
//!
//! // before
//! let mut rows = Vec::new();
//! for y in 0..height { rows.push(render_row(&scene, y)); }
//! # let before = rows;
//!
//! // after: the same rows in the same order, one worker process per core
//! let rows: Vec<Vec<u8>> = par!(for y in 0..height { render_row(&scene, y) });
//!
//! // reductions, OpenMP style: the body stays as it was (float sums are bit-identical for any worker count)
//! let mut hits = 0u64;
//! par!(reduce(+: hits), for s in 0..samples { hits += trial(s) as u64; });
//! # assert_eq!(rows, before);
//! # assert_eq!(hits, (0..samples).filter(|&s| trial(s)).count() as u64);
//! ```
//!
//! The package is `forkpar` on crates.io (the name `par` is taken there); its library is
//! `par`. Add it, and `serde`'s derive for your own result types:
//!
//! ```toml
//! [dependencies]
//! forkpar = "0.1"    # cargo add forkpar
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! The rest of this page: [the forms](#the-forms) (a loop, a callable, jobs), [the
//! clauses](#the-clauses) a loop takes, [the error type](#errors), and [the model in one
//! page](#the-model-in-one-page). [`converting`] shows each sequential loop shape beside its
//! `par!` form.
//!
//! # The forms
//!
//! | Form | What it runs in worker processes | Like |
//! |---|---|---|
//! | [`par!`] | a `for` loop's iterations; its value is a `Vec` of the body's values, in order | OpenMP's `parallel for` |
//! | [`#[parallel]`](parallel) | a free function's calls, submitted to a `Queue`, `Map` or `Pool`; a `#[par]` loop inside it | pprocess' `MakeParallel` |
//! | [`Queue`], [`Map`], [`pmap`] | one forked child per job (a closure or a `#[parallel]` call), at most `limit` at once; results in completion order, in submission order | pprocess' `Queue`, `Map`, `pmap` |
//! | [`Pool`] | calls of `#[parallel]` functions on reusable workers, forked once | `multiprocessing.Pool` |
//! | [`start`], [`Channel`], [`Exchange`] | a child with a typed duplex channel to its parent; many such channels at once | pprocess' `start`, `Exchange` |
//! | [`background`], [`BackgroundQueue`] | a detached process whose result waits at a Unix socket for a later collector | pprocess' `BackgroundCallable` |
//! | [`join`] | two closures at once | rayon's `join`, OpenMP's `sections` |
//! | [`Loop`] | what `par!` expands to, as methods (`collect`, `reduce`, `for_each_mut`, ...) | rayon's `par_iter` |
//!
//! A loop over your own result type (it derives serde's traits, as every value that travels
//! back must: [`Transfer`]):
//!
//! ```
//! use par::par;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Stats {
//!     n: u64,
//!     steps: u32,
//! }
//!
//! fn collatz(mut n: u64) -> u32 {
//!     let mut steps = 0;
//!     while n != 1 {
//!         n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
//!         steps += 1;
//!     }
//!     steps
//! }
//!
//! let stats: Vec<Stats> = par!(for n in 1..=1000u64 { Stats { n, steps: collatz(n) } });
//! assert_eq!(stats[26], Stats { n: 27, steps: 111 });
//! ```
//!
//! A function whose calls run as jobs, in forked children (a [`Queue`]) or on reusable
//! workers (a [`Pool`]); [`Map`] and [`pmap`] keep the submission order:
//!
//! ```
//! #[par::parallel]
//! fn checksum(seed: u64, len: usize) -> u64 {
//!     (0..len as u64).fold(seed, |h, x| h.rotate_left(5) ^ x)
//! }
//!
//! // A forked child per call, at most 2 at once; results as they complete.
//! let mut queue = par::Queue::new(2);
//! for seed in 0..4 {
//!     checksum::spawn(&mut queue, seed, 1000);
//! }
//! let mut sums: Vec<(usize, u64)> = queue.map(|(job, r)| (job, r.unwrap())).collect();
//! sums.sort();
//! assert_eq!(sums[3].1, checksum(3, 1000));
//!
//! // Reusable workers, forked once; `ordered` yields the results in submission order.
//! let mut pool = par::Pool::new(2);
//! for seed in 0..4 {
//!     checksum::spawn(&mut pool, seed, 1000);
//! }
//! let in_order: Vec<u64> = pool.ordered().map(|r| r.unwrap()).collect();
//! assert_eq!(in_order, (0..4).map(|s| checksum(s, 1000)).collect::<Vec<_>>());
//!
//! // A closure per job, results in submission order.
//! let squares: Vec<u32> = par::pmap(|x: u32| x * x, 0..6, 2).map(|r| r.unwrap()).collect();
//! assert_eq!(squares, [0, 1, 4, 9, 16, 25]);
//! ```
//!
//! A child that talks to its parent, and two computations at once:
//!
//! ```
//! use par::Channel;
//!
//! // The child doubles what it receives until the parent closes its end.
//! let mut ch: Channel<u32, u32> = par::start(|ch: &mut Channel<u32, u32>| {
//!     while let Ok(Some(x)) = ch.recv() {
//!         ch.send(&(x * 2)).unwrap();
//!     }
//! })
//! .unwrap();
//! ch.send(&21).unwrap();
//! assert_eq!(ch.recv().unwrap(), Some(42));
//! ch.join().unwrap();
//!
//! let (evens, odds) = par::join(
//!     || (0..1000u64).filter(|x| x % 2 == 0).sum::<u64>(),
//!     || (0..1000u64).filter(|x| x % 2 == 1).sum::<u64>(),
//! );
//! assert_eq!(evens + odds, 999 * 1000 / 2);
//! ```
//!
//! The `simple*` examples port pprocess' tutorial programs one by one.
//!
//! # The clauses
//!
//! Clauses go before the `for`, separated by commas: `par!(workers = 4, timeout = d, for ...)`.
//! Each is a [`Loop`] method too (`Loop::new().workers(4).timeout(d)`), where it is documented
//! with an example:
//!
//! | Clause | What it does | Documented at |
//! |---|---|---|
//! | `workers = n` | the number of worker processes (default: [`default_workers`], `PAR_WORKERS`) | [`Loop::workers`] |
//! | `schedule = s` | how items are cut into chunks: `static`, `dynamic(k)`, `guided`, `auto`, `runtime` (`PAR_SCHEDULE`) | [`Schedule`], [`Loop::schedule_from_env`] |
//! | `if = cond` | false runs the loop inline, true always forks | [`Loop::parallel`] |
//! | `reduce(op: var, ...)` | OpenMP's `reduction`: `+ - * min max & \| ^ && \|\|` or a `fn` path | [`par!`] |
//! | `private(var, ...)` | each item gets its own copy of a scratch variable | [`par!`](par!#scratch-private) |
//! | `collapse(k)` | one loop over all iterations of `k` nested loops | [`par!`](par!#nested-loops-collapse) |
//! | `try` | failures come back as `Err(par::Error)`, and `?` works in the body | [`Loop::try_collect`] |
//! | `keep_going` | one `Result` per item: a failure fails only its item | [`Loop::collect_each`] |
//! | `find` | the index of an item whose predicate held; the rest is killed | [`Loop::position_any`] |
//! | `unordered` | an iterator of the values as they complete | [`Loop::unordered`] |
//! | `ordered` | an iterator of the values in order, each as soon as it is ready | [`Loop::ordered`] |
//! | `stream` | pulls a lazy, even endless, iterator as workers need items | [`stream`] |
//! | `timeout = d` | a worker running one item longer is killed, the item reported | [`Loop::timeout`] |
//! | `retries = n`, `retry_panics` | an item whose worker died or timed out runs again | [`Loop::retries`], [`Loop::retry_panics`] |
//! | `cancel = &handle` | `handle.cancel()` stops the loop, killing its workers | [`Cancel`], [`Loop::cancel`] |
//! | `memory_limit = bytes` | each worker's data is limited; a runaway item fails alone | [`Loop::memory_limit`] |
//! | `threads_per_worker = n` | the thread pools of BLAS, OpenMP, rayon in each worker | [`Loop::threads_per_worker`] |
//! | `proc_bind = b` | binds workers to CPUs (OpenMP's `proc_bind`, `PAR_PLACES`) | [`ProcBind`], [`Loop::proc_bind`] |
//! | `progress` | a progress bar on stderr | [`Loop::progress`], [`progress`] |
//! | `report` | a report of each worker's items and time when the loop ends | [`Loop::report`], [`LoopReport`] |
//! | `crate = path` | the path of the `par` crate when it is renamed | [`par!`] |
//!
//! ```
//! use std::time::Duration;
//! use par::par;
//!
//! let v = par!(workers = 2, schedule = dynamic(16), timeout = Duration::from_secs(5),
//!              for x in 0..1000u32 { x % 7 });
//! assert_eq!(v.len(), 1000);
//!
//! let primes = [2u32, 3, 5, 7, 11, 13];
//! let hit = par!(find, for p in &primes { *p > 6 }); // the index of a hit, not the lowest
//! assert!(hit.is_some_and(|i| primes[i] > 6));
//!
//! let each: Vec<Result<u32, par::Error>> = par!(keep_going, for x in 0..4u32 {
//!     if x == 2 { panic!("two") }
//!     x * 10
//! });
//! assert!(each[2].is_err() && each[3].as_ref().is_ok_and(|&v| v == 30));
//! ```
//!
//! # Errors
//!
//! A loop without `try` or `keep_going` panics in the caller when an item fails, with the
//! message of the item's failure. With them, a failure is an [`Error`]: one enum for every
//! form, whose variants say what happened (a panic, an `Err`, a worker's death, a timeout,
//! a cancel, ...), at which item and in which worker process. [`Death`] says how a worker
//! died; [`Error::index`] is the item to rerun sequentially.
//!
//! ```
//! use par::{par, Death, Error};
//!
//! let r: Result<Vec<u32>, Error> = par!(try, for s in ["1", "2", "x"] { s.parse::<u32>()? });
//! let err = r.unwrap_err();
//! assert_eq!(err.index(), Some(2));
//! match &err {
//!     Error::Failed { message, .. } => assert_eq!(message, "invalid digit found in string"),
//!     Error::Panicked { message, location, .. } => panic!("a panic at {location:?}: {message}"),
//!     Error::WorkerDied { death: Death::Signal(sig), .. } => panic!("killed by signal {sig}"),
//!     Error::TimedOut { timeout, .. } => panic!("ran past {timeout:?}"),
//!     other => panic!("{other}"),
//! }
//! // `Display` says it all in one line, ready for a log.
//! assert!(err.to_string().contains("item 2"), "{err}");
//! ```
//!
//! # The model in one page
//!
//! - **What reaches the workers by `fork`**: the body and everything it captures, and the
//!   input (materialised before the fork, except integer ranges, which are computed). No
//!   `Send`, `Sync`, `'static` or serde bound applies to any of it.
//! - **What travels back**: the body's values and reduction partials, encoded with serde
//!   (numbers and `Vec`s of numbers as their bytes). They must implement [`Transfer`] (`Serialize + DeserializeOwned`). Large
//!   `Copy` outputs can skip the pipe: write them into a [`SharedVec`].
//! - **What it costs**: about a fork per worker to start a loop; CPU-bound loops within a few
//!   percent of rayon; about half a microsecond per item when every item is its own chunk. The
//!   automatic schedule runs a loop inline when an earlier run of it showed that forking cannot
//!   pay ([`Loop::parallel`]). Figures, measured side by side with rayon, Python and OpenMP:
//!   `cargo bench --bench compare`, and one run in the repository's `benches/RESULTS.md`.
//! - **Failures**: a panic, a crash, an `exit` or a timeout in any item stops the loop and is
//!   reported with the item index and the worker pid ([`Error`]).
//! - **Did it pay?** Every loop leaves a [`LoopReport`] ([`last_report`]: workers, busy times,
//!   fork and decode costs, why it forked or ran inline), every `Queue`, `Map` and `Pool` a
//!   [`FamilyReport`] (`report()`, [`last_family_report`]); `PAR_REPORT=1` prints them and
//!   `PAR_TRACE=trace.json` writes a timeline that Perfetto opens.
//! - **Sequential mode**: `PAR_WORKERS=1`, [`sequential`] and non-Unix targets run every loop
//!   inline, and say once per call site on stderr which clause (`timeout`, `retries`,
//!   `memory_limit`, `max_items_per_worker`, `if = true`, `cancel`, `keep_going`'s crash
//!   isolation) they ignore. A
//!   loop with one of those clauses forks at least one worker everywhere else: with
//!   `workers = 1`, on one CPU, nested in a worker. Loops without them run inline with one
//!   worker and nested in a worker (see [`Loop`]'s "Workers and sequential mode").
#![deny(missing_docs)]

pub use par_runtime::*;

/// A parallel `for` loop: iterations run in forked worker processes.
///
/// Wrap a sequential loop; its value is a `Vec` of the body's values in iteration order, or
/// `()` when the body ends in a statement (a for-each, for side effects in the workers):
///
/// ```
/// use par::par;
///
/// let squares: Vec<u64> = par!(for i in 0..100u64 { i * i });
/// assert_eq!(squares[9], 81);
///
/// let words = vec!["par", "for", "rust"];
/// let lens = par!(for w in &words { w.len() });
/// assert_eq!(lens, [3, 3, 4]);
///
/// // Any irrefutable pattern; `continue` skips an item of a for-each.
/// let pairs = vec![(1, 'a'), (2, 'b')];
/// par!(for (n, c) in pairs {
///     if n == 1 { continue; }
///     println!("{n}{c}");
/// });
/// ```
///
/// Reductions, OpenMP style: the body stays as it was, the clause names the variables and
/// operators (`+ - * min max & | ^ && ||`, or the path of an associative `fn(T, T) -> T`).
/// Several variables may share an operator, as in OpenMP's `reduction(+: sx, sy)`:
/// `reduce(+: sx, sy, max: m)`. Each grain's private copy starts from the operator's identity,
/// never from the variable's value; that value from before the loop is combined once, after it.
/// A `fn` path's identity is `Default::default()`, or the one the clause names:
/// `reduce(add2 = [0, 0]: q)` (a type with neither is a compile error saying so).
/// Partials are combined in item order, so a float sum has the same bits for any number of
/// workers:
///
/// ```
/// use par::par;
///
/// let mut hits = 0u64;
/// let mut worst = f64::MIN;
/// par!(reduce(+: hits, max: worst), for s in 0..10_000u32 {
///     let x = (s as f64 * 0.618).fract();
///     hits += (x < 0.5) as u64;
///     worst = worst.max(x);
/// });
/// assert_eq!(hits, (0..10_000u32).filter(|&s| (s as f64 * 0.618).fract() < 0.5).count() as u64);
/// assert!(worst < 1.0);
///
/// // A `fn` path: the grains start from the identity `[0, 0]`, and `q`'s `10` counts once.
/// fn add2(a: [u64; 2], b: [u64; 2]) -> [u64; 2] {
///     [a[0] + b[0], a[1] + b[1]]
/// }
/// let mut q = [10u64, 0];
/// par!(reduce(add2 = [0, 0]: q), for i in 0..4096u64 {
///     q[(i % 2) as usize] += 1;
/// });
/// assert_eq!(q, [2058, 2048]);
/// ```
///
/// The operators also reduce arrays `[T; N]` of any length and `Vec<T>`, element by element
/// (OpenMP's `reduction(+: hist[:256])`): a `Vec`'s grains start from a `Vec` of the variable's
/// length, and a body that changes that length fails at its item (never a silent truncation).
/// `min` and `max` also take any `Ord + Clone` type that travels (`Serialize + Deserialize`):
/// tuples, `Option`, `String`, `char`, `bool`, a struct deriving `Ord`, compared as a whole
/// (`min` on `(key, index)` is `min_by_key`), and `Vec`s and arrays of them element by element.
/// Such types have no identity, so each grain starts from the variable's value from before the
/// loop, which is right because `min` and `max` are idempotent (combining that value again
/// changes nothing). Floats are not `Ord` and keep their rule (`f64::max`, which ignores NaN).
/// A `Vec` or array of `Vec`s or arrays of a user type is refused (its inner level would be
/// compared as a whole, its outer one element by element). Any other type is one compile error
/// that names the clause and says to name a combining `fn` instead. In the body an array's private copy is a
/// `Box<[T; N]>` (indexing and the array's methods work on it as on the array): each item then
/// moves a pointer through the body, not the whole array.
///
/// ```
/// use par::par;
///
/// let mut hist = [0u64; 256];
/// let mut best = (u64::MAX, usize::MAX);
/// par!(reduce(+: hist, min: best), for i in 0..10_000usize {
///     let key = (i as u64 * 2_654_435_761) % 1009;
///     hist[(key % 256) as usize] += 1;
///     best = best.min((key, i));
/// });
/// assert_eq!(hist.iter().sum::<u64>(), 10_000);
/// assert_eq!(best, (0..10_000usize).map(|i| ((i as u64 * 2_654_435_761) % 1009, i)).min().unwrap());
/// ```
///
/// **Combining order.** The items are cut into *grains* of consecutive items whose bounds
/// depend only on the input's length (about 4096 grains for a large input; 64 items each for
/// a `stream`), never on the worker count, the schedule or timing. Each grain folds its items left to right into
/// a private copy starting from the operator's identity; the parent combines the grains'
/// partials left to right in item order, then combines the result into the variable's value
/// from before the loop: `x = x0 + ((g0 + g1) + g2 + ...)`, where `g0 = ((0 + i0) + i1) + ...`.
/// That is why a float sum is bit-identical for 1, 2 or 64 workers (`PAR_WORKERS=1` included),
/// and also why it may differ in the last bits from the original sequential loop, which folds
/// `((x0 + i0) + i1) + ...`: float `+` and `*` are not associative, and the grouping differs.
/// Integer, `min`, `max`, bitwise and boolean reductions give the sequential result.
///
/// Clauses go before the `for`, separated by commas:
///
/// ```
/// use std::time::Duration;
/// use par::par;
///
/// let v = par!(workers = 2, schedule = dynamic(16), timeout = Duration::from_secs(5), progress,
///              for x in 0..1000u32 { x % 7 });
/// assert_eq!(v.len(), 1000);
///
/// // `try`: failures come back as `par::Error` instead of a panic, and `?` works in the body.
/// let r: Result<Vec<u32>, par::Error> = par!(try, for s in ["1", "2", "x"] { s.parse::<u32>()? });
/// assert_eq!(r.unwrap_err().index(), Some(2));
///
/// // `unordered`: an iterator of results as they complete (pprocess' Queue).
/// let mut got: Vec<u32> = par!(unordered, for x in 0..10u32 { x * 2 }).collect();
/// got.sort();
/// assert_eq!(got, (0..10).map(|x| x * 2).collect::<Vec<_>>());
///
/// // `ordered`: an iterator of the values in item order, each as soon as it and the items
/// // before it are done, running a bounded window ahead (Python's `imap`, OpenMP's `ordered`).
/// let lines: Vec<String> = par!(ordered, for x in 0..3u32 { format!("line {x}") }).collect();
/// assert_eq!(lines, ["line 0", "line 1", "line 2"]);
///
/// // `schedule = runtime`: the schedule of `PAR_SCHEDULE` (`dynamic,4`, `guided`, ...), as
/// // OpenMP's `OMP_SCHEDULE`; see `Loop::schedule_from_env`.
/// let v = par!(schedule = runtime, for x in 0..4u32 { x });
/// assert_eq!(v, [0, 1, 2, 3]);
///
/// // `stream`: pull a lazy (even endless) iterator as workers need items; items must be serde.
/// let firsts = par!(stream, unordered, for n in (1u64..).map(|n| n * n) { n + 1 }).take(5).count();
/// assert_eq!(firsts, 5);
///
/// // `if = cond` (OpenMP's `if`): false runs inline, true always forks.
/// let small = 3;
/// let v = par!(if = small > 100, for x in 0..small { x });
/// assert_eq!(v, [0, 1, 2]);
///
/// // `retries = n`: an item whose worker died or timed out runs again on a fresh worker
/// // (`retry_panics` adds panics); `Error::Retried` when every attempt failed.
/// let v = par!(retries = 2, for x in 0..4u32 { x + 1 });
/// assert_eq!(v, [1, 2, 3, 4]);
/// ```
///
/// Schedules are `static`, `dynamic(CHUNK)`, `guided`, `guided(MIN)` and `auto` (the default,
/// sized from measured item time); see [`Schedule`]. `crate = path` names the `par` crate when
/// it is renamed.
///
/// # Scratch: `private`
///
/// `private(x, ...)` (OpenMP's `private`, initialised as `firstprivate` is) gives each item its
/// own copy of each variable: a `Clone::clone` of its value from before the loop, made at the
/// start of the item, in the worker. The body changes the copy as it likes (`&mut x`, `x = ..`,
/// `x.push(..)`) and the change is dropped when the item ends. The caller's variable is the same
/// afterwards in every mode, forked or inline (`PAR_WORKERS=1`, [`sequential`]), so no mode can
/// give another answer. It goes with every form: collect, for-each, `reduce`, `try`,
/// `keep_going`, `find`, in-place and `collapse` loops.
///
/// ```
/// use par::par;
///
/// fn vranlc(n: usize, seed: &mut f64, a: f64, out: &mut [f64]) {
///     for o in out.iter_mut().take(n) {
///         *seed = (*seed * a) % 8192.0;
///         *o = *seed / 8192.0;
///     }
/// }
///
/// let x = vec![0.0f64; 64];
/// let seed = 17.0f64;
/// let sums: Vec<f64> = par!(private(x, seed), for k in 0..100u32 {
///     seed += k as f64;
///     vranlc(64, &mut seed, 5.0, &mut x);
///     x.iter().sum::<f64>()
/// });
/// assert_eq!(sums.len(), 100);
/// assert_eq!((x[0], seed), (0.0, 17.0)); // the caller's copies are unchanged
/// ```
///
/// # Nested loops: `collapse`
///
/// `collapse(k)` merges the `par!` loop and the `k - 1` loops nested in it into one loop over
/// all their iterations (OpenMP's `collapse(k)`), spread over the workers; it pays when the
/// outer loop alone has fewer items than there are workers, or items of uneven cost. The nest
/// must be rectangular, as in OpenMP: each loop's body but the innermost is exactly one `for`
/// loop (no label, no other statement), and an inner range uses no variable of an outer loop
/// (`for j in 0..i` is a compile error saying so). Each range is evaluated once, before the
/// loop. Ranges of any integer type and any start work (`1..=n`, `-5i64..5`), and so does any
/// `Clone` iterator with a cheap `nth` (`&v`, `v.iter()`).
///
/// The loop's value is flat: a `Vec` of the innermost body's values in `(i, j)` order, the last
/// loop varying fastest, as OpenMP's iteration space. A failing item's index
/// ([`Error::index`], and a panic's message), and `find`'s, is its position in that order: for
/// `for i in 0..n { for j in 0..m { .. } }`, the item at the `i`-th value of the outer range
/// and the `j`-th of the inner one is `i * m + j`.
///
/// ```
/// use par::par;
///
/// let (n, m) = (3u32, 4u32);
/// let cells: Vec<(u32, u32)> = par!(collapse(2), for i in 1..=n {
///     for j in 0..m {
///         (i, j)
///     }
/// });
/// assert_eq!(cells.len(), 12);
/// assert_eq!(cells[5], (2, 1)); // item 5 = 1 * 4 + 1
///
/// let mut total = 0u64;
/// par!(collapse(3), reduce(+: total), for i in 0..10u64 {
///     for j in 0..10u64 {
///         for k in 0..10u64 {
///             total += i * j * k;
///         }
///     }
/// });
/// assert_eq!(total, 45 * 45 * 45);
/// ```
///
/// # What a worker cannot change
///
/// Each worker is a forked copy of the program: what the body changes in memory, it changes in
/// its own copy, and the change is lost when the worker exits. Only the body's values and the
/// reduction variables come back to the parent. An update through a captured `AtomicUsize`
/// (`fetch_add`, `store`), `Mutex` (`lock()`), `RefCell` (`borrow_mut()`), `Cell` (`set`), a
/// `static` or a `Vec` from outside the loop is lost when the loop forks, and made when the
/// loop runs inline (`PAR_WORKERS=1`, [`sequential`]): a counter would read `0` in parallel and
/// `1000` sequentially. `par!` rejects these on a variable from outside the body:
///
/// ```compile_fail
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use par::par;
///
/// let seen = AtomicUsize::new(0);
/// par!(for _ in 0..1000 { seen.fetch_add(1, Ordering::Relaxed); });
/// // error: `.fetch_add(..)` on `seen`, a variable from outside of the `par!` loop body; ...
/// ```
///
/// Count with a reduction, and collect with the loop's value:
///
/// ```
/// use par::par;
///
/// let mut seen = 0usize;
/// par!(reduce(+: seen), for _ in 0..1000 { seen += 1; });
/// assert_eq!(seen, 1000);
///
/// let odd: Vec<u32> = par!(for x in 0..10u32 { x * 2 + 1 });
/// assert_eq!(odd.len(), 10);
/// ```
///
/// What does reach the parent: files the body writes, its output on stdout and stderr, and
/// values written into a [`SharedVec`] created before the loop.
///
/// # Compile-time errors
///
/// What the compiler rejects, each with an error on your tokens saying what to write instead:
/// `break`, `return`, `.await`, `yield` and labelled `continue` to an outer loop in the body;
/// assigning to (or `&mut` borrowing) a variable from outside the loop that is not a reduction
/// or `private` variable; interior mutation through one (`.fetch_add(..)`, `.store(..)`,
/// `.lock()`, `.borrow_mut()`, `.set(x)`), or a change to a captured collection (`.push(x)`,
/// `.extend_from_slice(..)`, `.fill(..)`, `.entry(..)`, `.iter_mut()`, `.sort()`, ...). Each
/// message names the fix that fits: a reduction for `total += x`; `private(x)`, a declaration
/// in the body or the loop's value for scratch; the loop's value or the in-place form for
/// `out[i] = ..`; the loop's `.last()` for `last = i`. Also: a `collapse` nest that is not
/// rectangular or not one `for` per level; `?` without the `try` clause; unknown,
/// duplicated or misplaced clauses; `unordered` with `reduce`; a result type that is not
/// serializable (one error, on the body's value; for a `Result` whose error type is not
/// serializable, such as `io::Result<T>`, the error says how to convert it:
/// `.map_err(|e| e.to_string())`).
///
/// From an `async fn`, run the loop through `tokio::task::spawn_blocking`: called directly it
/// blocks the runtime thread it runs on (see [`Loop`]'s "From async code").
///
/// A reduction variable that is an unsuffixed float (`let mut s = 0.0;`) needs its type
/// (`0.0f64`) when the body calls a method on it, as in a sequential loop; rustc says "type
/// annotations needed" on the variable in the body.
#[macro_export]
macro_rules! par {
    ($($tokens:tt)*) => {
        $crate::__par_impl!($($tokens)*)
    };
}

/// Used by `par!`, not public API: calls the proc macro with `$crate`, and with the feature
/// `mpi`, `@ranks` (a body that is one call of a `#[parallel]` function may run on the ranks
/// of an MPI job; see [`mpi`]).
#[cfg(not(feature = "mpi"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __par_impl {
    ($($tokens:tt)*) => {
        $crate::__private::par_impl!($crate; $($tokens)*)
    };
}

/// See the other `__par_impl`.
#[cfg(feature = "mpi")]
#[doc(hidden)]
#[macro_export]
macro_rules! __par_impl {
    ($($tokens:tt)*) => {
        $crate::__private::par_impl!(@ranks $crate; $($tokens)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __par_println {
    () => {
        $crate::__private::print_out(::core::format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::__private::print_out(::core::format_args!($($arg)*))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __par_eprintln {
    () => {
        $crate::__private::print_err(::core::format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::__private::print_err(::core::format_args!($($arg)*))
    };
}

/// Printing while a progress bar is drawn: [`println!`](progress::println) and
/// [`eprintln!`](progress::eprintln) print above the bar instead of over it.
///
/// They live in this module, not at the crate root, so that `use par::*;` does not make every
/// `println!` of a program ambiguous with the standard one. Write `par::progress::println!`,
/// or import it, and the file's `println!` calls print above the bar:
///
/// ```
/// use par::progress::println;
///
/// let mut queue = par::Queue::new(2).progress(true);
/// for i in 0..4u64 {
///     queue.spawn(move || i * i);
/// }
/// for (job, square) in queue {
///     println!("job {job}: {}", square.unwrap());
/// }
/// ```
pub mod progress {
    /// `println!` that keeps a progress bar whole: while a loop, [`Queue`](crate::Queue),
    /// [`Map`](crate::Map) or [`Pool`](crate::Pool) of this process draws its bar (the
    /// `progress` clause or option), the line is printed on stdout above the bar, which is
    /// redrawn below it; otherwise it is `std::println!`. A plain `println!` between the
    /// results of an `unordered` loop or a queue would be drawn over by the bar
    /// (`ETA 0s1000/4060 done`).
    ///
    /// ```
    /// let mut queue = par::Queue::new(2).progress(true);
    /// for i in 0..4u64 {
    ///     queue.spawn(move || i * i);
    /// }
    /// for (job, square) in queue {
    ///     par::progress::println!("job {job}: {}", square.unwrap());
    /// }
    /// par::progress::println!(); // an empty line, as `println!()`
    /// ```
    ///
    /// Inside a loop body or a job it is `println!`: a worker's output reaches the parent, which
    /// prints it above the bar.
    #[doc(inline)]
    pub use crate::__par_println as println;

    /// [`println!`] on stderr: `eprintln!` that prints above a progress bar.
    ///
    /// ```
    /// let found: Vec<u32> = par::par!(progress, unordered, for x in 0..100u32 { x * 3 })
    ///     .inspect(|x| if x % 50 == 0 { par::progress::eprintln!("found {x}") })
    ///     .collect();
    /// assert_eq!(found.len(), 100);
    /// ```
    #[doc(inline)]
    pub use crate::__par_eprintln as eprintln;
}

/// Marks a free function as a parallel callable (pprocess' `MakeParallel` + `manage`).
///
/// The function stays as it was; the attribute adds a companion of the same name (a struct
/// beside the function, in the type namespace) with
/// `spawn(&mut queue, args...)`, which submits a call to a [`Queue`] or [`Map`] (a forked child
/// per call) or a [`Pool`] (reusable workers) and returns its job number, and `NAME`, the
/// function's stable name, under which it is registered at program start so that a pool worker
/// finds it. Arguments and result must be serializable ([`Transfer`]), because reusable workers
/// receive them as bytes.
///
/// ```
/// #[par::parallel]
/// fn calculate(t: f64, i: u32, j: u32) -> (u32, u32, f64) {
///     (i, j, t * (i * 10 + j) as f64)
/// }
///
/// assert_eq!(calculate(1.0, 1, 2), (1, 2, 12.0)); // the sequential function is unchanged
/// let mut queue = par::Queue::new(4);
/// for i in 0..3 {
///     for j in 0..3 {
///         calculate::spawn(&mut queue, 0.5, i, j);
///     }
/// }
/// let mut cells: Vec<(u32, u32, f64)> = queue.map(|(_, r)| r.unwrap()).collect();
/// cells.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
/// assert_eq!(cells[5], (1, 2, 6.0));
/// assert!(calculate::NAME.ends_with("::calculate"));
/// ```
///
/// Inside a `#[parallel]` function, a `for` loop marked `#[par]` (or `#[par(workers = 4, ...)]`
/// with `par!`'s clauses) becomes a `par!` loop, so a whole function converts by annotation:
///
/// ```
/// #[par::parallel]
/// fn squares(n: u64) -> u64 {
///     let mut total = 0;
///     #[par(reduce(+: total))]
///     for i in 0..n {
///         total += i * i;
///     }
///     total
/// }
/// assert_eq!(squares(10), 285);
/// ```
///
/// Rejected with an error on your tokens: `async fn`, generic functions, `self` receivers,
/// reference and `impl Trait` arguments, `impl Trait` results, more than 16 arguments, anything
/// but a function; and, one error on each, every argument or result type that is not
/// serializable.
pub use par_macros::parallel;

/// Converting loops: each sequential loop shape beside its `par!` form (collect, in place,
/// reductions and histograms, scratch buffers, nested loops, two computations, ordered
/// output). The same text is the README's "Converting loops" section.
#[doc = include_str!("converting.md")]
pub mod converting {}

#[doc(hidden)]
/// Used by generated code, not public API.
pub mod __private {
    pub use par_macros::par_impl;
    pub use par_runtime::__private::*;
}
