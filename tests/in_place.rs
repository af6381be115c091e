//! In-place loops: a body that writes through its `&mut` item changes the caller's data, with
//! 1, 2 and 3 workers, inline and nested, exactly as the sequential loop does. Before these
//! forms existed, `par!(for x in a.iter_mut() { *x = 1.0 })` compiled and left `a` unchanged
//! when forked (its sum was 0 instead of 100000).

mod common;

use std::collections::VecDeque;
use std::sync::Mutex;

use par::par;
use par_runtime::__private::testing::{force_in_place_pipe, in_place_paths};

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
    let _s = serial();
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
    let _s = serial();
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
    let _s = serial();
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
    let _s = serial();
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
    let _s = serial();
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
    let _s = serial();
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
    let _s = serial();
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
    let _s = serial();
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
    let _s = serial();
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

/// The tests of this file one at a time: the leak checks count this process' children and fds.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// True unless `PAR_WORKERS=1` runs every loop inline (a `workers` clause included).
fn forks() -> bool {
    std::env::var("PAR_WORKERS").map_or(true, |v| v.trim() != "1")
}

/// Elements enough for the shared-memory path (plain numbers of at least 64 KiB).
const BIG: usize = 300_007;

/// Runs `f` on the staged path and on the pipe path (forced), checking that each loop was set
/// up for the path it was meant to take.
fn both_paths(mut f: impl FnMut(&str)) {
    for pipe in [false, true] {
        force_in_place_pipe(pipe);
        let before = in_place_paths();
        f(if pipe { "pipe" } else { "staged" });
        let after = in_place_paths();
        force_in_place_pipe(false);
        let (staged, piped) = (after.0 - before.0, after.1 - before.1);
        if !forks() {
            // Sequential mode: no loop can fork, none is set up for the staging region.
            assert_eq!(staged, 0, "pipe forced: {pipe}");
        } else if pipe {
            assert!(
                staged == 0 && piped > 0,
                "pipe forced: {staged} staged, {piped} piped"
            );
        } else {
            assert!(staged > 0 && piped == 0, "{staged} staged, {piped} piped");
        }
    }
}

#[test]
fn big_plain_vectors_take_shared_memory_and_agree_with_the_sequential_loop() {
    let _s = serial();
    let _w = common::watchdog("big_plain_vectors_take_shared_memory");
    let want = expected(BIG);
    let words: Vec<u32> = (0..BIG as u32).collect();
    both_paths(|path| {
        for w in WORKERS {
            let mut v = start(BIG);
            par!(
                workers = w,
                for x in v.iter_mut() {
                    *x = *x * 1.000001 + 0.5;
                }
            );
            assert!(v == want, "iter_mut, {w} workers, {path}");
            let mut v = start(BIG);
            par!(
                workers = w,
                for x in &mut v {
                    *x = *x * 1.000001 + 0.5;
                }
            );
            assert!(v == want, "&mut v, {w} workers, {path}");
            let mut u = vec![0u32; BIG];
            par!(
                workers = w,
                for (i, x) in u.iter_mut().enumerate() {
                    *x = (i as u32).wrapping_mul(2_654_435_761);
                }
            );
            assert!(
                u.iter()
                    .enumerate()
                    .all(|(i, &x)| x == (i as u32).wrapping_mul(2_654_435_761)),
                "enumerate, {w} workers, {path}"
            );
            par!(
                workers = w,
                for (x, y) in u.iter_mut().zip(words.iter()) {
                    *x ^= *y;
                }
            );
            assert!(
                u.iter()
                    .enumerate()
                    .all(|(i, &x)| x == (i as u32).wrapping_mul(2_654_435_761) ^ i as u32),
                "zip, {w} workers, {path}"
            );
            // A zip with a shorter side leaves the rest as it was.
            let mut long = vec![7u32; BIG];
            par!(
                workers = w,
                for (x, y) in long.iter_mut().zip(&words[..BIG / 3]) {
                    *x = *y;
                }
            );
            assert!(
                long[..BIG / 3] == words[..BIG / 3],
                "short zip, {w} workers, {path}"
            );
            assert!(long[BIG / 3..].iter().all(|&x| x == 7), "short zip, {path}");
            let mut c = vec![0u32; BIG];
            par!(
                workers = w,
                for c in c.chunks_mut(1000) {
                    let n = c.len() as u32;
                    c.fill(n);
                }
            );
            assert!(
                c[..BIG / 1000 * 1000].iter().all(|&x| x == 1000),
                "chunks_mut, {path}"
            );
            assert!(
                c[BIG / 1000 * 1000..].iter().all(|&x| x == 7),
                "chunks_mut, {path}"
            );
            let mut e = vec![5u32; BIG];
            par!(
                workers = w,
                for c in e.chunks_exact_mut(1000) {
                    c.fill(1);
                }
            );
            assert!(
                e[..BIG / 1000 * 1000].iter().all(|&x| x == 1),
                "chunks_exact_mut, {path}"
            );
            assert!(
                e[BIG / 1000 * 1000..].iter().all(|&x| x == 5),
                "the remainder of chunks_exact_mut is not visited, {path}"
            );
            let mut px = vec![[0u8; 4]; BIG];
            par!(
                workers = w,
                for (i, p) in px.iter_mut().enumerate() {
                    *p = [i as u8, 1, 2, 255];
                }
            );
            assert!(
                px.iter()
                    .enumerate()
                    .all(|(i, p)| *p == [i as u8, 1, 2, 255]),
                "[u8; 4] pixels, {path}"
            );
        }
    });
}

