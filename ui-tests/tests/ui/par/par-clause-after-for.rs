use par::par;

fn main() {
    let v = par!(for i in 0..10u32 { i }, workers = 4);
    drop(v);
}
