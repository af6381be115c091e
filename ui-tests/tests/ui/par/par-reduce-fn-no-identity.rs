use par::par;

#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Span {
    lo: u64,
    hi: u64,
}

fn widen(a: Span, b: Span) -> Span {
    Span { lo: a.lo.min(b.lo), hi: a.hi.max(b.hi) }
}

fn main() {
    // `Span` has no `Default`: the clause must name the identity, `reduce(widen = ...: s)`.
    let mut s = Span { lo: 5, hi: 5 };
    par!(reduce(widen: s), for i in 0..10u64 {
        s = widen(s, Span { lo: i, hi: i });
    });
    println!("{} {}", s.lo, s.hi);
}
