//! Where a panic in a child happened: the panic hook (installed once, in the parent, before the
//! first fork) records the location of a child's panic for its failure report instead of
//! printing it.
//!
//! What this module must never do: install the hook in a child (`set_hook` takes a global lock
//! that another thread of the parent may have held at the fork).

use std::cell::RefCell;

use crate::mode;

thread_local! {
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The location recorded by the worker's panic hook for the last panic, if any.
pub(crate) fn take_panic_location() -> Option<String> {
    PANIC_LOCATION.with(|l| l.borrow_mut().take())
}

/// Installs (once, in the parent, before the first fork) a panic hook that in a worker records
/// the panic's location for the failure report instead of printing, and elsewhere defers to the
/// hook that was there before.
///
/// Why in the parent: `set_hook` takes a global lock. In a worker forked while another thread of
/// the parent was panicking (holding that lock), calling it would block forever.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if mode::captures_panics() {
                let loc = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                PANIC_LOCATION.with(|l| *l.borrow_mut() = loc);
            } else {
                previous(info);
            }
        }));
    });
}
