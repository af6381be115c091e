use par::par;

fn main() {
    let grid: Vec<Vec<u32>> = par!(for i in 0..4u32 {
        par!(for j in 0..4u32 {
            i * 4 + j
        })
    });
    assert_eq!(grid[3][3], 15);
}
