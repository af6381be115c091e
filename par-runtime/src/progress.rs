//! The progress bar of the `progress` option: items done / total, rate and ETA on stderr.
//!
//! Drawn by the parent only (workers never touch it), at most a few times a second, on stderr:
//! results and worker output on stdout are not interleaved with it. Hidden when stderr is not a
//! terminal; `PAR_PROGRESS=1` forces it, as plain lines (one every second), for logs and CI.
//!
//! It also owns [`print_out`] and [`print_err`], behind `par::progress::println!` and
//! `eprintln!`: the parent's own lines while a bar is drawn (between the results of an
//! `unordered` loop, a `Queue`, a `Pool`) are printed above the bar instead of over it. What this
//! module must never do: touch a bar from a forked worker (its copy of the bar's locks may be held
//! by a thread that did not survive the fork; workers' lines reach the bar through the parent).

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, WeakProgressBar};

/// A progress display for one loop.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    /// Forced on a non-terminal: plain lines instead of a bar.
    lines: Option<Lines>,
}

#[derive(Debug)]
struct Lines {
    label: String,
    total: Option<u64>,
    done: u64,
    start: Instant,
    last: Instant,
}

const TEMPLATE: &str =
    "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} items, {rate}, ETA {eta}";
const TEMPLATE_STREAM: &str = "{spinner} {prefix} [{elapsed_precise}] {pos} items, {rate}";

/// What a bar says it counts unless told (`Loop::progress_label`).
const LABEL: &str = "par";

/// The bars drawn now, with the pid of the process that draws them, newest last.
static DRAWN: Mutex<Vec<(u32, WeakProgressBar)>> = Mutex::new(Vec::new());

/// Prints `args` and a newline on stdout, above the progress bar this process draws, if any
/// (the bar is cleared, the line printed and flushed, the bar redrawn). Panics, as `println!`
/// does, if stdout cannot be written.
pub fn print_out(args: fmt::Arguments<'_>) {
    if let Err(e) = above_bar(|| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{args}")?;
        out.flush()
    }) {
        panic!("failed printing to stdout: {e}");
    }
}

/// As [`print_out`], on stderr.
pub fn print_err(args: fmt::Arguments<'_>) {
    if let Err(e) = above_bar(|| writeln!(std::io::stderr().lock(), "{args}")) {
        panic!("failed printing to stderr: {e}");
    }
}

fn above_bar<R>(print: impl FnOnce() -> R) -> R {
    match drawn_bar() {
        Some(bar) => bar.suspend(print),
        None => print(),
    }
}

/// The newest bar this process draws. `try_lock`: a worker forked while another thread held
/// the lock must not wait for it (and never finds its parent's bars anyway).
fn drawn_bar() -> Option<ProgressBar> {
    let mut drawn = DRAWN.try_lock().ok()?;
    let me = std::process::id();
    drawn.retain(|(pid, weak)| *pid == me && weak.upgrade().is_some_and(|bar| !bar.is_finished()));
    drawn.last().and_then(|(_, weak)| weak.upgrade())
}

/// Items per second with three significant digits (`0.512/s`, `12.6/s`, `187/s`, `12.6k/s`,
/// `3.40M/s`): indicatif's `{per_sec}` prints `12,560.1204/s`.
fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        return "0/s".to_string();
    }
    let (value, unit) = match per_sec {
        r if r >= 1e9 => (r / 1e9, "G"),
        r if r >= 1e6 => (r / 1e6, "M"),
        r if r >= 1e3 => (r / 1e3, "k"),
        r => (r, ""),
    };
    // Rounding may carry into a fourth digit (999.7 -> 1000): print it with no decimals.
    let digits = value.abs().log10().floor() as i32 + 1;
    let decimals = (3 - digits).clamp(0, 3) as usize;
    format!("{value:.decimals$}{unit}/s")
}

impl Progress {
    /// No display at all (not even when forced).
    pub(crate) fn off() -> Self {
        Progress {
            bar: None,
            lines: None,
        }
    }

    /// A bar of `total` items (`None` for streams of unknown length), saying `label` instead
    /// of `par` (`Loop::progress_label`, the families' `progress_label`).
    pub(crate) fn labelled(total: Option<u64>, enabled: bool, label: Option<&str>) -> Self {
        let forced = std::env::var_os("PAR_PROGRESS").is_some_and(|v| v == "1");
        if !(enabled || forced) {
            return Self::off();
        }
        let label = label.unwrap_or(LABEL).to_string();
        if !std::io::stderr().is_terminal() {
            let lines = forced.then(|| Lines {
                label,
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
            bar.set_style(
                style.with_key("rate", |s: &ProgressState, w: &mut dyn fmt::Write| {
                    let _ = w.write_str(&rate(s.per_sec()));
                }),
            );
        }
        bar.set_prefix(label);
        bar.enable_steady_tick(Duration::from_millis(250));
        if let Ok(mut drawn) = DRAWN.lock() {
            // Bars of finished loops go here too, not only when something prints.
            drawn.retain(|(_, weak)| weak.upgrade().is_some_and(|bar| !bar.is_finished()));
            drawn.push((std::process::id(), bar.downgrade()));
        }
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
                    "{}: {}/{t} items ({:.0}%), {}, ETA {eta:.0}s",
                    self.label,
                    self.done,
                    100.0 * self.done as f64 / t.max(1) as f64,
                    self::rate(rate)
                );
            }
            None => eprintln!("{}: {} items, {}", self.label, self.done, self::rate(rate)),
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

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn rates_have_three_significant_digits() {
        for (per_sec, shown) in [
            (0.0, "0/s"),
            (f64::NAN, "0/s"),
            (0.5123, "0.512/s"),
            (1.0, "1.00/s"),
            (12.56, "12.6/s"),
            (187.4, "187/s"),
            (999.4, "999/s"),
            (999.7, "1000/s"),
            (12560.1204, "12.6k/s"),
            (191_500.0, "192k/s"),
            (3_400_000.0, "3.40M/s"),
            (2.5e9, "2.50G/s"),
        ] {
            assert_eq!(rate(per_sec), shown, "{per_sec}");
        }
    }
}
