use par::par;

fn main() {
    let v = par!(for i in 0..10u32 {
        if i == 1 {
            break;
        }
        if i == 2 {
            break;
        }
        if i == 3 {
            return;
        }
        i
    });
    drop(v);
}
