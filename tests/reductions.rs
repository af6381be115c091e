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
