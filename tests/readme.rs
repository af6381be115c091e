//! The README's "Converting loops" section is `src/converting.md` (the `par::converting` docs,
//! whose snippets run as doctests), word for word: a snippet changed in one place only fails here.

#[test]
fn the_readmes_converting_loops_section_is_the_doctested_one() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |p: &str| {
        std::fs::read_to_string(format!("{root}/{p}")).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let readme = read("README.md");
    // The one difference: an intra-doc link in the crate docs is plain code in the README.
    let section = read("src/converting.md").replace("[`Loop`](crate::Loop)", "`Loop`");
    assert!(
        readme.contains(&format!("## Converting loops\n\n{section}")),
        "README.md's \"Converting loops\" section differs from src/converting.md: copy it over"
    );
}

/// The crate docs' front page leads with the README's first example, the same lines (the
/// crate docs add hidden `# ` lines that define `render_row`, `trial` and check the results).
#[test]
fn the_crate_docs_lead_with_the_readmes_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |p: &str| {
        std::fs::read_to_string(format!("{root}/{p}")).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    // The first code block that opens with `open`, up to its closing fence.
    let first_block = |text: &str, open: &str| -> Vec<String> {
        let mut lines = text.lines().skip_while(|l| *l != open).skip(1);
        lines
            .by_ref()
            .take_while(|l| *l != "```")
            .map(str::to_string)
            .collect()
    };
    let readme = first_block(&read("README.md"), "```rust");
    let docs: String = read("src/lib.rs")
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let shown: Vec<String> = first_block(&docs, "```")
        .into_iter()
        .filter(|l| *l != "#" && !l.starts_with("# "))
        .collect();
    assert!(!readme.is_empty(), "README.md has no ```rust block");
    assert_eq!(
        shown, readme,
        "src/lib.rs's first example differs from README.md's first ```rust block: copy it over"
    );
}
