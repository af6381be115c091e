//! The fault-injection engine shared by `tests/faults.rs` (short counts, in `cargo test`) and
//! `examples/faults.rs` (the figures of RELIABILITY.md): it injects one fault (a panic,
//! `abort()`, `SIGKILL` of itself, a segfault, `exit(3)`, `exit(0)`, a `SIGINT` (a Ctrl-C that
//! reached the worker), a `dup2` of `/dev/null` over par's pipes, or a hang past the loop's
//! timeout) at a random item or job (a seeded generator, so every run injects the same faults),
//! on one API, then checks the report: the variant and [`Death`] that fault must give, the index
//! of the item or job it was injected at, and the pid of the very process that ran it (each
//! faulty item writes its pid to a file before it faults). Then it runs the same API again
//! without a fault and checks every value: a fault must leave nothing broken behind.
//!
//! Used as a module by a test binary and by an example (`#[path]`), so it depends on nothing
//! but `par` and `libc`.
#![allow(dead_code)] // each user calls a part of it

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use par::{Channel, Death, Error, Exchange, Loop, Map, Pool, Queue, Schedule};

/// The faults, in the order the figures list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    Panic,
    Abort,
    SigKill,
    SigSegv,
    Exit3,
    Exit0,
    /// `raise(SIGINT)`: what a Ctrl-C does to a worker (an interruption, never retried).
    SigInt,
    /// `dup2` of `/dev/null` over every fd above stderr (par's pipes among them), then the
    /// item runs on for [`LINGER`] and returns: the values the worker still held never arrive.
    Dup2,
    Timeout,
}

/// How long a [`Fault::Dup2`] item runs on after cutting its pipes: long enough for par to
/// see it running (and name it), as a real item that does this would.
pub const LINGER: Duration = Duration::from_millis(300);

pub const FAULTS: [Fault; 9] = [
    Fault::Panic,
    Fault::Abort,
    Fault::SigKill,
    Fault::SigSegv,
    Fault::Exit3,
    Fault::Exit0,
    Fault::SigInt,
    Fault::Dup2,
    Fault::Timeout,
];

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Panic => "panic",
            Fault::Abort => "abort",
            Fault::SigKill => "SIGKILL",
            Fault::SigSegv => "SIGSEGV",
            Fault::Exit3 => "exit(3)",
            Fault::Exit0 => "exit(0)",
            Fault::SigInt => "SIGINT",
            Fault::Dup2 => "dup2",
            Fault::Timeout => "timeout",
        }
    }

    fn code(self) -> u8 {
        FAULTS.iter().position(|&f| f == self).unwrap_or(0) as u8
    }

    fn from_code(code: u8) -> Fault {
        FAULTS[code as usize]
    }
}

/// Every API the faults are injected on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Api {
    /// `Loop::try_collect` with `SCHEDULES[i]`.
    Collect(usize),
    /// `Loop::try_reduce` with `SCHEDULES[i]`.
    Reduce(usize),
    /// `par!(try, schedule = dynamic(1), for ...)`: a `Vec`.
    MacroCollect,
    /// `par!(try, schedule = guided, reduce(+: total), for ...)`.
    MacroReduce,
    Queue,
    Map,
    Pmap,
    Pool,
    /// `par::start` + `Channel`: the child sends `k` messages, then faults.
    Channel,
    /// `Exchange::start`: child `k` of several faults.
    Exchange,
}

/// The schedules of the `Loop` cases (`auto` with `parallel(true)`, so that what `auto` learns
/// never runs a crashing item inline, in this process).
pub const SCHEDULES: [(&str, Schedule); 5] = [
    ("static", Schedule::Static),
    ("dynamic(1)", Schedule::Dynamic(1)),
    ("dynamic(50)", Schedule::Dynamic(50)),
    ("guided", Schedule::Guided(1)),
    ("auto", Schedule::Auto),
];

pub const APIS: [Api; 18] = [
    Api::Collect(0),
    Api::Collect(1),
    Api::Collect(2),
    Api::Collect(3),
    Api::Collect(4),
    Api::Reduce(0),
    Api::Reduce(1),
    Api::Reduce(2),
    Api::Reduce(3),
    Api::Reduce(4),
    Api::MacroCollect,
    Api::MacroReduce,
    Api::Queue,
    Api::Map,
    Api::Pmap,
    Api::Pool,
    Api::Channel,
    Api::Exchange,
];

impl Api {
    pub fn name(self) -> String {
        match self {
            Api::Collect(s) => format!("Loop::try_collect {}", SCHEDULES[s].0),
            Api::Reduce(s) => format!("Loop::try_reduce {}", SCHEDULES[s].0),
            Api::MacroCollect => "par!(try) dynamic(1)".into(),
            Api::MacroReduce => "par!(try, reduce) guided".into(),
            Api::Queue => "Queue".into(),
            Api::Map => "Map".into(),
            Api::Pmap => "pmap".into(),
            Api::Pool => "Pool".into(),
            Api::Channel => "start/Channel".into(),
            Api::Exchange => "Exchange".into(),
        }
    }

    pub fn is_loop(self) -> bool {
        matches!(
            self,
            Api::Collect(_) | Api::Reduce(_) | Api::MacroCollect | Api::MacroReduce
        )
    }

