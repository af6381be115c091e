use par::par;

fn main() {
    let mut out = vec![0u64; 100];
    par!(for i in 0..100usize {
        out[i] = (i * i) as u64;
    });
    println!("{out:?}");
}
