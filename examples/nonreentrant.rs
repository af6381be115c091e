//! A loop over a C function that is not thread-safe: `strtok` keeps its position in a hidden
//! global, so two threads tokenizing at once corrupt each other's state. rayon could not run
//! this loop safely (and the raw pointers make it not `Send`, so it would not even compile);
//! par runs each item in a worker process with its own copy of that global.
//!
//! ```sh
//! cargo run --release --example nonreentrant
//! ```

use std::ffi::{CStr, CString};

use par::par;

/// Splits `line` on commas with libc's `strtok`, whose state is a process-wide global.
fn fields(line: &str) -> Vec<String> {
    let Ok(owned) = CString::new(line) else {
        return Vec::new();
    };
    let mut bytes = owned.into_bytes_with_nul();
    let sep = c",";
    let mut out = Vec::new();
    // SAFETY: `bytes` is NUL-terminated and outlives the calls; strtok's global state is ours
    // alone in this (single-threaded) worker process.
    unsafe {
        let mut tok = libc::strtok(bytes.as_mut_ptr().cast(), sep.as_ptr());
        while !tok.is_null() {
            out.push(CStr::from_ptr(tok).to_string_lossy().into_owned());
            tok = libc::strtok(std::ptr::null_mut(), sep.as_ptr());
        }
    }
    out
}

fn main() {
    let lines: Vec<String> = (0..2000)
        .map(|i| format!("row{i},{},{},{}", i * 2, i * 3, "x".repeat(i % 7)))
        .collect();
    let parsed = par!(for line in &lines {
        fields(line)
    });
    let sequential: Vec<Vec<String>> = lines.iter().map(|l| fields(l)).collect();
    assert_eq!(parsed, sequential, "a worker's strtok state was disturbed");
    println!(
        "{} lines split with strtok in worker processes; first: {:?}",
        parsed.len(),
        parsed[0]
    );
}
