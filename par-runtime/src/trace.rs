//! `tracing` spans and events (feature `tracing`): where a loop's time goes and what failed.
//! Without the feature every function here is empty and compiles to nothing.
//!
//! - span `par_loop` (info) around every loop, opened once the loop's place is decided: `len`
//!   (None for streams), `workers` (0 inline), `inline` (true when it runs in the calling
//!   process), `reason` (why, as `exec::decide` said: "nested in a worker", "timeout needs a
//!   worker process", auto's predicted times...)
//! - event "worker started" (debug): `worker`, `pid`; "worker exited" (debug): `pid`, `status`
//! - event "loop failed" (warn): `error`
//! - event "loop finished" (info): `items`, `elapsed_ms`
//!
//! It also writes the Chrome-trace timeline of `PAR_TRACE=path.json` (whatever the feature):
//! [`enabled`] (the environment is read once per process), [`epoch`] (time 0 of the file) and
//! [`write_loop`], which appends one loop's events. The file is a JSON array kept complete
//! after every loop: each loop's events are written over the closing `]`, which is written
//! again after them, so a program that fails or is killed between loops leaves a file every
//! viewer opens (a kill in the middle of a write can cut the last loop short). Each loop is a
//! "process" of the trace (`pid` 1, 2, ... in the order loops end); its tracks (`tid`) are
//! the parent's pid and each worker's pid. Only the parent writes (never a worker).

use std::fmt::Write as _;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::Error;

/// `PAR_TRACE`'s path, read once (empty or unset: no trace).
fn trace_path() -> Option<&'static PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        let p = std::env::var_os("PAR_TRACE").filter(|p| !p.is_empty())?;
        // Time 0 of the trace: before the first loop's events.
        epoch();
        Some(PathBuf::from(p))
    })
    .as_ref()
}

/// True when `PAR_TRACE` names a file to write the timeline to.
pub(crate) fn enabled() -> bool {
    trace_path().is_some()
}

/// Time 0 of the trace's timestamps.
pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The open trace file: where its closing `]` starts, and the loops written so far.
struct TraceFile {
    file: std::fs::File,
    end: u64,
    loops: u64,
}

/// `None` before the first loop; `Some(None)` once the file could not be written (said once).
static FILE: Mutex<Option<Option<TraceFile>>> = Mutex::new(None);

/// The tail that closes the array; written after every loop, overwritten by the next.
const TAIL: &[u8] = b"\n]\n";

/// Appends one loop's events (JSON objects without their braces and `pid`) to the trace file
/// as a new trace process. An I/O error is said once on stderr and ends the trace; the loop
/// is not failed for it.
pub(crate) fn write_loop(events: &[String]) {
    let Some(path) = trace_path() else { return };
    if crate::mode::in_worker() {
        return;
    }
    let mut slot = match FILE.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if slot.is_none() {
        let opened = std::fs::File::create(path).and_then(|mut file| {
            file.write_all(b"[")?;
            Ok(TraceFile {
                file,
                end: 1,
                loops: 0,
            })
        });
        *slot = Some(match opened {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!(
                    "par: PAR_TRACE={}: could not create it: {e}",
                    path.display()
                );
                None
            }
        });
    }
    let Some(Some(t)) = slot.as_mut() else { return };
    t.loops += 1;
    let pid = t.loops;
    let mut text = String::new();
    for (k, e) in events.iter().enumerate() {
        if t.loops > 1 || k > 0 {
            text.push(',');
        }
        text.push_str("\n{\"pid\":");
        text.push_str(&pid.to_string());
        text.push(',');
        text.push_str(e);
        text.push('}');
    }
    let written = t
        .file
        .seek(SeekFrom::Start(t.end))
        .and_then(|_| t.file.write_all(text.as_bytes()))
        .and_then(|_| t.file.write_all(TAIL))
        .and_then(|_| t.file.flush());
    match written {
        Ok(()) => t.end += text.len() as u64,
        Err(e) => {
            eprintln!("par: PAR_TRACE={}: could not write it: {e}", path.display());
            *slot = Some(None);
        }
    }
}

