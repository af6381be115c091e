//! `ordered`: the values in item order, each yielded as soon as it and every item before it are
//! done, with bounded memory (the source is not pulled ahead of a window), with 1, 2 and 3
//! workers against the sequential result; `try` yields the values before the failing item,
//! then its `Err`; a panic is raised at its item.

mod common;

use std::cell::Cell;
use std::time::Duration;

use par::par;

const WORKERS: [usize; 3] = [1, 2, 3];

fn f(i: u64) -> u64 {
    (i * 2654435761) % 1000
}

#[test]
fn values_come_in_item_order_with_1_2_and_3_workers() {
    let _w = common::watchdog("values_come_in_item_order_with_1_2_and_3_workers");
    let seq: Vec<u64> = (0..5000u64).map(f).collect();
    let names: Vec<String> = (0..300).map(|i| format!("n{i}")).collect();
    for w in WORKERS {
        let got: Vec<u64> = par!(
            ordered,
            workers = w,
            for i in 0..5000u64 {
                f(i)
            }
        )
        .collect();
        assert_eq!(got, seq, "{w} workers");
        for (label, schedule) in common::SCHEDULES {
            let got: Vec<u64> = par::Loop::new()
                .workers(w)
                .schedule(schedule)
                .ordered(0..5000u64, f)
                .collect();
            assert_eq!(got, seq, "{w} workers, {label}");
        }
        // A vector and a stream.
        let lens: Vec<usize> = par::Loop::new()
            .workers(w)
            .ordered(&names, |s| s.len())
            .collect();
        assert_eq!(lens, names.iter().map(|s| s.len()).collect::<Vec<_>>());
        let got: Vec<u64> = par::Loop::new()
            .workers(w)
            .ordered(par::stream(0..5000u64), f)
            .collect();
        assert_eq!(got, seq, "{w} workers, stream");
    }
}

#[test]
fn a_stream_is_pulled_only_a_bounded_window_ahead_of_the_consumer() {
    let _w = common::watchdog("a_stream_is_pulled_only_a_bounded_window_ahead_of_the_consumer");
    const N: u64 = 200_000;
    // The window is 4 chunks of at most 64 items per worker; a chunk may be cut from it.
    let bound = |w: usize| (4 * w * 64 + 64) as u64;
    for w in WORKERS {
        let pulled = Cell::new(0u64);
        let src = par::stream((0..N).inspect(|_| pulled.set(pulled.get() + 1)));
        let mut it = par::Loop::new().workers(w).ordered(src, |i| {
            if i == 0 {
                // A slow first item: the others finish first, and must wait in the window.
                std::thread::sleep(Duration::from_millis(50));
            }
            i * 3
        });
        assert_eq!(it.next(), Some(0));
        assert!(
            pulled.get() <= bound(w),
            "{w} workers: {} of {N} items pulled when one was taken",
            pulled.get()
        );
        // Whatever the consumer has taken, the source is never more than the window ahead.
        let mut taken = 1u64;
        for (k, v) in (&mut it).take(20_000).enumerate() {
            assert_eq!(v, (k as u64 + 1) * 3);
            taken += 1;
            assert!(
                pulled.get() <= taken + bound(w),
                "{w} workers: {} pulled, {taken} taken",
                pulled.get()
            );
        }
        drop(it);
        assert!(pulled.get() < N, "{w} workers: the stream was drained");
    }
    common::no_children_left();
}

#[test]
fn the_first_value_comes_before_the_last_item_is_done() {
    let _w = common::watchdog("the_first_value_comes_before_the_last_item_is_done");
    for w in WORKERS {
        let dir = common::temp_dir(&format!("ordered-first-{w}"));
        let marker = dir.join("took-item-0");
        const N: u32 = 100;
        // The last item waits for the consumer to have taken item 0: a loop that yielded only
        // after every item was done would never see the marker (and fail after 30 s).
        let mut it = par::Loop::new().workers(w).ordered(0..N, |i| {
            if i == N - 1 {
                common::await_file(&marker)
            } else {
                true
            }
        });
        assert_eq!(it.next(), Some(true));
        std::fs::write(&marker, b"taken").expect("write the marker");
        let rest: Vec<bool> = it.collect();
        assert_eq!(rest.len(), N as usize - 1);
        assert!(
            rest.iter().all(|&b| b),
            "{w} workers: the last item ended before item 0 was yielded"
        );
    }
}

