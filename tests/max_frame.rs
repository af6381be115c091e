//! `max_frame` for the job families and channels, as `Loop::max_frame`: a value whose frame is
//! larger is that job's, call's or message's `Error::Decode`, naming the setting and the size;
//! the others go on; raising it lets the same value through.

mod common;

use par::{Channel, Error};

const SMALL: usize = 64 << 10;
const VALUE: usize = 256 << 10;

#[par::parallel]
fn filled(n: usize) -> Vec<u8> {
    vec![1; n]
}

/// The refusal of a frame above `SMALL`: a `Decode` error about `job` that names the setting
/// and both sizes.
fn assert_refused(e: &Error, job: usize) {
    assert!(matches!(e, Error::Decode { .. }), "{e}");
    assert_eq!(e.index(), Some(job), "{e}");
    let text = e.to_string();
    assert!(text.contains("max_frame"), "names the setting: {text}");
    assert!(
        text.contains(&format!("more than the maximum of {SMALL} bytes")),
        "names the limit: {text}"
    );
}

#[test]
fn a_queue_refuses_a_value_above_its_max_frame_and_takes_it_when_raised() {
    let _guard = common::watchdog("max_frame queue");
    if !common::loops_fork() {
        return;
    }
    let mut queue = par::Queue::new(2).max_frame(SMALL);
    let big = queue.spawn(|| vec![0u8; VALUE]);
    let small = queue.spawn(|| vec![0u8; 1000]);
    let mut got: Vec<(usize, par::Result<Vec<u8>>)> = queue.collect();
    got.sort_by_key(|(job, _)| *job);
    assert_refused(got[big].1.as_ref().unwrap_err(), big);
    assert_eq!(got[small].1.as_ref().map(Vec::len).ok(), Some(1000));

    let mut raised = par::Queue::new(1).max_frame(4 * VALUE);
    raised.spawn(|| vec![0u8; VALUE]);
    let (_, r) = raised.next().expect("one job");
    assert_eq!(r.map(|v| v.len()).ok(), Some(VALUE));
    // Its job's child may still be exiting after the value arrived: the queue reaps it when
    // dropped (seen under `taskset -c 0` on a busy machine).
    drop(raised);
    common::no_children_left();
}

#[test]
fn a_map_refuses_a_value_above_its_max_frame() {
    let _guard = common::watchdog("max_frame map");
    if !common::loops_fork() {
        return;
    }
    let got: Vec<par::Result<Vec<u8>>> = par::pmap(|n: usize| vec![0u8; n], [VALUE, 10], 2)
        .max_frame(SMALL)
        .collect();
    assert_refused(got[0].as_ref().unwrap_err(), 0);
    assert_eq!(got[1].as_ref().map(Vec::len).ok(), Some(10));
}

#[test]
fn a_pool_call_above_max_frame_fails_alone_and_the_pool_goes_on() {
    let _guard = common::watchdog("max_frame pool");
    if !common::loops_fork() {
        return;
    }
    let mut pool = par::Pool::new(1).max_frame(SMALL);
    let big = filled::spawn(&mut pool, VALUE);
    let after = filled::spawn(&mut pool, 100);
    assert_refused(pool.get(big).expect("a result").as_ref().unwrap_err(), big);
    assert_eq!(
        pool.get(after)
            .expect("a result")
            .as_ref()
            .map(Vec::len)
            .ok(),
        Some(100)
    );
    // Raised on a pool whose worker is forked already: the same value passes.
    let mut pool = pool.max_frame(4 * VALUE);
    let again = filled::spawn(&mut pool, VALUE);
    assert_eq!(
        pool.get(again)
            .expect("a result")
            .as_ref()
            .map(Vec::len)
            .ok(),
        Some(VALUE)
    );
    drop(pool);
    common::no_children_left();
}

#[test]
fn a_channel_refuses_a_message_above_max_frame_on_either_end() {
    let _guard = common::watchdog("max_frame channel");
    // The parent's end.
    let mut ch: Channel<(), Vec<u8>> = par::start(|ch: &mut Channel<Vec<u8>, ()>| {
        let _ = ch.send(&vec![1u8; 10]);
        let _ = ch.send(&vec![2u8; VALUE]);
    })
    .expect("start")
    .max_frame(SMALL);
    assert_eq!(ch.recv().expect("small").map(|v| v.len()), Some(10));
    assert_refused(&ch.recv().unwrap_err(), 0);
    // The child's end: it reports what its own recv said.
    let mut ch: Channel<Vec<u8>, String> = par::start(|ch: &mut Channel<String, Vec<u8>>| {
        ch.set_max_frame(SMALL);
        let said = match ch.recv() {
            Err(e @ Error::Decode { .. }) => e.to_string(),
            other => format!("unexpected {other:?}"),
        };
        let _ = ch.send(&said);
    })
    .expect("start");
    ch.send(&vec![0u8; VALUE]).expect("send");
    let said = ch.recv().expect("the child's answer").expect("a message");
    assert!(said.contains("max_frame"), "{said}");
    ch.join().expect("the child ends normally");
    common::no_children_left();
}
