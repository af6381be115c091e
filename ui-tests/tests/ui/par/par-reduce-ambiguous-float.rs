use par::par;

fn main() {
    let n = 100;
    // A float literal without a suffix and a method called on the variable in the body: the
    // variable's type must be written (`let mut best = 0.0f64;`), as in a sequential loop.
    let mut best = 0.0;
    par!(reduce(max: best), for i in 0..n {
        best = best.max(i as f64);
    });
    println!("{best}");
}
