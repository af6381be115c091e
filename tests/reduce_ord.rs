//! `reduce(min: v)` / `reduce(max: v)` on user `Ord` types (a struct deriving `Ord`, tuples of
//! them, `Vec`s and arrays of them element by element): each equals the sequential loop, for 1,
//! 2 and 3 workers, and the try and keep-going forms too. Floats keep their own rule (`f64::max`,
//! which ignores NaN): they are not `Ord`, so they never take the `Ord` path.
//!
//! Before: every `reduce(max: best)` here failed to compile (`Best: ops::Max` not satisfied).

use par::par;
use serde::{Deserialize, Serialize};

const WORKERS: [usize; 3] = [1, 2, 3];

/// Compared by score, then by index: the derive's order is the fields' order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Best {
    score: u64,
    at: usize,
    name: String,
}

fn score(i: usize) -> u64 {
    ((i as u64).wrapping_mul(2_654_435_761)) % 1000
}

fn candidate(i: usize) -> Best {
    Best {
        score: score(i),
        at: i,
        name: format!("item {i}"),
    }
}

fn start() -> Best {
    Best {
        score: 0,
        at: 0,
        name: String::new(),
    }
}

#[test]
fn max_of_a_struct_deriving_ord_equals_the_sequential_loop() {
    let mut seq = start();
    for i in 0..5000 {
        seq = seq.max(candidate(i));
    }
    for w in WORKERS {
        let mut best = start();
        par!(workers = w, reduce(max: best), for i in 0..5000usize {
            best = best.max(candidate(i));
        });
        assert_eq!(best, seq, "{w} workers");
    }
}

#[test]
fn the_starting_value_takes_part_once_or_more_and_wins_when_it_should() {
    // min and max are idempotent: a starting value that is already the answer stays it.
    let top = Best {
        score: u64::MAX,
        at: 7,
        name: "before the loop".into(),
    };
    for w in WORKERS {
        let mut best = top.clone();
        par!(workers = w, reduce(max: best), for i in 0..3000usize {
            if candidate(i) > best {
                best = candidate(i);
            }
        });
        assert_eq!(best, top, "{w} workers");
        let mut low = top.clone();
        par!(workers = w, reduce(min: low), for i in 0..3000usize {
            low = low.min(candidate(i));
        });
        let seq = (0..3000).map(candidate).min().unwrap();
        assert_eq!(low, seq, "{w} workers");
    }
}

#[test]
fn min_of_a_tuple_of_a_user_type_and_an_index() {
    let seq = (0..4000usize).map(|i| (candidate(i), i)).min().unwrap();
    for w in WORKERS {
        let mut m = (start(), 0usize);
        m.0.score = u64::MAX;
        par!(workers = w, reduce(min: m), for i in 0..4000usize {
            m = m.min((candidate(i), i));
        });
        assert_eq!(m, seq, "{w} workers");
    }
}

#[test]
fn vec_and_array_of_a_user_type_are_reduced_element_by_element() {
    let k = 5;
    let mut seq_v = vec![start(); k];
    let mut seq_a: [Best; 3] = std::array::from_fn(|_| start());
    for i in 0..6000 {
        seq_v[i % k] = seq_v[i % k].clone().max(candidate(i));
        seq_a[i % 3] = seq_a[i % 3].clone().max(candidate(i));
    }
    for w in WORKERS {
        let mut v = vec![start(); k];
        let mut a: [Best; 3] = std::array::from_fn(|_| start());
        par!(workers = w, reduce(max: v, a), for i in 0..6000usize {
            v[i % k] = v[i % k].clone().max(candidate(i));
            a[i % 3] = a[i % 3].clone().max(candidate(i));
        });
        assert_eq!(v, seq_v, "{w} workers");
        assert_eq!(a, seq_a, "{w} workers");
    }
}

#[test]
#[should_panic(expected = "changed the length of a Vec reduction")]
fn a_vec_of_a_user_type_must_keep_its_length() {
    let mut v = vec![start(); 2];
    par!(workers = 2, reduce(max: v), for i in 0..100usize {
        v.push(candidate(i));
    });
    unreachable!("the loop panics, not {v:?}");
}

#[test]
fn try_and_keep_going_forms_of_an_ord_reduction() {
    let seq = (0..2000).map(candidate).max().unwrap();
    for w in WORKERS {
        let mut best = start();
        let r: Result<(), par::Error> = par!(workers = w, try, reduce(max: best), for i in 0..2000usize {
            best = best.max(candidate(i));
        });
        assert!(r.is_ok(), "{w} workers: {r:?}");
        assert_eq!(best, seq, "{w} workers");

        // Keep going: item 1234 fails, the others are reduced.
        let want = (0..2000)
            .filter(|&i| i != 1234)
            .map(candidate)
            .max()
            .unwrap();
        let mut best = start();
        let failed = par!(workers = w, keep_going, reduce(max: best), for i in 0..2000usize {
            if i == 1234 {
                panic!("item 1234");
            }
            best = best.max(candidate(i));
        });
        assert_eq!(failed.len(), 1, "{w} workers");
        assert_eq!(failed[0].index(), Some(1234));
        assert_eq!(best, want, "{w} workers");
    }
}

#[test]
fn floats_keep_their_rule_and_integers_their_identity() {
    // f64: `max` ignores NaN (f64::max), as the module's docs say; the Ord path never applies.
    let xs: Vec<f64> = (0..3000)
        .map(|i| {
            if i % 7 == 0 {
                f64::NAN
            } else {
                (score(i) as f64).sin()
            }
        })
        .collect();
    let seq = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for w in WORKERS {
        let mut m = f64::NEG_INFINITY;
        par!(workers = w, reduce(max: m), for i in 0..3000usize {
            m = m.max(xs[i]);
        });
        assert_eq!(m.to_bits(), seq.to_bits(), "{w} workers");
        // An integer starting value below everything: combined once, not once per grain.
        let mut n = 5u64;
        par!(workers = w, reduce(min: n), for i in 0..3000usize {
            n = n.min(score(i) + 10);
        });
        assert_eq!(n, 5, "{w} workers");
    }
}
