use par::par;

struct Pixel {
    r: u8,
}

fn main() {
    let v = par!(for i in 0..10u8 { Pixel { r: i } });
    println!("{}", v[0].r);
}
