use par::par;

async fn fetch(i: u32) -> u32 {
    i
}

async fn run() -> Vec<u32> {
    par!(for i in 0..4u32 { fetch(i).await })
}

fn main() {
    drop(run());
}
