use par::par;

fn main() {
    let n = 10u32;
    let v: Vec<u32> = par!(collapse(2), for i in 0..n {
        let base = i * 100;
        for j in 0..n {
            base + j
        }
    });
    let w: Vec<u32> = par!(collapse(3), for i in 0..n {
        for j in 0..n {
            i + j
        }
    });
    par!(collapse(2), for i in 0..n {
        'inner: for j in 0..n {
            if i == j {
                continue 'inner;
            }
        }
    });
    let x: Vec<u32> = par!(collapse(0), for i in 0..n { i });
    let y: Vec<u32> = par!(collapse(n), for i in 0..n { i });
    let mut a = vec![0u32; 4];
    par!(collapse(2), for x in a.iter_mut() {
        for j in 0..n {
            *x += j;
        }
    });
    println!("{v:?} {w:?} {x:?} {y:?}");
}
