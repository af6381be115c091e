//! The figures of RELIABILITY.md: faults injected on every API and how they were reported, a
//! soak of mixed runs (fds, children, RSS), a multi-threaded parent, parents killed or
//! interrupted (cleanup time), and lowered `RLIMIT_NOFILE` / `RLIMIT_NPROC`.
//!
//! ```sh
//! cargo run --release --example faults -- --loops 1000
//! ```
//!
//! Options: `--loops N` faulty runs per fault kind, spread over the APIs that support it
//! (1000); `--soak N` mixed runs (10000); `--threads-secs S` (60); `--kills N` rounds of each
//! family and signal (5); `--timeout-ms T`, the loops' timeout for the timeout fault (250);
//! `--seed S`. The engine is tests/faults/engine.rs, which `cargo test --test faults` runs at
//! small counts.
//!
//! Every figure is counted by this program; `--fixture MODE DIR` is how it re-runs itself as
//! the parent that is killed, the multi-threaded parent and the limited process.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/faults/engine.rs"]
mod engine;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use engine::{APIS, FAULTS, Health, Tally};

/// Bumped after every case (and by the engine); a watchdog thread aborts the run if it stalls.
static HEARTBEAT: &AtomicU64 = &engine::PROGRESS;

struct Args {
    loops: u64,
    soak: u64,
    threads_secs: f64,
    kills: u64,
    timeout: Duration,
    seed: u64,
}

fn parse() -> Args {
    let mut a = Args {
        loops: 1000,
        soak: 10_000,
        threads_secs: 60.0,
        kills: 5,
        timeout: Duration::from_millis(250),
        seed: 20_261_126,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut val = || -> f64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{flag} needs a number")))
        };
        match flag.as_str() {
            "--loops" => a.loops = val() as u64,
            "--soak" => a.soak = val() as u64,
            "--threads-secs" => a.threads_secs = val(),
            "--kills" => a.kills = val() as u64,
            "--timeout-ms" => a.timeout = Duration::from_millis(val() as u64),
            "--seed" => a.seed = val() as u64,
            other => usage(&format!("unknown option {other}")),
        }
    }
    a
}

fn usage(why: &str) -> ! {
    eprintln!(
        "{why}\nusage: faults [--loops N] [--soak N] [--threads-secs S] [--kills N] [--timeout-ms T] [--seed S]"
    );
    std::process::exit(2)
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--fixture") {
        let mode = argv.get(2).map(String::as_str).unwrap_or("");
        let dir = std::path::PathBuf::from(argv.get(3).map(String::as_str).unwrap_or("."));
        fixture(mode, &dir);
        return;
    }
    let a = parse();
    if std::env::var("PAR_WORKERS").is_ok_and(|v| v.trim() == "1") {
        eprintln!("PAR_WORKERS=1 runs every loop and job inline: faults would end this program");
        std::process::exit(2);
    }
    watchdog();
    let dir = common::temp_dir("faults-example");
    println!(
        "par fault injection: seed {}, {} faulty runs per fault kind, soak {} runs, threads {} s, \
         {} kill rounds, timeout fault {:?}, {} cores",
        a.seed,
        a.loops,
        a.soak,
        a.threads_secs,
        a.kills,
        a.timeout,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    faults(&a, &dir);
    soak(&a, &dir);
    threads(&a, &dir);
    kills(&a, &dir);
    limits();
    println!(
        "\nhangs: 0 (no case stalled for 120 s; the multi-threaded and killed parents are bounded above)"
    );
}

/// The re-run sides: a parent of sleeping children, the multi-threaded parent, the limits.
fn fixture(mode: &str, dir: &std::path::Path) {
    if let Some(family) = mode.strip_prefix("sleepers-") {
        engine::parent_of_sleepers(family, dir);
    } else if let Some(secs) = mode.strip_prefix("threads-") {
        let secs: f64 = secs.parse().unwrap_or(60.0);
        let r = engine::threads(8, secs, 7, dir);
        eprintln!(
            "THREADS loops {} lines {} allocated {} wrong {}",
            r.loops,
            r.lines_printed,
            r.bytes_allocated,
            r.wrong.len()
        );
        for w in r.wrong.iter().take(10) {
            eprintln!("WRONG {w}");
        }
    } else if let Some(which) = mode.strip_prefix("limits-") {
        engine::limits_fixture(which);
    }
}

