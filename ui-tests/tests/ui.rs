//! Compile-fail cases of `par!` and `#[parallel]`.
//!
//! The compile-fail cases compare rustc's output with `.stderr` files pinned to the toolchain
//! installed on the project's machines, rustc 1.95 (the wording of rustc's own errors changes
//! between versions). On another toolchain they can't run: that fails when `CI` is set, and is
//! otherwise reported on the terminal as a skip, past libtest's output capture. Regenerate with
//! `TRYBUILD=overwrite` and read every diff.
//!
//! The compile-pass cases (`tests/pass`) are test targets of their own (see `Cargo.toml`): they
//! always run, since whether code compiles does not depend on rustc's wording.

const PINNED: &str = "rustc 1.95.";

#[test]
fn compile_fail() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = std::process::Command::new(&rustc)
        .arg("--version")
        .output()
        .map(|o| {
            let out = String::from_utf8_lossy(&o.stdout);
            out.lines().next().unwrap_or_default().to_string()
        })
        .unwrap_or_else(|e| format!("`{rustc} --version` failed: {e}"));
    if !version.starts_with(PINNED) {
        let reason = format!(
            "the compile-fail ui-tests did not run: their .stderr files are pinned to {PINNED}x, \
             this is {version:?}"
        );
        assert!(std::env::var_os("CI").is_none(), "CI is set: {reason}");
        use std::io::Write;
        // Straight to stderr: libtest captures `eprintln!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED (not a pass): {reason} ***\n"
        );
        return;
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/par/*.rs");
    t.compile_fail("tests/ui/parallel/*.rs");
}
