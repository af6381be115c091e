//! Parallel equals sequential, for random lengths, worker counts (1 to 8, more than the cores)
//! and every schedule.

use par::{Loop, Schedule};
use proptest::prelude::*;

fn schedule() -> impl Strategy<Value = Schedule> {
    prop_oneof![
        Just(Schedule::Auto),
        Just(Schedule::Static),
        (1usize..300).prop_map(Schedule::Dynamic),
        (1usize..50).prop_map(Schedule::Guided),
    ]
}

fn f(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ i
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn collect_equals_the_sequential_loop(len in 0u64..10_000, workers in 1usize..=8, s in schedule()) {
        let got = Loop::new().workers(workers).schedule(s).collect(0..len, f);
        prop_assert_eq!(got, (0..len).map(f).collect::<Vec<_>>());
    }

    #[test]
    fn vectors_and_streams_equal_the_sequential_loop(len in 0usize..3_000, workers in 1usize..=8, s in schedule()) {
        let input: Vec<String> = (0..len).map(|i| format!("item-{i}")).collect();
        let want: Vec<usize> = input.iter().map(|s| s.len() * 7).collect();
        let l = Loop::new().workers(workers).schedule(s);
        prop_assert_eq!(l.collect(&input, |s| s.len() * 7), want.clone());
        prop_assert_eq!(l.collect(par::stream(input.clone()), |s| s.len() * 7), want);
    }

    #[test]
    fn unordered_yields_every_result_exactly_once(len in 0u64..5_000, workers in 1usize..=8, s in schedule()) {
        let mut got: Vec<u64> = Loop::new().workers(workers).schedule(s).unordered(0..len, f).collect();
        got.sort_unstable();
        let mut want: Vec<u64> = (0..len).map(f).collect();
        want.sort_unstable();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn reductions_are_exact_and_float_sums_bit_identical(len in 0u64..20_000, s in schedule()) {
        let sum = |w: usize| Loop::new().workers(w).schedule(s).reduce(
            0..len, || 0.0f64, |a, i| *a += 1.0 / (i as f64 + 1.0), |a, b| a + b);
        let bits: Vec<u64> = [1, 2, 3, 8].iter().map(|&w| sum(w).to_bits()).collect();
        prop_assert!(bits.iter().all(|&b| b == bits[0]), "{:?}", bits);
        let int = Loop::new().workers(3).schedule(s).reduce(0..len, || 0u64, |a, i| *a += f(i) % 1000, |a, b| a + b);
        prop_assert_eq!(int, (0..len).map(|i| f(i) % 1000).sum::<u64>());
        let stream = Loop::new().workers(3).schedule(s).reduce(par::stream(0..len), || 0u64, |a, i| *a += i, |a, b| a + b);
        prop_assert_eq!(stream, (0..len).sum::<u64>());
    }
}
