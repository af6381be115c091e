struct Pixel {
    r: u8,
}

#[par::parallel]
fn shade(i: u8) -> Pixel {
    Pixel { r: i }
}

fn main() {
    let mut queue = par::Queue::new(2);
    shade::spawn(&mut queue, 1);
    println!("{}", shade(2).r);
}
