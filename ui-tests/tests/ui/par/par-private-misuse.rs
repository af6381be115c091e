use par::par;

fn main() {
    let buf = vec![0u8; 4];
    let mut total = 0u64;
    let v: Vec<usize> = par!(private(buf, buf), for i in 0..4usize { buf.len() + i });
    par!(private(total), reduce(+: total), for i in 0..4u64 { total += i; });
    let w: Vec<usize> = par!(private(buf[0]), for i in 0..4usize { i });
    let e: Vec<usize> = par!(private(), for i in 0..4usize { i });
    let l: Vec<usize> = par!(private(i), for i in 0..4usize { i });
    println!("{v:?} {w:?} {e:?} {l:?} {total}");
}
