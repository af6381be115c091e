//! Reduction clauses that must compile: a `fn` path with a `Default` identity or a named one,
//! lists of variables sharing an operator, mixed with other operators, arrays and `Vec`s
//! element by element, and `min`/`max` on tuples and `String`s.
use par::par;

#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Span {
    lo: u64,
    hi: u64,
}

fn widen(a: Span, b: Span) -> Span {
    Span {
        lo: a.lo.min(b.lo),
        hi: a.hi.max(b.hi),
    }
}

fn add2(a: [u64; 2], b: [u64; 2]) -> [u64; 2] {
    [a[0] + b[0], a[1] + b[1]]
}

mod merge {
    pub fn cat(mut a: Vec<u32>, b: Vec<u32>) -> Vec<u32> {
        a.extend(b);
        a
    }
}

fn main() {
    let mut q = [10u64, 0];
    par!(reduce(add2: q), for i in 0..100u64 {
        q[(i % 2) as usize] += 1;
    });
    let mut s = Span { lo: 5, hi: 5 };
    par!(reduce(widen = Span { lo: u64::MAX, hi: 0 }: s), for i in 0..10u64 {
        s = widen(s, Span { lo: i, hi: i });
    });
    let (mut a, mut b, mut m, mut v) = (0u64, 0u64, 0u64, Vec::new());
    par!(reduce(+: a, b, max: m, merge::cat: v), for i in 0..10u64 {
        a += i;
        b += 2 * i;
        m = m.max(i);
        v.push(i as u32);
    });
    println!("{q:?} {} {} {a} {b} {m} {v:?}", s.lo, s.hi);
    // Arrays of any length and `Vec`s, element by element; `min`/`max` on `Ord` types.
    let (mut hist, mut bits, mut counts) = ([0u64; 256], [0u8; 64], vec![0u32; 10]);
    let (mut best, mut name, mut all) = ((u64::MAX, usize::MAX), String::new(), [true; 3]);
    par!(reduce(+: hist, counts, |: bits, min: best, max: name, &&: all), for i in 0..1000usize {
        hist[i % 256] += 1;
        counts[i % 10] += 1;
        bits[i % 64] |= 1 << (i % 8);
        best = best.min(((i as u64 * 7) % 13, i));
        name = name.max(format!("n{}", i % 17));
        all[i % 3] = all[i % 3] && i < 2000;
    });
    println!("{} {bits:?} {counts:?} {best:?} {name} {all:?}", hist[0]);
}
