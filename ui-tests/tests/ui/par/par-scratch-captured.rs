use std::collections::{HashMap, HashSet};

use par::par;

fn vranlc(n: usize, seed: &mut f64, out: &mut [f64]) {
    for o in out.iter_mut().take(n) {
        *seed = (*seed * 5.0) % 7.0;
        *o = *seed;
    }
}

fn main() {
    let mut x = vec![0.0f64; 4];
    let mut seed = 1.0f64;
    let mut t = 0.0f64;
    let mut buf = Vec::<u8>::new();
    let mut row = [0u8; 4];
    let mut counts = HashMap::<u32, u32>::new();
    let mut set = HashSet::<u32>::new();
    let mut v = vec![3u32, 1, 2];
    let mut q = 1u64;
    let s: Vec<f64> = par!(for k in 0..10u32 {
        vranlc(4, &mut seed, &mut x);
        t = x[0] * 2.0;
        buf.extend_from_slice(&[1, 2]);
        row.copy_from_slice(&[k as u8; 4]);
        row.fill(0);
        *counts.entry(k % 3).or_insert(0) += 1;
        set.insert(k);
        for e in v.iter_mut() {
            *e += 1;
        }
        v.clear();
        v.sort();
        q /= 2;
        t + x[1]
    });
    println!("{s:?} {x:?} {seed} {t} {buf:?} {row:?} {counts:?} {set:?} {v:?} {q}");
}
