use std::collections::VecDeque;

use par::par;

fn scale(xs: &mut [f64], by: f64) {
    par!(for x in xs.iter_mut() {
        *x *= by;
    });
}

fn main() {
    let mut v = vec![1.0f64; 100];
    scale(&mut v, 2.0);
    par!(for x in &mut v {
        *x += 1.0;
    });
    let mut arr = [0u8; 32];
    par!(
        workers = 2,
        for (i, x) in arr.iter_mut().enumerate() {
            *x = i as u8;
        }
    );
    let other: Vec<f64> = (0..100).map(f64::from).collect();
    par!(for (x, o) in v.iter_mut().zip(&other) {
        *x += *o;
    });
    par!(for (o, x) in other.iter().zip(v.iter_mut()) {
        *x -= *o;
    });
    par!(for row in v.chunks_mut(10) {
        row[0] = 0.0;
    });
    par!(for (y, row) in v.chunks_exact_mut(10).enumerate() {
        row[1] = y as f64;
    });
    let r: Result<(), par::Error> = par!(
        try,
        for x in v.iter_mut() {
            if *x < -1.0 {
                Err("negative")?;
            }
            *x += 0.5;
        }
    );
    r.unwrap();
    let mut d: VecDeque<u32> = (0..10).collect();
    par!(for x in d.iter_mut() {
        *x += 1;
    });
    let mut words = vec![String::from("a")];
    par!(for w in words.iter_mut() {
        w.push('b');
    });
}
