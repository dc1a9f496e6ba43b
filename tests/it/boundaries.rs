//! The rooms' boundaries, as code: only `lake/` speaks Delta, only `report/` draws charts and
//! writes workbooks, only `ingest/` reads the inbox's formats (and `synth/` writes them, being
//! the inbox's generator). Read from the source files' text (their test modules left out), so a
//! new import across a boundary fails here rather than in a review.

use crate::common::root;

/// (the crate path as code names it, the folders or files allowed to use it, why).
const RULES: &[(&str, &[&str], &str)] = &[
    ("deltalake::", &["src/lake/", "src/error.rs"], "only the lake speaks Delta (error.rs wraps its error)"),
    ("plotters::", &["src/report/"], "only the report draws"),
    ("rust_xlsxwriter::", &["src/report/", "src/synth/", "src/error.rs"], "only the report writes workbooks (synth writes the inbox's)"),
    ("calamine::", &["src/ingest/"], "only ingest reads workbooks"),
    ("csv::", &["src/ingest/", "src/report/"], "only ingest reads CSV (the report writes risk_list.csv)"),
    ("encoding_rs::", &["src/ingest/", "src/synth/"], "only ingest decodes the inbox's encodings (synth writes them)"),
    ("parquet::", &["src/ingest/", "src/report/", "src/synth/", "src/error.rs"], "only ingest reads Parquet files, the report writes them (the lake's are deltalake's)"),
];

/// Every .rs file under `dir`, with its text up to its first `#[cfg(test)]` (test modules are
/// last in a file; a file named tests.rs is all tests).
fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
            let name = path.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
            out.push((name, code));
        }
    }
}

#[test]
fn each_crate_is_used_only_in_its_room() {
    let mut files = Vec::new();
    sources(&root().join("src"), &mut files);
    assert!(files.len() > 30, "the sources are found");
    let mut broken = Vec::new();
    for (crate_path, allowed, why) in RULES {
        let users: Vec<&String> = files.iter().filter(|(_, code)| code.contains(crate_path)).map(|(name, _)| name).collect();
        assert!(!users.is_empty(), "{crate_path} is used somewhere: the rule checks something");
        for name in users {
            if !allowed.iter().any(|a| name.starts_with(a)) {
                broken.push(format!("{name} uses {crate_path}: {why}"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
