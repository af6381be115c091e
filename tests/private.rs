//! `private(x, ...)`: each item works on its own clone of the variables' values from before the
//! loop, and the caller's variables are unchanged afterwards in every mode: forked, with one
//! worker (inline), and under `par::sequential`. With 1, 2 and 3 workers each form gives what
//! the sequential loop that declares the scratch inside its body gives.

mod common;

use par::par;

const WORKERS: [usize; 3] = [1, 2, 3];

/// NAS EP's generator, in the shape the benchmark writes it: it advances its seed in place.
fn vranlc(n: usize, seed: &mut f64, a: f64, out: &mut [f64]) {
    const M: f64 = (1u64 << 46) as f64;
    for o in out.iter_mut().take(n) {
        *seed = (*seed * a) % M;
        *o = *seed / M;
    }
}

/// The sequential loop, with its scratch declared inside the body.
fn ep_sequential(items: u64) -> Vec<f64> {
    (0..items)
        .map(|k| {
            let mut x = vec![0.0f64; 8];
            let mut seed = 271_828_183.0 + k as f64;
            vranlc(8, &mut seed, 1_220_703_125.0, &mut x);
            x.iter().sum::<f64>() + seed
        })
        .collect()
}

#[test]
fn each_item_gets_its_own_copy_and_the_callers_stays() {
    let _w = common::watchdog("each_item_gets_its_own_copy_and_the_callers_stays");
    let want = ep_sequential(500);
    for w in WORKERS {
        let x = vec![0.0f64; 8];
        let seed = 271_828_183.0f64;
        let got: Vec<f64> = par!(
            workers = w,
            private(x, seed),
            for k in 0..500u64 {
                seed += k as f64;
                vranlc(8, &mut seed, 1_220_703_125.0, &mut x);
                x.iter().sum::<f64>() + seed
            }
        );
        assert_eq!(got, want, "{w} workers");
        assert_eq!(
            x,
            vec![0.0; 8],
            "{w} workers: the caller's `x` is unchanged"
        );
        assert_eq!(
            seed, 271_828_183.0,
            "{w} workers: the caller's `seed` is unchanged"
        );
    }
}

#[test]
fn every_item_starts_from_the_value_before_the_loop() {
    let _w = common::watchdog("every_item_starts_from_the_value_before_the_loop");
    // Were a copy shared by the items of a grain, later items would see earlier ones' pushes.
    for w in WORKERS {
        let seen = vec![7u32];
        let lens: Vec<usize> = par!(
            workers = w,
            private(seen),
            for i in 0..300u32 {
                seen.push(i);
                seen.len()
            }
        );
        assert_eq!(lens, vec![2; 300], "{w} workers");
        assert_eq!(seen, [7], "{w} workers");
    }
}

#[test]
fn inline_runs_leak_nothing_into_the_caller() {
    let _w = common::watchdog("inline_runs_leak_nothing_into_the_caller");
    let run = || {
        let buf = String::from("start");
        let lens: Vec<usize> = par!(
            private(buf),
            for i in 0..50usize {
                buf.push_str(&i.to_string());
                buf.len()
            }
        );
        let want: Vec<usize> = (0..50usize).map(|i| 5 + i.to_string().len()).collect();
        assert_eq!(lens, want);
        assert_eq!(buf, "start");
    };
    run();
    par::sequential(run);
    // A forked loop (`if = true` always forks) and an inline one (`if = false`).
    for fork in [true, false] {
        let n = 10u64;
        let v: Vec<u64> = par!(if = fork, private(n), for i in 0..20u64 {
            n += i;
            n
        });
        assert_eq!(v, (10..30).collect::<Vec<_>>(), "fork: {fork}");
        assert_eq!(n, 10, "fork: {fork}");
    }
}

#[test]
fn with_reduce_try_keep_going_and_for_each() {
    let _w = common::watchdog("with_reduce_try_keep_going_and_for_each");
    for w in WORKERS {
        // reduce: the scratch is private, the sum a reduction.
        let scratch = [0u64; 4];
        let mut total = 0u64;
        par!(workers = w, private(scratch), reduce(+: total), for i in 0..1000u64 {
            scratch[(i % 4) as usize] += i;
            total += scratch.iter().sum::<u64>();
        });
        assert_eq!(total, (0..1000u64).sum::<u64>(), "{w} workers");
        assert_eq!(scratch, [0; 4]);

        // try: `?` in the body, the failing item named.
        let buf = Vec::<u8>::new();
        let r: Result<Vec<usize>, par::Error> = par!(
            try,
            workers = w,
            private(buf),
            for i in 0..40usize {
                buf.extend_from_slice(&[1, 2, 3]);
                if i == 33 {
                    Err(format!("bad item {i}"))?;
                }
                buf.len()
            }
        );
        let e = r.unwrap_err();
        assert_eq!(e.index(), Some(33), "{w} workers: {e}");
        assert!(buf.is_empty());

        // keep_going: one result per item.
        let acc = 100i64;
        let all: Vec<Result<i64, par::Error>> = par!(
            keep_going,
            workers = w,
            private(acc),
            for i in 0..30i64 {
                acc -= i;
                if i == 7 {
                    panic!("item seven");
                }
                acc
            }
        );
        assert_eq!(all.len(), 30);
        for (i, r) in all.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, 100 - i as i64),
                Err(e) => {
                    assert_eq!(i, 7, "{e}");
                    assert_eq!(e.index(), Some(7), "{e}");
                }
            }
        }
        assert!(all[7].is_err());
        assert_eq!(acc, 100);

        // for-each, with `continue`.
        let line = String::new();
        par!(
            workers = w,
            private(line),
            for i in 0..10u32 {
                if i % 2 == 0 {
                    continue;
                }
                line.push('x');
                assert_eq!(line, "x");
            }
        );
        assert!(line.is_empty());
    }
}

#[test]
fn a_panic_in_a_body_with_private_names_the_item() {
    let _w = common::watchdog("a_panic_in_a_body_with_private_names_the_item");
    let caught = std::panic::catch_unwind(|| {
        let buf = vec![0u8; 4];
        par!(workers = 2, if = true, private(buf), for i in 0..64usize {
            buf[0] = 1;
            assert!(i != 41, "private item {i}");
        });
        assert_eq!(buf, [0; 4]);
    });
    let msg = caught.unwrap_err();
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("private item 41") && msg.contains("41"),
        "{msg}"
    );
}
