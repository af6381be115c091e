use par::par;

fn first_big(xs: &[u32]) -> Option<u32> {
    par!(for x in xs {
        if *x > 100 {
            return Some(*x);
        }
    });
    None
}

fn main() {
    first_big(&[1, 200]);
}
