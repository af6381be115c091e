use par::par;

fn main() {
    let n = 10u32;
    let v: Vec<u32> = par!(collapse(2), for i in 0..n {
        for j in 0..i {
            i * j
        }
    });
    let w: Vec<u32> = par!(collapse(3), for i in 0..n {
        for j in 0..n {
            for k in j..n {
                i + j + k
            }
        }
    });
    println!("{v:?} {w:?}");
}
