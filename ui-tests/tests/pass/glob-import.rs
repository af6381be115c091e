// `use par::*` brings no `println!` or `eprintln!` of par's: the standard ones stay unambiguous.
use par::*;

fn main() {
    let v = par!(for i in 0..4u32 {
        i * 2
    });
    println!("{v:?}");
    eprintln!("{}", v.len());
    progress::println!("above a bar, if one is drawn");
}
