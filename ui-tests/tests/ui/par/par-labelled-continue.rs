use par::par;

fn main() {
    'rows: for row in 0..3u32 {
        par!(for col in 0..3u32 {
            if col == row {
                continue 'rows;
            }
            println!("{row} {col}");
        });
    }
}
