//! pprocess' `simple_pmap.py`: `pprocess.pmap(calculate, sequence, limit=limit)`.
//!
//! par: `par::pmap(f, items, limit)`, an ordered, lazy map running each call in a forked child,
//! at most `limit` at once. (For many cheap items, `par!` over the sequence is far cheaper: it
//! sends chunks of items to a few workers.)
//!
//! `cargo run --release --example simple_pmap [-- --delay-ms 1000 --limit 10]`

#[path = "pprocess/mod.rs"]
mod pprocess;

fn main() -> Result<(), par::Error> {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let delay = o.delay_ms;
    let results = par::pmap(
        move |(i, j)| pprocess::calculate(delay, i, j).2,
        pprocess::sequence(),
        o.limit,
    );
    let results: Vec<u32> = results.collect::<Result<_, _>>()?;
    pprocess::print_rows(&results);
    pprocess::time_taken(start);
    Ok(())
}
