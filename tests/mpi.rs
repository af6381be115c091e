//! The MPI backend (feature `mpi`). Run it under MPI, where ranks 1 and 2 serve the calls:
//!
//! ```text
//! cargo test --features mpi --test mpi --no-run   # prints the test binary's path
//! mpirun --allow-run-as-root --oversubscribe -np 3 target/debug/deps/mpi-<hash>
//! ```
//!
//! Run plainly (`cargo test --features mpi --test mpi`), the same checks pass on forked workers.
//! Every result is compared with the sequential run; under MPI the test also checks that the
//! calls ran on ranks other than 0 and that a panic is reported with its rank and job index.
//! (No libtest harness: `par::main` must own `main`, and the other ranks never return from it.)

use std::process::ExitCode;

use par::par;

#[par::parallel]
fn square(x: u64) -> u64 {
    x * x
}

/// Where a call ran: its argument, the rank and the process.
#[par::parallel]
fn whereabouts(x: u64) -> (u64, usize, u32) {
    (x, par::mpi::rank(), std::process::id())
}

/// Sleeps `ms`, then says where it ran.
#[par::parallel]
fn nap(ms: u64) -> (usize, u32) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    (par::mpi::rank(), std::process::id())
}

/// The pid of the process that ran the call, or a panic for call 3.
#[par::parallel]
fn pid_unless_3(x: u64) -> u32 {
    assert!(x != 3, "call {x} fails on purpose");
    std::process::id()
}

/// The error under an `OnRank` (which says where a call failed).
fn on_rank_or_here(e: &par::Error) -> &par::Error {
    match e {
        par::Error::OnRank { source, .. } => source,
        e => e,
    }
}

#[par::parallel]
fn fails_at_3(x: u64) -> u64 {
    if x == 3 {
        panic!("job {x} fails on purpose");
    }
    x
}

/// Hybrid: a `par!` loop inside a call forks workers on the rank that runs the call.
#[par::parallel]
fn sum_of_squares(n: u64) -> (u64, usize) {
    let v: Vec<u64> = par!(
        workers = 2,
        for i in 0..n {
            i * i
        }
    );
    (v.iter().sum(), par::mpi::rank())
}

fn check(what: &str, ok: bool, failures: &mut Vec<String>) {
    println!("{} {what}", if ok { "ok  " } else { "FAIL" });
    if !ok {
        failures.push(what.to_string());
    }
}

