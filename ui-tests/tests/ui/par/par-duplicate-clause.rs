use par::par;

fn main() {
    let v = par!(workers = 4, workers = 2, for i in 0..10u32 { i });
    drop(v);
}
