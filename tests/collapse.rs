//! `collapse(k)`: a rectangular nest of `k` loops runs as one loop over its `n * m * ...`
//! iterations (OpenMP's `collapse`), values in `(i, j)` order, for 1, 2 and 3 workers against
//! the sequential nest; a failing item's index is its position in that flat order.

mod common;

use par::par;

const WORKERS: [usize; 3] = [1, 2, 3];

#[test]
fn values_come_in_i_j_order() {
    let _w = common::watchdog("values_come_in_i_j_order");
    let (n, m) = (37u32, 23u32);
    let mut want = Vec::new();
    for i in 0..n {
        for j in 0..m {
            want.push(i * 1000 + j);
        }
    }
    for w in WORKERS {
        let got: Vec<u32> = par!(
            workers = w,
            collapse(2),
            for i in 0..n {
                for j in 0..m {
                    i * 1000 + j
                }
            }
        );
        assert_eq!(got, want, "{w} workers");
    }
}

#[test]
fn any_integer_type_non_zero_starts_and_inclusive_ranges() {
    let _w = common::watchdog("any_integer_type_non_zero_starts_and_inclusive_ranges");
    let mut want = Vec::new();
    for i in 1..=5i8 {
        for j in -300i64..-290 {
            for k in 250u8..=255 {
                want.push((i, j, k));
            }
        }
    }
    for w in WORKERS {
        let got = par!(
            workers = w,
            collapse(3),
            for i in 1..=5i8 {
                for j in -300i64..-290 {
                    for k in 250u8..=255 {
                        (i, j, k)
                    }
                }
            }
        );
        assert_eq!(got, want, "{w} workers");
    }
    // A read-only iterator as a level, and patterns.
    let names = ["a", "b", "c"];
    let pairs = [(1u64, 2u64), (3, 4)];
    let got: Vec<String> = par!(
        workers = 2,
        collapse(2),
        for &name in &names {
            for (x, y) in pairs.iter() {
                format!("{name}{}", x * y)
            }
        }
    );
    assert_eq!(got, ["a2", "a12", "b2", "b12", "c2", "c12"]);
    // An empty level: no items.
    let empty: Vec<u32> = par!(
        collapse(2),
        for i in 0..4u32 {
            for j in 0..0u32 {
                i + j
            }
        }
    );
    assert!(empty.is_empty());
}

#[test]
fn reduce_for_each_try_and_keep_going() {
    let _w = common::watchdog("reduce_for_each_try_and_keep_going");
    let (n, m) = (100u64, 61u64);
    let mut seq = 7u64;
    let mut seq_max = 0u64;
    for i in 0..n {
        for j in 0..m {
            seq += i * j;
            seq_max = seq_max.max((i * 31 + j * 17) % 1009);
        }
    }
    for w in WORKERS {
        let mut sum = 7u64;
        let mut max = 0u64;
        par!(workers = w, collapse(2), reduce(+: sum, max: max), for i in 0..n {
            for j in 0..m {
                sum += i * j;
                max = max.max((i * 31 + j * 17) % 1009);
            }
        });
        assert_eq!((sum, max), (seq, seq_max), "{w} workers");

        // A for-each with `continue`: checks run in the workers.
        par!(
            workers = w,
            collapse(2),
            for i in 0..10u32 {
                for j in 0..10u32 {
                    if (i + j) % 2 == 0 {
                        continue;
                    }
                    assert_eq!((i + j) % 2, 1);
                }
            }
        );

        // try: the failing item's index is its flat position `i * m + j`.
        let r: Result<Vec<u64>, par::Error> = par!(
            try,
            workers = w,
            collapse(2),
            for i in 0..n {
                for j in 0..m {
                    if (i, j) == (42, 5) {
                        Err(format!("bad cell ({i}, {j})"))?;
                    }
                    i + j
                }
            }
        );
        let e = r.unwrap_err();
        assert_eq!(e.index(), Some((42 * m + 5) as usize), "{w} workers: {e}");
        assert!(e.to_string().contains("bad cell (42, 5)"), "{e}");

        // keep_going: one result per (i, j), in order.
        let all: Vec<Result<u32, par::Error>> = par!(
            keep_going,
            workers = w,
            collapse(2),
            for i in 0..4u32 {
                for j in 0..3u32 {
                    if (i, j) == (2, 1) {
                        panic!("cell ({i}, {j})");
                    }
                    i * 3 + j
                }
            }
        );
        assert_eq!(all.len(), 12);
        for (k, r) in all.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v as usize, k),
                Err(e) => {
                    assert_eq!(k, 2 * 3 + 1, "{e}");
                    assert_eq!(e.index(), Some(k), "{e}");
                }
            }
        }
        assert!(all[7].is_err());
    }
}

#[test]
fn a_panic_names_the_flat_item_index() {
    let _w = common::watchdog("a_panic_names_the_flat_item_index");
    let caught = std::panic::catch_unwind(|| {
        par!(workers = 2, if = true, collapse(2), for i in 0..20usize {
            for j in 0..30usize {
                assert!((i, j) != (13, 7), "panic at ({i}, {j})");
            }
        });
    });
    let msg = caught.unwrap_err();
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("panic at (13, 7)"), "{msg}");
    assert!(msg.contains(&(13 * 30 + 7).to_string()), "{msg}");
}

#[test]
fn private_scratch_in_a_collapsed_nest() {
    let _w = common::watchdog("private_scratch_in_a_collapsed_nest");
    let row = vec![0u32; 3];
    for w in WORKERS {
        let got: Vec<u32> = par!(
            workers = w,
            collapse(2),
            private(row),
            for i in 0..5u32 {
                for j in 0..4u32 {
                    row[0] += i;
                    row[1] += j;
                    row.iter().sum::<u32>()
                }
            }
        );
        let want: Vec<u32> = (0..5u32)
            .flat_map(|i| (0..4u32).map(move |j| i + j))
            .collect();
        assert_eq!(got, want, "{w} workers");
        assert_eq!(row, [0, 0, 0]);
    }
}