fn watchdog() {
    std::thread::spawn(|| {
        let mut last = u64::MAX;
        loop {
            std::thread::sleep(Duration::from_secs(120));
            let now = HEARTBEAT.load(Ordering::Relaxed);
            if now == last {
                eprintln!("HANG: no case finished in 120 s (after case {now}); aborting");
                std::process::abort();
            }
            last = now;
        }
    });
}

fn faults(a: &Args, dir: &std::path::Path) {
    let mut tally = Tally::default();
    let mut health = Health::default();
    let start = Instant::now();
    for fault in FAULTS {
        let t = Instant::now();
        engine::run_faults(
            fault,
            a.loops,
            a.seed,
            a.timeout,
            dir,
            &mut tally,
            &mut health,
        );
        HEARTBEAT.fetch_add(1, Ordering::Relaxed);
        eprintln!("{}: done in {:.1?}", fault.name(), t.elapsed());
    }
    println!(
        "\n== Faults: reported right / injected (right variant and Death, right index, pid of the \
         process that ran the item; then the next run of the same API right)"
    );
    print!("{:<30}", "API");
    for f in FAULTS {
        print!("{:>10}", f.name());
    }
    println!();
    for api in APIS {
        print!("{:<30}", api.name());
        for f in FAULTS {
            match tally.cells.get(&(f, api)) {
                Some((n, ok)) => print!("{:>10}", format!("{ok}/{n}")),
                None => print!("{:>10}", "n/a"),
            }
        }
        println!();
    }
    print!("{:<30}", "all APIs");
    for f in FAULTS {
        let (n, ok) = tally
            .cells
            .iter()
            .filter(|((ff, _), _)| *ff == f)
            .fold((0, 0), |(n, ok), (_, c)| (n + c.0, ok + c.1));
        print!("{:>10}", format!("{ok}/{n}"));
    }
    println!();
    println!(
        "total: {} of {} faults reported right ({:.2}%), in {:.1?}",
        tally.correct(),
        tally.injected(),
        100.0 * tally.correct() as f64 / tally.injected().max(1) as f64,
        start.elapsed()
    );
    println!(
        "n/a: pmap starts its jobs at the call, before a timeout could be set, an Exchange has no \
         timeout, and a Channel's ready(Some(t)) returning false is not a failure"
    );
    if !tally.wrong.is_empty() {
        println!("the first wrong report of each API and fault that had one:");
        for w in &tally.wrong {
            println!("  {w}");
        }
    }
    println!(
        "after each of {} cases: a child left (live or zombie) {} times{}, open fds changed {} times{}; slowest case {:.1?}",
        health.cases,
        health.children_left,
        health
            .first_children
            .as_ref()
            .map_or(String::new(), |m| format!(" (first {m})")),
        health.fd_changes,
        health
            .first_fds
            .as_ref()
            .map_or(String::new(), |m| format!(" (first {m})")),
        health.slowest
    );
}

fn soak(a: &Args, dir: &std::path::Path) {
    let warmup = (a.soak / 10).max(1);
    let t = Instant::now();
    let s = engine::soak(a.soak, warmup, a.seed, dir);
    HEARTBEAT.fetch_add(1, Ordering::Relaxed);
    println!(
        "\n== Soak: {} mixed runs in one process ({} with a fault), every API, in {:.1?}",
        s.loops,
        s.faulted,
        t.elapsed()
    );
    println!("wrong results: {}", s.wrong_count);
    for w in &s.wrong {
        println!("  {w}");
    }
    println!(
        "open fds: {} at the start, {} at the end (leaked: {})",
        s.fds_start,
        s.fds_end,
        s.fds_end as i64 - s.fds_start as i64
    );
    println!("children (live or zombie) at the end: {}", s.children_end);
    println!(
        "RSS: {} KiB after {} warm-up runs, {} KiB at the end (growth {} KiB), highest {} KiB",
        s.rss_warm >> 10,
        warmup,
        s.rss_end >> 10,
        (s.rss_end as i64 - s.rss_warm as i64) / 1024,
        s.rss_max >> 10
    );
}