/// `s` as a JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A duration for people: `42 us`, `0.5 ms`, `634 ms`, `1.23 s`.
pub(crate) fn human(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 100.0 {
        format!("{us:.0} us")
    } else if us < 10_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else if us < 1_000_000.0 {
        format!("{:.0} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// Bytes for people: `512 B`, `3.2 KiB`, `1.5 MiB`, `2.0 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    let f = n as f64;
    match n {
        n if n < 1 << 10 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", f / 1024.0),
        n if n < 1 << 30 => format!("{:.1} MiB", f / 1048576.0),
        _ => format!("{:.1} GiB", f / 1073741824.0),
    }
}

#[cfg(feature = "tracing")]
pub(crate) type LoopSpan = tracing::span::EnteredSpan;
/// Without the feature: nothing to hold.
#[cfg(not(feature = "tracing"))]
pub(crate) struct LoopSpan;

/// Enters the span of one loop, run on `workers` forked workers or inline (`None`) for
/// `reason`; it ends when the returned guard is dropped.
pub(crate) fn loop_span(
    len: Option<usize>,
    workers: Option<usize>,
    reason: &dyn std::fmt::Display,
) -> LoopSpan {
    #[cfg(feature = "tracing")]
    return tracing::info_span!(
        "par_loop",
        len,
        workers = workers.unwrap_or(0),
        inline = workers.is_none(),
        reason = %reason
    )
    .entered();
    #[cfg(not(feature = "tracing"))]
    {
        let _ = (len, workers, reason);
        LoopSpan
    }
}

pub(crate) fn worker_started(worker: usize, pid: i32) {
    #[cfg(feature = "tracing")]
    tracing::debug!(worker, pid, "worker started");
    #[cfg(not(feature = "tracing"))]
    let _ = (worker, pid);
}

/// An item is run again (attempt `attempt` failed with `error`).
pub(crate) fn retry(index: usize, attempt: u32, error: &crate::error::Error) {
    #[cfg(feature = "tracing")]
    tracing::warn!(index, attempt, error = %error, "item failed; retrying on a new worker");
    #[cfg(not(feature = "tracing"))]
    let _ = (index, attempt, error);
}

pub(crate) fn worker_exited(pid: i32, status: &dyn std::fmt::Debug) {
    #[cfg(feature = "tracing")]
    tracing::debug!(pid, status = ?status, "worker exited");
    #[cfg(not(feature = "tracing"))]
    let _ = (pid, status);
}

pub(crate) fn failed(error: &Error) {
    #[cfg(feature = "tracing")]
    tracing::warn!(error = %error, "loop failed");
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}

pub(crate) fn finished(items: usize, started: Instant) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        items,
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "loop finished"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (items, started);
}

#[cfg(all(test, feature = "tracing"))]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Records span names and event messages.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    struct Message(String);
    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    /// A span's `inline` and `reason` fields, as "inline=B reason=R".
    struct Fields(String);
    impl tracing::field::Visit for Fields {
        fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
            if field.name() == "inline" {
                self.0 += &format!("inline={value} ");
            }
        }
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "reason" {
                self.0 += &format!("reason={value:?}");
            }
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut f = Fields(String::new());
            span.record(&mut f);
            let mut log = self.0.lock().unwrap();
            log.push(format!("span {}", span.metadata().name()));
            log.push(f.0);
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut m = Message(String::new());
            event.record(&mut m);
            self.0.lock().unwrap().push(m.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn loops_workers_and_failures_are_traced() {
        let rec = Recorder::default();
        tracing::subscriber::with_default(rec.clone(), || {
            let v = crate::Loop::new().workers(2).collect(0..10u32, |i| i);
            assert_eq!(v.len(), 10);
            let r = crate::Loop::new()
                .workers(2)
                .try_collect(0..10u32, |i| if i == 3 { Err("no") } else { Ok(i) });
            assert!(r.is_err());
        });
        let log = rec.0.lock().unwrap().clone();
        assert!(
            crate::mode::runs_inline() || log.iter().any(|l| l == "inline=false reason=forks"),
            "{log:?}"
        );
        for want in [
            "span par_loop",
            "worker started",
            "worker exited",
            "loop finished",
            "loop failed",
        ] {
            assert!(
                log.iter().any(|l| l == want),
                "{want:?} missing from {log:?}"
            );
        }
    }

    /// The span is opened after the decision: a loop that runs inline says so, with why.
    #[test]
    fn the_span_says_where_the_loop_ran_and_why() {
        let rec = Recorder::default();
        tracing::subscriber::with_default(rec.clone(), || {
            crate::Loop::new().parallel(false).collect(0..3u8, |i| i);
            crate::Loop::new().collect(0..0u8, |i| i);
            crate::sequential(|| crate::Loop::new().collect(0..3u8, |i| i));
        });
        let log = rec.0.lock().unwrap().clone();
        for want in [
            "inline=true reason=if = false",
            "inline=true reason=no items",
            "inline=true reason=par::sequential runs loops inline",
        ] {
            assert!(
                log.iter().any(|l| l == want),
                "{want:?} missing from {log:?}"
            );
        }
    }
}
