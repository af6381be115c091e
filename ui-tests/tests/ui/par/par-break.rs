use par::par;

fn main() {
    let v = par!(for i in 0..10u32 {
        if i == 3 {
            break;
        }
        i
    });
    drop(v);
}
