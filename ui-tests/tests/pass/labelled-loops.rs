//! Labels inside a `par!` body and on loops that are not `#[par]` are ordinary Rust.

#[par::parallel]
fn grid(n: u64) -> u64 {
    let mut hits = 0;
    #[par(reduce(+: hits))]
    for i in 0..n {
        'inner: for j in 0..n {
            if j > i {
                continue 'inner;
            }
            hits += 1;
        }
    }
    'outer: for k in 0..n {
        if k > 2 {
            break 'outer;
        }
    }
    hits
}

fn main() {
    let v: Vec<u32> = par::par!(for i in 0..3u32 {
        let mut n = 0;
        'scan: loop {
            n += 1;
            if n > i {
                break 'scan;
            }
        }
        n
    });
    println!("{} {v:?}", grid(4));
}
