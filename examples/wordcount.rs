//! Counts words in many files, one file per item, handling each count as soon as its file is
//! done (`unordered`, pprocess' Queue). Only the counts travel back, never the text.
//!
//! ```sh
//! cargo run --release --example wordcount -- FILE...      # default: this crate's sources
//! ```

use std::collections::HashMap;
use std::path::PathBuf;

use par::par;

fn sources(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("target") && !path.ends_with(".git") {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
            out.push(path);
        }
    }
}

fn main() {
    let mut files: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        sources(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), &mut files);
        files.sort();
    }
    let mut total: HashMap<String, u64> = HashMap::new();
    let mut done = 0;
    for result in par!(
        try,
        unordered,
        for path in &files {
            let text = std::fs::read_to_string(path)?;
            let mut counts: HashMap<String, u64> = HashMap::new();
            for word in text
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .filter(|w| !w.is_empty())
            {
                *counts.entry(word.to_lowercase()).or_default() += 1;
            }
            (path.display().to_string(), counts)
        }
    ) {
        match result {
            Ok((path, counts)) => {
                done += 1;
                println!("{:>6} words  {path}", counts.values().sum::<u64>());
                for (word, n) in counts {
                    *total.entry(word).or_default() += n;
                }
            }
            Err(e) => eprintln!("wordcount: {e}"),
        }
    }
    let mut top: Vec<(String, u64)> = total.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!("{done} files; most frequent words:");
    for (word, n) in top.iter().take(10) {
        println!("{n:>8}  {word}");
    }
}
