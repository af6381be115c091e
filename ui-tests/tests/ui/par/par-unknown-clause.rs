use par::par;

fn main() {
    let v = par!(wrokers = 4, for i in 0..10u32 { i });
    drop(v);
}
