//! Every form of `par!` gives what the same loop gives sequentially, for 1, 2, 3 and 8 workers.

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use par::par;

const WORKERS: [usize; 4] = [1, 2, 3, 8];

fn f(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40
}

#[test]
fn collect_equals_the_sequential_loop_for_every_kind_of_iterable() {
    let v: Vec<u64> = (0..500).collect();
    let words: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
    let map: BTreeMap<u32, char> = (0..50)
        .map(|i| (i, char::from(b'a' + (i % 26) as u8)))
        .collect();
    for w in WORKERS {
        assert_eq!(
            par!(
                workers = w,
                for i in 0..1000u64 {
                    f(i)
                }
            ),
            (0..1000).map(f).collect::<Vec<_>>()
        );
        assert_eq!(
            par!(
                workers = w,
                for i in 1..=10i32 {
                    i * -3
                }
            ),
            (1..=10).map(|i| i * -3).collect::<Vec<_>>()
        );
        assert_eq!(
            par!(
                workers = w,
                for x in &v {
                    x * 2
                }
            ),
            v.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert_eq!(
            par!(
                workers = w,
                for x in v.clone() {
                    x + 1
                }
            ),
            v.iter().map(|x| x + 1).collect::<Vec<_>>()
        );
        assert_eq!(
            par!(
                workers = w,
                for x in &v[10..20] {
                    *x
                }
            ),
            v[10..20].to_vec()
        );
        assert_eq!(
            par!(
                workers = w,
                for s in &words {
                    s.len()
                }
            ),
            words.iter().map(String::len).collect::<Vec<_>>()
        );
        assert_eq!(
            par!(
                workers = w,
                for s in [1u8, 2, 3] {
                    s as u32 * 10
                }
            ),
            vec![10, 20, 30]
        );
        // Not an IntoSource: materialised with `par::items`.
        assert_eq!(
            par!(
                workers = w,
                for (k, c) in &map {
                    format!("{k}{c}")
                }
            ),
            map.iter()
                .map(|(k, c)| format!("{k}{c}"))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            par!(
                workers = w,
                for x in v.iter().filter(|x| *x % 3 == 0) {
                    x / 3
                }
            ),
            v.iter()
                .filter(|x| *x % 3 == 0)
                .map(|x| x / 3)
                .collect::<Vec<_>>()
        );
    }
}

#[derive(Clone, Copy)]
struct Point {
    x: i64,
    y: i64,
}

/// Failed to compile before: the range's integer type was fixed (to `i32`) before the body's
/// use of the variable was looked at, so `for i in 0..n { v[i] }` with a literal `n` was a type
/// mismatch, where the plain `for` infers `usize`.
#[test]
fn an_unsuffixed_range_takes_its_type_from_the_body_as_in_a_plain_for() {
    let v: Vec<u64> = (0..100).map(|i| i * 3).collect();
    for w in WORKERS {
        let got = par!(
            workers = w,
            for i in 0..100 {
                v[i] + 1
            }
        );
        assert_eq!(got, (0..100).map(|i| v[i] + 1).collect::<Vec<_>>());
        let got = par!(
            workers = w,
            for i in 1..=40 {
                f(i)
            }
        );
        assert_eq!(got, (1..=40).map(f).collect::<Vec<_>>());
        // Nothing to say otherwise: `i32`, as in a plain `for`.
        let got = par!(
            workers = w,
            for i in 0..3 {
                i - 5
            }
        );
        assert_eq!(got, vec![-5i32, -4, -3]);
    }
}

#[test]
fn patterns_are_any_irrefutable_pattern() {
    let points: Vec<Point> = (0..40).map(|i| Point { x: i, y: -i }).collect();
    let pairs: Vec<(u32, u32)> = (0..40).map(|i| (i, i * i)).collect();
    for w in WORKERS {
        assert_eq!(
            par!(
                workers = w,
                for &Point { x, y } in &points {
                    x - y
                }
            ),
            (0..40).map(|i| 2 * i).collect::<Vec<_>>()
        );
        assert_eq!(
            par!(
                workers = w,
                for (a, b) in pairs.clone() {
                    a + b
                }
            ),
            pairs.iter().map(|(a, b)| a + b).collect::<Vec<_>>()
        );
        assert_eq!(
            par!(
                workers = w,
                for &(a, _) in &pairs {
                    a
                }
            ),
            (0..40).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_unit_body_runs_for_its_side_effects_and_continue_skips() {
    let dir = std::env::temp_dir().join(format!("par-macro-foreach-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for w in WORKERS {
        let sub = dir.join(w.to_string());
        std::fs::create_dir_all(&sub).expect("temp dir");
        par!(
            workers = w,
            for i in 0..30u32 {
                if i % 3 == 0 {
                    continue;
                }
                std::fs::write(sub.join(i.to_string()), i.to_string()).expect("write");
            }
        );
        let mut done: Vec<u32> = std::fs::read_dir(&sub)
            .expect("read dir")
            .map(|e| {
                e.expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .parse()
                    .expect("a number")
            })
            .collect();
        done.sort_unstable();
        assert_eq!(done, (0..30).filter(|i| i % 3 != 0).collect::<Vec<_>>());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reductions_match_the_sequential_loop_and_float_sums_are_bit_identical() {
    let seq_sum: f64 = {
        let mut s = 0.0;
        for i in 0..100_000u32 {
            s += 1.0 / (i as f64 + 1.0);
        }
        s
    };
    let mut bits = HashSet::new();
    for w in WORKERS {
        let mut sum = 0.0f64;
        let mut count = 10u64; // the initial value takes part, as in OpenMP
        let mut prod = 1u64;
        let mut lo = i64::MAX;
        let mut hi = f64::MIN;
        let mut and = u32::MAX;
        let mut or = 0u32;
        let mut xor = 0u32;
        let mut all = true;
        let mut any = false;
        let mut down = 0i64;
        par!(workers = w, reduce(+: sum, +: count, *: prod, min: lo, max: hi, &: and, |: or, ^: xor, &&: all, ||: any, -: down),
             for i in 0..100_000u32 {
            sum += 1.0 / (i as f64 + 1.0);
            if i % 7 == 0 {
                continue; // skips the rest of this item's body
            }
            count += 1;
            if i < 20 {
                prod *= 2;
            }
            lo = lo.min(i as i64 - 500);
            hi = hi.max((i as f64).sqrt());
            and &= !(1 << (i % 5));
            or |= 1 << (i % 9);
            xor ^= i;
            all = all && i < 200_000;
            any = any || i == 77_778;
            down -= 2;
        });
        let kept = (0..100_000u32).filter(|i| i % 7 != 0);
        assert_eq!(count, 10 + kept.clone().count() as u64, "workers {w}");
        assert_eq!(
            prod,
            1 << (0..20u32).filter(|i| i % 7 != 0).count(),
            "workers {w}"
        );
        assert_eq!(lo, -499);
        assert_eq!(hi, 99_999f64.sqrt());
        assert_eq!(and, kept.clone().fold(u32::MAX, |a, i| a & !(1 << (i % 5))));
        assert_eq!(or, kept.clone().fold(0, |a, i| a | 1 << (i % 9)));
        assert_eq!(xor, kept.clone().fold(0, |a, i| a ^ i));
        assert!(all && any);
        assert_eq!(down, -2 * kept.count() as i64);
        assert!((sum - seq_sum).abs() < 1e-9);
        bits.insert(sum.to_bits());
    }
    assert_eq!(bits.len(), 1, "the float sum differs between worker counts");
}

fn merge(a: Vec<u32>, b: Vec<u32>) -> Vec<u32> {
    let mut v = a;
    v.extend(b);
    v
}

#[test]
fn a_fn_path_reduction_combines_the_variables_value_once() {
    for w in WORKERS {
        let mut seen: Vec<u32> = Vec::new();
        par!(workers = w, reduce(merge: seen), for i in 0..100u32 {
            if i % 10 == 0 {
                seen.push(i);
            }
        });
        assert_eq!(seen, (0..100).step_by(10).collect::<Vec<_>>());
    }
}

#[test]
fn try_returns_errors_and_question_mark_works_in_the_body() {
    for w in WORKERS {
        let ok: Result<Vec<u32>, par::Error> = par!(
            workers = w,
            try,
            for s in ["1", "2", "3"] {
                s.parse::<u32>()? * 2
            }
        );
        assert_eq!(ok.expect("all parse"), vec![2, 4, 6]);
        let bad: Result<Vec<u32>, par::Error> = par!(
            workers = w,
            try,
            for s in ["1", "x", "3"] {
                s.parse::<u32>()?
            }
        );
        match bad {
            Err(par::Error::Failed { index, message, .. }) => {
                assert_eq!(index, 1);
                assert_eq!(message, "invalid digit found in string");
            }
            other => panic!("{other:?}"),
        }
        let panicked: Result<(), par::Error> = par!(
            workers = w,
            try,
            for i in 0..10u32 {
                assert!(i != 4, "four");
            }
        );
        assert_eq!(panicked.expect_err("item 4 panics").index(), Some(4));
        let mut total = 0u32;
        let r: Result<(), par::Error> = par!(workers = w, try, reduce(+: total), for s in ["4", "5"] {
            total += s.parse::<u32>()?;
        });
        r.expect("both parse");
        assert_eq!(total, 9);
    }
}

#[test]
fn unordered_yields_every_result_once() {
    for w in WORKERS {
        let mut got: Vec<u64> = par!(
            workers = w,
            unordered,
            for i in 0..2000u64 {
                f(i)
            }
        )
        .collect();
        got.sort_unstable();
        let mut want: Vec<u64> = (0..2000).map(f).collect();
        want.sort_unstable();
        assert_eq!(got, want);
        let results: Vec<Result<u64, par::Error>> = par!(
            workers = w,
            try,
            unordered,
            for i in 0..20u64 {
                i
            }
        )
        .collect();
        let mut values: Vec<u64> = results
            .into_iter()
            .map(|r| r.expect("no item fails"))
            .collect();
        values.sort_unstable();
        assert_eq!(values, (0..20).collect::<Vec<_>>(), "workers {w}");
    }
}

#[test]
fn ranges_are_never_materialised_and_streams_are_pulled_lazily() {
    // Materialising either input would need far more memory than the machine has.
    let first: Vec<(u64, u64)> = par!(
        workers = 2,
        unordered,
        for i in 0..u64::MAX / 2 {
            (i, i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        }
    )
    .take(3)
    .collect();
    // Which items finish first is up to the workers; that they are three distinct items from
    // the range's start, each with its own value, is not.
    assert_eq!(first.len(), 3, "{first:?}");
    for &(i, v) in &first {
        assert_eq!(v, i.wrapping_mul(0x9E37_79B9_7F4A_7C15), "{first:?}");
        assert!(
            i < 1 << 32,
            "item {i} handed out before the range's start: {first:?}"
        );
    }
    let mut items: Vec<u64> = first.iter().map(|&(i, _)| i).collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items.len(), 3, "an item delivered twice: {first:?}");
    let mut squares: Vec<u64> = par!(
        workers = 2,
        stream,
        unordered,
        for n in (0u64..).map(|n| n * n) {
            n
        }
    )
    .take(50)
    .collect();
    squares.sort_unstable();
    assert!(squares.iter().all(|&s| (s as f64).sqrt().fract() == 0.0));
}

#[test]
fn every_schedule_and_option_clause_gives_the_same_values() {
    let want: Vec<u64> = (0..3000).map(f).collect();
    for w in WORKERS {
        assert_eq!(
            par!(workers = w, schedule = static, for i in 0..3000u64 { f(i) }),
            want
        );
        assert_eq!(
            par!(
                workers = w,
                schedule = dynamic(7),
                for i in 0..3000u64 {
                    f(i)
                }
            ),
            want
        );
        assert_eq!(
            par!(
                workers = w,
                schedule = dynamic,
                for i in 0..3000u64 {
                    f(i)
                }
            ),
            want
        );
        assert_eq!(
            par!(
                workers = w,
                schedule = guided,
                for i in 0..3000u64 {
                    f(i)
                }
            ),
            want
        );
        assert_eq!(
            par!(
                workers = w,
                schedule = guided(5),
                for i in 0..3000u64 {
                    f(i)
                }
            ),
            want
        );
        assert_eq!(
            par!(
                workers = w,
                schedule = auto,
                progress,
                timeout = std::time::Duration::from_secs(30),
                for i in 0..3000u64 {
                    f(i)
                }
            ),
            want
        );
    }
}

#[test]
fn a_body_may_use_what_is_not_send_and_nested_loops_run_inline() {
    let shared = Rc::new(vec![1u64, 2, 3]);
    let raw: *const u64 = shared.as_ptr();
    // SAFETY (test): `raw` points into `shared`, alive for the whole loop (and copied into every
    // worker by fork).
    let v = par!(
        workers = 2,
        for i in 0..3usize {
            shared[i] + unsafe { *raw.add(i) }
        }
    );
    assert_eq!(v, vec![2, 4, 6]);
    let nested = par!(
        workers = 2,
        for i in 0..4u64 {
            let inner = par!(
                workers = 4,
                for j in 0..3u64 {
                    (std::process::id(), i * j)
                }
            );
            (std::process::id(), inner)
        }
    );
    assert_eq!(nested.len(), 4);
    for (i, (pid, inner)) in (0u64..).zip(nested) {
        // Same pid as the outer item's worker: the inner loop ran inline, it did not fork.
        assert_eq!(
            inner,
            (0..3u64).map(|j| (pid, i * j)).collect::<Vec<_>>(),
            "outer item {i}"
        );
    }
}

mod renamed {
    // `crate = path` names the par crate when generated code can't (here: it still is `par`).
    #[test]
    fn the_crate_clause_is_accepted() {
        let v = par::par!(
            crate = ::par,
            workers = 2,
            for i in 0..3u8 {
                i
            }
        );
        assert_eq!(v, vec![0, 1, 2]);
    }
}
