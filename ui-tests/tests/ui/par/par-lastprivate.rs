use par::par;

fn main() {
    let mut last = 0u32;
    par!(for i in 0..100u32 {
        let _square = i * i;
        last = i;
    });
    println!("{last}");
}
