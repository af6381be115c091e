use par::par;

fn main() {
    // A built-in operator has its own identity; `= IDENTITY` is for a `fn` path.
    let mut total = 0u64;
    par!(reduce(+ = 0: total), for i in 0..10u64 {
        total += i;
    });
    println!("{total}");
}
