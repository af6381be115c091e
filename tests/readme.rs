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
