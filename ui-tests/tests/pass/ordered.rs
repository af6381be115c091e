use par::par;

fn main() {
    // Values in item order, each as soon as it and the items before it are done.
    let v: Vec<u32> = par!(
        ordered,
        workers = 2,
        for i in 0..10u32 {
            i * 2
        }
    )
    .collect();
    assert_eq!(v, (0..10).map(|i| i * 2).collect::<Vec<_>>());
    let names = vec!["a".to_string(), "bb".to_string()];
    let lens: Vec<usize> = par!(
        ordered,
        for s in &names {
            s.len()
        }
    )
    .collect();
    assert_eq!(lens, [1, 2]);
    // `try`: the values before the first failure, then its `Err`.
    let r: Vec<Result<u32, par::Error>> = par!(
        ordered,
        try,
        for s in ["1", "2", "x", "4"] {
            s.parse::<u32>()?
        }
    )
    .collect();
    assert_eq!(r.len(), 3);
    assert_eq!(r[2].as_ref().unwrap_err().index(), Some(2));
}
