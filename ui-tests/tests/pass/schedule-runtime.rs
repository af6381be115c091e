use par::par;

fn main() {
    // `schedule = runtime`: the schedule of `PAR_SCHEDULE` (unset here: the default, auto).
    let v: Vec<u32> = par!(
        schedule = runtime,
        workers = 2,
        for i in 0..4u32 {
            i * 2
        }
    );
    assert_eq!(v, [0, 2, 4, 6]);
    let mut total = 0u64;
    par!(schedule = runtime, reduce(+: total), for i in 0..10u64 { total += i; });
    assert_eq!(total, 45);
}
