use par::par;

fn main() {
    let v: Vec<u32> = par!(for i in 0..10u32 {
        i * 2
    });
    par!(for i in &v {
        if *i == 4 {
            continue;
        }
        println!("{i}");
    });
    let mut sum = 0u64;
    let mut best = f64::MIN;
    par!(reduce(+: sum, max: best), for i in 0..100u64 {
        sum += i;
        best = best.max(i as f64);
    });
    let r: Result<Vec<u32>, par::Error> = par!(
        try,
        workers = 2,
        for s in ["1"] {
            s.parse::<u32>()?
        }
    );
    let u: Vec<u32> = par!(
        unordered,
        schedule = dynamic(4),
        for i in 0..10u32 {
            i
        }
    )
    .collect();
    let s = par!(
        stream,
        schedule = guided,
        for x in vec![1u8, 2].into_iter() {
            x
        }
    );
    let t = par!(timeout = std::time::Duration::from_secs(1), progress, schedule = static, for (a, b) in [(1, 2)] { a + b });
    println!("{sum} {best} {r:?} {u:?} {s:?} {t:?}");
}
