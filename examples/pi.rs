//! Monte-Carlo pi with an OpenMP-style reduction: the loop body is the sequential one, the
//! `reduce(+: inside)` clause makes it parallel. Each sample seeds its own generator, so the
//! estimate is the same for any number of workers.
//!
//! ```sh
//! cargo run --release --example pi -- [SAMPLES]     # default 20 000 000
//! ```

use par::par;

/// SplitMix64 of the sample number: a deterministic pair of coordinates in [0, 1).
fn point(sample: u64) -> (f64, f64) {
    let mut z = sample.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((x ^ (x >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    (next(), next())
}

fn main() {
    let samples: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000_000);
    let mut inside = 0u64;
    let t = std::time::Instant::now();
    par!(reduce(+: inside), for s in 0..samples {
        let (x, y) = point(s);
        if x * x + y * y < 1.0 {
            inside += 1;
        }
    });
    let pi = 4.0 * inside as f64 / samples as f64;
    println!(
        "pi ~ {pi:.6} from {samples} samples ({inside} inside) in {:.1} ms, {} workers",
        t.elapsed().as_secs_f64() * 1e3,
        par::default_workers()
    );
}