fn threads(a: &Args, dir: &std::path::Path) {
    let err_path = dir.join("threads-stderr");
    let Ok(err) = std::fs::File::create(&err_path) else {
        println!("\n== Threads: could not create {}", err_path.display());
        return;
    };
    let exe = std::env::current_exe().expect("this program");
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .args(["--fixture", &format!("threads-{}", a.threads_secs)])
            .arg(dir)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn the threads fixture")
    };
    let bound = Duration::from_secs_f64(a.threads_secs) + Duration::from_secs(60);
    let t = Instant::now();
    let finished = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if t.elapsed() > bound {
            // SAFETY: kill(2) has no memory-safety preconditions; the group is the fixture's.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
        HEARTBEAT.fetch_add(1, Ordering::Relaxed);
    };
    HEARTBEAT.fetch_add(1, Ordering::Relaxed);
    let text = std::fs::read_to_string(&err_path).unwrap_or_default();
    println!(
        "\n== Threads: 8 threads running loops (every loop API, each checked) for {} s while \
         another prints to stdout (locked) and allocates without pause (stdout to /dev/null)",
        a.threads_secs
    );
    match finished {
        None => println!("HUNG: the process did not finish within {bound:?}; killed. {text}"),
        Some(status) => {
            println!("finished in {:.1?} ({status}); hangs: 0", t.elapsed());
            for line in text
                .lines()
                .filter(|l| l.starts_with("THREADS") || l.starts_with("WRONG"))
            {
                println!("{line}");
            }
        }
    }
}

fn kills(a: &Args, dir: &std::path::Path) {
    println!(
        "\n== Parent stopped while 2 children run: time until every child is gone (worst of {} rounds)",
        a.kills
    );
    print!("{:<10}", "family");
    for stop in engine::STOPS {
        print!("{:>24}", stop.name());
    }
    println!();
    let exe = std::env::current_exe().expect("this program");
    let mut worst = Duration::ZERO;
    let mut late = 0;
    let mut rounds = 0;
    for family in engine::FAMILIES {
        print!("{family:<10}");
        for stop in engine::STOPS {
            let mut cell = Duration::ZERO;
            let mut failed = 0;
            for r in 0..a.kills {
                let d = dir.join(format!("kill-{family}-{r}"));
                let _ = std::fs::remove_dir_all(&d);
                let _ = std::fs::create_dir_all(&d);
                let mut cmd = Command::new(&exe);
                cmd.args(["--fixture", &format!("sleepers-{family}")])
                    .arg(&d);
                rounds += 1;
                match engine::kill_parent(cmd, &d, stop, Duration::from_secs(1)) {
                    Ok(took) => cell = cell.max(took),
                    Err(m) => {
                        failed += 1;
                        eprintln!("{family}: {m}");
                    }
                }
                let _ = std::fs::remove_dir_all(&d);
                HEARTBEAT.fetch_add(1, Ordering::Relaxed);
            }
            worst = worst.max(cell);
            late += failed;
            let text = if failed > 0 {
                format!("{failed} over 1 s")
            } else {
                format!("{:.2?}", cell)
            };
            print!("{text:>24}");
        }
        println!();
    }
    println!(
        "{rounds} parents stopped; children still running 1 s after: {late}; worst cleanup time: {worst:.2?}"
    );
}

fn limits() {
    println!(
        "\n== Lowered limits: every API (workers 4, 8 items) under a soft limit from what is in use to 24 more"
    );
    let exe = std::env::current_exe().expect("this program");
    for which in ["nofile", "nproc"] {
        let out = Command::new(&exe)
            .args(["--fixture", &format!("limits-{which}"), "."])
            .output();
        HEARTBEAT.fetch_add(1, Ordering::Relaxed);
        let Ok(out) = out else {
            println!("RLIMIT_{}: could not run the fixture", which.to_uppercase());
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let count = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or("?")
                .trim()
                .to_string()
        };
        let bad: Vec<&str> = text.lines().filter(|l| l.starts_with("BAD")).collect();
        let after = text.lines().filter(|l| l.starts_with("AFTER")).count();
        let who = if text.contains("AS uid 65534") {
            " (as uid 65534: root is not bound by RLIMIT_NPROC)"
        } else {
            ""
        };
        println!(
            "RLIMIT_{}{who}: right {}, clean Error::Io {}, anything else (panic, other error, wrong value, child left) {}; {}; every API right after the limit was restored: {}/9",
            which.to_uppercase(),
            count("RIGHT "),
            count("IO "),
            bad.len(),
            out.status,
            after
        );
        for b in bad.iter().take(5) {
            println!("  {b}");
        }
        if let Some(skip) = text.lines().find(|l| l.starts_with("SKIP")) {
            println!("  {skip}");
        }
    }
}
