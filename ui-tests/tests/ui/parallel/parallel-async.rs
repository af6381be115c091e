#[par::parallel]
async fn fetch(i: u32) -> u32 {
    i
}

fn main() {}