#[test]
fn a_staged_chunk_redone_after_a_death_starts_from_the_original_values() {
    let _s = serial();
    let _w = common::watchdog("a_staged_chunk_redone_after_a_death");
    if !common::loops_fork() {
        return;
    }
    let want = expected(BIG);
    both_paths(|path| {
        for w in WORKERS {
            let marker = std::env::temp_dir().join(format!(
                "par-in-place-staged-{}-{w}-{path}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir(&marker);
            let mut v = start(BIG);
            // The dying worker has already changed the first half of its chunk in place (in
            // the staging region, on the fast path): the redo must not apply the change twice.
            par!(
                workers = w,
                retries = 1,
                schedule = dynamic(20_000),
                for (i, x) in v.iter_mut().enumerate() {
                    *x = *x * 1.000001 + 0.5;
                    if i == 150_000 && par::in_worker() && std::fs::create_dir(&marker).is_ok() {
                        std::process::abort();
                    }
                }
            );
            let _ = std::fs::remove_dir(&marker);
            assert!(v == want, "{w} workers, {path}");
        }
    });
}

#[test]
fn a_staged_loop_that_fails_names_the_item_and_changes_nothing() {
    let _s = serial();
    let _w = common::watchdog("a_staged_loop_that_fails");
    if !common::loops_fork() {
        return;
    }
    both_paths(|path| {
        for w in WORKERS {
            let mut v = vec![1.0f64; BIG];
            let r: Result<(), par::Error> = par!(try, workers = w, if = true, for (i, x) in v.iter_mut().enumerate() {
                *x = 2.0;
                if i == 200_000 {
                    Err(format!("bad element {i}"))?;
                }
            });
            let e = r.unwrap_err();
            assert_eq!(e.index(), Some(200_000), "{e}, {path}");
            assert!(e.to_string().contains("bad element 200000"), "{e}");
            assert!(
                v.iter().all(|&x| x == 1.0),
                "a failed loop writes nothing back, {path}"
            );
            // A death with no retry left: the error names the item, nothing is written back.
            let mut u = vec![3u32; BIG];
            let r: Result<(), par::Error> = par!(try, workers = w, if = true, for (i, x) in u.iter_mut().enumerate() {
                *x = 4;
                if i == 123_456 {
                    std::process::abort();
                }
            });
            let e = r.unwrap_err();
            assert_eq!(e.index(), Some(123_456), "{e}, {path}");
            assert!(u.iter().all(|&x| x == 3), "{path}");
        }
    });
}

#[test]
fn staged_loops_leave_no_child_and_no_fd() {
    let _s = serial();
    let _w = common::watchdog("staged_loops_leave_no_child_and_no_fd");
    let fds = common::open_fds();
    for w in WORKERS {
        let mut v = start(BIG);
        par!(
            workers = w,
            for x in v.iter_mut() {
                *x += 1.0;
            }
        );
        assert_eq!(v[BIG - 1], BIG as f64);
        let mut u = vec![0u32; BIG];
        let _ = par!(try, workers = w, if = true, for (i, x) in u.iter_mut().enumerate() {
            if i == 1000 {
                Err("stop")?;
            }
            *x = 1;
        });
    }
    common::no_children_left();
    assert_eq!(common::open_fds(), fds, "fds leaked");
}

#[test]
fn a_forked_in_place_loop_reports_its_write_back_in_its_wall_time() {
    let _s = serial();
    let _w = common::watchdog("a_forked_in_place_loop_reports_its_write_back");
    let want = expected(BIG);
    both_paths(|path| {
        let mut v = start(BIG);
        par!(
            workers = 2,
            if = true,
            for x in v.iter_mut() {
                *x = *x * 1.000001 + 0.5;
            }
        );
        assert_eq!(v, want, "{path}");
        let r = par::last_report().expect("the loop's report");
        if r.inline {
            assert!(!forks(), "{path}: {r:?}");
            assert_eq!(r.write_back_bytes, 0, "{path}: inline writes nothing back");
            return;
        }
        // Every element's 8 bytes, written after the team, inside the loop's wall time.
        assert_eq!(r.write_back_bytes, 8 * BIG as u64, "{path}: {r:?}");
        assert!(r.write_back <= r.wall, "{path}: {r:?}");
        assert!(
            r.to_string()
                .contains("written back into the caller's slice: 2.3 MiB"),
            "{path}: {r}"
        );
    });
    // Any other loop writes nothing back.
    let _: Vec<u64> = par!(workers = 2, if = true, for i in 0..100u64 { i });
    let r = par::last_report().expect("the loop's report");
    assert_eq!(
        (r.write_back_bytes, r.write_back),
        (0, std::time::Duration::ZERO)
    );
}
