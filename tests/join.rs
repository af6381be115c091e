//! `par::join`: two closures with their own result types, each in its own worker process, at
//! the same time; a failure (panic, crash) is reported for its own side, and names it; nested
//! joins; `PAR_WORKERS=1` runs both inline.

mod common;

use std::path::Path;

const WORKERS: [usize; 3] = [1, 2, 3];

#[test]
fn both_values_of_different_types_with_1_2_and_3_workers() {
    let _w = common::watchdog("both_values_of_different_types_with_1_2_and_3_workers");
    let words = ["par".to_string(), "join".to_string()];
    let seq = ((0..1000u64).map(|i| i * i).sum::<u64>(), words.join("+"));
    assert_eq!(
        par::join(
            || (0..1000u64).map(|i| i * i).sum::<u64>(),
            || words.join("+")
        ),
        seq
    );
    for w in WORKERS {
        let got = par::Loop::new().workers(w).join(
            || (0..1000u64).map(|i| i * i).sum::<u64>(),
            || words.join("+"),
        );
        assert_eq!(got, seq, "{w} workers");
        let (a, b) = par::Loop::new()
            .workers(w)
            .try_join(|| vec![1.5f32; 3], || Some((7u8, 'x')));
        assert_eq!(
            (a.unwrap(), b.unwrap()),
            (vec![1.5f32; 3], Some((7, 'x'))),
            "{w} workers"
        );
    }
}

#[test]
fn the_two_closures_run_at_the_same_time_in_two_worker_processes() {
    let _w = common::watchdog("the_two_closures_run_at_the_same_time_in_two_worker_processes");
    if !common::loops_fork() {
        return;
    }
    let dir = common::temp_dir("join-together");
    let (a, b) = (dir.join("a"), dir.join("b"));
    // Each side writes its file, then waits for the other's: neither can end unless both run.
    let side = |mine: &Path, other: &Path| {
        std::fs::write(mine, b"here").expect("write the side's file");
        (std::process::id(), common::await_file(other))
    };
    let ((pid_a, saw_b), (pid_b, saw_a)) = par::join(|| side(&a, &b), || side(&b, &a));
    assert!(saw_a && saw_b, "the closures did not run at the same time");
    let me = std::process::id();
    assert!(
        pid_a != me && pid_b != me && pid_a != pid_b,
        "{pid_a} {pid_b} {me}"
    );
}

#[test]
fn a_panic_is_reported_for_its_own_side_and_names_it() {
    let _w = common::watchdog("a_panic_is_reported_for_its_own_side_and_names_it");
    for w in WORKERS {
        let opts = par::Loop::new().workers(w);
        let (a, b) = opts.try_join(|| -> u32 { panic!("left broke") }, || "right".to_string());
        let e = a.unwrap_err();
        assert!(
            matches!(e, par::Error::Panicked { index: 0, .. }),
            "{w} workers: {e:?}"
        );
        assert!(e.to_string().contains("left broke"), "{e}");
        assert_eq!(b.unwrap(), "right", "{w} workers");

        let (a, b) = opts.try_join(|| 1u8, || -> u8 { panic!("right broke") });
        assert_eq!(a.unwrap(), 1, "{w} workers");
        let e = b.unwrap_err();
        assert!(
            matches!(e, par::Error::Panicked { index: 1, .. }),
            "{w} workers: {e:?}"
        );

        // Both fail: each side has its own report.
        let (a, b) = opts.try_join(|| -> u8 { panic!("one") }, || -> u8 { panic!("two") });
        let (a, b) = (a.unwrap_err().to_string(), b.unwrap_err().to_string());
        assert!(a.contains("item 0") && a.contains("one"), "{a}");
        assert!(b.contains("item 1") && b.contains("two"), "{b}");
    }
    // The panicking form says which closure it was.
    for (first, which) in [(true, "the first closure"), (false, "the second closure")] {
        let r = std::panic::catch_unwind(|| {
            par::Loop::new().workers(2).join(
                || -> u8 {
                    if first {
                        panic!("boom here")
                    }
                    0
                },
                || -> u8 {
                    if !first {
                        panic!("boom here")
                    }
                    0
                },
            )
        });
        let payload = r.unwrap_err();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.contains(&format!("{which} of `par::join` failed"))
                && message.contains("boom here"),
            "{message}"
        );
    }
}

