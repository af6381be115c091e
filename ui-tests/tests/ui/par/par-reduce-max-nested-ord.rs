use par::par;

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
struct Score(u32);

fn main() {
    // A `Vec` of `Vec`s of a type compared as a whole: the outer level would be combined
    // element by element and the inner one as a whole, so par refuses it rather than guess.
    let mut grid = vec![vec![Score(0); 4]; 4];
    par!(reduce(max: grid), for i in 0..16usize {
        grid[i / 4][i % 4] = grid[i / 4][i % 4].clone().max(Score(i as u32));
    });
    let _ = grid;
}
