//! Where there is no `fork` (non-Unix targets; on Unix, built with `--cfg par_fallback_sys`):
//! queues, maps, `pmap` and pools run their jobs inline with the same results and the same
//! reports, while `start` and `background`, which need a second process, say so as an error.
//!
//! Run with `RUSTFLAGS="--cfg par_fallback_sys" cargo test -p forkpar --test fallback`.
#![cfg(any(not(unix), par_fallback_sys))]

use par::{Error, Map, Pool, Queue};

/// A value and the pid of the process that computed it.
type Tagged = (u32, u32);

fn me() -> u32 {
    std::process::id()
}

#[par::parallel]
fn double_in(i: u32) -> (u32, u32) {
    (i * 2, std::process::id())
}

#[par::parallel]
fn refuse(i: u32) -> u32 {
    assert!(i != 1, "call {i} refuses");
    i
}

#[test]
fn a_queue_runs_every_job_inline_and_reports_a_panic_with_its_job() {
    let mut queue = Queue::new(4);
    for i in 0..5u32 {
        queue.spawn(move || {
            assert!(i != 3, "job {i} is bad");
            (i * 10, std::process::id())
        });
        assert_eq!(queue.running(), 0, "nothing runs in the background");
    }
    let results: Vec<(usize, Result<Tagged, Error>)> = queue.collect();
    assert_eq!(results.len(), 5);
    for (job, r) in results {
        match (job, r) {
            (
                3,
                Err(Error::Panicked {
                    index: 3,
                    pid,
                    message,
                    ..
                }),
            ) => {
                assert_eq!(pid, me() as i32);
                assert_eq!(message, "job 3 is bad");
            }
            (job, Ok(v)) => assert_eq!(v, (job as u32 * 10, me())),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_map_and_pmap_run_inline_in_submission_order() {
    let mut map = Map::new(3);
    for i in 0..6u64 {
        map.spawn(move || (i * i, std::process::id()));
    }
    let row: Vec<(u64, u32)> = map
        .get_range(1..4)
        .into_iter()
        .map(|r| *r.as_ref().expect("ok"))
        .collect();
    assert_eq!(row, vec![(1, me()), (4, me()), (9, me())]);
    let all: Vec<(u64, u32)> = map.map(|r| r.expect("ok")).collect();
    assert_eq!(all, (0..6).map(|i| (i * i, me())).collect::<Vec<_>>());
    let lens: Vec<usize> = par::pmap(|w: &str| w.len(), ["par", "fallback"], 2)
        .map(|r| r.expect("ok"))
        .collect();
    assert_eq!(lens, [3, 8]);
}

#[test]
fn a_pool_serves_calls_inline_without_forking() {
    let mut pool = Pool::new(4);
    for i in 0..5 {
        double_in::spawn(&mut pool, i);
    }
    let got: Vec<(u32, u32)> = pool.ordered().map(|r| r.expect("ok")).collect();
    assert_eq!(got, (0..5).map(|i| (i * 2, me())).collect::<Vec<_>>());
    assert_eq!(pool.forks(), 0);

    let mut pool = Pool::new(2);
    for i in 0..3 {
        refuse::spawn(&mut pool, i);
    }
    let results: Vec<Result<u32, Error>> = pool.ordered().collect();
    assert_eq!(*results[0].as_ref().expect("call 0"), 0);
    match &results[1] {
        Err(Error::Panicked {
            index: 1,
            pid,
            message,
            ..
        }) => {
            assert_eq!(*pid, me() as i32);
            assert_eq!(message, "call 1 refuses");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*results[2].as_ref().expect("call 2"), 2);
}

/// An `Io` error whose cause is `Unsupported`: the feature needs `fork`.
fn assert_unsupported(what: &str, e: Error) {
    match e {
        Error::Io { source, .. } => {
            assert_eq!(
                source.kind(),
                std::io::ErrorKind::Unsupported,
                "{what}: {source}"
            )
        }
        other => panic!("{what}: {other:?}"),
    }
}

#[test]
fn start_and_background_need_a_process_and_say_so() {
    let r = par::start(|ch: &mut par::Channel<u32, ()>| {
        ch.send(&1).expect("send");
    });
    assert_unsupported("start", r.map(|_| ()).expect_err("no child without fork"));

    let socket = std::env::temp_dir().join(format!("par-fallback-{}.socket", me()));
    let r = par::background(&socket, || 7u32);
    assert_unsupported(
        "background",
        r.map(|_| ()).expect_err("no job without fork"),
    );
    assert!(!socket.exists(), "nothing listens there");
    let _ = std::fs::remove_file(&socket);
    let r = par::BackgroundQueue::<u32>::connect(&socket);
    assert_unsupported("connect", r.map(|_| ()).expect_err("no job to collect"));

    let mut ex: par::Exchange<(), u32> = par::Exchange::new(2);
    let id = ex.start(|ch: &mut par::Channel<u32, ()>| {
        ch.send(&1).expect("send");
    });
    let got: Vec<(usize, Result<u32, Error>)> = ex.by_ref().collect();
    match &got[..] {
        [(got_id, Err(Error::Io { source, .. }))] => {
            assert_eq!(*got_id, id);
            assert_eq!(source.kind(), std::io::ErrorKind::Unsupported, "{source}");
        }
        other => panic!("exchange: {other:?}"),
    }
}
