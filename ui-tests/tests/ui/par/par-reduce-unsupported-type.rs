use par::par;

fn main() {
    // `+` on a `String` is no reduction par knows: the message says which types it takes and
    // to name a combining function otherwise.
    let mut s = String::new();
    par!(reduce(+: s), for i in 0..10u32 {
        s.push_str(&i.to_string());
    });
    println!("{s}");
}
