//! Ingest, end to end: synthetic extracts (clean and dirty) through the binary into the lake.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use humiao::pseudo::{DEMO_KEY, Pseudonymiser};

fn synth(dir: &std::path::Path, youths: usize, dirty: f64) {
    humiao::synth::synth(&humiao::synth::SynthOptions {
        youths,
        seed: 11,
        as_of: humiao::session::parse_iso_date(AS_OF).unwrap(),
        out: dir.to_path_buf(),
        dirty,
        key: DEMO_KEY.as_bytes().to_vec(),
    })
    .unwrap();
}

/// The answer key of injected bad rows: (file, line) → (reason, column).
fn injected(dir: &std::path::Path) -> BTreeMap<(String, i64), (String, String)> {
    let mut reader = csv::Reader::from_path(dir.join("expected/injected.csv")).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            ((r[0].to_string(), r[1].parse().unwrap()), (r[2].to_string(), r[3].to_string()))
        })
        .collect()
}

#[test]
fn dirty_extracts_are_accounted_for_row_by_row_and_rerunning_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir, 1500, 0.01);
    let key = key_file(dir, DEMO_KEY);
    let run = ingest(dir, &key);
    assert_eq!(run.code, 3, "a rejected file makes exit code 3\n{}", run.stderr);

    // Per file: read = accepted + quarantined + duplicate.
    let q = quality(dir);
    for f in q["files"].as_array().unwrap() {
        let n = |k: &str| f[k].as_u64().unwrap();
        assert_eq!(n("rows_read"), n("rows_accepted") + n("rows_quarantined") + n("rows_duplicate"), "{f}");
        let by_reason: u64 = f["quarantined_by_reason"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(by_reason, n("rows_quarantined"), "{f}");
    }
    // The file whose header lacks a column is rejected whole, named with the column, and left in place.
    let broken = file_entry(&q, "education/education_conduct_broken.csv");
    assert_eq!(broken["status"], "rejected");
    assert!(broken["detail"].as_str().unwrap().contains("conduct_code"), "{broken}");
    assert!(run.stderr.contains("education_conduct_broken.csv") && run.stderr.contains("conduct_code"));
    assert!(dir.join("inbox/education/education_conduct_broken.csv").exists());
    assert_eq!(lake_query(&dir.join("lake"), "SELECT count(*) FROM signals WHERE file LIKE '%broken%'")[0][0], "0");
    // A file of no declared table is listed and left alone.
    assert_eq!(file_entry(&q, "education/school_list.csv")["status"], "unrecognised");
    // The re-delivered copy of a file is recognised by its content.
    let copy = file_entry(&q, "justice/justice_correction_resend.csv");
    assert_eq!(copy["status"], "duplicate_file");
    assert_eq!(copy["rows_duplicate"], file_entry(&q, "justice/justice_correction.csv")["rows_read"]);

    // Every injected bad row is quarantined with its reason and column.
    let expected = injected(dir);
    assert!(expected.len() > 20, "the dirty synth injects rows");
    let reasons: BTreeSet<&str> = expected.values().map(|(r, _)| r.as_str()).collect();
    for r in ["unknown_code", "bad_date", "future_date", "missing_field", "role_code_mismatch", "unknown_township", "birth_after_event", "unlinkable", "ambiguous_link"] {
        assert!(reasons.contains(r), "the answer key covers {r}");
    }
    let quarantined: BTreeMap<(String, i64), (String, String)> =
        lake_query(&dir.join("lake"), "SELECT file, line, reason, column_name FROM quarantine")
            .into_iter()
            .map(|r| ((r[0].clone(), r[1].parse().unwrap()), (r[2].clone(), r[3].clone())))
            .collect();
    for (at, want) in &expected {
        assert_eq!(quarantined.get(at), Some(want), "injected row {at:?}");
    }

    // Ingesting the same inbox again changes nothing in the lake.
    let before: Vec<Vec<String>> = lake_query(&dir.join("lake"), "SELECT count(*), count(DISTINCT record_hash) FROM signals");
    let persons_before = lake_query(&dir.join("lake"), "SELECT count(*) FROM persons");
    let again = ingest(dir, &key);
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert_eq!(lake_query(&dir.join("lake"), "SELECT count(*), count(DISTINCT record_hash) FROM signals"), before);
    assert_eq!(lake_query(&dir.join("lake"), "SELECT count(*) FROM persons"), persons_before);
    assert!(again.stdout.contains("ingested 0 file(s)"), "nothing new the second time\n{}", again.stdout);
    // The day's quality report still covers every file of the day.
    let mut q2 = quality(dir);
    let mut q1 = q.clone();
    for r in [&mut q1, &mut q2] {
        r.as_object_mut().unwrap().remove("run_id");
    }
    assert_eq!(q2, q1, "the second run's report is the day's");
}

