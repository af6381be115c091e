use par::par;

fn main() {
    let total = 0u32;
    par!(reduce(+: total), for i in 0..10u32 {
        total += i;
    });
    println!("{total}");
}
