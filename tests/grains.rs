//! Grains that scale (issue 25): an indexed reduction's grains are fixed by the input's length
//! alone (about 4096 for a large input, see the README's "Reduction order"), so a float sum
//! has the same bits for every worker count, inline runs included.

use par::{Loop, par};

fn sum_loop(n: u64, workers: usize) -> f64 {
    Loop::new().workers(workers).parallel(true).reduce(
        0..n,
        || 0.0f64,
        |acc, i| *acc += 1.0 / (i as f64 + 1.0),
        |a, b| a + b,
    )
}

fn sum_macro(n: u64, workers: usize) -> f64 {
    let mut acc = 0.0f64;
    par!(workers = workers, if = true, reduce(+: acc), for i in 0..n {
        acc += 1.0 / (i as f64 + 1.0);
    });
    acc
}

/// Workers 1, 2, 3 and 7, at sizes on each side of the grain rule's bends (1024, 16,384,
/// 65,536 items): the same bits, and the same as the inline run (`par::sequential`).
#[test]
fn float_sums_have_the_same_bits_for_every_worker_count() {
    for n in [1_000u64, 5_000, 40_000, 300_001, 2_000_000] {
        let inline = par::sequential(|| sum_loop(n, 4)).to_bits();
        for w in [1, 2, 3, 7] {
            assert_eq!(
                sum_loop(n, w).to_bits(),
                inline,
                "Loop, n = {n}, {w} workers"
            );
            assert_eq!(
                sum_macro(n, w).to_bits(),
                inline,
                "par!, n = {n}, {w} workers"
            );
        }
        // The grouping is par's, not the plain loop's: close to it, not always equal.
        let plain: f64 = (0..n).map(|i| 1.0 / (i as f64 + 1.0)).sum();
        assert!((f64::from_bits(inline) - plain).abs() < 1e-9, "n = {n}");
    }
}

/// True under `PAR_WORKERS=1`, which runs every loop inline (`if = true` included).
fn sequential_mode() -> bool {
    std::env::var("PAR_WORKERS").is_ok_and(|v| v.trim() == "1")
}

/// The forked loop `r` of a 2 KiB accumulator on `w` workers sent at most one partial per
/// chunk: 2 KiB and a few bytes of framing each.
fn one_partial_per_chunk(r: &par::LoopReport, w: usize) {
    assert!(!r.inline, "{r}");
    assert!(
        r.result_bytes <= r.chunks as u64 * 2_200,
        "{w} workers: {} bytes back for {} chunks: more than one partial per chunk\n{r}",
        r.result_bytes,
        r.chunks
    );
}

/// A 256-bin integer histogram, `reduce(+: hist)` over `n` items on `workers` workers, and the
/// loop's report.
fn histogram(n: u64, workers: usize) -> ([u64; 256], par::LoopReport) {
    let mut hist = [0u64; 256];
    par!(workers = workers, if = true, reduce(+: hist), for i in 0..n {
        hist[(i.wrapping_mul(2_654_435_761) % 256) as usize] += 1;
    });
    (hist, par::last_report().expect("the loop's report"))
}

/// An exact reduction (integers, `bool`, `min`/`max` of `Ord` values) gives the same value
/// however its items are grouped, so each worker folds a whole chunk into one partial: a
/// `[u64; 256]` histogram of 10^6 items sends one 2 KiB partial per chunk, not one per grain
/// (about 4096 of them, 8 MiB), and its counts are the sequential loop's for every worker
/// count. A float sum keeps one partial per grain (its bits depend on the grouping).
#[test]
fn exact_reductions_send_one_partial_per_chunk_and_floats_one_per_grain() {
    let n = 1_000_000u64;
    let mut want = [0u64; 256];
    for i in 0..n {
        want[(i.wrapping_mul(2_654_435_761) % 256) as usize] += 1;
    }
    for w in [1, 2, 3] {
        let (hist, r) = histogram(n, w);
        assert_eq!(hist, want, "{w} workers");
        if sequential_mode() {
            // PAR_WORKERS=1: inline, nothing travels.
            assert!(r.inline, "{r}");
            continue;
        }
        one_partial_per_chunk(&r, w);
        assert!(r.chunks < 1_000, "{r}");
    }
    sum_macro(n, 2);
    let r = par::last_report().expect("the float loop's report");
    if sequential_mode() {
        return;
    }
    // About 4096 grains of 8 bytes each, whatever the chunks.
    assert!(r.result_bytes >= 4_000 * 8, "{r}");
}

/// The same through the `Loop` API: `reduce_exact` folds a chunk into one partial, `reduce`
/// keeps one per grain; both give the sequential loop's histogram for every worker count.
#[test]
fn loop_reduce_exact_sends_one_partial_per_chunk() {
    let n = 1_000_000u64;
    let bin = |i: u64| (i.wrapping_mul(2_654_435_761) % 256) as usize;
    let mut want = vec![0u64; 256];
    for i in 0..n {
        want[bin(i)] += 1;
    }
    let add = |mut a: Vec<u64>, b: Vec<u64>| {
        a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        a
    };
    for w in [1, 2, 3] {
        let opts = par::Loop::new().workers(w).parallel(true);
        let hist = opts.reduce_exact(0..n, || vec![0u64; 256], |h, i| h[bin(i)] += 1, add);
        assert_eq!(hist, want, "{w} workers");
        let r = par::last_report().expect("the loop's report");
        if sequential_mode() {
            assert!(r.inline, "{r}");
            let grains = opts.reduce(0..n, || vec![0u64; 256], |h, i| h[bin(i)] += 1, add);
            assert_eq!(grains, want, "{w} workers, per grain");
            continue;
        }
        one_partial_per_chunk(&r, w);
        let grains = opts.reduce(0..n, || vec![0u64; 256], |h, i| h[bin(i)] += 1, add);
        assert_eq!(grains, want, "{w} workers, per grain");
        let r = par::last_report().expect("the loop's report");
        assert!(
            r.result_bytes >= 4_000 * 2_048,
            "one partial per grain: {r}"
        );
    }
}

/// `min` of an `Ord` tuple (the `min_by_key` idiom) and `max` of integers, grouped per chunk:
/// the smallest key with its first index, as in the sequential loop.
#[test]
fn grouped_min_keeps_the_first_of_equal_keys() {
    let n = 200_000u64;
    let key = |i: u64| (i * 7919) % 1000;
    let mut best = (u64::MAX, u64::MAX);
    par!(workers = 3, if = true, reduce(min: best), for i in 0..n {
        best = best.min((key(i), i));
    });
    let seq = (0..n).map(|i| (key(i), i)).min().expect("items");
    assert_eq!(best, seq);
    let mut top = 0u64;
    par!(workers = 3, if = true, reduce(max: top), for i in 0..n {
        top = top.max(key(i) * 3 + 1);
    });
    assert_eq!(top, 999 * 3 + 1);
}
