use std::collections::HashMap;

use par::par;

fn main() {
    let mut counts: HashMap<String, u32> = HashMap::new();
    par!(for (_, v) in counts.iter_mut() {
        *v += 1;
    });
}
