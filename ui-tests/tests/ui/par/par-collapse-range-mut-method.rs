use par::par;

fn main() {
    // A `&mut self` method in the inner range: the compiler names the change.
    let mut it = 1..10u32;
    let w: Vec<u32> = par!(collapse(2), for i in 0..3u32 {
        for j in 0..it.next().unwrap_or(0) {
            i + j
        }
    });
    println!("{w:?}");
}
