//! A loop whose body panics re-panics in the caller at the caller's line (the `par!` or `Loop`
//! call), not inside par's source, with the worker's own location in the message. Its own
//! test binary: it replaces the process-wide panic hook while it runs.

use std::sync::{Arc, Mutex};

#[test]
fn a_failed_loop_panics_at_the_users_line_with_the_workers_location_in_the_message() {
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let record = seen.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        record.lock().unwrap().push((at, message));
    }));
    let collect_line = line!() + 2;
    let r = std::panic::catch_unwind(|| {
        par::Loop::new().workers(2).collect(0..10u32, |i| {
            if i == 7 {
                panic!("boom {i}")
            }
            i
        })
    });
    assert!(r.is_err());
    let mut total = 0u32;
    let reduce_line = line!() + 2;
    let r = std::panic::catch_unwind(move || {
        par::par!(reduce(+: total), for i in 0..10u32 { if i == 3 { panic!("bad {i}") } total += i; });
        total
    });
    assert!(r.is_err());
    std::panic::set_hook(previous);
    let seen = seen.lock().unwrap().clone();
    let caller = |line: u32| format!("tests/panic_location.rs:{line}");
    // In sequential mode (PAR_WORKERS=1) the body's own panic is the one seen, at its line.
    let parallel = par::default_workers() > 1;
    if parallel {
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0].0, caller(collect_line), "{seen:?}");
        assert!(
            seen[0].1.starts_with("item 7 panicked in worker ")
                && seen[0]
                    .1
                    .contains(&format!("at {}:", caller(collect_line + 2)))
                && seen[0].1.ends_with(": boom 7"),
            "{seen:?}"
        );
        assert_eq!(seen[1].0, caller(reduce_line), "{seen:?}");
        assert!(
            seen[1].1.starts_with("item 3 panicked in worker "),
            "{seen:?}"
        );
    } else {
        assert!(
            seen.iter().any(|(at, _)| *at == caller(collect_line + 2)),
            "{seen:?}"
        );
    }
}
