//! Shows the `progress` clause: a bar on stderr with items done, rate and ETA, while the
//! workers print their own lines on stdout.
//!
//! ```sh
//! cargo run --release --example progress                  # in a terminal: a bar
//! PAR_PROGRESS=1 cargo run --release --example progress   # elsewhere: a line per second
//! ```

use std::time::Duration;

use par::par;

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400u64);
    let total: u64 = par!(
        progress,
        schedule = dynamic(4),
        for i in 0..n {
            std::thread::sleep(Duration::from_millis(10));
            if i % 100 == 0 {
                println!("item {i} done in worker {}", std::process::id());
            }
            i
        }
    )
    .into_iter()
    .sum();
    println!("sum {total}");
}