    /// Whether `fault` can be injected here: the loops, `Queue`, `Map` and `Pool` have a
    /// per-item or per-job timeout; `pmap` starts its jobs at the call, before one could be
    /// set, an `Exchange` has none, and a `Channel`'s `ready(Some(t))` just returns false,
    /// which is not a failure.
    pub fn supports(self, fault: Fault) -> bool {
        fault != Fault::Timeout || !matches!(self, Api::Pmap | Api::Channel | Api::Exchange)
    }
}

/// splitmix64: a small, seeded, well-mixed generator (the same faults on every run).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// What an item or job computes when it does not fault.
pub fn value(i: u64) -> u64 {
    i.wrapping_mul(2_654_435_761) ^ 0x5eed
}

/// Runs in the worker: writes this process' pid to `pid_file`, then commits `fault`.
pub fn inject(fault: Fault, k: u64, pid_file: &Path) -> u64 {
    if let Err(e) = std::fs::write(pid_file, std::process::id().to_string()) {
        // Not the fault under test: make it visible as a wrong report.
        panic!("could not write {}: {e}", pid_file.display());
    }
    match fault {
        Fault::Panic => panic!("injected panic at {k}"),
        Fault::Abort => std::process::abort(),
        Fault::SigKill => {
            // SAFETY: kill(2) on this process has no memory-safety preconditions.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            unreachable!("SIGKILL returned")
        }
        Fault::SigSegv => {
            // std installs a SIGSEGV handler (stack-overflow detection) that, for a signal not
            // caused by the guard page, restores the default action and returns: a `raise`
            // would then be survived once. Restore the default first, as a real fault would
            // meet it the second time.
            // SAFETY: setting the default action of SIGSEGV and raising it has no memory-safety
            // preconditions; the process ends here.
            unsafe {
                libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                libc::raise(libc::SIGSEGV);
            }
            unreachable!("SIGSEGV returned")
        }
        Fault::Exit3 => std::process::exit(3),
        Fault::Exit0 => std::process::exit(0),
        Fault::SigInt => {
            // SAFETY: raising a signal has no memory-safety preconditions; par's workers run
            // with SIGINT's default action, so the process ends here.
            unsafe { libc::raise(libc::SIGINT) };
            unreachable!("SIGINT returned")
        }
        Fault::Dup2 => {
            null_every_fd();
            std::thread::sleep(LINGER);
            value(k)
        }
        Fault::Timeout => {
            std::thread::sleep(Duration::from_secs(3600));
            unreachable!("slept an hour")
        }
    }
}

/// Points every fd above stderr at `/dev/null`, as code that closes or redirects fds it does
/// not own does (par's pipes among them).
fn null_every_fd() {
    use std::os::fd::AsRawFd;
    let Ok(null) = std::fs::File::open("/dev/null") else {
        panic!("could not open /dev/null");
    };
    let keep = null.as_raw_fd();
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                .filter(|&fd| fd > 2 && fd != keep)
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        // SAFETY: dup2 has no memory-safety preconditions; the fds it replaces are used by
        // number only (par's pipes, the directory stream already closed).
        unsafe { libc::dup2(keep, fd) };
    }
}

/// One item or job: faults if it is item `k` (and `fault` is `Some`), else returns its value.
pub fn step(i: u64, k: u64, fault: Option<Fault>, pid_file: &Path) -> u64 {
    match fault {
        Some(f) if i == k => inject(f, k, pid_file),
        _ => value(i),
    }
}

/// A `Pool` call: the same as [`step`], with its arguments as `Pool` needs them.
#[par::parallel]
pub fn pool_step(i: u64, k: u64, fault: u8, pid_file: String) -> u64 {
    let fault = (fault != u8::MAX).then(|| Fault::from_code(fault));
    step(i, k, fault, Path::new(&pid_file))
}

/// One case: a fault at item `k` of `n` on `api`, with `workers` processes.
#[derive(Debug, Clone)]
pub struct Case {
    pub api: Api,
    pub fault: Fault,
    pub n: u64,
    pub k: u64,
    pub workers: usize,
    /// The per-item timeout of the loop, or per-job of the family (used by the `Timeout`
    /// fault, set on every loop, `Queue`, `Map` and `Pool`).
    pub timeout: Duration,
    pub pid_file: PathBuf,
}

impl Case {
    /// A case drawn from `rng`: 4 to 40 items for loops, 2 to 8 jobs for the job families.
    pub fn draw(
        rng: &mut Rng,
        api: Api,
        fault: Fault,
        timeout: Duration,
        pid_file: PathBuf,
    ) -> Self {
        let n = if api.is_loop() {
            rng.range(4, 40)
        } else {
            rng.range(2, 8)
        };
        let k = rng.range(0, n - 1);
        let workers = rng.range(2, 3) as usize;
        Case {
            api,
            fault,
            n,
            k,
            workers,
            timeout,
            pid_file,
        }
    }
}

/// How one run of an API went.
#[derive(Debug)]
pub enum Outcome {
    /// Every value right, nothing failed (only possible without a fault).
    Right,
    /// It reported this failure (the injected one; without a fault, the first failure, one
    /// that is not `Io` if there is such). Every other value was right.
    Failed(Error),
    /// What was wrong: a wrong value, a value twice or never, a second failure, no failure.
    Wrong(String),
}

