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
    assert_eq!(st, (1..=500u64).map(|x| x * x).collect::<Vec<_>>());
    let mut u: Vec<u32> = par::Loop::new()
        .workers(2)
        .unordered(0..50u32, |i| i * 3)
        .collect();
    u.sort();
    assert_eq!(u, (0..50).map(|i| i * 3).collect::<Vec<_>>());
}

#[test]
fn a_panic_in_a_reduction_names_its_item() {
    for w in [1, 2, 3] {
        let r = par::Loop::new().workers(w).try_reduce(
            0..10_000u64,
            || 0u64,
            |a, i| {
                assert!(i != 7777, "bad {i}");
                *a += i;
                Ok::<(), String>(())
            },
            |a, b| a + b,
        );
        match r {
            Err(par::Error::Panicked { index, message, .. }) => {
                assert_eq!(index, 7777, "workers {w}");
                assert!(message.contains("bad 7777"), "{message}");
            }
            other => panic!("workers {w}: {other:?}"),
        }
    }
}

#[test]
fn results_larger_than_any_pipe_never_deadlock() {
    // 4 workers each return 64 MiB while the parent also hands out work: one poll loop
    // interleaves reads and writes, so nobody blocks on a full pipe.
    let v = par::Loop::new()
        .workers(4)
        .schedule(par::Schedule::Dynamic(1))
        .collect(0..4u8, |i| serde_bytes::ByteBuf::from(vec![i; 64 << 20]));
    assert_eq!(v.len(), 4);
    for (i, b) in v.iter().enumerate() {
        assert_eq!(b.len(), 64 << 20);
        assert!(b.iter().all(|&x| x == i as u8));
    }
}
