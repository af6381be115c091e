//! `position_any` / `any`: the first hit stops the search, killing the work still running.

mod common;

use std::time::Duration;

use common::{no_children_left, watchdog};
use par::{Loop, SharedVec};

#[test]
fn the_first_hit_stops_the_search_early() {
    let _guard = watchdog("find-early");
    let n = 20_000usize;
    let runs = SharedVec::<u8>::new(n).expect("shared marks");
    let hit = Loop::new().workers(2).position_any(0..n, |i| {
        runs.set(i, 1);
        std::thread::sleep(Duration::from_micros(200)); // 4 s for every item
        i == 300
    });
    assert_eq!(hit, Some(300));
    let ran = runs.to_vec().iter().filter(|&&r| r == 1).count();
    assert!(ran < n / 2, "{ran} of {n} items ran");
    no_children_left();
}

#[test]
fn no_match_looks_at_every_item_and_errors_are_reported() {
    let _guard = watchdog("find-none");
    let n = 5_000usize;
    let runs = SharedVec::<u8>::new(n).expect("shared marks");
    let hit = Loop::new().workers(2).position_any(0..n, |i| {
        runs.set(i, 1);
        false
    });
    assert_eq!(hit, None);
    assert!(
        runs.to_vec().iter().all(|&r| r == 1),
        "every item looked at"
    );
    assert!(!Loop::new().workers(2).any(0..100u32, |i| i > 100));
    let r = Loop::new().workers(2).try_position_any(0..100u32, |i| {
        if i == 42 {
            Err(format!("cannot look at {i}"))
        } else {
            Ok(false)
        }
    });
    let e = r.expect_err("a failing predicate");
    assert_eq!(e.index(), Some(42), "{e}");
    no_children_left();
}
