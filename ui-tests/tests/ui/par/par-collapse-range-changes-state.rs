use par::par;

fn main() {
    // The sequential nest evaluates the inner range once per `i`; `collapse` once: refused.
    let mut n = 2u32;
    let v: Vec<u32> = par!(collapse(2), for i in 0..3u32 {
        for j in 0..({ n += 1; n }) {
            i * j
        }
    });
    println!("{v:?} {n}");
}