#[test]
fn try_yields_the_values_before_the_failing_item_then_its_error() {
    let _w = common::watchdog("try_yields_the_values_before_the_failing_item_then_its_error");
    for w in WORKERS {
        for fail_at in [0u32, 37, 299] {
            let got: Vec<Result<u32, par::Error>> = par::Loop::new()
                .workers(w)
                .try_ordered(0..300u32, |i| {
                    if i == fail_at {
                        Err(format!("bad item {i}"))
                    } else {
                        Ok(i + 1)
                    }
                })
                .collect();
            assert_eq!(got.len(), fail_at as usize + 1, "{w} workers, at {fail_at}");
            for (i, r) in got[..fail_at as usize].iter().enumerate() {
                assert_eq!(r.as_ref().ok(), Some(&(i as u32 + 1)), "{w} workers");
            }
            let e = got[fail_at as usize].as_ref().unwrap_err();
            assert!(
                matches!(e, par::Error::Failed { index, .. } if *index == fail_at as usize),
                "{w} workers: {e:?}"
            );
            assert!(
                e.to_string().contains(&format!("bad item {fail_at}")),
                "{e}"
            );
        }
        // The macro's `try` form.
        let got: Vec<Result<u32, par::Error>> = par!(
            ordered,
            try,
            workers = w,
            for s in ["1", "2", "x", "4"] {
                s.parse::<u32>()?
            }
        )
        .collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].as_ref().ok(), Some(&2));
        assert_eq!(got[2].as_ref().unwrap_err().index(), Some(2));
    }
}

#[test]
fn a_panic_is_raised_at_its_item_after_the_values_before_it() {
    let _w = common::watchdog("a_panic_is_raised_at_its_item_after_the_values_before_it");
    for w in WORKERS {
        let mut seen = Vec::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for v in par!(
                ordered,
                workers = w,
                for i in 0..200u32 {
                    if i == 120 {
                        panic!("item {i} is cursed");
                    }
                    i
                }
            ) {
                seen.push(v);
            }
        }));
        let payload = r.unwrap_err();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.contains("item 120 panicked") && message.contains("cursed"),
            "{w} workers: {message}"
        );
        assert_eq!(seen, (0..120).collect::<Vec<_>>(), "{w} workers");
    }
}

#[test]
fn a_crash_is_reported_at_its_item() {
    let _w = common::watchdog("a_crash_is_reported_at_its_item");
    if !common::loops_fork() {
        return;
    }
    for w in [2, 3] {
        let got: Vec<Result<u32, par::Error>> = par::Loop::new()
            .workers(w)
            .try_ordered(0..100u32, |i| {
                if i == 50 {
                    std::process::abort();
                }
                Ok::<u32, String>(i)
            })
            .collect();
        let last = got.last().expect("at least the failure");
        // No gap: the error stands in the place of the first item without a value. Items
        // before 50 in the crashed worker's chunk ran, but their values died with it; then the
        // error says so, at the first of them (before: `WorkerDied` at 50 after fewer than 50
        // values, a gap the caller could not see).
        let at = got.len() - 1;
        match last {
            Err(par::Error::WorkerDied {
                index: Some(50), ..
            }) => assert_eq!(at, 50, "{w} workers"),
            Err(par::Error::Lost {
                index: Some(i),
                message,
                ..
            }) => {
                assert_eq!(*i, at, "{w} workers: {message}");
                assert!(message.contains("item 50"), "{message}");
                assert!(message.contains(&format!("items {at} to 49")), "{message}");
            }
            other => panic!("{w} workers: {other:?}"),
        }
        // Every value before the failure is in order.
        for (i, r) in got[..got.len() - 1].iter().enumerate() {
            assert_eq!(r.as_ref().ok(), Some(&(i as u32)));
        }
    }
    common::no_children_left();
}
