//! A worker that runs its item without using any CPU is reported on stderr, with the item, the
//! parent's thread count at the fork and what to do: here a mutex held by another thread of the
//! parent when the worker was forked (the way rayon's global pool or a tokio runtime hang a
//! worker). The fixture runs in a process of its own, whose stderr the test reads.

mod common;

use std::sync::Mutex;
use std::time::Duration;

static HELD: Mutex<()> = Mutex::new(());

/// An item that takes [`HELD`] when a worker decodes it: in a worker forked while another
/// thread held it, before the item can start.
struct Locked(u32);

impl serde::Serialize for Locked {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Locked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let i = u32::deserialize(d)?;
        if par::in_worker() {
            let _g = HELD.lock();
        }
        Ok(Locked(i))
    }
}

#[test]
#[ignore = "run by the other test, in a process of its own"]
fn fixture() {
    if std::env::var_os("PAR_FIXTURE").is_none() {
        return;
    }
    let (locked, ready) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let _guard = HELD.lock().expect("lock");
        locked.send(()).expect("tell");
        std::thread::sleep(Duration::from_secs(4));
    });
    ready.recv().expect("the mutex is held");
    if std::env::var("PAR_FIXTURE").as_deref() == Ok("2") {
        // Items that block when they are decoded in the worker, before any item starts.
        let r = par::Loop::new()
            .workers(2)
            .stall_after(Duration::from_millis(500))
            .timeout(Duration::from_secs(1))
            .try_collect(par::stream((0..4u32).map(Locked)), |Locked(i)| {
                Ok::<u32, String>(i)
            });
        println!("result: {r:?}");
        holder.join().expect("holder");
        return;
    }
    let r = par::Loop::new()
        .workers(2)
        .schedule(par::Schedule::Dynamic(1))
        .stall_after(Duration::from_millis(500))
        .timeout(Duration::from_secs(3))
        .try_collect(0..8u32, |i| {
            if i == 3 {
                // Held by a thread that does not exist in this worker: blocked for ever.
                let _g = HELD.lock();
            }
            Ok::<u32, String>(i)
        });
    println!("result: {r:?}");
    holder.join().expect("holder");
}

/// Runs the fixture in `mode` in a process of its own: its stdout, its stderr, and the first
/// stall warning on its stderr (there must be one).
fn run_stalling(mode: &str) -> (String, String, String) {
    let out = common::run_fixture(mode, None)
        .output()
        .expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("par: worker "))
        .unwrap_or_else(|| panic!("no stall warning: {stderr}"))
        .to_string();
    (stdout, stderr, warning)
}

#[test]
fn a_worker_blocked_on_a_lock_inherited_from_the_parent_is_reported() {
    if !common::loops_fork() {
        return;
    }
    let (stdout, stderr, warning) = run_stalling("1");
    assert!(
        warning.contains("has run item 3 for") && warning.contains("without using any CPU"),
        "{warning}"
    );
    assert!(
        warning.contains("threads when it forked") && warning.contains("rayon's global pool"),
        "{warning}"
    );
    assert_eq!(
        stderr.matches("par: worker ").count(),
        1,
        "said once: {stderr}"
    );
    assert!(stdout.contains("TimedOut { index: 3"), "{stdout}");
}

/// A worker blocked before its first item (here in decoding the items it was sent) is watched
/// too: the stall is reported naming the item it was sent, and the `timeout` ends it (no item
/// runs, so no item's own deadline would).
#[test]
fn a_worker_blocked_before_its_first_item_is_reported_and_timed_out() {
    if !common::loops_fork() {
        return;
    }
    let (stdout, _, warning) = run_stalling("2");
    assert!(
        warning.contains("has been sent item 0 and not started it"),
        "{warning}"
    );
    assert!(warning.contains("waits on a lock"), "{warning}");
    assert!(stdout.contains("TimedOut { index: 0"), "{stdout}");
}
