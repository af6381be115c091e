//! Half-close works both ways on the parent's `close`: the parent closes its sending end and
//! still receives; the child's `recv` then returns `Ok(None)` and the child can still send its
//! answer (a started child that sums what it receives, then replies once).
#![cfg(all(unix, not(par_fallback_sys)))] // channels: fork only

mod common;

use common::{no_children_left, watchdog};
use par::Channel;

#[test]
fn a_child_answers_after_the_parent_closed_its_end() {
    let _guard = watchdog("half-close");
    let mut ch: Channel<u64, u64> = par::start(|ch: &mut Channel<u64, u64>| {
        let mut total = 0;
        while let Some(x) = ch.recv().unwrap() {
            total += x;
        }
        // `recv` said the parent closed its end: the answer still goes the other way.
        ch.send(&total).unwrap();
        ch.send(&(total * 2)).unwrap();
    })
    .unwrap();
    for x in 1..=4 {
        ch.send(&x).unwrap();
    }
    ch.close();
    assert_eq!(ch.recv().unwrap(), Some(10));
    assert_eq!(ch.recv().unwrap(), Some(20));
    assert_eq!(ch.recv().unwrap(), None);
    // Sending after `close` is an error that says so.
    let e = ch.send(&1).unwrap_err();
    assert!(e.to_string().contains("could not send"), "{e}");
    drop(ch);
    no_children_left();
}

#[test]
fn a_child_answers_after_the_parent_closed_its_end_in_an_exchange() {
    let _guard = watchdog("half-close exchange");
    let mut ex: par::Exchange<u64, u64> = par::Exchange::new(2);
    for k in 1..=3u64 {
        let mut ch: Channel<u64, u64> = par::start(move |ch: &mut Channel<u64, u64>| {
            let mut n = 0;
            while let Ok(Some(_)) = ch.recv() {
                n += 1;
            }
            ch.send(&(n * k)).unwrap();
        })
        .unwrap();
        for x in 0..k {
            ch.send(&x).unwrap();
        }
        ch.close();
        ex.add(ch);
    }
    let mut got: Vec<(usize, u64)> = ex.map(|(id, r)| (id, r.unwrap())).collect();
    got.sort();
    assert_eq!(got, [(0, 1), (1, 4), (2, 9)]);
    no_children_left();
}
