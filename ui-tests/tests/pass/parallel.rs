#[par::parallel]
pub fn calculate(t: f64, i: u32, j: u32) -> (u32, u32, f64) {
    (i, j, t * (i * 10 + j) as f64)
}

#[par::parallel]
fn rows(n: u64) -> Vec<u64> {
    #[par(workers = 2)]
    for i in 0..n {
        println!("{i}");
    }
    let mut v = Vec::new();
    for i in 0..n {
        v.push(i);
    }
    v
}

fn main() {
    let mut map = par::Map::new(2);
    calculate::spawn(&mut map, 1.0, 1, 2);
    let mut q = par::Queue::new(2);
    rows::spawn(&mut q, 3);
    println!("{:?} {:?}", map.next(), q.next());
}
