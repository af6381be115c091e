//! `PAR_SCHEDULE` (OpenMP's `OMP_SCHEDULE`): `Loop::schedule_from_env` and `schedule = runtime`
//! take the schedule from the environment, in any case; an invalid value warns once and runs
//! with `auto`; unset, the loop keeps its schedule. Each case runs this binary again (its
//! ignored `fixture` test) with the variable set, since the environment is the whole process'.

mod common;

/// The items at which the worker pid changes, in item order, of a 100-item loop on 2 workers.
fn changes(pids: &[u32]) -> Vec<usize> {
    (1..pids.len())
        .filter(|&i| pids[i] != pids[i - 1])
        .collect()
}

#[test]
#[ignore = "run by the other tests, in a process of its own with PAR_SCHEDULE set"]
fn fixture() {
    if std::env::var_os("PAR_FIXTURE").is_none() {
        return;
    }
    println!("options {:?}", par::Loop::new().schedule_from_env());
    // The macro clause, twice (the warning for a bad value comes once).
    for _ in 0..2 {
        let pids: Vec<u32> = par::par!(
            workers = 2,
            schedule = runtime,
            for _i in 0..100u32 {
                std::process::id()
            }
        );
        let squares = par::Loop::new()
            .workers(2)
            .schedule_from_env()
            .collect(0..100u64, |i| i * i);
        assert_eq!(squares, (0..100u64).map(|i| i * i).collect::<Vec<_>>());
        println!("changes {:?}", changes(&pids));
    }
}

/// Runs the fixture with `PAR_SCHEDULE=value` (unset for `None`): (stdout, stderr).
fn run(value: Option<&str>) -> (String, String) {
    let mut cmd = common::run_fixture("1", None);
    match value {
        Some(v) => cmd.env("PAR_SCHEDULE", v),
        None => cmd.env_remove("PAR_SCHEDULE"),
    };
    let out = cmd.output().expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{value:?}\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// The pid changes of the fixture's `schedule = runtime` loops.
fn changes_of(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("changes "))
        .map(str::to_string)
        .collect()
}

#[test]
fn each_form_reaches_the_loop() {
    let _w = common::watchdog("each_form_reaches_the_loop");
    for (value, shown) in [
        ("static", "schedule: Static"),
        ("STATIC,8", "schedule: Dynamic(8)"),
        ("dynamic", "schedule: Dynamic(1)"),
        ("Dynamic,4", "schedule: Dynamic(4)"),
        ("guided", "schedule: Guided(1)"),
        ("guided,2", "schedule: Guided(2)"),
        ("auto", "schedule: Auto"),
    ] {
        let (stdout, stderr) = run(Some(value));
        assert!(stdout.contains(shown), "{value}: {stdout}");
        assert!(!stderr.contains("PAR_SCHEDULE"), "{value}: {stderr}");
    }
}

#[test]
fn the_runtime_clause_runs_the_schedule_of_the_environment() {
    let _w = common::watchdog("the_runtime_clause_runs_the_schedule_of_the_environment");
    if !common::loops_fork() {
        return;
    }
    // `static` on 2 workers: one block each, items 0..50 and 50..100, whatever the timing.
    let (stdout, _) = run(Some("static"));
    assert_eq!(changes_of(&stdout), ["[50]", "[50]"], "{stdout}");
    // `dynamic,25`: chunks of 25 items, the first two on different workers (every worker gets
    // a chunk before any gets a second), so the pid changes at item 25 and only at multiples
    // of 25.
    let (stdout, _) = run(Some("dynamic,25"));
    for line in changes_of(&stdout) {
        let at: Vec<usize> = line
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .map(|n| n.parse().expect("an item index"))
            .collect();
        assert_eq!(at.first(), Some(&25), "{stdout}");
        assert!(at.iter().all(|i| i % 25 == 0), "{stdout}");
    }
}

#[test]
fn an_invalid_value_warns_once_and_runs_auto() {
    let _w = common::watchdog("an_invalid_value_warns_once_and_runs_auto");
    for value in ["fastest", "dynamic,0", "guided,x", "auto,3"] {
        let (stdout, stderr) = run(Some(value));
        assert!(stdout.contains("schedule: Auto"), "{value}: {stdout}");
        assert_eq!(
            stderr.matches("par: PAR_SCHEDULE=").count(),
            1,
            "{value}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("par: PAR_SCHEDULE={value:?}: invalid schedule"))
                && stderr.contains("expected `static`, `static,N`, `dynamic`")
                && stderr.contains("; using auto"),
            "{value}: {stderr}"
        );
        assert_eq!(changes_of(&stdout).len(), 2, "{stdout}");
    }
}

#[test]
fn unset_or_empty_keeps_the_loops_schedule() {
    let _w = common::watchdog("unset_or_empty_keeps_the_loops_schedule");
    for value in [None, Some(""), Some("  ")] {
        let (stdout, stderr) = run(value);
        assert!(stdout.contains("schedule: Auto"), "{value:?}: {stdout}");
        assert!(!stderr.contains("PAR_SCHEDULE"), "{value:?}: {stderr}");
    }
    // A schedule set before is kept when the variable is unset (this process has none).
    if std::env::var_os("PAR_SCHEDULE").is_none() {
        let opts = par::Loop::new()
            .schedule(par::Schedule::Guided(5))
            .schedule_from_env();
        assert!(format!("{opts:?}").contains("schedule: Guided(5)"));
    }
}
