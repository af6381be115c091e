#[par::parallel]
fn total(n: u64) -> u64 {
    let mut sum = 0;
    #[par(reduce(+: sum))]
    'items: for i in 0..n {
        sum += i;
    }
    sum
}

fn main() {
    println!("{}", total(10));
}