/// Runs `case` (the fault, then a clean run of the same API) and checks both. `Err` says what
/// was wrong; it never panics on a wrong report (a panic would be an error of the harness).
pub fn run_case(case: &Case) -> Result<(), String> {
    let _ = std::fs::remove_file(&case.pid_file);
    let fail = |m: String| Err(format!("{}: {m}", describe(case)));
    match run_api(case, Some(case.fault)) {
        Outcome::Failed(e) => {
            if let Err(m) = check_report(case, &e) {
                return fail(m);
            }
        }
        Outcome::Right => return fail("no failure reported".into()),
        Outcome::Wrong(m) => return fail(m),
    }
    // The next run of the same API, with no fault: every value right.
    match run_api(case, None) {
        Outcome::Right => Ok(()),
        Outcome::Failed(e) => fail(format!("the run after the fault failed: {e:?}")),
        Outcome::Wrong(m) => fail(format!("the run after the fault: {m}")),
    }
}

/// A run without a fault (the soak, the threads, the lowered limits).
pub fn run_clean(case: &Case) -> Outcome {
    run_api(case, None)
}

pub fn describe(c: &Case) -> String {
    format!(
        "{} at item {} of {} on {} ({} workers)",
        c.fault.name(),
        c.k,
        c.n,
        c.api.name(),
        c.workers
    )
}

/// The report must be the variant `fault` gives, about item `k`, from the process that ran it.
fn check_report(case: &Case, e: &Error) -> Result<(), String> {
    let want_pid: i32 = std::fs::read_to_string(&case.pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("item {} never ran (no pid file); got {e:?}", case.k))?;
    let me = std::process::id() as i32;
    let k = case.k as usize;
    // A `Channel` started alone reports job 0 (its `k` messages arrived first: checked there).
    let want_index = if case.api == Api::Channel { 0 } else { k };
    let death = |d: Death| match *e {
        Error::WorkerDied {
            index: Some(i),
            death,
            ..
        } => i == want_index && death == d,
        _ => false,
    };
    let kind_ok = match case.fault {
        Fault::Panic => matches!(
            e,
            Error::Panicked { index, message, .. }
                if *index == want_index && *message == format!("injected panic at {k}")
        ),
        Fault::Abort => death(Death::Signal(libc::SIGABRT)),
        Fault::SigKill => death(Death::Signal(libc::SIGKILL)),
        Fault::SigSegv => death(Death::Signal(libc::SIGSEGV)),
        Fault::Exit3 => death(Death::Exit(3)),
        Fault::Exit0 => death(Death::Exit(0)),
        Fault::SigInt => matches!(
            e,
            Error::Interrupted { index: Some(i), signal, .. }
                if *i == want_index && *signal == libc::SIGINT
        ),
        Fault::Dup2 => matches!(
            e,
            Error::Lost { index: Some(i), message, .. }
                if *i == want_index && message.contains("dup2'd over")
        ),
        Fault::Timeout => matches!(
            e,
            Error::TimedOut { index, timeout, .. } if *index == want_index && *timeout == case.timeout
        ),
    };
    if !kind_ok {
        return Err(format!("wrong report: {e:?} ({e})"));
    }
    match e.pid() {
        Some(pid) if pid == want_pid && pid != me => Ok(()),
        other => Err(format!(
            "pid {other:?} is not {want_pid}, the worker that ran item {k} (parent {me}): {e:?}"
        )),
    }
}

