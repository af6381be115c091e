//! What a failure looks like: one item of the loop crashes its worker (a segfault), another
//! panics, and par reports each with the item index, the worker pid and what happened, while
//! the rest of the program goes on.
//!
//! ```sh
//! cargo run --release --example crash
//! ```

use par::par;

fn risky(i: u32) -> u32 {
    if i == 13 {
        // SAFETY: not safe at all, on purpose: this item dies of SIGSEGV.
        unsafe { std::ptr::null_mut::<u32>().write_volatile(i) };
    }
    i * 2
}

fn main() {
    match par!(
        try,
        workers = 2,
        for i in 0..100u32 {
            risky(i)
        }
    ) {
        Ok(v) => println!("no crash? {} results", v.len()),
        Err(e) => println!("the loop failed, as expected:\n  {e}"),
    }
    let r: Result<Vec<u32>, par::Error> = par!(
        try,
        for i in 0..100u32 {
            let parsed: u32 = if i == 42 { "forty-two".parse()? } else { i };
            parsed
        }
    );
    if let Err(e) = r {
        println!("  {e}");
    }
    let caught = std::panic::catch_unwind(|| {
        par!(for i in 0..100u32 {
            assert!(i != 7, "item {i} is unlucky");
            i
        })
    });
    if let Err(payload) = caught {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        println!("  a panic in the parent re-raises the worker's: {msg}");
    }
}
