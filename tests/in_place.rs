//! In-place loops: a body that writes through its `&mut` item changes the caller's data, with
//! 1, 2 and 3 workers, inline and nested, exactly as the sequential loop does. Before these
//! forms existed, `par!(for x in a.iter_mut() { *x = 1.0 })` compiled and left `a` unchanged
//! when forked (its sum was 0 instead of 100000).

mod common;

use std::collections::VecDeque;

use par::par;

const WORKERS: [usize; 3] = [1, 2, 3];

fn start(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

fn expected(n: usize) -> Vec<f64> {
    let mut v = start(n);
    for x in v.iter_mut() {
        *x = *x * 1.000001 + 0.5;
    }
    v
}

#[test]
fn iter_mut_writes_reach_the_caller() {
    let _w = common::watchdog("iter_mut_writes_reach_the_caller");
    // The case of the report: 100000 ones.
    let mut a = vec![0.0f64; 100_000];
    par!(for x in a.iter_mut() {
        *x = 1.0;
    });
    assert_eq!(a.iter().sum::<f64>(), 100_000.0);
    for w in WORKERS {
        let mut v = start(10_007);
        par!(
            workers = w,
            for x in v.iter_mut() {
                *x = *x * 1.000001 + 0.5;
            }
        );
        assert_eq!(v, expected(10_007), "{w} workers");
    }
}

#[test]
fn mut_reference_of_a_vec_an_array_and_a_deque() {
    let _w = common::watchdog("mut_reference_of_a_vec_an_array_and_a_deque");
    for w in WORKERS {
        let mut b = start(5000);
        par!(
            workers = w,
            for x in &mut b {
                *x = *x * 1.000001 + 0.5;
            }
        );
        assert_eq!(b, expected(5000), "{w} workers");
        let mut arr = [1u32; 64];
        par!(
            workers = w,
            for x in &mut arr {
                *x += 41;
            }
        );
        assert_eq!(arr, [42; 64]);
        let mut d: VecDeque<u64> = (0..100).collect();
        d.rotate_left(30); // not contiguous until made so
        par!(
            workers = w,
            schedule = dynamic(7),
            for x in d.iter_mut() {
                *x *= 3;
            }
        );
        let want: VecDeque<u64> = (0..100u64).map(|x| x * 3).collect::<VecDeque<_>>();
        let mut want = want;
        want.rotate_left(30);
        assert_eq!(d, want);
    }
}

#[test]
fn chunks_mut_and_chunks_exact_mut() {
    let _w = common::watchdog("chunks_mut_and_chunks_exact_mut");
    for w in WORKERS {
        let mut v = vec![0u32; 10_500];
        par!(
            workers = w,
            for c in v.chunks_mut(1000) {
                let n = c.len() as u32;
                for x in c.iter_mut() {
                    *x = n;
                }
            }
        );
        assert!(v[..10_000].iter().all(|&x| x == 1000), "{w} workers");
        assert!(v[10_000..].iter().all(|&x| x == 500), "{w} workers");
        let mut e = vec![7u8; 1050];
        par!(
            workers = w,
            for c in e.chunks_exact_mut(100) {
                c.fill(1);
            }
        );
        assert!(e[..1000].iter().all(|&x| x == 1), "{w} workers");
        assert!(
            e[1000..].iter().all(|&x| x == 7),
            "the remainder of chunks_exact_mut is not visited"
        );
    }
}

#[test]
fn enumerate_and_zip_on_either_side() {
    let _w = common::watchdog("enumerate_and_zip_on_either_side");
    let b: Vec<u64> = (0..3000).map(|i| i * 10).collect();
    for w in WORKERS {
        let mut a = vec![0u64; 3000];
        par!(
            workers = w,
            for (i, x) in a.iter_mut().enumerate() {
                *x = i as u64 * 2;
            }
        );
        assert_eq!(a, (0..3000).map(|i| i * 2).collect::<Vec<u64>>());
        par!(
            workers = w,
            for (x, y) in a.iter_mut().zip(b.iter()) {
                *x += *y;
            }
        );
        assert_eq!(a, (0..3000).map(|i| i * 12).collect::<Vec<u64>>());
        par!(
            workers = w,
            for (y, x) in b.iter().zip(a.iter_mut()) {
                *x -= *y;
            }
        );
        assert_eq!(a, (0..3000).map(|i| i * 2).collect::<Vec<u64>>());
        // A zip stops at the shorter side.
        let mut long = vec![1u64; 5000];
        par!(
            workers = w,
            for (x, y) in long.iter_mut().zip(&b) {
                *x = *y;
            }
        );
        assert_eq!(&long[..3000], &b[..]);
        assert!(long[3000..].iter().all(|&x| x == 1));
        let mut rows = vec![0u32; 12 * 5];
        par!(
            workers = w,
            for (y, row) in rows.chunks_mut(12).enumerate() {
                for (x, px) in row.iter_mut().enumerate() {
                    *px = (y * 100 + x) as u32;
                }
            }
        );
        assert_eq!(rows[2 * 12 + 3], 203);
    }
}

#[test]
fn elements_that_are_not_numbers_and_targets_behind_references() {
    let _w = common::watchdog("elements_that_are_not_numbers_and_targets_behind_references");
    fn shout(words: &mut Vec<String>, w: usize) {
        par!(
            workers = w,
            for s in words.iter_mut() {
                s.push('!');
            }
        );
    }
    fn halve(xs: &mut [f64], w: usize) {
        par!(
            workers = w,
            for x in xs.iter_mut() {
                *x /= 2.0;
            }
        );
    }
    for w in WORKERS {
        let mut words: Vec<String> = (0..500).map(|i| format!("w{i}")).collect();
        shout(&mut words, w);
        assert_eq!(words[499], "w499!");
        let mut v = vec![4.0f64; 300];
        halve(&mut v[100..], w);
        assert_eq!((v[99], v[100]), (4.0, 2.0));
    }
}

#[test]
fn continue_skips_and_sequential_modes_agree() {
    let _w = common::watchdog("continue_skips_and_sequential_modes_agree");
    let run = |w: usize| {
        let mut v = vec![0i32; 999];
        par!(
            workers = w,
            for (i, x) in v.iter_mut().enumerate() {
                if i % 3 == 0 {
                    continue;
                }
                *x = i as i32;
            }
        );
        v
    };
    let want: Vec<i32> = (0..999).map(|i| if i % 3 == 0 { 0 } else { i }).collect();
    assert_eq!(run(3), want);
    assert_eq!(par::sequential(|| run(3)), want);
    // Nested in a worker's item: runs inline there, on the worker's own data.
    let sums: Vec<i64> = par!(
        workers = 2,
        for k in 0..4i64 {
            let mut inner = vec![k; 100];
            par!(for x in inner.iter_mut() {
                *x += 1;
            });
            inner.iter().sum::<i64>()
        }
    );
    assert_eq!(sums, [100, 200, 300, 400]);
}

#[test]
fn failures_name_the_item_and_leave_forked_data_unchanged() {
    let _w = common::watchdog("failures_name_the_item_and_leave_forked_data_unchanged");
    let mut v = vec![1u32; 200];
    let r: Result<(), par::Error> = par!(try, workers = 2, if = true, for (i, x) in v.iter_mut().enumerate() {
        if i == 150 {
            Err(format!("bad element {i}"))?;
        }
        *x = 9;
    });
    let e = r.unwrap_err();
    assert_eq!(e.index(), Some(150), "{e}");
    assert!(e.to_string().contains("bad element 150"), "{e}");
    if par::default_workers() > 1 {
        assert!(
            v.iter().all(|&x| x == 1),
            "a failed forked loop writes nothing back"
        );
    }
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut w = vec![0u8; 50];
        par::Loop::new()
            .workers(2)
            .parallel(true)
            .for_each_mut(&mut w, |x| {
                if *x == 0 {
                    panic!("boom in place");
                }
            });
    }));
    let msg = caught.unwrap_err();
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("boom in place") && msg.contains("item"),
        "{msg}"
    );
}

