use par::par;

fn main() {
    let v = par!(for i in 0..4u32 { yield i });
    drop(v);
}
