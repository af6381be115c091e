//! `#[parallel]` callables through `Queue` and `Map`: pprocess' tutorial grid, failures, and the
//! `#[par] for` rewrite.
#![cfg(all(unix, not(par_fallback_sys)))] // children: fork only

use std::time::Duration;

#[par::parallel]
fn calculate(t: u64, i: u32, j: u32) -> (u32, u32, u32) {
    std::thread::sleep(Duration::from_millis(t));
    (i, j, i * 10 + j)
}

#[par::parallel]
fn risky(i: u32) -> u32 {
    assert!(i != 2, "job {i} refuses");
    i
}

#[par::parallel]
fn grid_total(n: u32) -> u64 {
    let mut total = 0u64;
    #[par(workers = 2, reduce(+: total))]
    for k in 0..n * n {
        total += (k / n * 10 + k % n) as u64;
    }
    total
}

/// Named like the generated registration's parameter once was: failed to compile (the
/// parameter `bytes` shadowed the function).
#[par::parallel]
fn bytes(n: usize) -> Vec<u8> {
    vec![7; n]
}

#[test]
fn a_parallel_fn_may_have_any_name() {
    let mut pool = par::Pool::new(1);
    bytes::spawn(&mut pool, 3);
    let v: Vec<Vec<u8>> = pool.ordered().map(|r| r.expect("no failure")).collect();
    assert_eq!(v, [vec![7, 7, 7]]);
}

#[test]
fn the_pprocess_grid_through_a_map_and_a_queue() {
    let mut map = par::Map::new(4);
    for i in 0..10 {
        for j in 0..10 {
            calculate::spawn(&mut map, (i * 3 + j) as u64 % 5, i, j);
        }
    }
    let cells: Vec<u32> = map.map(|r| r.expect("no failure").2).collect();
    assert_eq!(
        cells,
        (0..100).collect::<Vec<_>>(),
        "Map yields in submission order"
    );

    let mut queue = par::Queue::new(3);
    for i in 0..4 {
        calculate::spawn(&mut queue, 1, i, i);
    }
    let mut got: Vec<u32> = queue.map(|(_, r)| r.expect("no failure").2).collect();
    got.sort_unstable();
    assert_eq!(got, vec![0, 11, 22, 33]);
    assert_eq!(
        calculate(0, 2, 3),
        (2, 3, 23),
        "the function itself is unchanged"
    );
    assert!(calculate::NAME.ends_with("::calculate"));
}

#[test]
fn a_failing_call_is_reported_with_its_job_and_the_rest_complete() {
    let mut map = par::Map::new(2);
    for i in 0..4 {
        risky::spawn(&mut map, i);
    }
    let results: Vec<_> = map.collect();
    assert_eq!(results.len(), 4);
    match &results[2] {
        Err(par::Error::Panicked {
            index: 2, message, ..
        }) => assert_eq!(message, "job 2 refuses"),
        other => panic!("{other:?}"),
    }
    assert!(results[3].as_ref().is_ok_and(|&v| v == 3));
}

#[test]
fn par_loops_inside_a_parallel_function_are_par_loops() {
    let want: u64 = (0..10u64)
        .flat_map(|i| (0..10u64).map(move |j| i * 10 + j))
        .sum();
    assert_eq!(grid_total(10), want);
}

/// The companion's `pmap`: one call per item (the argument, or a tuple of the arguments),
/// results in input order, a failure in its place.
#[test]
fn a_parallel_function_s_pmap_runs_a_call_per_item_in_order() {
    let got: Vec<u32> = risky::pmap([1u32, 3, 4], 2).map(|r| r.unwrap()).collect();
    assert_eq!(got, [1, 3, 4]);
    let got: Vec<par::Result<(u32, u32, u32)>> =
        calculate::pmap((0..4u32).map(|i| (7u64, i, i + 1)), 3).collect();
    for (i, r) in got.into_iter().enumerate() {
        let i = i as u32;
        assert_eq!(r.unwrap(), calculate(7, i, i + 1));
    }
    let with_failure: Vec<par::Result<u32>> = risky::pmap(0..8u32, 2).collect();
    assert_eq!(with_failure.len(), 8);
    for (i, r) in with_failure.iter().enumerate() {
        match r {
            Ok(v) => assert_eq!(*v as usize, i),
            Err(e) => {
                assert_eq!(i, 2, "{e}");
                assert!(e.to_string().contains("job 2 refuses"), "{e}");
            }
        }
    }
    assert!(with_failure[2].is_err());
}
