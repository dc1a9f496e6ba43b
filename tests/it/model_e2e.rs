//! The collision model end to end on a synthetic county: `humiao run` is reproducible byte for
//! byte, `humiao score` again on the same lake and date changes nothing, an edited model file
//! changes the list and is named in it, and no raw 身份证号 reaches the list or the tasks. A broken
//! model file stops a run before the lake changes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::*;
use humiao::pseudo::DEMO_KEY;

const YOUTHS: &str = "2000";
const NEW_VERSION: &str = "2026.11-e2e-c1-30d";

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn out_file(out: &Path, name: &str) -> PathBuf {
    out.join(AS_OF).join(name)
}

/// models/collision.toml with the C1 window 180 → 30 days and a new version.
fn edited_model(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("models/collision.toml")).unwrap();
    let c1 = "category = \"C1\"\nrule = \"within\"\ndays = 180";
    assert!(text.contains(c1), "models/collision.toml has the C1 rule as:\n{c1}");
    let text = text.replacen(c1, "category = \"C1\"\nrule = \"within\"\ndays = 30", 1);
    let mut seen = false;
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if !seen && l.starts_with("version") && l.contains('=') {
                seen = true;
                format!("version = \"{NEW_VERSION}\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(seen, "models/collision.toml has a version line");
    let path = dir.join("collision-c1-30d.toml");
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    path
}

fn tiers(parquet: &Path) -> BTreeSet<String> {
    parquet_rows(parquet, "SELECT DISTINCT tier FROM t").into_iter().map(|r| r[0].clone()).collect()
}

fn count(parquet: &Path, sql: &str) -> i64 {
    parquet_rows(parquet, sql)[0][0].parse().unwrap()
}

#[test]
fn scoring_a_synthetic_county_is_reproducible_versioned_and_pseudonymous() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let synth = humiao(&["synth", "--youths", YOUTHS, "--seed", "11", "--as-of", AS_OF, "--out", &s(dir)]);
    assert_eq!(synth.code, 0, "synth\n{}", synth.stderr);
    assert!(dir.join("inbox").is_dir() && dir.join("reference/townships.csv").is_file(), "synth writes inbox/ and reference/");
    let key = key_file(dir, DEMO_KEY);

    // 1. Two runs on the same inbox into fresh lakes: the same list, byte for byte.
    let (lake_a, out_a) = (dir.join("lake_a"), dir.join("out_a"));
    let (lake_b, out_b) = (dir.join("lake_b"), dir.join("out_b"));
    let run_a = pipeline_at("run", dir, &lake_a, &out_a, &key, AS_OF, None);
    assert_eq!(run_a.code, 0, "run A\n{}", run_a.stderr);
    let run_b = pipeline_at("run", dir, &lake_b, &out_b, &key, AS_OF, None);
    assert_eq!(run_b.code, 0, "run B\n{}", run_b.stderr);
    for name in ["risk_list.parquet", "risk_list.csv", "risk_list.xlsx", "changes.parquet", "tasks.xlsx", "tasks.parquet", "manifest.json", "quality.json"] {
        assert!(out_file(&out_a, name).is_file(), "run A writes {name}");
    }
    for name in ["risk_list.parquet", "risk_list.csv"] {
        assert!(read(&out_file(&out_a, name)) == read(&out_file(&out_b, name)), "{name} differs between two runs on fresh lakes");
    }
    let list_a = out_file(&out_a, "risk_list.parquet");
    let n_a = count(&list_a, "SELECT count(*) FROM t");
    assert!(n_a > 0, "the synthetic county has listed youths");
    let tiers_a = tiers(&list_a);
    assert!(tiers_a.len() >= 3, "the list holds several tiers: {tiers_a:?}");
    assert!(tiers_a.iter().all(|t| ["red", "orange", "yellow", "blue"].contains(&t.as_str())), "{tiers_a:?}");
    // rank is 1..n in file order
    let ranks: Vec<String> = parquet_rows(&list_a, "SELECT \"rank\" FROM t").into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(ranks, (1..=n_a).map(|i| i.to_string()).collect::<Vec<_>>());
    // everyone listed is under 18 and has an active category
    assert_eq!(count(&list_a, "SELECT count(*) FROM t WHERE age >= 18 OR n_categories < 1"), 0);
    let csv_a = read(&out_file(&out_a, "risk_list.csv"));
    assert!(csv_a.starts_with(b"\xEF\xBB\xBF"), "risk_list.csv starts with a UTF-8 BOM");
    let version_a: Vec<Vec<String>> = parquet_rows(&list_a, "SELECT DISTINCT model_version FROM t");
    assert_eq!(version_a.len(), 1, "one model version: {version_a:?}");
    assert_ne!(version_a[0][0], NEW_VERSION);

    // 2. Scoring lake A again as of the same date changes nothing.
    let out_c = dir.join("out_c");
    let score_c = pipeline_at("score", dir, &lake_a, &out_c, &key, AS_OF, None);
    assert_eq!(score_c.code, 0, "score C\n{}", score_c.stderr);
    assert!(read(&out_file(&out_c, "risk_list.csv")) == csv_a, "scoring lake A again as of {AS_OF} changes risk_list.csv");

    // 3. An edited model file (C1 within 30 days instead of 180) changes the list and is named.
    let model = edited_model(dir);
    let out_d = dir.join("out_d");
    let score_d = pipeline_at("score", dir, &lake_a, &out_d, &key, AS_OF, Some(&model));
    assert_eq!(score_d.code, 0, "score D\n{}", score_d.stderr);
    let list_d = out_file(&out_d, "risk_list.parquet");
    assert!(read(&out_file(&out_d, "risk_list.csv")) != csv_a, "the edited model changes the list");
    let c1 = |p: &Path| count(p, "SELECT count(*) FROM t WHERE categories LIKE '%C1%'");
    let (c1_a, c1_d) = (c1(&list_a), c1(&list_d));
    assert!(c1_a > 0, "the synthetic county has C1 youths");
    assert!(c1_d < c1_a, "fewer C1 people with a 30-day window: {c1_d} vs {c1_a}");
    assert_eq!(parquet_rows(&list_d, "SELECT DISTINCT model_version FROM t"), vec![vec![NEW_VERSION.to_string()]]);
    let manifest_d = String::from_utf8(read(&out_file(&out_d, "manifest.json"))).unwrap();
    let _: serde_json::Value = serde_json::from_str(&manifest_d).expect("manifest.json is JSON");
    assert!(manifest_d.contains(NEW_VERSION), "manifest.json names the model version {NEW_VERSION}");
    let manifest_a = String::from_utf8(read(&out_file(&out_a, "manifest.json"))).unwrap();
    assert!(manifest_a.contains(&version_a[0][0]) && !manifest_a.contains(NEW_VERSION), "manifest A names its own model version");

    // 4. No raw 身份证号 of the inbox is in any list or task output.
    let ids = raw_id_numbers(dir);
    assert!(ids.len() > 50, "the synth inbox carries raw id numbers ({})", ids.len());
    let needles: BTreeSet<String> = ids.iter().flat_map(|i| [i.clone(), i.to_uppercase()]).collect();
    for out in [&out_a, &out_b, &out_c, &out_d] {
        // Byte for byte, every output file.
        for path in files_under(out) {
            for candidate in id_shaped(&read(&path)) {
                assert!(!needles.contains(&candidate), "{} holds a raw id number", path.display());
            }
        }
        // Decompressed: every value of the Parquet outputs, every cell of the workbooks.
        for name in ["risk_list.parquet", "changes.parquet", "tasks.parquet"] {
            let path = out_file(out, name);
            for row in parquet_rows(&path, "SELECT * FROM t") {
                for v in row {
                    for candidate in id_shaped(v.as_bytes()) {
                        assert!(!needles.contains(&candidate), "{} holds a raw id number", path.display());
                    }
                }
            }
        }
        for name in ["risk_list.xlsx", "tasks.xlsx"] {
            use calamine::{Reader, Xlsx};
            let path = out_file(out, name);
            let mut book: Xlsx<_> = calamine::open_workbook(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for sheet in book.sheet_names() {
                for row in book.worksheet_range(&sheet).unwrap().rows() {
                    for cell in row {
                        for candidate in id_shaped(cell.to_string().as_bytes()) {
                            assert!(!needles.contains(&candidate), "{} holds a raw id number", path.display());
                        }
                    }
                }
            }
        }
    }
    for run in [&run_a, &run_b, &score_c, &score_d] {
        for id in &needles {
            assert!(!run.stderr.contains(id.as_str()) && !run.stdout.contains(id.as_str()), "the log holds a raw id number");
        }
    }
}

#[test]
fn a_broken_tier_rule_stops_the_run_before_the_lake_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let text = std::fs::read_to_string(root().join("models/collision.toml")).unwrap();
    let rule = "\"c2 AND c6_no_carer\"";
    assert!(text.contains(rule), "models/collision.toml has the red rule {rule}");
    let model = dir.join("collision-typo.toml");
    std::fs::write(&model, text.replacen(rule, "\"c2 AND c9_active\"", 1)).unwrap();
    let samples = root().join("data-samples");
    let (lake, out) = (dir.join("lake"), dir.join("out"));
    for command in ["run", "score"] {
        let run = pipeline_at(command, &samples, &lake, &out, &samples.join("demo-county.key"), AS_OF, Some(&model));
        assert_eq!(run.code, 2, "{command}: {}", run.stderr);
        let want = format!("configuration error in {}: tier `red` rule 4 (`c2 AND c9_active`): ", model.display());
        assert!(run.stderr.contains(&want) && run.stderr.contains("c9_active"), "{command}: {}", run.stderr);
        let tables: Vec<_> = files_under(&lake).into_iter().filter(|p| p.to_string_lossy().contains("_delta_log")).collect();
        assert!(tables.is_empty(), "{command}: the lake changed: {tables:?}");
        assert!(!lake.join("signals").exists() && !out.join(AS_OF).exists(), "{command}: something was written");
    }
}
