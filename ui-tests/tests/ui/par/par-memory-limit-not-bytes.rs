use par::par;

fn main() {
    let v = par!(memory_limit = "2G", for i in 0..10u32 { i });
    drop(v);
}
