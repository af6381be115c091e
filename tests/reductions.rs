//! Reductions as people write them: each form gives what the same loop gives sequentially, for
//! 1, 2 and 3 workers. A grain starts from the operator's identity and the variable's value from
//! before the loop is combined once (OpenMP), so a `fn`-path reduction never counts its starting
//! value once per grain.

use par::par;

const WORKERS: [usize; 3] = [1, 2, 3];

fn add2(a: [u64; 2], b: [u64; 2]) -> [u64; 2] {
    [a[0] + b[0], a[1] + b[1]]
}

#[test]
fn a_fn_path_reduction_combines_the_starting_value_once() {
    // Before: `[12298, 2048]` (the `10` once per grain).
    let mut seq = [10u64, 0];
    for i in 0..4096u64 {
        seq[(i % 2) as usize] += 1;
    }
    assert_eq!(seq, [2058, 2048]);
    for w in WORKERS {
        let mut q = [10u64, 0];
        par!(workers = w, reduce(add2: q), for i in 0..4096u64 {
            q[(i % 2) as usize] += 1;
        });
        assert_eq!(q, [2058, 2048], "{w} workers");
        let mut q = [10u64, 0];
        par!(workers = w, reduce(add2 = [0, 0]: q), for i in 0..4096u64 {
            q[(i % 2) as usize] += 1;
        });
        assert_eq!(q, [2058, 2048], "{w} workers, explicit identity");
    }
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Stats {
    min: f64,
    max: f64,
    sum: f64,
    n: u64,
}

/// No `Default`: the identity is named in the clause.
fn merge(a: Stats, b: Stats) -> Stats {
    Stats {
        min: a.min.min(b.min),
        max: a.max.max(b.max),
        sum: a.sum + b.sum,
        n: a.n + b.n,
    }
}

const EMPTY: Stats = Stats {
    min: f64::INFINITY,
    max: f64::NEG_INFINITY,
    sum: 0.0,
    n: 0,
};

#[test]
fn a_struct_reduction_with_a_named_identity_counts_the_start_once() {
    let start = Stats {
        min: 5.0,
        max: 5.0,
        sum: 10.0,
        n: 1,
    };
    let mut seq = start;
    for i in 0..3000u32 {
        let x = f64::from(i % 7);
        seq = merge(
            seq,
            Stats {
                min: x,
                max: x,
                sum: x,
                n: 1,
            },
        );
    }
    for w in WORKERS {
        let mut s = start;
        par!(workers = w, reduce(merge = EMPTY: s), for i in 0..3000u32 {
            let x = f64::from(i % 7);
            s = merge(s, Stats { min: x, max: x, sum: x, n: 1 });
        });
        // Small integers: every grouping of the float sum is exact.
        assert_eq!(s, seq, "{w} workers");
        assert_eq!(s.n, 3001);
        // 10 + 428 * (0 + 1 + ... + 6) + (0 + 1 + 2 + 3); before, the 10 came once per grain.
        assert_eq!(s.sum, 9004.0);
    }
}

#[test]
fn an_empty_loop_leaves_a_fn_path_variable_as_it_was() {
    for w in WORKERS {
        let mut q = [10u64, 3];
        par!(workers = w, reduce(add2: q), for i in 0..0u64 {
            q[(i % 2) as usize] += 1;
        });
        assert_eq!(q, [10, 3]);
    }
}

#[test]
fn a_list_of_variables_shares_one_operator() {
    let (mut sx, mut sy, mut q, mut m) = (1u64, 2u64, 0i64, 0u64);
    for i in 0..2000u64 {
        sx += i;
        sy += i * i;
        q += (i % 3) as i64;
        m = m.max(i ^ 0x55);
    }
    for w in WORKERS {
        let (mut a, mut b, mut c) = (1u64, 2u64, 0i64);
        par!(workers = w, reduce(+: a, b, c), for i in 0..2000u64 {
            a += i;
            b += i * i;
            c += (i % 3) as i64;
        });
        assert_eq!((a, b, c), (sx, sy, q), "{w} workers");
        let (mut a, mut b, mut mm, mut n) = (1u64, 2u64, 0u64, 0u64);
        par!(workers = w, reduce(+: a, b, max: mm, +: n), for i in 0..2000u64 {
            a += i;
            b += i * i;
            mm = mm.max(i ^ 0x55);
            n += 1;
        });
        assert_eq!((a, b, mm, n), (sx, sy, m, 2000), "{w} workers, mixed");
    }
}

/// A 256-bin histogram of a cheap hash, sequentially.
fn bin(i: u64) -> usize {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
}

#[test]
fn an_array_of_256_bins_reduces_element_by_element() {
    let mut seq = [0u64; 256];
    for i in 0..100_000u64 {
        seq[bin(i)] += 1;
    }
    for w in WORKERS {
        let mut hist = [0u64; 256];
        hist[7] = 5; // the starting value is combined once
        par!(workers = w, reduce(+: hist), for i in 0..100_000u64 {
            hist[bin(i)] += 1;
        });
        let mut want = seq;
        want[7] += 5;
        assert_eq!(hist, want, "{w} workers");
        assert_eq!(hist.iter().sum::<u64>(), 100_005);
    }
}

#[test]
fn a_vec_reduces_element_by_element() {
    let mut seq = vec![0u64; 300];
    for i in 0..50_000u64 {
        seq[(i % 300) as usize] += i;
    }
    for w in WORKERS {
        let mut v = vec![0u64; 300];
        par!(workers = w, reduce(+: v), for i in 0..50_000u64 {
            v[(i % 300) as usize] += i;
        });
        assert_eq!(v, seq, "{w} workers");
    }
}

#[test]
fn max_of_an_i32_array_and_or_of_a_byte_array() {
    let f = |i: i64| ((i * 7919) % 2001 - 1000) as i32;
    let (mut seq_max, mut seq_or) = ([-5i32; 40], [0u8; 64]);
    for i in 0..20_000i64 {
        let k = (i % 40) as usize;
        seq_max[k] = seq_max[k].max(f(i));
        seq_or[(i % 64) as usize] |= 1 << (i % 7);
    }
    for w in WORKERS {
        let (mut m, mut bits) = ([-5i32; 40], [0u8; 64]);
        par!(workers = w, reduce(max: m, |: bits), for i in 0..20_000i64 {
            let k = (i % 40) as usize;
            m[k] = m[k].max(f(i));
            bits[(i % 64) as usize] |= 1 << (i % 7);
        });
        assert_eq!(m, seq_max, "{w} workers");
        assert_eq!(bits, seq_or, "{w} workers");
    }
}

#[test]
fn a_vec_of_floats_multiplies_element_by_element() {
    // Powers of two: every grouping of the product is exact.
    let mut seq = vec![1.0f64; 8];
    for i in 0..4000u32 {
        seq[(i % 8) as usize] *= if i % 3 == 0 { 2.0 } else { 0.5 };
    }
    for w in WORKERS {
        let mut p = vec![1.0f64; 8];
        par!(workers = w, reduce(*: p), for i in 0..4000u32 {
            p[(i % 8) as usize] *= if i % 3 == 0 { 2.0 } else { 0.5 };
        });
        assert_eq!(p, seq, "{w} workers");
    }
}

#[test]
fn min_of_a_tuple_is_min_by_key() {
    let key = |i: usize| (i as u64 * 2_654_435_761) % 100_003 + 1;
    let want = (0..30_000usize).map(|i| (key(i), i)).min();
    let seq_by_key = (0..30_000usize).min_by_key(|&i| key(i));
    assert_eq!(want.map(|(_, i)| i), seq_by_key);
    for w in WORKERS {
        let mut best = (u64::MAX, usize::MAX);
        par!(workers = w, reduce(min: best), for i in 0..30_000usize {
            best = best.min((key(i), i));
        });
        assert_eq!(Some(best), want, "{w} workers");
        // The starting value takes part (once or more: min is idempotent): a smaller one wins.
        let mut best = (0u64, 7usize);
        par!(workers = w, reduce(min: best), for i in 0..30_000usize {
            best = best.min((key(i), i));
        });
        assert_eq!(best, (0, 7), "{w} workers, start");
    }
}

#[test]
fn max_of_a_string() {
    let word = |i: u32| format!("w{}", (i * 37) % 1000);
    let seq = (0..3000u32).map(word).max().unwrap_or_default();
    for w in WORKERS {
        let mut s = String::new();
        par!(workers = w, reduce(max: s), for i in 0..3000u32 {
            s = s.max(word(i));
        });
        assert_eq!(s, seq, "{w} workers");
    }
}

#[test]
fn a_vec_reduction_whose_length_changes_fails_at_its_item() {
    for w in WORKERS {
        let r = std::panic::catch_unwind(|| {
            let mut v = vec![0u64; 256];
            par!(workers = w, reduce(+: v), for i in 0..2000u64 {
                if i == 1234 {
                    v.resize(300, 0);
                }
                v[(i % 256) as usize] += 1;
            });
            v
        });
        let message = match r {
            Ok(v) => panic!("{w} workers: no failure, {} bins", v.len()),
            Err(p) => p.downcast_ref::<String>().cloned().unwrap_or_default(),
        };
        assert!(
            message.contains(
                "reduce(+: v): the body changed the length of a Vec reduction from 256 to 300"
            ),
            "{w} workers: {message}"
        );
        assert!(message.contains("1234"), "{w} workers: {message}");
    }
}

#[test]
fn try_and_keep_going_array_reductions() {
    for w in WORKERS {
        let mut h = [0u64; 4];
        let r: Result<(), par::Error> = par!(workers = w, try, reduce(+: h), for i in 0..1000u64 {
            let parsed: u64 = if i == 737 { "bad".parse()? } else { 1 };
            h[(i % 4) as usize] += parsed;
        });
        let e = r.expect_err("item 737 fails");
        assert_eq!(e.index(), Some(737), "{w} workers: {e}");
        let mut h = [1u64; 4];
        let failed = par!(workers = w, keep_going, reduce(+: h), for i in 0..1000u64 {
            if i % 100 == 3 {
                panic!("item {i}");
            }
            h[(i % 4) as usize] += 1;
        });
        assert_eq!(failed.len(), 10, "{w} workers");
        // Items 3, 103, ... all fall in bin 3.
        assert_eq!(h, [251, 251, 251, 241], "{w} workers");
    }
}

#[test]
fn a_minus_reduction_on_an_array_and_a_vec_equals_the_sequential_loop() {
    let seq = {
        let (mut a, mut v) = ([100i64; 8], vec![7i64; 5]);
        for i in 0..5000i64 {
            a[(i % 8) as usize] -= i;
            v[(i % 5) as usize] -= 2 * i;
        }
        (a, v)
    };
    for w in [1, 2, 3] {
        let (mut a, mut v) = ([100i64; 8], vec![7i64; 5]);
        par::par!(workers = w, reduce(-: a, v), for i in 0..5000i64 {
            a[(i % 8) as usize] -= i;
            v[(i % 5) as usize] -= 2 * i;
        });
        assert_eq!((a, v), seq, "{w} workers");
    }
}
