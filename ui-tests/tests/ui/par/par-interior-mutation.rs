use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use par::par;

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn main() {
    let count = AtomicUsize::new(0);
    let best = AtomicU64::new(0);
    let found = Mutex::new(Vec::new());
    let log = RefCell::new(String::new());
    let last = Cell::new(0u32);
    let names = Vec::<String>::new();
    par!(for i in 0..10u32 {
        count.fetch_add(1, Ordering::Relaxed);
        best.fetch_max(i as u64, Ordering::Relaxed);
        best.store(1, Ordering::Relaxed);
        found.lock().unwrap().push(i);
        log.borrow_mut().push_str("x");
        last.set(i);
        names.push(i.to_string());
        CALLS.fetch_add(1, Ordering::Relaxed);
    });
    println!("{count:?} {best:?} {found:?} {log:?} {last:?} {names:?} {CALLS:?}");
}
