//! A `Pool` serves `#[parallel]` functions, also ones declared inside a function body.
fn main() {
    #[par::parallel]
    fn double(x: u32) -> u32 {
        x * 2
    }
    let mut pool = par::Pool::new(2);
    for x in 0..4 {
        double::spawn(&mut pool, x);
    }
    let got: Vec<u32> = pool.ordered().map(|r| r.unwrap()).collect();
    assert_eq!(got, [0, 2, 4, 6]);
}
