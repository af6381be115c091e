//! pprocess' `simple_map.py`, sequential: `map(calculate, sequence)` over every cell.
//!
//! `cargo run --release --example simple_map [-- --delay-ms 1000]`; compare with `simple_pmap`.

#[path = "pprocess/mod.rs"]
mod pprocess;

fn main() {
    let o = pprocess::options();
    let start = std::time::Instant::now();
    let results: Vec<u32> = pprocess::sequence()
        .map(|(i, j)| pprocess::calculate(o.delay_ms, i, j).2)
        .collect();
    pprocess::print_rows(&results);
    pprocess::time_taken(start);
}
