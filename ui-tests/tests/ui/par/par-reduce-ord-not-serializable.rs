use par::par;

// `Ord` but cannot travel: `max` needs the type to be serializable too.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Score(u32);

fn main() {
    let mut best = Score(0);
    par!(reduce(max: best), for i in 0..10u32 {
        best = best.max(Score(i));
    });
    let _ = best;
}