/// Runs the API once, with `fault` at item `k` or without a fault, and checks every value.
fn run_api(case: &Case, fault: Option<Fault>) -> Outcome {
    let Case {
        api,
        n,
        k,
        workers: w,
        timeout,
        ..
    } = *case;
    let file = case.pid_file.as_path();
    let want: Vec<u64> = (0..n).map(value).collect();
    let vec_outcome = |r: Result<Vec<u64>, Error>| match r {
        Ok(v) if fault.is_none() && v == want => Outcome::Right,
        Ok(v) if fault.is_none() => Outcome::Wrong(format!("wrong values {v:?}")),
        Ok(_) => Outcome::Wrong("no failure reported".into()),
        Err(e) => Outcome::Failed(e),
    };
    let sum_outcome = |r: Result<u64, Error>, sum: u64| match r {
        Ok(s) if fault.is_none() && s == sum => Outcome::Right,
        Ok(s) if fault.is_none() => Outcome::Wrong(format!("wrong sum {s}, want {sum}")),
        Ok(_) => Outcome::Wrong("no failure reported".into()),
        Err(e) => Outcome::Failed(e),
    };
    let lp = |s: usize| {
        Loop::new()
            .workers(w)
            .schedule(SCHEDULES[s].1)
            .timeout(timeout)
            .parallel(true)
    };
    match api {
        Api::Collect(s) => {
            vec_outcome(lp(s).try_collect(0..n, |i| Ok::<u64, String>(step(i, k, fault, file))))
        }
        Api::Reduce(s) => sum_outcome(
            lp(s).try_reduce(
                0..n,
                || 0u64,
                |a, i| {
                    *a = a.wrapping_add(step(i, k, fault, file));
                    Ok::<(), String>(())
                },
                u64::wrapping_add,
            ),
            want.iter().fold(0u64, |a, &b| a.wrapping_add(b)),
        ),
        Api::MacroCollect => {
            let r: Result<Vec<u64>, Error> = par::par!(
                try,
                workers = w,
                schedule = dynamic(1),
                timeout = timeout,
                for i in 0..n {
                    step(i, k, fault, file)
                }
            );
            vec_outcome(r)
        }
        Api::MacroReduce => {
            let mut total = 0u64;
            let r: Result<(), Error> = par::par!(try, workers = w, schedule = guided,
            timeout = timeout, reduce(+: total), for i in 0..n {
                total += step(i, k, fault, file) % 1_000_000;
            });
            let sum = want.iter().map(|v| v % 1_000_000).sum();
            sum_outcome(r.map(|()| total), sum)
        }
        Api::Queue => {
            let mut q = Queue::new(w).timeout(timeout);
            for i in 0..n {
                q.spawn(move || step(i, k, fault, file));
            }
            jobs_outcome(q.map(|(j, r)| (j as u64, r)), n, k, fault)
        }
        Api::Map => {
            let mut m = Map::new(w).timeout(timeout);
            for i in 0..n {
                m.spawn(move || step(i, k, fault, file));
            }
            jobs_outcome(m.enumerate().map(|(j, r)| (j as u64, r)), n, k, fault)
        }
        Api::Pmap => {
            let m = par::pmap(move |i: u64| step(i, k, fault, file), 0..n, w);
            jobs_outcome(m.enumerate().map(|(j, r)| (j as u64, r)), n, k, fault)
        }
        Api::Pool => {
            let code = fault.map_or(u8::MAX, Fault::code);
            let name = file.to_string_lossy().into_owned();
            let mut pool = Pool::new(w).timeout(timeout);
            for i in 0..n {
                pool_step::spawn(&mut pool, i, k, code, name.clone());
            }
            let first = jobs_outcome(pool.by_ref().map(|(j, r)| (j as u64, r)), n, k, fault);
            if fault.is_none() {
                return first;
            }
            // The same pool serves more calls after the fault (a dead worker is replaced).
            for i in 0..n {
                pool_step::spawn(&mut pool, i, k, u8::MAX, name.clone());
            }
            match jobs_outcome(pool.by_ref().map(|(j, r)| (j as u64 - n, r)), n, k, None) {
                Outcome::Right => first,
                Outcome::Failed(e) => {
                    Outcome::Wrong(format!("the same pool after the fault: {e:?}"))
                }
                Outcome::Wrong(m) => Outcome::Wrong(format!("the same pool after the fault: {m}")),
            }
        }
        Api::Channel => {
            let started = par::start(move |ch: &mut Channel<u64, ()>| {
                for i in 0..n {
                    if i == k
                        && let Some(f) = fault
                    {
                        inject(f, k, file);
                    }
                    if ch.send(&value(i)).is_err() {
                        return;
                    }
                }
            });
            let mut ch: Channel<(), u64> = match started {
                Ok(ch) => ch,
                Err(e) => return Outcome::Failed(e),
            };
            let mut got = Vec::new();
            loop {
                match ch.recv() {
                    Ok(Some(v)) => got.push(v),
                    Ok(None) if fault.is_none() && got == want => return Outcome::Right,
                    Ok(None) => {
                        return Outcome::Wrong(format!(
                            "the channel ended normally after {} messages",
                            got.len()
                        ));
                    }
                    Err(e) if fault.is_none() || got[..] == want[..k as usize] => {
                        return Outcome::Failed(e);
                    }
                    Err(e) => {
                        return Outcome::Wrong(format!(
                            "{e:?} after {} messages, want {k} before the fault",
                            got.len()
                        ));
                    }
                }
            }
        }
        Api::Exchange => {
            let mut ex: Exchange<(), u64> = Exchange::new(w);
            for i in 0..n {
                ex.start(move |ch: &mut Channel<u64, ()>| {
                    let v = step(i, k, fault, file);
                    let _ = ch.send(&v);
                });
            }
            jobs_outcome(ex.map(|(id, r)| (id as u64, r)), n, k, fault)
        }
    }
}

/// Checks the results of `n` jobs: each job once; with a fault, job `k` failed and every
/// other gave its value; without one, each gave its value or failed (the first failure that is
/// not `Io`, else the first, is returned).
fn jobs_outcome(
    results: impl Iterator<Item = (u64, Result<u64, Error>)>,
    n: u64,
    k: u64,
    fault: Option<Fault>,
) -> Outcome {
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    let mut failure: Option<Error> = None;
    for (job, r) in results {
        *seen.entry(job).or_default() += 1;
        match r {
            Ok(v) if v == value(job) && (fault.is_none() || job != k) => {}
            Ok(v) => return Outcome::Wrong(format!("job {job} gave {v}")),
            Err(e) if fault.is_some() && (job != k || failure.is_some()) => {
                return Outcome::Wrong(format!("job {job} failed: {e:?}"));
            }
            Err(e) => {
                if failure
                    .as_ref()
                    .is_none_or(|f| matches!(f, Error::Io { .. }) && !matches!(e, Error::Io { .. }))
                {
                    failure = Some(e);
                }
            }
        }
    }
    if seen.len() as u64 != n || seen.values().any(|&c| c != 1) {
        return Outcome::Wrong(format!(
            "results by job (job: times): {seen:?}, want 0..{n} once each"
        ));
    }
    match (fault, failure) {
        (_, Some(e)) => Outcome::Failed(e),
        (None, None) => Outcome::Right,
        (Some(_), None) => Outcome::Wrong(format!("job {k} did not fail")),
    }
}

