//! The progress bar of the `progress` option: items done / total, rate and ETA on stderr.
//!
//! Drawn by the parent only (workers never touch it), at most a few times a second, on stderr:
//! results and worker output on stdout are not interleaved with it. Hidden when stderr is not a
//! terminal; `PAR_PROGRESS=1` forces it, as plain lines (one every second), for logs and CI.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress display for one loop.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    /// Forced on a non-terminal: plain lines instead of a bar.
    lines: Option<Lines>,
}

#[derive(Debug)]
struct Lines {
    total: Option<u64>,
    done: u64,
    start: Instant,
    last: Instant,
}

const TEMPLATE: &str =
    "{spinner} par [{elapsed_precise}] {wide_bar} {pos}/{len} items, {per_sec}, ETA {eta}";
const TEMPLATE_STREAM: &str = "{spinner} par [{elapsed_precise}] {pos} items, {per_sec}";

impl Progress {
    /// No display at all (not even when forced).
    pub(crate) fn off() -> Self {
        Progress {
            bar: None,
            lines: None,
        }
    }

    /// `total` is `None` for streams of unknown length.
    pub(crate) fn new(total: Option<u64>, enabled: bool) -> Self {
        let forced = std::env::var_os("PAR_PROGRESS").is_some_and(|v| v == "1");
        if !(enabled || forced) {
            return Self::off();
        }
        if !std::io::stderr().is_terminal() {
            let lines = forced.then(|| Lines {
                total,
                done: 0,
                start: Instant::now(),
                last: Instant::now(),
            });
            return Progress { bar: None, lines };
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(8));
        let style = ProgressStyle::with_template(if total.is_some() {
            TEMPLATE
        } else {
            TEMPLATE_STREAM
        });
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress {
            bar: Some(bar),
            lines: None,
        }
    }

    /// True when a bar is drawn on the terminal (worker output must then go through [`Progress::line`]).
    pub(crate) fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }

    /// Prints a line of a worker's output above the bar.
    pub(crate) fn line(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }

    /// `n` more items to do (queues learn their total as jobs are submitted).
    pub(crate) fn grow(&mut self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc_length(n);
        }
        if let Some(l) = &mut self.lines {
            l.total = Some(l.total.unwrap_or(0) + n);
        }
    }

    /// True when a bar or lines are shown.
    pub(crate) fn is_shown(&self) -> bool {
        self.bar.is_some() || self.lines.is_some()
    }

    /// `n` more items finished. Costs one branch when no progress is shown (it is called per
    /// item by inline runs).
    #[inline]
    pub(crate) fn advance(&mut self, n: u64) {
        if self.bar.is_some() || self.lines.is_some() {
            self.advance_shown(n);
        }
    }

    #[cold]
    fn advance_shown(&mut self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
        if let Some(l) = &mut self.lines {
            l.done += n;
            if l.last.elapsed() >= Duration::from_secs(1) {
                l.last = Instant::now();
                l.print();
            }
        }
    }

    /// The loop ended (successfully or not).
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
            eprintln!(); // what comes next starts on its own line, not after the bar
        }
        if let Some(l) = self.lines.take() {
            l.print();
        }
    }
}

impl Lines {
    fn print(&self) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = self.done as f64 / secs;
        match self.total {
            Some(t) => {
                let eta = if rate > 0.0 {
                    (t.saturating_sub(self.done)) as f64 / rate
                } else {
                    0.0
                };
                eprintln!(
                    "par: {}/{t} items ({:.0}%), {rate:.0}/s, ETA {eta:.0}s",
                    self.done,
                    100.0 * self.done as f64 / t.max(1) as f64
                );
            }
            None => eprintln!("par: {} items, {rate:.0}/s", self.done),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // A loop that failed or was dropped early leaves no half-drawn bar behind.
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}