#[test]
fn a_retried_worker_death_loses_no_write() {
    let _w = common::watchdog("a_retried_worker_death_loses_no_write");
    let marker = std::env::temp_dir().join(format!("par-in-place-retry-{}", std::process::id()));
    let _ = std::fs::remove_dir(&marker);
    let mut v = start(2000);
    par!(
        workers = 2,
        retries = 1,
        schedule = dynamic(50),
        for (i, x) in v.iter_mut().enumerate() {
            if i == 1234 && par::in_worker() && std::fs::create_dir(&marker).is_ok() {
                std::process::abort();
            }
            *x = *x * 1.000001 + 0.5;
        }
    );
    let _ = std::fs::remove_dir(&marker);
    assert_eq!(v, expected(2000));
}

#[test]
fn more_workers_than_items_and_empty_slices() {
    let _w = common::watchdog("more_workers_than_items_and_empty_slices");
    let mut v = vec![1u8, 2, 3];
    par!(
        workers = 8,
        for x in v.iter_mut() {
            *x *= 2;
        }
    );
    assert_eq!(v, [2, 4, 6]);
    let mut none: Vec<u8> = Vec::new();
    par!(
        workers = 3,
        for x in none.iter_mut() {
            *x = 1;
        }
    );
    assert!(none.is_empty());
    let mut c = vec![5u16; 10];
    par::Loop::new()
        .workers(3)
        .for_each_chunk_mut(&mut c, 4, |chunk| chunk[0] = chunk.len() as u16);
    assert_eq!(c, [4, 5, 5, 5, 4, 5, 5, 5, 2, 5]);
}
