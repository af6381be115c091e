//! pprocess' `simple_managed_map_reusable.py`: `Map(limit, reuse=1)` and
//! `results.manage(pprocess.MakeReusable(calculate))`: a few processes, each running many calls.
//!
//! par: a `par::Pool` forks at most `limit` workers once and sends them the calls of the
//! `#[parallel]` function (by its registered name, with its arguments as bytes);
//! `pool.ordered()` yields results in submission order. It prints how many processes it forked.
//!
//! `cargo run --release --example simple_managed_map_reusable [-- --delay-ms 1000 --limit 10]`

#[path = "pprocess/mod.rs"]
mod pprocess;

use pprocess::calculate;

fn main() -> Result<(), par::Error> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let mut results = par::Pool::new(o.limit);
    for (i, j) in pprocess::sequence() {
        calculate::spawn(&mut results, o.delay_ms, i, j);
    }
    let mut grid = pprocess::Grid::new();
    for result in results.ordered() {
        grid.set(result?);
    }
    grid.print();
    eprintln!("(100 calls served by {} forked workers)", results.forks());
    pprocess::time_taken(start);
    Ok(())
}
