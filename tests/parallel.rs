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
