use par::par;

fn main() {
    let mut v = vec![1.0f64; 10];
    let mut total = 0.0f64;
    par!(reduce(+: total), for x in v.iter_mut() {
        *x *= 2.0;
        total += *x;
    });
    println!("{total}");
}
