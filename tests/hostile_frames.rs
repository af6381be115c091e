//! Bytes from a worker that are not par's frames: random garbage, a frame cut short, a frame
//! that stops half-way while the worker lives on. Each is an error that says so, naming the
//! worker and the item; never a result, a clean exit or a wait for ever.

mod common;

use std::time::{Duration, Instant};

use common::{no_children_left, watchdog};
use par::Error;

/// A loop over 20 items whose item 13 writes `bytes` into its result pipe.
fn loop_with_garbage(bytes: Vec<u8>, timeout: Option<Duration>) -> Result<Vec<u32>, Error> {
    let mut l = par::Loop::new()
        .workers(2)
        .schedule(par::Schedule::Dynamic(1));
    if let Some(t) = timeout {
        l = l.timeout(t);
    }
    l.try_collect(0..20u32, move |i| {
        if i == 13 {
            par::__private::testing::send_raw(&bytes).expect("write to the result pipe");
        }
        Ok::<u32, String>(i)
    })
}

#[test]
fn random_garbage_is_always_an_error_never_a_result_or_a_clean_exit() {
    let _guard = watchdog("garbage");
    if !common::loops_fork() {
        return;
    }
    // xorshift: the same 100 sequences every run.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for case in 0..100 {
        let len = (next() % 64) as usize + 1;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        match loop_with_garbage(bytes.clone(), None) {
            Ok(v) => panic!("case {case}: garbage {bytes:?} gave a result {v:?}"),
            Err(e @ Error::WorkerDied { .. }) => {
                panic!("case {case}: garbage {bytes:?} reported as a death: {e}")
            }
            Err(e) => {
                let text = e.to_string();
                assert!(
                    e.pid().is_some_and(|p| p > 0) && text.contains("worker"),
                    "case {case}: {text}"
                );
            }
        }
    }
    no_children_left();
}

#[test]
fn a_frame_cut_short_by_a_worker_that_exits_is_a_protocol_error() {
    let _guard = watchdog("cut-short");
    if !common::loops_fork() {
        return;
    }
    // Three bytes: not even a frame's length. The worker then finishes and exits with 0.
    let e = loop_with_garbage(vec![7, 7, 7], None).expect_err("not a frame");
    let text = e.to_string();
    assert!(
        matches!(
            e,
            Error::Decode {
                index: Some(13),
                ..
            }
        ) && text.contains("not a whole frame"),
        "{e:?}: {text}"
    );
    no_children_left();
}

#[test]
fn a_frame_that_stops_half_way_while_its_worker_lives_on_is_reported_not_waited_for() {
    let _guard = watchdog("half-frame");
    if !common::loops_fork() {
        return;
    }
    // A header declaring 1 MiB and one byte of it; then the item blocks for ten minutes, and
    // the loop has no timeout. The parent used to wait as long as the worker lived.
    let started = Instant::now();
    let r = par::Loop::new()
        .workers(2)
        .schedule(par::Schedule::Dynamic(1))
        .try_collect(0..20u32, |i| {
            if i == 13 {
                let mut b = (1u32 << 20).to_le_bytes().to_vec();
                b.push(2);
                par::__private::testing::send_raw(&b).expect("write");
                std::thread::sleep(Duration::from_secs(600));
            }
            Ok::<u32, String>(i)
        });
    let e = r.expect_err("a frame stopped half-way");
    assert!(
        matches!(
            e,
            Error::Decode {
                index: Some(13),
                ..
            }
        ) && e
            .to_string()
            .contains("bytes of a frame and nothing more for 10s"),
        "{e:?}: {e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "reported, not waited for"
    );
    no_children_left();
}

/// A linked list as deep as it is long, with an iterative `Drop` (the default would recurse).
#[derive(serde::Serialize, serde::Deserialize)]
struct Deep(Option<Box<Deep>>);

impl Drop for Deep {
    fn drop(&mut self) {
        let mut next = self.0.take();
        while let Some(mut node) = next {
            next = node.0.take();
        }
    }
}

fn deep(n: usize) -> Deep {
    let mut d = Deep(None);
    for _ in 0..n {
        d = Deep(Some(Box::new(d)));
    }
    d
}

fn length(mut d: &Deep) -> usize {
    let mut n = 0;
    while let Some(inner) = &d.0 {
        n += 1;
        d = inner;
    }
    n
}

#[test]
fn a_result_nested_too_deep_is_a_decode_error_naming_the_item_not_a_crash_of_the_parent() {
    let _guard = watchdog("deep");
    if !common::loops_fork() {
        return;
    }
    // The worker (forked from this thread) needs a large stack to *encode* 200,000 levels;
    // the parent's decoding must not need one, nor crash.
    let run = std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(|| {
            par::Loop::new()
                .workers(2)
                .schedule(par::Schedule::Dynamic(1))
                .try_collect(0..4usize, |i| {
                    Ok::<_, String>(if i == 2 { deep(200_000) } else { deep(i) })
                })
        })
        .expect("spawn");
    match run.join().expect("the parent survived") {
        Err(e @ Error::Decode { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("nested deeper than"), "{msg}");
            assert_eq!(e.index(), Some(2), "{msg}");
            assert!(e.pid().is_some_and(|p| p > 0), "{msg}");
        }
        Err(other) => panic!("expected a decode error, got {other}"),
        Ok(v) => panic!("expected a decode error, got {} values", v.len()),
    }
    // A deep value below the limit arrives whole, decoded on an ordinary test thread's stack.
    let got = par::Loop::new()
        .workers(2)
        .try_collect(0..2usize, |i| Ok::<_, String>(deep(1000 * (i + 1))))
        .expect("decodes");
    assert_eq!(got.iter().map(length).collect::<Vec<_>>(), [1000, 2000]);
    no_children_left();
}
