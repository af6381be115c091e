//! `PAR_WORKERS` checked: values that are not a positive number are ignored with a warning,
//! huge values are capped at `par::MAX_WORKERS_PER_CORE` per core with a warning, and a loop's
//! own `workers = n` clause is not capped. Each case runs this binary again (its ignored
//! `fixture` test) with the variable set, since the environment is the whole process'.

mod common;

use std::collections::BTreeSet;

/// Runs the fixture with `PAR_WORKERS=value`: (distinct worker pids of a 400-item loop with
/// one item per chunk, pids with `workers = 40` explicitly, stderr).
fn run(value: &str) -> (usize, usize, String) {
    let out = common::run_fixture("1", None)
        .env("PAR_WORKERS", value)
        .output()
        .expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find_map(|l| l.split("pids ").nth(1))
        .unwrap_or_else(|| panic!("no result line: {stdout}\n{stderr}"));
    let mut f = line
        .split(' ')
        .map(|n| n.parse::<usize>().expect("a count"));
    let (a, b) = (f.next().expect("default"), f.next().expect("explicit"));
    (a, b, stderr)
}

#[test]
#[ignore = "run by the other tests, in a process of its own with PAR_WORKERS set"]
fn fixture() {
    if std::env::var_os("PAR_FIXTURE").is_none() {
        return;
    }
    let pids = |l: par::Loop| -> usize {
        let v = l
            .schedule(par::Schedule::Dynamic(1))
            .collect(0..400u32, |_| std::process::id());
        v.into_iter().collect::<BTreeSet<_>>().len()
    };
    let default = pids(par::Loop::new());
    let explicit = pids(par::Loop::new().workers(40));
    println!("pids {default} {explicit}");
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn values_that_are_not_a_positive_number_warn_and_use_one_worker_per_core() {
    for value in ["0", "abc", "-1", ""] {
        let (default, explicit, stderr) = run(value);
        assert!(
            stderr.contains(&format!(
                "par: PAR_WORKERS={value:?} is not a positive number of workers; using the default, one per core ({})",
                cores()
            )),
            "{value:?}: {stderr}"
        );
        assert_eq!(
            stderr.matches("PAR_WORKERS").count(),
            1,
            "warned once: {stderr}"
        );
        assert!(default <= cores(), "{value:?}: {default} workers");
        assert!(
            explicit <= 40 && explicit > cores().min(2) - 1,
            "{value:?}: {explicit}"
        );
    }
}

#[test]
fn huge_values_are_capped_with_a_warning_and_the_clause_is_not() {
    let cap = par::MAX_WORKERS_PER_CORE * cores();
    let (default, explicit, stderr) = run("100000");
    assert!(
        stderr.contains(&format!(
            "par: PAR_WORKERS=100000 is more than {} workers per core; using {cap}",
            par::MAX_WORKERS_PER_CORE
        )),
        "{stderr}"
    );
    assert!(default <= cap, "{default} workers for 400 items, cap {cap}");
    assert!(explicit <= 40, "{explicit}");
    let (within, _, stderr) = run(&cap.to_string());
    assert!(
        !stderr.contains("PAR_WORKERS"),
        "no warning at the cap: {stderr}"
    );
    assert!(within <= cap);
}
