use par::par;

fn main() {
    let n = 10u32;
    let v: Vec<u32> = par!(retries = 2, retry_panics, if = n > 5, for i in 0..n { i * 2 });
    assert_eq!(v, (0..n).map(|i| i * 2).collect::<Vec<_>>());
    let mut total = 0u64;
    par!(reduce(+: total), retries = 1, for i in 0..100u64 { total += i; });
    assert_eq!(total, 4950);
    let stop = par::Cancel::new();
    let r: Result<Vec<u32>, par::Error> = par!(
        try,
        cancel = stop,
        for i in 0..4u32 {
            i
        }
    );
    assert_eq!(r.unwrap(), [0, 1, 2, 3]);
    let hit: Option<usize> = par!(
        find,
        for w in ["a", "bb", "ccc"] {
            w.len() == 2
        }
    );
    assert_eq!(hit, Some(1));
    let none: Result<Option<usize>, par::Error> = par!(
        try,
        find,
        for x in 0..5u32 {
            x > 9
        }
    );
    assert_eq!(none.unwrap(), None);
    let each: Vec<Result<u32, par::Error>> = par!(
        keep_going,
        for i in 0..3u32 {
            i + 1
        }
    );
    assert_eq!(
        each.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let each: Result<Vec<Result<u32, par::Error>>, par::Error> = par!(
        try,
        keep_going,
        for s in ["1", "x"] {
            s.parse::<u32>()?
        }
    );
    let each = each.unwrap();
    assert!(each[0].is_ok() && each[1].is_err());
}
