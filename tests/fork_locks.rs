//! A multi-threaded parent whose other threads hold stdout's lock while loops, jobs and pool
//! workers are forked: the children flush stdout before they exit (or after each call), and a
//! lock held by a thread that does not exist in the child would make them wait for ever.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{no_children_left, watchdog};

#[par::parallel]
fn twice(x: u32) -> u32 {
    x * 2
}

/// Another thread takes and releases stdout's lock without pause (as a thread printing in a
/// loop does) while this one runs `rounds` of `work`; fails if they do not end within 40 s.
fn with_a_thread_holding_stdout(rounds: usize, work: fn(usize)) {
    let stop = Arc::new(AtomicBool::new(false));
    let holder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let out = std::io::stdout();
            while !stop.load(Ordering::Relaxed) {
                let mut lock = out.lock();
                // Held for a while, as a print of a long line would: nothing is written.
                for _ in 0..200 {
                    std::hint::spin_loop();
                }
                let _ = lock.flush();
            }
        })
    };
    let (done, finished) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        for round in 0..rounds {
            work(round);
        }
        let _ = done.send(());
    });
    let r = finished.recv_timeout(Duration::from_secs(40));
    stop.store(true, Ordering::Relaxed);
    holder.join().expect("the lock holder");
    r.expect("children hung: a child waited for stdout's lock, held by another thread at the fork");
    runner.join().expect("the runner");
}

#[test]
fn loops_jobs_and_pools_do_not_hang_while_another_thread_holds_stdout() {
    let _guard = watchdog("fork-locks");
    if !common::loops_fork() {
        return;
    }
    // The holder has the lock nearly all the time, so nearly every fork copies it held: a few
    // hundred forks of each family are enough to hang if a child waited for it.
    with_a_thread_holding_stdout(500, |round| {
        let v = par::Loop::new()
            .workers(2)
            .schedule(par::Schedule::Static)
            .collect(0..4u32, |x| x + round as u32);
        assert_eq!(v, (0..4).map(|x| x + round as u32).collect::<Vec<_>>());
    });
    with_a_thread_holding_stdout(150, |round| {
        let mut queue = par::Queue::new(2);
        queue.spawn(move || round);
        assert_eq!(queue.next().map(|(_, r)| r.expect("job")), Some(round));
    });
    with_a_thread_holding_stdout(100, |_| {
        let mut pool = par::Pool::new(2);
        for x in 0..4 {
            twice::spawn(&mut pool, x);
        }
        let got: Vec<u32> = pool.ordered().map(|r| r.expect("call")).collect();
        assert_eq!(got, [0, 2, 4, 6]);
    });
    no_children_left();
}
