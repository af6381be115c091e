use par::par;

fn main() {
    let v = par!(proc_bind = sideways, for i in 0..10u32 { i });
    let w = par!(proc_bind = true, for i in 0..10u32 { i });
    drop((v, w));
}
