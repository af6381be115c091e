use par::par;

fn main() {
    let v = par!(threads_per_worker, for i in 0..10u32 { i });
    drop(v);
}
