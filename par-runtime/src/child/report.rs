//! What a child reports when it leaves, and how the parent reads it: the one epilogue every
//! child runs ([`run_child`]), the panic frame (written by [`panic_frame`], read by
//! [`panic_error`]), a job's one value ([`encode_result`]), and the panic hook that records
//! where a child's panic happened.
//!
//! What this module must never do: install the hook in a child (`set_hook` takes a global lock
//! that another thread of the parent may have held at the fork), or let a child unwind into the
//! code that forked it.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{ENCODE, Error, PANICKED, report_error};
use crate::mode;
use crate::sys::{self, AsFd};
use crate::wire::codec::{self, Transfer};
use crate::wire::{self, FrameBuf, PanicHead, ResultsHead};

/// Runs par's own code in a child (`f` returns the exit code): whatever happens, the child
/// leaves by `_exit`, never by unwinding into the code that forked it (it would run the
/// parent's code in the child). A panic of par's own code exits with 101, which the parent
/// reports as a death. User code runs under its own `catch_unwind` inside `f`.
pub(crate) fn run_child(f: impl FnOnce() -> i32) -> std::convert::Infallible {
    let code = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(payload) => {
            // Dropping the payload could panic again (a payload type's own `Drop`).
            std::mem::forget(payload);
            101
        }
    };
    sys::exit_now(code)
}

/// Flushes this child's copy of stdout's buffer (the body's prints would be lost at `_exit`).
/// Safe in a child of a multi-threaded parent: `sys::fork` holds stdout's lock across the fork,
/// so no other thread owned it at that moment.
pub(crate) fn flush_stdout() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// Extracts the message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a panic payload that is not a string)".to_string()
    }
}

/// The error for a panic caught in process `pid` while it ran item or job `index` (inline runs
/// and children alike; a child's location comes from the panic hook).
pub(crate) fn panicked(index: usize, pid: i32, payload: &(dyn Any + Send)) -> Error {
    report_error(
        PANICKED,
        index,
        pid,
        panic_message(payload),
        take_panic_location(),
    )
}

/// Writes a `Panic` frame (ended) for job `index`, in place of whatever `frame` held:
/// `failed` is [`PANICKED`] (the location is taken from the panic hook),
/// [`FAILED`](crate::error::FAILED) or [`ENCODE`], with `message`.
pub(crate) fn panic_frame(frame: &mut FrameBuf, index: usize, failed: u8, message: &str) -> bool {
    frame.clear();
    let location = if failed == PANICKED {
        take_panic_location()
    } else {
        None
    };
    append_report(frame, index, failed, message, location.as_deref()).is_ok()
}

/// Appends a `Panic` frame for item or job `index` to `frame` (after the frames it holds):
/// `failed` says what happened ([`PANICKED`], [`FAILED`](crate::error::FAILED), [`ENCODE`]),
/// with `message` and the panic's `location`. [`panic_error`] reads it.
pub(crate) fn append_report(
    frame: &mut FrameBuf,
    index: usize,
    failed: u8,
    message: &str,
    location: Option<&str>,
) -> crate::error::Result<()> {
    frame.panic(PanicHead {
        index: index as u64,
        failed,
    });
    codec::encode_into(&(message, location), &mut frame.buf)?;
    frame
        .end()
        .map_err(|e| Error::io("a worker could not frame its failure", e))
}

/// The error a `Panic` frame from process `pid` reports (or what is wrong with the frame).
pub(crate) fn panic_error(payload: &[u8], pid: i32) -> Error {
    let decoded = wire::parse_panic(payload).and_then(|(head, bytes)| {
        codec::decode::<(String, Option<String>)>(bytes)
            .map(|m| (head, m))
            .map_err(|e| e.to_string())
    });
    match decoded {
        Ok((head, (message, location))) => {
            report_error(head.failed, head.index as usize, pid, message, location)
        }
        Err(message) => Error::Decode {
            index: None,
            pid: Some(pid),
            message,
        },
    }
}

/// Encodes `value` (the result of job `index`) into `frame` as a results frame; when its
/// `Serialize` returns `Err` or panics, the frame reports that instead ([`ENCODE`] with
/// serde's message, or the panic). False if not even that could be framed.
pub(crate) fn encode_result<T: Transfer>(
    frame: &mut FrameBuf,
    index: usize,
    elapsed_ns: u64,
    value: &T,
) -> bool {
    frame.results(ResultsHead {
        first: index as u64,
        items: 1,
        values: 1,
        elapsed_ns,
        last: 1,
    });
    match catch_unwind(AssertUnwindSafe(|| {
        codec::encode_value(value, &mut frame.buf)
    })) {
        Ok(Ok(())) => frame.end().is_ok(),
        Ok(Err(Error::Encode { message, .. })) => panic_frame(frame, index, ENCODE, &message),
        Ok(Err(e)) => panic_frame(frame, index, ENCODE, &e.to_string()),
        Err(p) => panic_frame(frame, index, PANICKED, &panic_message(&*p)),
    }
}

/// Runs job `index` (user code) and frames its outcome into `frame`: its value, or its panic,
/// or its value's encoding failure. The value's own `Drop` is user code too: its panic must not
/// lose the result. False if not even a panic report could be framed.
pub(crate) fn run_job<T: Transfer>(
    frame: &mut FrameBuf,
    index: usize,
    job: impl FnOnce() -> T,
) -> bool {
    let started = std::time::Instant::now();
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(v) => {
            let elapsed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let sent = encode_result(frame, index, elapsed, &v);
            let _ = catch_unwind(AssertUnwindSafe(move || drop(v)));
            sent
        }
        Err(p) => panic_frame(frame, index, PANICKED, &panic_message(&*p)),
    }
}

thread_local! {
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
    /// A loop worker's complete result frames that wait for the next write (see the worker's
    /// `Sender`): kept here so that [`send_raw`] can send them first.
    pub(crate) static UNSENT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Test support: writes `bytes` as they are into this worker's result pipe, so tests can check
/// how the parent handles corrupt, truncated and oversized frames. Not public API.
///
/// In a loop worker, whose results may wait to leave in a batch, the frames of the items
/// before it leave first: the bytes stand in the stream where the item that sends them stands.
#[cfg(feature = "testing")]
pub fn send_raw(bytes: &[u8]) -> std::io::Result<()> {
    sys::with_result_fd(|fd| {
        let unsent = UNSENT.with(|u| std::mem::take(&mut *u.borrow_mut()));
        sys::write_all(fd, &unsent)?;
        sys::write_all(fd, bytes)
    })
    .unwrap_or_else(|| {
        Err(std::io::Error::other(
            "send_raw called outside a par worker (or after its result pipe was closed)",
        ))
    })
}

/// Records where [`send_raw`] writes in this process: a worker's result pipe (loops, pools) or
/// a started child's channel to its parent.
pub(crate) fn set_result_fd(fd: impl AsFd) {
    sys::set_result_fd(fd);
}

/// The location recorded by the child's panic hook for the last panic, if any.
pub(crate) fn take_panic_location() -> Option<String> {
    PANIC_LOCATION.with(|l| l.borrow_mut().take())
}

/// Installs (once, in the parent, before the first fork) a panic hook that in a child records
/// the panic's location for the failure report instead of printing, and elsewhere defers to the
/// hook that was there before.
///
/// Why in the parent: `set_hook` takes a global lock. In a child forked while another thread of
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
