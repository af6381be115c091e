//! The Mandelbrot set (W3 of benches/README.md): one row per item, written to a PNG.
//!
//! ```sh
//! cargo run --release --example mandelbrot -- [SIZE] [OUT.png]     # default 2048 mandelbrot.png
//! ```
//!
//! Each row comes back from its worker as a `Vec<u16>` of iteration counts; the checksum (sum
//! of all counts) is the one benches/README.md gives for 2048: 199372603.

use std::time::Instant;

use par::par;

/// Iteration counts of row `y` of a `size`x`size` image of [-2, 1] x [-1.5, 1.5].
fn row(y: usize, size: usize) -> Vec<u16> {
    let dx = 3.0 / size as f64;
    let ci = -1.5 + y as f64 * dx;
    (0..size)
        .map(|x| {
            let cr = -2.0 + x as f64 * dx;
            let (mut zr, mut zi, mut n) = (0.0f64, 0.0f64, 0u16);
            while n < 256 {
                let (zr2, zi2) = (zr * zr, zi * zi);
                if zr2 + zi2 > 4.0 {
                    break;
                }
                zi = 2.0 * zr * zi + ci;
                zr = zr2 - zi2 + cr;
                n += 1;
            }
            n
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2048);
    let out = args.next().unwrap_or_else(|| "mandelbrot.png".to_string());
    let t = Instant::now();
    let rows = par!(for y in 0..size {
        row(y, size)
    });
    let elapsed = t.elapsed();
    let checksum: u64 = rows.iter().flatten().map(|&n| n as u64).sum();
    // Grey levels: inside the set black, outside brighter the longer a point took to escape.
    let pixels: Vec<u8> = rows
        .iter()
        .flatten()
        .map(|&n| {
            if n == 256 {
                0
            } else {
                (255.0 * (n as f64 / 256.0).sqrt()) as u8
            }
        })
        .collect();
    let file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    let mut enc = png::Encoder::new(file, size as u32, size as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.write_header()?.write_image_data(&pixels)?;
    println!(
        "{size}x{size} in {:.1} ms with {} workers, checksum {checksum}, wrote {out}",
        elapsed.as_secs_f64() * 1e3,
        par::default_workers()
    );
    Ok(())
}
