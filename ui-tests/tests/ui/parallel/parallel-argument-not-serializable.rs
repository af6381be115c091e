struct Pixel {
    r: u8,
}

struct Palette;

#[par::parallel]
fn shade(p: Pixel, palette: Palette, i: u8) -> u8 {
    let _ = palette;
    p.r + i
}

fn main() {
    let mut queue = par::Queue::new(2);
    shade::spawn(&mut queue, Pixel { r: 1 }, Palette, 2);
    for (_, r) in queue {
        println!("{:?}", r.is_ok());
    }
}
