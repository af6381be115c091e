use std::cell::RefCell;
use std::rc::Rc;

use par::par;

/// Stands for a C library's context: not Send, not Sync, used by reference.
struct CContext {
    state: *mut u32,
}

fn main() {
    let cache = Rc::new(RefCell::new(vec![1u32, 2, 3]));
    let mut storage = 7u32;
    let ctx = CContext {
        state: &mut storage,
    };
    let v = par!(for i in 0..3usize {
        // SAFETY: `ctx.state` points at `storage`, alive for the whole loop.
        let s = unsafe { *ctx.state };
        cache.borrow()[i] + s
    });
    assert_eq!(v, vec![8, 9, 10]);
}