#[test]
fn a_crash_in_one_side_is_reported_and_the_other_side_keeps_its_value() {
    let _w = common::watchdog("a_crash_in_one_side_is_reported_and_the_other_side_keeps_its_value");
    if !common::loops_fork() {
        return;
    }
    for w in WORKERS {
        let opts = par::Loop::new().workers(w);
        let (a, b) = opts.try_join(|| 40u64 + 2, || -> u64 { std::process::abort() });
        assert_eq!(a.unwrap(), 42, "{w} workers");
        let e = b.unwrap_err();
        assert!(
            matches!(
                e,
                par::Error::WorkerDied {
                    index: Some(1),
                    death: par::Death::Signal(6),
                    ..
                }
            ),
            "{w} workers: {e:?}"
        );
        let (a, b) = opts.try_join(|| -> u64 { std::process::abort() }, || 7u64);
        assert!(
            matches!(a, Err(par::Error::WorkerDied { index: Some(0), .. })),
            "{w} workers: {a:?}"
        );
        assert_eq!(b.unwrap(), 7, "{w} workers");
    }
    common::no_children_left();
}

#[test]
fn nested_joins_run_three_and_four_computations() {
    let _w = common::watchdog("nested_joins_run_three_and_four_computations");
    let (a, (b, c)) = par::join(|| 1u32, || par::join(|| "two".to_string(), || vec![3u8]));
    assert_eq!((a, b.as_str(), c), (1, "two", vec![3]));
    let ((a, b), (c, d)) = par::join(
        || par::join(|| 1u8, || 2u16),
        || par::join(|| 3u32, || 4u64),
    );
    assert_eq!((a, b, c, d), (1, 2, 3, 4));
    // A failure deep inside is its inner side's (an `Error` does not travel: its text does).
    let (outer, inner) = par::try_join(
        || 0u8,
        || {
            let (x, y) = par::try_join(|| 1u8, || -> u8 { panic!("deep") });
            (x.map_err(|e| e.to_string()), y.map_err(|e| e.to_string()))
        },
    );
    assert_eq!(outer.unwrap(), 0);
    let (x, y) = inner.unwrap();
    assert_eq!(x.unwrap(), 1);
    let y = y.unwrap_err();
    assert!(y.contains("item 1 panicked") && y.contains("deep"), "{y}");
}

#[test]
#[ignore = "run by the test below, in a process of its own with PAR_WORKERS=1"]
fn fixture() {
    if std::env::var_os("PAR_FIXTURE").is_none() {
        return;
    }
    let me = std::process::id();
    let (a, b) = par::join(|| (std::process::id(), 1u8), || (std::process::id(), 'b'));
    let (x, y) = par::try_join(|| 5u8, || -> u8 { panic!("inline side") });
    let y = y.unwrap_err();
    println!(
        "join inline={} values={} second_failed={}",
        a.0 == me && b.0 == me,
        a.1 == 1 && b.1 == 'b' && x.unwrap() == 5,
        matches!(y, par::Error::Panicked { index: 1, .. })
    );
}

#[test]
fn par_workers_1_runs_both_sides_inline() {
    let _w = common::watchdog("par_workers_1_runs_both_sides_inline");
    let out = common::run_fixture("1", None)
        .env("PAR_WORKERS", "1")
        .output()
        .expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("join inline=true values=true second_failed=true"),
        "{stdout}\n{stderr}"
    );
    // No note about a clause the caller never wrote.
    assert!(!stderr.contains("ignored"), "{stderr}");
}
