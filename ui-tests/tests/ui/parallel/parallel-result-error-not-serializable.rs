#[par::parallel]
fn size(path: String) -> std::io::Result<u64> {
    Ok(std::fs::metadata(path)?.len())
}

fn main() {
    println!("{:?}", size("Cargo.toml".to_string()).is_ok());
}
