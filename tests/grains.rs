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
