#[par::parallel]
struct Job {
    id: u32,
}

fn main() {}
