//! The README's smallest service is a real crate: `tests/readme-crate` holds its
//! snippets as files, `scripts/readme-crate.sh` (run by `.ci/run`) builds and runs
//! it, and this test keeps the README's text and those files the same, so what a
//! newcomer copies is what CI built.

use std::path::Path;

/// The fenced blocks whose info string names a file: ```` ```rust src/main.rs ````.
fn named_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut words = info.split_whitespace();
        let (Some(_lang), Some(file)) = (words.next(), words.next()) else {
            // An unnamed block: skip to its end.
            for l in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
            }
            continue;
        };
        let mut body = String::new();
        for l in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        blocks.push((file.to_owned(), body));
    }
    blocks
}

/// The crate's `[dependencies]` as a user writes them: winddown without its `path`.
fn dependencies(manifest: &str) -> String {
    let section = manifest
        .split("[dependencies]\n")
        .nth(1)
        .expect("the crate has [dependencies]");
    let section = section.split("\n[").next().unwrap();
    let mut out = String::new();
    for line in section.lines() {
        let line = if line.starts_with("winddown ") {
            line.replace(", path = \"../../runtime\"", "")
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.trim_end().to_owned() + "\n"
}

#[test]
fn the_readme_smallest_service_is_the_crate_ci_builds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let krate = root.join("tests/readme-crate");
    let blocks = named_blocks(&readme);
    let files: Vec<&str> = blocks.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        files,
        ["Cargo.toml", "src/main.rs"],
        "the README names these files"
    );
    for (file, text) in &blocks {
        let on_disk = std::fs::read_to_string(krate.join(file)).unwrap();
        let expected = if file == "Cargo.toml" {
            dependencies(&on_disk)
        } else {
            on_disk
        };
        assert_eq!(
            text, &expected,
            "README's `{file}` and tests/readme-crate/{file} differ: change both"
        );
    }
}
