use par::par;

fn main() {
    let files = vec!["a.txt".to_string(), "b.txt".to_string()];
    // `std::io::Error` is not serializable: the error must be converted to one that is.
    let sizes = par!(for f in &files { std::fs::read(f).map(|bytes| bytes.len()) });
    println!("{}", sizes.len());
}