fn main() -> ExitCode {
    par::main(|| {
        let mpi = par::mpi::size() > 1;
        println!(
            "rank {} of {} (launched by an MPI launcher: {})",
            par::mpi::rank(),
            par::mpi::size(),
            par::mpi::launched()
        );
        let mut failures = Vec::new();
        let n = 200u64;
        let expected: Vec<u64> = (0..n).map(square).collect();

        // Pool: its workers are the ranks.
        let mut pool = par::Pool::new(2);
        for x in 0..n {
            square::spawn(&mut pool, x);
        }
        let got: Vec<u64> = pool.ordered().map(|r| r.unwrap()).collect();
        check(
            "Pool results equal the sequential run",
            got == expected,
            &mut failures,
        );
        drop(pool);

        // Queue: `f::spawn` sends calls to the ranks; results in completion order.
        let mut queue = par::Queue::new(2);
        for x in 0..n {
            square::spawn(&mut queue, x);
        }
        let mut got: Vec<(usize, u64)> = queue.map(|(j, r)| (j, r.unwrap())).collect();
        got.sort();
        let ok = got
            .iter()
            .enumerate()
            .all(|(i, &(j, v))| i == j && v == expected[i]);
        check(
            "Queue results equal the sequential run",
            ok && got.len() == n as usize,
            &mut failures,
        );

        // Map: in submission order.
        let mut map = par::Map::new(2);
        for x in 0..n {
            square::spawn(&mut map, x);
        }
        let got: Vec<u64> = map.map(|r| r.unwrap()).collect();
        check(
            "Map results equal the sequential run",
            got == expected,
            &mut failures,
        );

        // A Queue mixing closures (local children) and calls (ranks).
        let mut queue = par::Queue::new(2);
        for x in 0..20u64 {
            if x % 2 == 0 {
                queue.spawn(move || x * x);
            } else {
                square::spawn(&mut queue, x);
            }
        }
        let mut got: Vec<(usize, u64)> = queue.map(|(j, r)| (j, r.unwrap())).collect();
        got.sort();
        let ok = got.len() == 20 && got.iter().all(|&(j, v)| v == expected[j]);
        check(
            "a Queue of closures and calls equals the sequential run",
            ok,
            &mut failures,
        );

        // pmap: the function is a closure, it runs on this node's forked workers.
        let got: Vec<u64> = par::pmap(|x: u64| x * x, 0..n, 2)
            .map(|r| r.unwrap())
            .collect();
        check(
            "pmap results equal the sequential run",
            got == expected,
            &mut failures,
        );

        // The companion's pmap: each item is a call, sent to the ranks under MPI.
        let got: Vec<(u64, usize, u32)> = whereabouts::pmap(0..n, 2).map(|r| r.unwrap()).collect();
        let ok = got.iter().enumerate().all(|(i, &(x, _, _))| x == i as u64)
            && (!mpi || got.iter().all(|&(_, rank, _)| rank != 0));
        check(
            "f::pmap results equal the sequential run (on ranks other than 0 under MPI)",
            ok && got.len() == n as usize,
            &mut failures,
        );

        // A par! loop whose body is one call of a `#[parallel]` function: on the ranks.
        let got: Vec<u64> = par!(for x in 0..n {
            square(x)
        });
        check(
            "a par! loop of a #[parallel] call equals the sequential run",
            got == expected,
            &mut failures,
        );
        let got: Vec<(u64, usize, u32)> = par!(for x in 0..n {
            whereabouts(x)
        });
        let ranks: std::collections::BTreeSet<usize> = got.iter().map(|p| p.1).collect();
        let ok = got.iter().enumerate().all(|(i, p)| p.0 == i as u64)
            && if mpi {
                !ranks.contains(&0)
            } else {
                ranks == [0].into()
            };
        check(
            "... and it ran on the other ranks under MPI (here without)",
            ok,
            &mut failures,
        );
        if mpi {
            // Its report names the loop: its site, a job per item, the two serving ranks.
            let r = par::last_family_report();
            let ok = r.as_ref().is_some_and(|r| {
                r.family == "par! on ranks"
                    && r.site.contains("mpi.rs:")
                    && r.jobs == n as usize
                    && r.failed == 0
                    && r.limit == 2
                    && r.per_worker.iter().map(|w| w.jobs).sum::<usize>() == n as usize
                    // The serving ranks, linked, not forked (it said "2 workers forked").
                    && r.per_worker.iter().all(|w| w.rank.is_some_and(|k| k >= 1))
                    && r.to_string().contains("ranks serving")
                    && !r.to_string().contains("forked")
            });
            if let Some(r) = &r {
                println!("{r}");
            }
            check(
                "... and it is reported as a par! loop on the ranks, at its own site",
                ok,
                &mut failures,
            );
        }

        // A clause the ranks cannot honour keeps the loop on this rank's forked workers, with
        // the clause: a memory limit, or threads per worker (they would be dropped on a rank).
        let got: Vec<(u64, usize, u32)> = par!(
            memory_limit = 1 << 30,
            for x in 0..n {
                whereabouts(x)
            }
        );
        let got2: Vec<(u64, usize, u32)> = par!(
            threads_per_worker = 1,
            for x in 0..n {
                whereabouts(x)
            }
        );
        let local = |g: &[(u64, usize, u32)]| {
            g.len() == n as usize
                && g.iter()
                    .enumerate()
                    .all(|(i, p)| p.0 == i as u64 && p.1 == 0)
        };
        check(
            "a par! loop of a #[parallel] call with memory_limit or threads_per_worker stays on rank 0's workers",
            local(&got) && local(&got2),
            &mut failures,
        );

        // A par! loop whose body is a closure of local data: forked workers on this rank.
        let offset = [1u64];
        let got: Vec<u64> = par!(for x in 0..n {
            square(x) + offset[0] - 1
        });
        check(
            "a par! loop of any body equals the sequential run",
            got == expected,
            &mut failures,
        );

        // Where the calls ran.
        let mut pool = par::Pool::new(2);
        for x in 0..40 {
            whereabouts::spawn(&mut pool, x);
        }
        let places: Vec<(u64, usize, u32)> = pool.ordered().map(|r| r.unwrap()).collect();
        drop(pool);
        let ranks: std::collections::BTreeSet<usize> = places.iter().map(|p| p.1).collect();
        println!("calls ran on ranks {ranks:?}");
        if mpi {
            let others: std::collections::BTreeSet<usize> = (1..par::mpi::size()).collect();
            check(
                "under MPI, the calls ran on the other ranks",
                ranks == others,
                &mut failures,
            );
        } else {
            check(
                "without MPI, the calls ran here (rank 0)",
                ranks == [0].into(),
                &mut failures,
            );
        }

        // Hybrid: a call that forks local workers on its rank.
        let mut map = par::Map::new(2);
        for k in 0..4u64 {
            sum_of_squares::spawn(&mut map, 100 + k);
        }
        let got: Vec<(u64, usize)> = map.map(|r| r.unwrap()).collect();
        let ok = got.iter().enumerate().all(|(k, &(s, rank))| {
            s == (0..100 + k as u64).map(|i| i * i).sum::<u64>() && (rank != 0) == mpi
        });
        check(
            "a par! loop inside a call on a rank (forked there)",
            ok,
            &mut failures,
        );

        // A panic is reported with the job index, and under MPI with its rank.
        for via_pool in [true, false] {
            let results: Vec<par::Result<u64>> = if via_pool {
                let mut pool = par::Pool::new(2);
                for x in 0..6 {
                    fails_at_3::spawn(&mut pool, x);
                }
                pool.ordered().collect()
            } else {
                let mut map = par::Map::new(2);
                for x in 0..6 {
                    fails_at_3::spawn(&mut map, x);
                }
                map.collect()
            };
            let kind = if via_pool { "Pool" } else { "Map" };
            let e = results[3].as_ref().err();
            let message = e.map(|e| e.to_string()).unwrap_or_default();
            println!("{kind}: job 3 -> {message}");
            let others_ok = results
                .iter()
                .enumerate()
                .all(|(i, r)| i == 3 || r.as_ref().ok() == Some(&(i as u64)));
            let reported = e.is_some_and(|e| {
                e.index() == Some(3)
                    && message.contains("job 3 fails on purpose")
                    && if mpi {
                        e.rank().is_some_and(|r| r >= 1) && message.contains("on rank")
                    } else {
                        e.rank().is_none()
                    }
            });
            check(
                &format!(
                    "{kind}: a panicking job is reported with its index (and rank), the others go on"
                ),
                reported && others_ok,
                &mut failures,
            );
        }

        // A par! loop on the ranks re-panics with the first failure, its index and rank.
        let r = std::panic::catch_unwind(|| {
            par!(for x in 0..6u64 {
                fails_at_3(x)
            })
        });
        let message = r
            .err()
            .and_then(|p| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        println!("par!: {message}");
        let ok = message.contains("item 3 panicked")
            && message.contains("job 3 fails on purpose")
            && message.contains("on rank") == mpi;
        check(
            "par!: a panicking item is reported with its index (and rank)",
            ok,
            &mut failures,
        );

        // A failure names the process that ran the call: under MPI the rank's serving child
        // (which ran the other calls too), not the rank's own process.
        let got: Vec<par::Result<u32>> = pid_unless_3::pmap(0..8, 2).collect();
        let ran: std::collections::BTreeSet<i32> = got
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|&p| p as i32))
            .collect();
        let e = got[3].as_ref().err();
        println!("call 3: {e:?}; the others ran in {ran:?}");
        check(
            "a failed call names the process that ran it (on a rank: its serving child)",
            e.is_some_and(|e| {
                let pid = e.pid().unwrap_or(0);
                e.index() == Some(3)
                    && if mpi {
                        ran.contains(&pid)
                    } else {
                        pid > 0 && pid != std::process::id() as i32 // its own child
                    }
            }),
            &mut failures,
        );

        // A Queue's and a Map's timeout reach their calls on the ranks: the long call fails
        // with TimedOut (on its rank under MPI), the short one runs.
        let started = std::time::Instant::now();
        let mut queue = par::Queue::new(2).timeout(std::time::Duration::from_millis(300));
        let long = nap::spawn(&mut queue, 1_500);
        let short = nap::spawn(&mut queue, 10);
        let mut got: Vec<(usize, par::Result<(usize, u32)>)> = queue.collect();
        got.sort_by_key(|(j, _)| *j);
        let took = started.elapsed();
        println!("Queue timeout on rank calls: {got:?} in {took:?}");
        let report = par::last_family_report();
        println!("its report: {report:?}");
        check(
            "... and the Queue's report counts the timeout (on the ranks too)",
            report.is_some_and(|r| (r.family, r.jobs, r.failed, r.timeouts) == ("Queue", 2, 1, 1)),
            &mut failures,
        );
        let timed_out = got[long].1.as_ref().err().is_some_and(|e| {
            matches!(on_rank_or_here(e), par::Error::TimedOut { .. }) && (e.rank().is_some() == mpi)
        });
        let short_ran = got[short]
            .1
            .as_ref()
            .is_ok_and(|&(rank, _)| (rank != 0) == mpi);
        // The timed-out call was killed on its rank, not left to hold it: calls to every rank
        // right after finish at once.
        let started = std::time::Instant::now();
        let after: Vec<par::Result<(usize, u32)>> = nap::pmap([5, 5, 5, 5], 2).collect();
        let after_took = started.elapsed();
        println!("calls after the timeout: {after:?} in {after_took:?}");
        check(
            "a Queue's timeout kills its call on a rank (TimedOut, on the rank), the others run",
            timed_out
                && short_ran
                && took < std::time::Duration::from_millis(1_400)
                && after.iter().all(|r| r.is_ok())
                && after_took < std::time::Duration::from_millis(800),
            &mut failures,
        );

        // A cancel reaches calls out on the ranks: they fail with Cancelled, soon.
        let stop = par::Cancel::new();
        let mut map = par::Map::new(2).cancel(&stop);
        for _ in 0..4 {
            nap::spawn(&mut map, 1_500);
        }
        let remote = stop.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            remote.cancel();
        });
        let started = std::time::Instant::now();
        let got: Vec<par::Result<(usize, u32)>> = map.collect();
        let took = started.elapsed();
        let _ = canceller.join();
        println!("Map cancel on rank calls: {got:?} in {took:?}");
        check(
            "a Map's cancel reaches its calls on the ranks: every one fails with Cancelled, soon",
            got.len() == 4
                && got.iter().all(|r| matches!(r, Err(par::Error::Cancelled)))
                && took < std::time::Duration::from_millis(1_200),
            &mut failures,
        );

        // A memory limit or a thread count cannot be applied by a rank's serving process: a
        // Queue, a Map or a Pool with one runs its calls in this rank's forked children.
        let me = std::process::id();
        let local = |got: &[par::Result<(usize, u32)>]| {
            got.len() == 4
                && got
                    .iter()
                    .all(|r| r.as_ref().is_ok_and(|&(rank, pid)| rank == 0 && pid != me))
        };
        let mut queue = par::Queue::new(2).memory_limit(1 << 32);
        let mut map = par::Map::new(2).threads_per_worker(1);
        let mut pool = par::Pool::new(2).memory_limit(1 << 32);
        for _ in 0..4 {
            nap::spawn(&mut queue, 1);
            nap::spawn(&mut map, 1);
            nap::spawn(&mut pool, 1);
        }
        let q: Vec<_> = queue.map(|(_, r)| r).collect();
        let m: Vec<_> = map.collect();
        let p: Vec<_> = pool.ordered().collect();
        println!("with limits: Queue {q:?}, Map {m:?}, Pool {p:?}");
        check(
            "a Queue, Map or Pool with memory_limit or threads_per_worker keeps its calls on rank 0's children",
            local(&q) && local(&m) && local(&p),
            &mut failures,
        );

        if failures.is_empty() {
            println!("all MPI checks passed");
            ExitCode::SUCCESS
        } else {
            println!("{} MPI checks failed", failures.len());
            ExitCode::FAILURE
        }
    })
}
