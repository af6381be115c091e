use par::par;

fn main() {
    let v: Vec<u32> = par!(retry_panics, for i in 0..4u32 { i });
    let w = par!(unordered, retries = 2, for i in 0..4u32 { i });
    let _ = (v, w);
}