#[test]
fn a_correction_replaces_the_earlier_version_and_a_resent_row_is_a_duplicate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir, 6000, 0.0);
    let key = key_file(dir, DEMO_KEY);
    let run = ingest(dir, &key);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Each record has one version in the lake.
    let multi = lake_query(
        &dir.join("lake"),
        "SELECT table_name, record_id FROM signals GROUP BY table_name, record_id HAVING count(DISTINCT record_hash) > 1",
    );
    assert!(multi.is_empty(), "{multi:?}");
    // The correction file's values are the ones kept.
    let correction = std::fs::read_dir(dir.join("inbox/police"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_correction.csv"))
        .expect("synth writes a correction file");
    let mut reader = csv::Reader::from_path(&correction).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (rid, code) = (col("record_id"), col("behaviour_code"));
    let mut checked = 0;
    for rec in reader.records() {
        let rec = rec.unwrap();
        let rows = lake_query(
            &dir.join("lake"),
            &format!("SELECT code, file FROM signals WHERE table_name = 'police_incidents' AND record_id = '{}' AND NOT is_also", &rec[rid]),
        );
        assert_eq!(rows.len(), 1, "one version of {}", &rec[rid]);
        assert_eq!(rows[0][0], rec[code].to_string());
        assert!(rows[0][1].ends_with("_correction.csv"));
        checked += 1;
    }
    assert!(checked > 0);
    let q = quality(dir);
    let corrections = q["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap().starts_with("police/") && f["file"].as_str().unwrap().ends_with("_correction.csv"))
        .unwrap();
    assert_eq!(corrections["rows_accepted"].as_u64().unwrap(), checked as u64, "corrections are accepted");
    let resent: u64 = q["files"].as_array().unwrap().iter().filter(|f| f["status"] == "accepted").map(|f| f["rows_duplicate"].as_u64().unwrap()).sum();
    assert!(resent > 0, "the second police file re-sends rows of the first");
}

#[test]
fn no_raw_id_number_is_written_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir, 1500, 0.01);
    let key = key_file(dir, DEMO_KEY);
    let run = ingest(dir, &key);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let ids = raw_id_numbers(dir);
    assert!(ids.len() > 50, "the synth inbox carries raw id numbers ({})", ids.len());
    // Also the upper-cased form (a trailing x becomes X).
    let needles: BTreeSet<String> = ids.iter().flat_map(|i| [i.clone(), i.to_uppercase()]).collect();
    // Byte for byte, in every file under the lake and the outputs, and in the log.
    for path in files_under(&dir.join("lake")).into_iter().chain(files_under(&dir.join("out"))) {
        let bytes = std::fs::read(&path).unwrap();
        for candidate in id_shaped(&bytes) {
            assert!(!needles.contains(&candidate), "{} holds a raw id number", path.display());
        }
    }
    for id in &needles {
        assert!(!run.stderr.contains(id.as_str()) && !run.stdout.contains(id.as_str()), "the log holds a raw id number");
    }
    // Decompressed: every text value of every lake table, and every cell of the quality workbook.
    for table in humiao::lake::TABLES {
        for row in lake_query(&dir.join("lake"), &format!("SELECT * FROM {table}")) {
            for v in row {
                assert!(!needles.iter().any(|id| v.contains(id.as_str())), "{table} holds a raw id number");
            }
        }
    }
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook(dir.join("out").join(AS_OF).join("quality.xlsx")).unwrap();
    for sheet in book.sheet_names() {
        for row in book.worksheet_range(&sheet).unwrap().rows() {
            for cell in row {
                let v = cell.to_string();
                assert!(!needles.contains(&v), "quality.xlsx holds a raw id number");
            }
        }
    }
    // And a pseudonym made from one of them is in the lake.
    let p = Pseudonymiser::new(DEMO_KEY.as_bytes());
    let some_key = p.person_key(ids.iter().next().unwrap());
    let found = lake_query(&dir.join("lake"), &format!("SELECT count(*) FROM signals WHERE person_key = '{some_key}'"));
    assert_ne!(found[0][0], "0");
}
