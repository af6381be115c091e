use par::par;

fn main() {
    let mut total = 0u32;
    par!(unordered, reduce(+: total), for i in 0..10u32 {
        total += i;
    });
    println!("{total}");
}