/// Correct reports and injections per (fault, API), and the first wrong one of each.
#[derive(Debug, Default)]
pub struct Tally {
    pub cells: BTreeMap<(Fault, Api), (u64, u64)>,
    /// The first wrong report of each (fault, API) that had one, in the order they came.
    pub wrong: Vec<String>,
}

impl Tally {
    pub fn record(&mut self, case: &Case, outcome: Result<(), String>) {
        let cell = self.cells.entry((case.fault, case.api)).or_default();
        cell.0 += 1;
        match outcome {
            Ok(()) => cell.1 += 1,
            Err(m) => {
                if cell.0 - cell.1 == 1 {
                    self.wrong.push(m);
                }
            }
        }
    }

    pub fn injected(&self) -> u64 {
        self.cells.values().map(|c| c.0).sum()
    }

    pub fn correct(&self) -> u64 {
        self.cells.values().map(|c| c.1).sum()
    }
}

/// What was seen around the cases: children left after a case (live or zombie), cases after
/// which the open fds were not what they were before, and the slowest case.
#[derive(Debug, Default)]
pub struct Health {
    pub cases: u64,
    pub children_left: u64,
    pub first_children: Option<String>,
    pub fd_changes: u64,
    pub first_fds: Option<String>,
    pub slowest: Duration,
    /// The fds open after the last case (or at [`Health::fds_now`]) and what each points at:
    /// a change names the fds that came or went.
    table: Option<std::collections::BTreeMap<i32, String>>,
}

/// Bumped after every case and run: a watchdog can tell a stalled run from a long one.
pub static PROGRESS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn beat() {
    PROGRESS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// This process' open fds and what each points at (`readlink` of `/proc/self/fd/N`).
fn fd_table() -> std::collections::BTreeMap<i32, String> {
    let dir = std::fs::read_dir("/proc/self/fd")
        .unwrap_or_else(|e| panic!("cannot list /proc/self/fd to count open fds: {e}"));
    dir.flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_string_lossy().parse().ok()?;
            let to = std::fs::read_link(e.path()).ok()?; // the listing's own fd is gone by now
            Some((fd, to.display().to_string()))
        })
        .collect()
}

/// The fds of `a` that `b` lacks, or whose target differs, as `fd -> target` text.
fn fds_not_in(
    a: &std::collections::BTreeMap<i32, String>,
    b: &std::collections::BTreeMap<i32, String>,
) -> String {
    let gone: Vec<String> = a
        .iter()
        .filter(|(fd, to)| b.get(fd) != Some(to))
        .map(|(fd, to)| format!("{fd} -> {to}"))
        .collect();
    gone.join(", ")
}

impl Health {
    /// The number of fds open now, remembered with what each points at (the baseline of the
    /// cases that follow).
    pub fn fds_now(&mut self) -> usize {
        let table = fd_table();
        let n = table.len();
        self.table = Some(table);
        n
    }

    /// Checks after a case: no child of this process is left, the fds are `*fds` (reset to
    /// what they are now, so one leak is counted once).
    pub fn after_case(&mut self, what: &str, fds: &mut usize, took: Duration) {
        self.cases += 1;
        beat();
        self.slowest = self.slowest.max(took);
        let left = crate::common::children();
        if !left.is_empty() {
            self.children_left += 1;
            self.first_children
                .get_or_insert_with(|| format!("after {what}: {left:?}"));
        }
        let table = fd_table();
        let now = table.len();
        let (gone, came) = match &self.table {
            Some(before) => (fds_not_in(before, &table), fds_not_in(&table, before)),
            None => (String::from("?"), String::from("?")),
        };
        self.table = Some(table);
        if now < *fds {
            // An fd that was open before the case closed during it: not a leak. Seen once in
            // CI (7 -> 6 during the first case of the SIGINT suite, `Loop::try_collect`, the
            // whole faults binary run after the other tests: so an fd open when the suite took
            // its baseline, left by the test before it), never alone; its owner is not known
            // yet, which is why the note names it. Said, not counted: a leak (more fds) still
            // fails.
            eprintln!(
                "note: after {what}: {now} fds, before {} (closed during it: {gone}; opened: {came})",
                *fds
            );
            *fds = now;
        } else if now != *fds {
            self.fd_changes += 1;
            self.first_fds.get_or_insert_with(|| {
                format!(
                    "after {what}: {now} fds, before {} (opened: {came}; closed: {gone})",
                    *fds
                )
            });
            *fds = now;
        }
    }
}

/// Injects `fault` in `loops` cases, going round the APIs that support it, from `seed`.
pub fn run_faults(
    fault: Fault,
    loops: u64,
    seed: u64,
    timeout: Duration,
    dir: &Path,
    tally: &mut Tally,
    health: &mut Health,
) {
    let apis: Vec<Api> = APIS.iter().copied().filter(|a| a.supports(fault)).collect();
    let mut rng = Rng::new(seed ^ (fault.code() as u64).wrapping_mul(0x1234_5678_9abc));
    let mut fds = health.fds_now();
    for c in 0..loops {
        let api = apis[(c % apis.len() as u64) as usize];
        let case = Case::draw(&mut rng, api, fault, timeout, dir.join(format!("pid-{c}")));
        let start = std::time::Instant::now();
        let outcome = run_case(&case);
        let _ = std::fs::remove_file(&case.pid_file);
        health.after_case(&describe(&case), &mut fds, start.elapsed());
        tally.record(&case, outcome);
    }
}

