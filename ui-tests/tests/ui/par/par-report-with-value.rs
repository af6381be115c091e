use par::par;

fn main() {
    let v = par!(report = true, for i in 0..10u32 { i });
    drop(v);
}
