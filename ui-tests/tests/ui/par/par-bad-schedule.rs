use par::par;

fn main() {
    let v = par!(schedule = round_robin, for i in 0..10u32 { i });
    drop(v);
}
