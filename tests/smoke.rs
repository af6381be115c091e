#[test]
fn smoke() {
    let v = par::Loop::new().workers(2).collect(0..1000u64, |i| i * 2);
    assert_eq!(v, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
    let s = par::Loop::new().workers(3).reduce(
        0..100_000u32,
        || 0.0f64,
        |a, i| *a += 1.0 / (i as f64 + 1.0),
        |a, b| a + b,
    );
    let s1 = par::Loop::new().workers(1).reduce(
        0..100_000u32,
        || 0.0f64,
        |a, i| *a += 1.0 / (i as f64 + 1.0),
        |a, b| a + b,
    );
    assert_eq!(s.to_bits(), s1.to_bits());
    let r = par::Loop::new().workers(2).try_collect(0..100u32, |i| {
        if i == 42 {
            panic!("boom {i}")
        } else {
            Ok::<_, String>(i)
        }
    });
    let e = r.unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.index(), Some(42));
    let st: Vec<u64> = par::Loop::new()
        .workers(2)
        .collect(par::stream((0..500u64).map(|x| x + 1)), |x| x * x);
    assert_eq!(st.len(), 500);
    let mut u: Vec<u32> = par::Loop::new()
        .workers(2)
        .unordered(0..50u32, |i| i * 3)
        .collect();
    u.sort();
    assert_eq!(u.len(), 50);
}
