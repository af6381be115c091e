//! The non-error side of `par-interior-mutation` and `par-question-mark-without-try`: bindings
//! declared inside the body are the worker's own, `SharedVec` writes reach the parent, and `?`
//! works with `try` or in a body that makes its own `Result`.

// The code's shapes are the point (a `.push()` on a local `Vec`, a `push_str` through a local
// `RefCell`, a captured `Vec`), not what clippy would write instead.
#![allow(
    clippy::vec_init_then_push,
    clippy::single_char_add_str,
    clippy::useless_vec
)]

use std::cell::{Cell, RefCell};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use par::par;

fn main() {
    let words: Vec<Vec<String>> = par!(for i in 0..4u32 {
        let mut v = Vec::new();
        v.push(i.to_string());
        let m = Mutex::new(0);
        *m.lock().unwrap() += 1;
        let c = Cell::new(0);
        c.set(1);
        let r = RefCell::new(String::new());
        r.borrow_mut().push_str("x");
        let a = AtomicUsize::new(0);
        a.fetch_add(1, Ordering::Relaxed);
        v
    });

    // Shared memory written in place: `SharedVec::set(index, value)` is not `Cell::set(value)`.
    let out = par::SharedVec::<u32>::new(4).unwrap();
    par!(for i in 0..4usize {
        out.set(i, i as u32);
        out.write(i, &[i as u32]);
    });

    // Reading a captured value is fine, and so is a reduction variable.
    let names = vec!["a".to_string()];
    let mut total = 0usize;
    par!(reduce(+: total), for i in 0..4usize {
        total += names[0].len() + i;
    });

    let parsed: Result<Vec<u32>, par::Error> = par!(
        try,
        for s in ["1", "2"] {
            s.parse::<u32>()?
        }
    );
    let own: Vec<Result<u32, String>> = par!(for s in ["1", "x"] {
        let n = s.parse::<u32>().map_err(|e| e.to_string())?;
        Ok(n)
    });
    println!("{words:?} {:?} {total} {parsed:?} {own:?}", out.to_vec());
}
