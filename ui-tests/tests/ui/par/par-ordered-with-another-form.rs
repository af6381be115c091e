use par::par;

fn main() {
    let mut total = 0u32;
    par!(ordered, reduce(+: total), for i in 0..10u32 {
        total += i;
    });
    println!("{total}");
    let v: Vec<u32> = par!(ordered, retries = 2, for i in 0..10u32 { i }).collect();
    let w: Vec<u32> = par!(ordered, unordered, for i in 0..10u32 { i }).collect();
    println!("{v:?} {w:?}");
    let f = par!(ordered, find, for i in 0..10u32 { i == 3 });
    let k = par!(ordered, keep_going, for i in 0..10u32 { i });
    let mut data = vec![0u32; 10];
    par!(ordered, for x in data.iter_mut() {
        *x += 1;
    });
    println!("{f:?} {k:?} {data:?}");
}
