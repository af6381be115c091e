use par::par;

fn main() {
    let mut a = vec![1u32, 2, 3];
    // Items that hold a `&mut` in a shape par cannot write back: refused, never lost.
    par!(for x in a.iter_mut().rev() {
        *x += 1;
    });
    par!(for (i, x) in a.iter_mut().enumerate().skip(1) {
        *x += i as u32;
    });
    let refs: Vec<&mut u32> = a.iter_mut().collect();
    par!(for r in refs {
        *r = 0;
    });
}