/// Resident set size of this process, in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .unwrap_or_else(|e| panic!("cannot read /proc/self/statm: {e}"));
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no resident size in /proc/self/statm: {statm:?}"));
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(1) as u64
}

/// The figures of a soak: fds and children at the start and the end, RSS after the warm-up
/// and at the end, and every wrong result.
#[derive(Debug, Default)]
pub struct Soak {
    pub loops: u64,
    pub faulted: u64,
    pub fds_start: usize,
    pub fds_end: usize,
    pub children_end: usize,
    pub rss_warm: u64,
    pub rss_end: u64,
    pub rss_max: u64,
    pub wrong: Vec<String>,
    pub wrong_count: u64,
}

/// `loops` mixed runs on every API in one process; one in four has a fault (not a timeout,
/// which would only add its wait). The first `warmup` runs are not counted in the RSS growth.
pub fn soak(loops: u64, warmup: u64, seed: u64, dir: &Path) -> Soak {
    let mut rng = Rng::new(seed);
    let faults: Vec<Fault> = FAULTS
        .iter()
        .copied()
        .filter(|&f| f != Fault::Timeout)
        .collect();
    let mut s = Soak {
        loops,
        fds_start: crate::common::open_fds(),
        ..Soak::default()
    };
    for c in 0..loops {
        if c == warmup.min(loops) {
            s.rss_warm = rss_bytes();
        }
        let api = APIS[rng.range(0, APIS.len() as u64 - 1) as usize];
        let faulty = rng.range(0, 3) == 0;
        let fault = faults[rng.range(0, faults.len() as u64 - 1) as usize];
        let case = Case::draw(
            &mut rng,
            api,
            fault,
            Duration::from_secs(60),
            dir.join("pid"),
        );
        let outcome = if faulty {
            s.faulted += 1;
            run_case(&case)
        } else {
            match run_clean(&case) {
                Outcome::Right => Ok(()),
                other => Err(format!("clean {}: {other:?}", api.name())),
            }
        };
        if let Err(m) = outcome {
            s.wrong_count += 1;
            if s.wrong.len() < 10 {
                s.wrong.push(m);
            }
        }
        beat();
        if c % 64 == 0 {
            s.rss_max = s.rss_max.max(rss_bytes());
        }
    }
    s.rss_end = rss_bytes();
    s.rss_max = s.rss_max.max(s.rss_end);
    if loops <= warmup {
        s.rss_warm = s.rss_end;
    }
    s.fds_end = crate::common::open_fds();
    s.children_end = crate::common::children().len();
    s
}

/// The figures of the multi-threaded parent.
#[derive(Debug, Default)]
pub struct Threads {
    pub loops: u64,
    pub lines_printed: u64,
    pub bytes_allocated: u64,
    pub wrong: Vec<String>,
}

