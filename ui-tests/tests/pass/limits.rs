use par::par;

fn main() {
    let v: Vec<u32> = par!(
        memory_limit = 1 << 30,
        threads_per_worker = 1,
        for i in 0..4u32 {
            i * 2
        }
    );
    assert_eq!(v, [0, 2, 4, 6]);
    let gib: u64 = 2 << 30;
    let r: Result<Vec<u32>, par::Error> = par!(
        try,
        workers = 2,
        memory_limit = gib,
        for i in 0..4u32 {
            i
        }
    );
    assert_eq!(r.unwrap(), [0, 1, 2, 3]);
}
