fn main() {
    let mut pool: par::Pool<u32> = par::Pool::new(2);
    let x = 3;
    pool.spawn(move || x * 2);
}