/// `threads` threads run clean loops (every loop API, checked) for `secs` while one more
/// thread prints to stdout (holding its lock) and allocates without pause.
pub fn threads(threads: usize, secs: f64, seed: u64, dir: &Path) -> Threads {
    use std::io::Write;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let printer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut lines, mut bytes) = (0u64, 0u64);
            let mut rng = Rng::new(seed);
            while !stop.load(Ordering::Relaxed) {
                let len = rng.range(1, 64 << 10) as usize;
                let buf = vec![(lines % 251) as u8; len];
                bytes += buf.len() as u64;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "printer line {lines}: {} bytes, {}", len, buf[len - 1]);
                lines += 1;
            }
            (lines, bytes)
        })
    };
    let loops = Arc::new(AtomicU64::new(0));
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(secs);
    let workers: Vec<_> = (0..threads as u64)
        .map(|t| {
            let loops = loops.clone();
            let dir = dir.to_path_buf();
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed ^ (t + 1).wrapping_mul(0x9E37_79B9));
                let mut wrong = Vec::new();
                let loop_apis: Vec<Api> = APIS.iter().copied().filter(|a| a.is_loop()).collect();
                while std::time::Instant::now() < deadline {
                    let api = loop_apis[rng.range(0, loop_apis.len() as u64 - 1) as usize];
                    let case = Case::draw(
                        &mut rng,
                        api,
                        Fault::Panic,
                        Duration::from_secs(120),
                        dir.join(format!("pid-{t}")),
                    );
                    match run_clean(&case) {
                        Outcome::Right => {}
                        other => wrong.push(format!("thread {t}: {}: {other:?}", api.name())),
                    }
                    loops.fetch_add(1, Ordering::Relaxed);
                    beat();
                }
                wrong
            })
        })
        .collect();
    let mut report = Threads::default();
    for w in workers {
        match w.join() {
            Ok(wrong) => report.wrong.extend(wrong),
            Err(_) => report.wrong.push("a loop thread panicked".into()),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (lines, bytes) = printer.join().unwrap_or((0, 0));
    report.loops = loops.load(Ordering::Relaxed);
    report.lines_printed = lines;
    report.bytes_allocated = bytes;
    report
}

/// The families a parent can be killed in the middle of.
pub const FAMILIES: [&str; 7] = [
    "loop", "queue", "map", "pmap", "pool", "channel", "exchange",
];

/// A call that tells its pid (a file named after it in `dir`) and sleeps until killed.
#[par::parallel]
pub fn tell_and_sleep(dir: String) -> u32 {
    sleep_forever(Path::new(&dir))
}

fn sleep_forever(dir: &Path) -> u32 {
    let pid = std::process::id();
    let tmp = dir.join(format!("{pid}.tmp"));
    if std::fs::write(&tmp, b"").is_ok() {
        let _ = std::fs::rename(&tmp, dir.join(pid.to_string()));
    }
    std::thread::sleep(Duration::from_secs(600));
    0
}

/// The fixture side of a parent kill: two children of `family` that sleep, and this process
/// waiting for them (until it is killed).
pub fn parent_of_sleepers(family: &str, dir: &Path) {
    if std::env::var_os(MASK_ALL).is_some() {
        // SAFETY: sigfillset initialises the set it is given; pthread_sigmask only changes
        // this thread's mask (the fixture's only thread so far, which does the forking).
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        }
    }
    match family {
        "loop" => {
            let _ = Loop::new()
                .workers(2)
                .schedule(Schedule::Static)
                .parallel(true)
                .collect(0..2u32, |_| sleep_forever(dir));
        }
        "queue" => {
            let mut q = Queue::new(2);
            for _ in 0..2 {
                q.spawn(|| sleep_forever(dir));
            }
            let _ = q.count();
        }
        "map" => {
            let mut m = Map::new(2);
            for _ in 0..2 {
                m.spawn(|| sleep_forever(dir));
            }
            let _ = m.count();
        }
        "pmap" => {
            let _ = par::pmap(|_: u32| sleep_forever(dir), 0..2, 2).count();
        }
        "pool" => {
            let mut pool = Pool::new(2);
            for _ in 0..2 {
                tell_and_sleep::spawn(&mut pool, dir.to_string_lossy().into_owned());
            }
            let _ = pool.count();
        }
        "channel" => {
            let a: Channel<(), u32> =
                par::start(|ch: &mut Channel<u32, ()>| drop(ch.send(&sleep_forever(dir))))
                    .expect("start");
            let b: Channel<(), u32> =
                par::start(|ch: &mut Channel<u32, ()>| drop(ch.send(&sleep_forever(dir))))
                    .expect("start");
            let _ = (a.count(), b.count());
        }
        "exchange" => {
            let mut ex: Exchange<(), u32> = Exchange::new(2);
            for _ in 0..2 {
                ex.start(|ch: &mut Channel<u32, ()>| drop(ch.send(&sleep_forever(dir))));
            }
            let _ = ex.count();
        }
        other => panic!("unknown family {other}"),
    }
}

/// How the parent is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `SIGKILL` to the parent alone.
    KillParent,
    /// `SIGTERM` to the parent alone.
    TermParent,
    /// `SIGINT` to its process group (Ctrl-C).
    IntGroup,
    /// `SIGTERM` to its process group.
    TermGroup,
    /// `SIGKILL` to a parent that blocks every signal (`pthread_sigmask`) before it forks: its
    /// children inherit no mask from it (par clears theirs), and go with it all the same.
    KillMasked,
}

/// Set in a sleepers fixture's environment by [`Stop::KillMasked`]: block every signal first.
pub const MASK_ALL: &str = "PAR_FAULTS_MASK_ALL";

pub const STOPS: [Stop; 5] = [
    Stop::KillParent,
    Stop::KillMasked,
    Stop::TermParent,
    Stop::IntGroup,
    Stop::TermGroup,
];

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::KillParent => "SIGKILL to the parent",
            Stop::TermParent => "SIGTERM to the parent",
            Stop::IntGroup => "SIGINT to the group",
            Stop::TermGroup => "SIGTERM to the group",
            Stop::KillMasked => "SIGKILL, all blocked",
        }
    }
}

/// True once `pid` no longer runs (gone, or a zombie waiting for its new parent to reap it).
pub fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 2..].chars().next()) == Some('Z'),
    }
}

