use par::par;

fn main() {
    let v: Vec<u32> = par!(for s in ["1", "2"] { s.parse::<u32>()? });
    par!(for s in ["1", "2"] {
        let n: u32 = s.parse()?;
        println!("{n}");
    });
    println!("{v:?}");
}
