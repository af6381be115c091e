//! The right side of `par-scratch-captured`, `par-out-index`, `par-lastprivate`,
//! `par-private-misuse` and the `collapse` errors: the forms their messages point to compile.

use par::par;

fn vranlc(n: usize, seed: &mut f64, out: &mut [f64]) {
    for o in out.iter_mut().take(n) {
        *seed = (*seed * 5.0) % 7.0;
        *o = *seed;
    }
}

fn main() {
    // Scratch: `private(..)`, or declared inside the body.
    let x = vec![0.0f64; 4];
    let seed = 1.0f64;
    let buf = Vec::<u8>::new();
    let a: Vec<f64> = par!(
        private(x, seed, buf),
        for _k in 0..10u32 {
            vranlc(4, &mut seed, &mut x);
            buf.extend_from_slice(&[1, 2]);
            buf.clear();
            x.sort_by(f64::total_cmp);
            x[0] + seed
        }
    );
    let b: Vec<f64> = par!(for _k in 0..10u32 {
        let mut x = vec![0.0f64; 4];
        let mut seed = 1.0f64;
        vranlc(4, &mut seed, &mut x);
        x.fill(0.5);
        x[0] + seed
    });

    // `private` with `find` and with an in-place loop.
    let scratch = vec![0u32; 3];
    let hit: Option<usize> = par!(
        find,
        private(scratch),
        for i in 0..50u32 {
            scratch[0] = i;
            scratch[0] == 30
        }
    );
    let mut halves = vec![2.0f64; 8];
    par!(
        private(scratch),
        for h in halves.iter_mut() {
            scratch.push(1);
            *h /= scratch.len() as f64;
        }
    );
    println!("{hit:?} {halves:?}");

    // `out[i] = ...`: the loop's value, or the in-place form.
    let out: Vec<u64> = par!(for i in 0..100usize {
        (i * i) as u64
    });
    let mut inplace = vec![0u64; 100];
    par!(for (i, o) in inplace.iter_mut().enumerate() {
        *o = (i * i) as u64;
    });

    // `last = i`: the loop's last value.
    let last = par!(for i in 0..100u32 {
        i
    })
    .last()
    .copied();

    // `+=`: a reduction.
    let mut total = 0u64;
    par!(reduce(+: total), for i in 0..100u64 { total += i; });

    // A rectangular nest, collapsed: two and three levels, any integer type and start.
    let n = 10u32;
    let m = 4usize;
    let grid: Vec<(u32, usize)> = par!(
        collapse(2),
        for i in 1..=n {
            for j in 0..m {
                (i, j)
            }
        }
    );
    let cube: Vec<i64> = par!(
        collapse(3),
        for i in -2i64..2 {
            for j in 0..3i64 {
                for k in 5..=6i64 {
                    i * j * k
                }
            }
        }
    );
    let mut cells = 0usize;
    par!(collapse(2), reduce(+: cells), for _i in 0..n {
        for _j in 0..m {
            cells += 1;
        }
    });
    let one: Vec<u32> = par!(
        collapse(1),
        for i in 0..n {
            i
        }
    );
    println!("{a:?} {b:?} {out:?} {inplace:?} {last:?} {total} {grid:?} {cube:?} {cells} {one:?}");
}
