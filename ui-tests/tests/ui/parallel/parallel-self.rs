struct Grid {
    width: u32,
}

impl Grid {
    #[par::parallel]
    fn cell(&self, i: u32) -> u32 {
        i % self.width
    }
}

fn main() {}
