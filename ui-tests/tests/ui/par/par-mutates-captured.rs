use par::par;

fn main() {
    let mut total = 0u64;
    let mut seen = Vec::new();
    let mut last = 0u32;
    par!(for i in 0..10u32 {
        total += i as u64;
        last = i;
        let r = &mut seen;
        r.push(i);
    });
    println!("{total} {last} {seen:?}");
}
