//! `unordered` after a crash: the error names the failed item and every other item of the dead
//! worker's chunks whose value never arrived, so that each item is accounted for, as a value or
//! in the error (as `ordered` does with `Error::Lost`). Before: the `Err` named only the item
//! the worker died at, and the values of the rest of its chunk vanished without a word.

mod common;

use std::collections::BTreeSet;

/// The items an `Error::Lost` message names after "never arrived": `item N`, `items A to B`.
fn named(message: &str) -> BTreeSet<usize> {
    let tail = message.split("never arrived").last().unwrap_or_default();
    let words: Vec<&str> = tail
        .split(|c: char| c == ',' || c.is_whitespace() || c == ':' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = BTreeSet::new();
    let mut k = 0;
    while k < words.len() {
        match words[k] {
            "item" => {
                if let Some(n) = words.get(k + 1).and_then(|w| w.parse().ok()) {
                    out.insert(n);
                }
                k += 2;
            }
            "items" => {
                let a: Option<usize> = words.get(k + 1).and_then(|w| w.parse().ok());
                let b: Option<usize> = words.get(k + 3).and_then(|w| w.parse().ok());
                if let (Some(a), Some(b)) = (a, b) {
                    out.extend(a..=b);
                }
                k += 4;
            }
            _ => k += 1,
        }
    }
    out
}

#[test]
fn a_crash_names_every_item_whose_value_was_lost() {
    let _w = common::watchdog("a_crash_names_every_item_whose_value_was_lost");
    if !common::loops_fork() {
        return;
    }
    for w in [2, 3] {
        let got: Vec<Result<u32, par::Error>> = par::Loop::new()
            .workers(w)
            .schedule(par::Schedule::Static)
            .try_unordered(0..90u32, |i| {
                if i == 60 {
                    // The other workers' items are handed out a chunk at a time as they go:
                    // give them time to have all been handed out (and run) before the crash,
                    // after which the loop hands out no more.
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    std::process::abort();
                }
                Ok::<u32, String>(i)
            })
            .collect();
        let values: BTreeSet<usize> = got
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|&v| v as usize))
            .collect();
        let errors: Vec<&par::Error> = got.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(errors.len(), 1, "{w} workers: {errors:?}");
        let mut accounted = values.clone();
        match errors[0] {
            // Item 60 was the only one without a value (it began its worker's chunk).
            par::Error::WorkerDied {
                index: Some(60), ..
            } => {
                accounted.insert(60);
            }
            par::Error::Lost {
                index: Some(60),
                pid: Some(_),
                message,
            } => {
                assert!(message.contains("item 60"), "{message}");
                assert!(message.contains("signal 6"), "{message}");
                let lost = named(message);
                assert!(lost.is_disjoint(&values), "{w} workers: {message}");
                accounted.insert(60);
                accounted.extend(lost);
            }
            other => panic!("{w} workers: {other:?}"),
        }
        // Each item is a value or named in the error (items past the failure that no worker
        // was given yet are neither: the loop stops handing out work at the failure).
        let given_up_to = accounted.iter().max().copied().unwrap_or(0);
        for i in 0..=given_up_to.min(60) {
            assert!(
                accounted.contains(&i),
                "{w} workers: item {i} unaccounted: {errors:?}"
            );
        }
    }
    common::no_children_left();
}
