//! A value whose `Serialize` returns `Err` or panics, in every family that sends values back:
//! an `Error::Encode` with the item (or job) and serde's message, or an `Error::Panicked` with
//! the panic's message; never a death by signal or an exit status, and the other items go on.
#![cfg(all(unix, not(par_fallback_sys)))] // workers and background jobs: fork only

mod common;

use common::{no_children_left, temp_dir, watchdog};
use par::{BackgroundQueue, Error, Loop, Map, Pool, Queue};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What `Serialize` does with a value: encode it, refuse it (`Err`), or panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Mood {
    Fine,
    Refuses,
    Panics,
}

/// A result that travels, or refuses to, or panics on the way, as its `mood` says.
#[derive(Debug, PartialEq, Eq)]
struct Picky {
    n: u32,
    mood: Mood,
}

const REFUSAL: &str = "picky value refuses to be encoded";
const PANIC: &str = "picky value panicked while encoded";

impl Serialize for Picky {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.mood {
            Mood::Fine => s.serialize_u32(self.n),
            Mood::Refuses => Err(serde::ser::Error::custom(format!("{REFUSAL} ({})", self.n))),
            Mood::Panics => panic!("{PANIC} ({})", self.n),
        }
    }
}

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Picky {
            n: u32::deserialize(d)?,
            mood: Mood::Fine,
        })
    }
}

fn picky(n: u32, bad: u32, mood: Mood) -> Picky {
    Picky {
        n,
        mood: if n == bad { mood } else { Mood::Fine },
    }
}

/// `r` is the failure of item/job `index` that `mood` causes, reported with serde's message or
/// the panic's, by a process (never as a death).
fn assert_reported(what: &str, r: &Result<Picky, Error>, index: usize, mood: Mood) {
    match (mood, r) {
        (
            Mood::Refuses,
            Err(
                e @ Error::Encode {
                    index: Some(i),
                    pid: Some(pid),
                    message,
                },
            ),
        ) => {
            assert_eq!(*i, index, "{what}: {e}");
            assert!(*pid > 0, "{what}: {e:?}");
            assert_eq!(message, &format!("{REFUSAL} ({index})"), "{what}");
            let text = e.to_string();
            assert!(
                text.contains(&format!("item {index}")) && text.contains(REFUSAL),
                "{what}: {text}"
            );
        }
        (
            Mood::Panics,
            Err(
                e @ Error::Panicked {
                    index: i, message, ..
                },
            ),
        ) => {
            assert_eq!(*i, index, "{what}: {e}");
            assert_eq!(message, &format!("{PANIC} ({index})"), "{what}");
        }
        _ => panic!("{what}: job {index} ({mood:?}) gave {r:?}"),
    }
}

#[test]
fn queue_reports_a_value_that_cannot_be_encoded() {
    for mood in [Mood::Refuses, Mood::Panics] {
        let _guard = watchdog("queue encode");
        let mut queue = Queue::new(2);
        for n in 0..4u32 {
            queue.spawn(move || picky(n, 2, mood));
        }
        let mut got: Vec<(usize, Result<Picky, Error>)> = queue.collect();
        got.sort_by_key(|(job, _)| *job);
        assert_eq!(got.len(), 4);
        for (job, r) in &got {
            if *job == 2 {
                assert_reported("Queue", r, 2, mood);
            } else {
                assert_eq!(
                    r.as_ref().unwrap(),
                    &picky(*job as u32, 2, mood),
                    "{mood:?}"
                );
            }
        }
        no_children_left();
    }
}

#[test]
fn map_and_pmap_report_a_value_that_cannot_be_encoded() {
    for mood in [Mood::Refuses, Mood::Panics] {
        let _guard = watchdog("map encode");
        let mut map = Map::new(2);
        for n in 0..4u32 {
            map.spawn(move || picky(n, 1, mood));
        }
        let got: Vec<Result<Picky, Error>> = map.collect();
        assert_reported("Map", &got[1], 1, mood);
        assert_eq!(got[3].as_ref().unwrap(), &picky(3, 1, mood));

        let got: Vec<Result<Picky, Error>> =
            par::pmap(move |n| picky(n, 0, mood), 0..3, 2).collect();
        assert_reported("pmap", &got[0], 0, mood);
        assert_eq!(got[2].as_ref().unwrap(), &picky(2, 0, mood));
        no_children_left();
    }
}

#[par::parallel]
fn picky_call(n: u32, bad: u32, mood: Mood) -> Picky {
    picky(n, bad, mood)
}

#[test]
fn pool_reports_a_value_that_cannot_be_encoded_and_its_worker_goes_on() {
    for mood in [Mood::Refuses, Mood::Panics] {
        let _guard = watchdog("pool encode");
        let mut pool = Pool::new(1);
        for n in 0..4u32 {
            picky_call::spawn(&mut pool, n, 1, mood);
        }
        let got: Vec<Result<Picky, Error>> = pool.ordered().collect();
        assert_reported("Pool", &got[1], 1, mood);
        for n in [0, 2, 3] {
            assert_eq!(got[n].as_ref().unwrap(), &picky(n as u32, 1, mood));
        }
        // One worker served all four calls: the failure did not end it.
        assert!(pool.forks() <= 1, "{} forks", pool.forks());
        drop(pool);
        no_children_left();
    }
}

#[test]
fn a_loop_reports_a_value_that_cannot_be_encoded() {
    if !common::loops_fork() {
        return;
    }
    for mood in [Mood::Refuses, Mood::Panics] {
        let _guard = watchdog("loop encode");
        let r = Loop::new()
            .workers(2)
            .try_collect(0..20u32, move |n| Ok::<Picky, String>(picky(n, 13, mood)));
        assert_reported("loop", &r.map(|mut v| v.remove(0)), 13, mood);
        no_children_left();
    }
}

#[test]
fn a_background_job_reports_a_value_that_cannot_be_encoded() {
    let dir = temp_dir("encode-errors");
    for mood in [Mood::Refuses, Mood::Panics] {
        // Its launcher is briefly a child of this process: not while another test counts.
        let _guard = watchdog("background encode");
        let path = dir.join(format!("{mood:?}.socket"));
        let job = par::background(&path, move || picky(0, 0, mood)).unwrap();
        let mut queue = BackgroundQueue::<Picky>::connect(job.path()).unwrap();
        let r = queue.recv();
        assert_reported("background", &r, 0, mood);
        if let Err(e) = &r {
            assert_eq!(e.pid(), Some(job.pid() as i32), "{e:?}");
        }
    }
}
