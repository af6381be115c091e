//! Large results travel through each worker's spill file (a memfd) instead of its pipe: they
//! arrive whole, for plain and serde types alike; a dead worker's result or a hostile spilled
//! frame is an error naming the item and the worker, never garbage; no fd or child is left;
//! and the parent holds a large `Vec` of numbers about once, not twice (VmHWM, in a fresh
//! process).
#![cfg(all(target_os = "linux", not(par_fallback_sys)))] // memfd, /proc: Linux workers only

mod common;

use common::{loops_fork, no_children_left, open_fds, run_fixture, watchdog};
use par::__private::testing::send_raw;
use par::{Error, Loop, Schedule};

const MIB: usize = 1 << 20;

/// True if this process holds par's spill file (`/proc/self/fd` links to `memfd:par-results`).
fn holds_a_spill_file() -> bool {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|l| l.to_string_lossy().contains("memfd:par-results"))
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Row {
    id: u32,
    name: String,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

#[test]
fn large_results_of_every_kind_arrive_whole_and_leave_no_fd() {
    let _guard = watchdog("large_results_arrive_whole");
    if !loops_fork() {
        return;
    }
    let fds = open_fds();
    for s in [Schedule::Dynamic(1), Schedule::Static] {
        // Plain bytes, 1 MiB and more each (each its own spilled frame).
        let v: Vec<(bool, Vec<u8>)> = Loop::new().workers(2).schedule(s).collect(0..24usize, |i| {
            (holds_a_spill_file(), vec![i as u8; MIB + i * 4097])
        });
        assert!(v.iter().all(|(held, _)| *held), "workers hold a spill file");
        for (i, (_, b)) in v.iter().enumerate() {
            assert_eq!(b.len(), MIB + i * 4097);
            assert!(b.iter().all(|&x| x == i as u8), "buffer {i}");
        }
        // Numbers, and many small values filling large frames.
        let f: Vec<Vec<f64>> = Loop::new().workers(2).schedule(s).collect(0..6usize, |i| {
            (0..200_000).map(|k| (k * i) as f64).collect()
        });
        for (i, x) in f.iter().enumerate() {
            assert!(x.iter().enumerate().all(|(k, &y)| y == (k * i) as f64));
        }
        let n: Vec<u64> = Loop::new()
            .workers(2)
            .schedule(s)
            .collect(0..1_000_000u64, |i| i * 3);
        assert!(n.iter().enumerate().all(|(k, &y)| y == k as u64 * 3));
        // serde values, one large or many in a frame.
        let rows: Vec<Row> = Loop::new()
            .workers(2)
            .schedule(s)
            .collect(0..40u32, |i| Row {
                id: i,
                name: format!("row {i}"),
                data: vec![i as u8; 300_000],
            });
        for (i, r) in rows.iter().enumerate() {
            assert_eq!((r.id, r.name.as_str()), (i as u32, &*format!("row {i}")));
            assert!(r.data.len() == 300_000 && r.data.iter().all(|&b| b == i as u8));
        }
        let words: Vec<String> = Loop::new()
            .workers(2)
            .schedule(s)
            .collect(0..100_000u32, |i| format!("w{i}"));
        assert!(words.iter().enumerate().all(|(k, w)| *w == format!("w{k}")));
    }
    no_children_left();
    assert_eq!(open_fds(), fds, "every spill file and pipe is closed");
}

#[test]
fn a_worker_that_dies_after_a_large_result_is_reported_with_its_item() {
    let _guard = watchdog("dies_after_a_large_result");
    if !loops_fork() {
        return;
    }
    let fds = open_fds();
    let r = Loop::new()
        .workers(2)
        .schedule(Schedule::Static)
        .try_collect(0..8usize, |i| {
            if i == 2 {
                std::process::abort();
            }
            Ok::<Vec<u8>, String>(vec![i as u8; 2 * MIB])
        });
    match r {
        Err(e @ Error::WorkerDied { .. }) => {
            assert_eq!(e.index(), Some(2), "{e}");
            assert!(
                e.pid().is_some_and(|p| p != std::process::id() as i32),
                "{e}"
            );
        }
        other => panic!("expected item 2's death, got {other:?}"),
    }
    no_children_left();
    assert_eq!(open_fds(), fds);
}

/// A `Spilled` frame (kind 7) with this payload.
fn spilled(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.push(7);
    f.extend_from_slice(payload);
    f
}

fn spilled_at(offset: u64, len: u64) -> Vec<u8> {
    let mut p = offset.to_le_bytes().to_vec();
    p.extend_from_slice(&len.to_le_bytes());
    spilled(&p)
}

/// A loop whose item 3 sends `frame` through its pipe and carries on.
fn hostile(frame: Vec<u8>, max_frame: Option<usize>) -> String {
    let mut l = Loop::new().workers(2).schedule(Schedule::Dynamic(1));
    if let Some(m) = max_frame {
        l = l.max_frame(m);
    }
    let r = l.try_collect(0..8u32, move |i| {
        if i == 3 {
            send_raw(&frame).expect("write to the result pipe");
        }
        Ok::<u32, String>(i)
    });
    match r {
        Err(e @ Error::Decode { .. }) => {
            assert_eq!(e.index(), Some(3), "{e}");
            assert!(
                e.pid().is_some_and(|p| p != std::process::id() as i32),
                "{e}"
            );
            e.to_string()
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn a_hostile_spilled_frame_is_a_decode_error_naming_the_item() {
    let _guard = watchdog("hostile_spilled_frames");
    if !loops_fork() {
        return;
    }
    let fds = open_fds();
    // Offsets that are not the worker's own (another worker's, or none's): refused unread.
    let m = hostile(spilled_at(1 << 62, 100), None);
    assert!(
        m.contains("outside the worker's part of the spill file"),
        "{m}"
    );
    // (Bytes of its own part never written are a read past the file's end: wire/spill.rs.)
    // Longer than max_frame: refused before anything is read or allocated.
    let m = hostile(spilled_at(0, 1 << 20), Some(4096));
    assert!(
        m.contains("more than the maximum of 4096 bytes (the max_frame setting)"),
        "{m}"
    );
    let m = hostile(spilled_at(0, u64::MAX), None);
    assert!(m.contains("more than the maximum"), "{m}");
    // Not the 16 bytes of a spilled frame.
    let m = hostile(spilled(&[1, 2, 3]), None);
    assert!(m.contains("spilled frame of 3 bytes, not 16"), "{m}");
    no_children_left();
    assert_eq!(open_fds(), fds);
}

/// The parent's peak resident memory (VmHWM) in bytes.
fn peak_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

/// The result of the peak-memory fixtures: 512 MiB.
const LARGE: usize = 512 * MIB;

/// The subprocess side of the tests below; does nothing in a normal test run.
#[test]
#[ignore = "a fixture run as a subprocess by the other tests"]
fn fixture() {
    let Ok(mode) = std::env::var("PAR_FIXTURE") else {
        return;
    };
    let before = peak_bytes();
    let ok = match mode.as_str() {
        "bytes" => {
            // One worker (the timeout makes it a process), so that item 1 runs where item 0's
            // value was made and sent, and reports that worker's peak in its place.
            let v = Loop::new()
                .workers(1)
                .timeout(std::time::Duration::from_secs(600))
                .schedule(Schedule::Dynamic(1))
                .collect(0..2usize, |i| match i {
                    0 => vec![7u8; LARGE],
                    _ => peak_bytes().to_le_bytes().to_vec(),
                });
            let worker = u64::from_le_bytes(v[1][..8].try_into().expect("8 bytes"));
            println!("\nWORKER {worker}");
            v[0].len() == LARGE && v[0][LARGE - 1] == 7 && v[0][LARGE / 2] == 7
        }
        "floats" => {
            let n = LARGE / 8;
            let v = Loop::new()
                .workers(2)
                .collect(0..2usize, |i| vec![0.5f64; if i == 0 { n } else { 1 }]);
            v[0].len() == n && v[0][n - 1] == 0.5 && v[0][n / 3] == 0.5
        }
        other => panic!("unknown fixture {other}"),
    };
    let after = peak_bytes();
    // Printed on a line of its own (libtest has written "test fixture ... " before it).
    println!("\nPEAK {before} {after} {ok}");
}

fn peak_growth(mode: &str) -> (f64, Option<f64>) {
    let out = run_fixture(mode, None).output().expect("run the fixture");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.split_once("PEAK ").map(|(_, rest)| rest))
        .unwrap_or_else(|| {
            panic!(
                "no PEAK line: {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f[2], "true", "the value arrived whole: {line}");
    let (before, after): (u64, u64) = (f[0].parse().unwrap(), f[1].parse().unwrap());
    // The worker's whole peak (it starts as a copy of the fixture, which holds little).
    let worker = text
        .lines()
        .find_map(|l| l.split_once("WORKER ").map(|(_, rest)| rest))
        .map(|w| w.trim().parse::<u64>().expect("a number") as f64 / LARGE as f64);
    ((after - before) as f64 / LARGE as f64, worker)
}

#[test]
fn a_large_vec_of_numbers_is_held_once_in_the_parent() {
    let _guard = watchdog("peak_memory");
    for mode in ["bytes", "floats"] {
        let (growth, worker) = peak_growth(mode);
        eprintln!("{mode}: the parent's peak grew by {growth:.3}x the result");
        if let Some(w) = worker {
            // A `Vec` of numbers is written from the value itself: no second copy in a buffer.
            eprintln!("{mode}: the worker's peak is {w:.3}x the result");
            assert!(
                w <= 1.2,
                "{mode}: the worker's peak is {w:.3}x the 512 MiB result"
            );
        }
        assert!(
            growth <= 1.1,
            "{mode}: the parent's peak grew by {growth:.3}x the 512 MiB result"
        );
    }
}
