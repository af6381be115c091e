//! Compile-fail and compile-pass cases of `par!` and `#[parallel]`. The expected compiler output (`.stderr`) is
//! pinned to the toolchain installed on the project's machines, rustc 1.95; on another
//! toolchain the comparison is skipped with a message (the wording of rustc's own errors
//! changes between versions). Regenerate with `TRYBUILD=overwrite` and read every diff.

const PINNED: &str = "rustc 1.95.";

#[test]
fn ui() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !version.starts_with(PINNED) {
        eprintln!("ui-tests skipped: the .stderr files are pinned to {PINNED}x, this is {version}");
        return;
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/par/*.rs");
    t.compile_fail("tests/ui/parallel/*.rs");
    t.pass("tests/pass/*.rs");
}