/// Pids of the children of `parent` (Linux `/proc`).
fn children_of(parent: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split(' ').nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// Starts `cmd` (a fixture running [`parent_of_sleepers`] with `dir`) in a process group of its
/// own, waits until its two children sleep, stops it as `stop` says, and returns how long its
/// children took to be gone after the signal (`Err` if not within `limit`).
pub fn kill_parent(
    mut cmd: std::process::Command,
    dir: &Path,
    stop: Stop,
    limit: Duration,
) -> Result<Duration, String> {
    use std::os::unix::process::CommandExt;
    if stop == Stop::KillMasked {
        cmd.env(MASK_ALL, "1");
    }
    cmd.process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut parent = cmd.spawn().map_err(|e| format!("spawn the fixture: {e}"))?;
    let ppid = parent.id() as i32;
    let started = std::time::Instant::now();
    let sleepers = loop {
        let told: Vec<i32> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
            .collect();
        if told.len() >= 2 {
            let mut all = children_of(ppid);
            all.extend(told);
            all.sort_unstable();
            all.dedup();
            break all;
        }
        if started.elapsed() > Duration::from_secs(60) || matches!(parent.try_wait(), Ok(Some(_))) {
            let _ = parent.kill();
            let _ = parent.wait();
            return Err(format!("the fixture's children did not start ({told:?})"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (target, sig) = match stop {
        Stop::KillParent | Stop::KillMasked => (ppid, libc::SIGKILL),
        Stop::TermParent => (ppid, libc::SIGTERM),
        Stop::IntGroup => (-ppid, libc::SIGINT),
        Stop::TermGroup => (-ppid, libc::SIGTERM),
    };
    let t0 = std::time::Instant::now();
    // SAFETY: kill(2) has no memory-safety preconditions; the target is our own fixture (or
    // its process group), which is not reaped yet, so its pid was not reused.
    unsafe { libc::kill(target, sig) };
    let _ = parent.wait();
    loop {
        if sleepers.iter().all(|&p| gone(p)) {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > limit {
            let alive: Vec<i32> = sleepers.iter().copied().filter(|&p| !gone(p)).collect();
            for &p in &alive {
                // SAFETY: as above; these are the fixture's children, still running.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            return Err(format!(
                "{}: children {alive:?} still ran {limit:?} after the signal",
                stop.name()
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The fixture side of the lowered limits: runs every API under a soft `RLIMIT_NOFILE` (or
/// `RLIMIT_NPROC`) from what is in use to a little more, and prints one line per outcome kind:
/// `RIGHT n`, `IO n`, and `BAD ...` for anything else (a wrong value, another error, a panic).
/// Then restores the limit and checks that every API works again (`AFTER ...`).
fn lowered_limits(which: &str) {
    let resource = match which {
        "nofile" => libc::RLIMIT_NOFILE,
        _ => libc::RLIMIT_NPROC,
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(resource, &mut old) } != 0 {
        panic!("getrlimit: {}", std::io::Error::last_os_error());
    }
    let in_use = if which == "nofile" {
        crate::common::open_fds() as u64
    } else {
        tasks_of_uid()
    };
    let dir = std::env::temp_dir();
    let apis = [
        Api::Collect(1),
        Api::Reduce(0),
        Api::MacroCollect,
        Api::Queue,
        Api::Map,
        Api::Pmap,
        Api::Pool,
        Api::Channel,
        Api::Exchange,
    ];
    let (mut right, mut io) = (0, 0);
    for extra in 0..=24u64 {
        for api in apis {
            let case = Case {
                api,
                fault: Fault::Panic,
                n: 8,
                k: 0,
                workers: 4,
                timeout: Duration::from_secs(60),
                pid_file: dir.join("unused"),
            };
            let lowered = libc::rlimit {
                rlim_cur: in_use + extra,
                rlim_max: old.rlim_max,
            };
            // SAFETY: setrlimit reads the struct we own.
            if unsafe { libc::setrlimit(resource, &lowered) } != 0 {
                panic!("setrlimit: {}", std::io::Error::last_os_error());
            }
            let r = std::panic::catch_unwind(|| run_clean(&case));
            // SAFETY: as above.
            if unsafe { libc::setrlimit(resource, &old) } != 0 {
                panic!("setrlimit (restore): {}", std::io::Error::last_os_error());
            }
            match r {
                Ok(Outcome::Right) => right += 1,
                Ok(Outcome::Failed(Error::Io { .. })) => io += 1,
                Ok(other) => println!("BAD limit {} on {}: {other:?}", in_use + extra, api.name()),
                Err(p) => println!(
                    "BAD limit {} on {}: panicked: {}",
                    in_use + extra,
                    api.name(),
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                ),
            }
            let left = crate::common::children();
            if !left.is_empty() {
                println!(
                    "BAD limit {} on {}: children left {left:?}",
                    in_use + extra,
                    api.name()
                );
            }
        }
    }
    println!("RIGHT {right}");
    println!("IO {io}");
    for api in apis {
        let case = Case {
            api,
            fault: Fault::Panic,
            n: 8,
            k: 0,
            workers: 4,
            timeout: Duration::from_secs(60),
            pid_file: dir.join("unused"),
        };
        match run_clean(&case) {
            Outcome::Right => println!("AFTER {} right", api.name()),
            other => println!(
                "BAD after the limit was restored, {}: {other:?}",
                api.name()
            ),
        }
    }
}

/// The fixture of the lowered limits: `which` is `nofile` or `nproc`. Root is not bound by
/// `RLIMIT_NPROC`, so as root this process first becomes `nobody` (uid and gid 65534), or
/// prints `SKIP` and why if it cannot.
pub fn limits_fixture(which: &str) {
    // SAFETY: geteuid has no preconditions.
    if which == "nproc" && unsafe { libc::geteuid() } == 0 {
        // SAFETY: setgid/setuid have no memory-safety preconditions (setgid first, while
        // still allowed to); they change this process only.
        let dropped = unsafe { libc::setgid(65534) == 0 && libc::setuid(65534) == 0 };
        if !dropped {
            println!(
                "SKIP cannot leave root: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        println!("AS uid 65534");
    }
    lowered_limits(which);
}

/// Threads (tasks) of every process of this real uid: what `RLIMIT_NPROC` counts.
pub fn tasks_of_uid() -> u64 {
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        };
        if field("Uid:") == Some(me as u64) {
            n += field("Threads:").unwrap_or(1);
        }
    }
    n
}
