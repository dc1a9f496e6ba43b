//! Forgetting at 18: people past 18 are never listed, and once past the grace period no byte
//! of them remains anywhere in the lake.

use std::sync::LazyLock;

use crate::common::*;
use humiao::pseudo::{DEMO_KEY, Pseudonymiser};

static POLICE: LazyLock<String> = LazyLock::new(|| header("police_incidents", &["person_key", "name_hash"]));

/// Every value of every Parquet file under `dir` (data files and checkpoints alike), as text.
fn parquet_values(dir: &std::path::Path) -> Vec<String> {
    let mut values = Vec::new();
    for f in files_under(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")) {
        for row in parquet_rows(&f, "SELECT * FROM t") {
            values.extend(row);
        }
    }
    values
}

#[test]
fn a_person_past_the_grace_period_leaves_no_byte_in_the_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    let key = key_file(dir, DEMO_KEY);
    let p = Pseudonymiser::new(DEMO_KEY.as_bytes());
    // old: born 2006-01-01, 18 on 2024-01-01, purged from 2025-01-01 (grace 365 days).
    // adult: born 2008-06-01, 18 on 2026-06-01: not listed on 2026-11-24, not yet purged.
    // child: born 2012-03-03: listed.
    let (old, adult, child) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
    let old_name = p.name_hash("老大");
    let stranger = p.name_hash("无名氏");
    write_csv(
        &dir.join("inbox/police/police_incidents_2024-05-01.csv"),
        &[
            &POLICE,
            &format!("{old},{old_name},2006-01-01,1,431102001,P1,2024-03-01,S,S01,"),
            &format!("{adult},,2008-06-01,2,431102001,P2,2024-03-01,S,S01,"),
            &format!("{child},,2012-03-03,1,431102002,P3,2024-03-01,S,S01,"),
            // a name-only row nobody can be linked to, born the same day as `old`
            &format!(",{stranger},2006-01-01,1,431102001,P4,2024-03-01,S,B01,"),
        ],
    );
    let (lake, out) = (dir.join("lake"), dir.join("out"));
    let run = pipeline_at("run", dir, &lake, &out, &key, "2024-06-01", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // On 2024-06-01 `old` is 18: kept in the lake, but not listed.
    let listed = parquet_rows(&out.join("2024-06-01/risk_list.parquet"), "SELECT person_key FROM t ORDER BY person_key");
    assert_eq!(listed, vec![vec![adult.clone()], vec![child.clone()]]);
    assert_eq!(lake_query(&lake, &format!("SELECT count(*) FROM signals WHERE person_key = '{old}'")), vec![vec!["1".to_string()]]);
    assert!(parquet_values(&lake).iter().any(|v| v == &old), "before the purge the lake holds `old`");
    assert!(parquet_values(&lake).iter().any(|v| v == &stranger), "and the pending row");

    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-20.csv"),
        &[&POLICE, &format!("{child},,2012-03-03,1,431102002,P5,2026-10-01,S,S01,")],
    );
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-24", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listed = parquet_rows(&out.join("2026-11-24/risk_list.parquet"), "SELECT person_key FROM t");
    assert_eq!(listed, vec![vec![child.clone()]], "18-year-olds are not listed");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("2026-11-24/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["row_counts"]["persons_purged"], 1);
    // No value of any Parquet file, and no byte of any other file, names `old` or the stranger.
    let values = parquet_values(&lake);
    assert!(values.iter().any(|v| v == &adult), "the 18-year-old is kept until the grace period ends");
    for gone in [&old, &old_name, &stranger] {
        assert!(!values.iter().any(|v| v.contains(gone.as_str())), "a Parquet file still holds {gone}");
        for f in files_under(&lake).into_iter().filter(|p| p.extension().is_none_or(|e| e != "parquet")) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(!bytes.windows(gone.len()).any(|w| w == gone.as_bytes()), "{} holds {gone}", f.display());
        }
    }
}

/// The Parquet files of a lake table's partition folder (e.g. `signals/birth_year=2012`).
fn partition_files(lake: &std::path::Path, table: &str, year: i32) -> Vec<String> {
    let mut files: Vec<String> = files_under(&lake.join(table).join(format!("birth_year={year}")))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn a_nightly_purge_rewrites_only_the_files_of_the_cutoffs_birth_year() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    let key = key_file(dir, DEMO_KEY);
    // Grace 365 days: on 2026-11-24 the cutoff is 2007-11-24, on 2026-11-25 it is 2007-11-25.
    let (gone_first, gone_second, same_year, young) = ("a".repeat(64), "b".repeat(64), "c".repeat(64), "d".repeat(64));
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-20.csv"),
        &[
            &POLICE,
            &format!("{gone_first},,2006-05-05,1,431102001,P1,2024-03-01,S,S01,"),
            &format!("{gone_second},,2007-11-25,1,431102001,P2,2024-03-01,S,S01,"),
            &format!("{same_year},,2007-12-20,2,431102001,P3,2024-03-01,S,S01,"),
            &format!("{young},,2012-03-03,1,431102002,P4,2026-10-01,S,S01,"),
        ],
    );
    let (lake, out) = (dir.join("lake"), dir.join("out"));
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-24", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let count = |who: &str| lake_query(&lake, &format!("SELECT count(*) FROM signals WHERE person_key = '{who}'"))[0][0].clone();
    assert_eq!(count(&gone_first), "0", "born 2006: purged on the first run");
    assert_eq!(count(&gone_second), "1");
    for table in ["signals", "persons"] {
        assert!(partition_files(&lake, table, 2006).is_empty(), "{table}: the 2006 files are dropped whole and vacuumed");
        assert!(!lake.join(table).join("birth_year=2006").exists(), "{table}: and the emptied folder removed");
        assert!(!partition_files(&lake, table, 2007).is_empty(), "{table} keeps a 2007 partition");
        assert!(!partition_files(&lake, table, 2012).is_empty(), "{table} keeps a 2012 partition");
    }
    let young_before = (partition_files(&lake, "signals", 2012), partition_files(&lake, "persons", 2012));
    let year_before = partition_files(&lake, "signals", 2007);

    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-25", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(count(&gone_second), "0", "born 2007-11-25: purged the next night");
    assert_eq!(count(&same_year), "1");
    assert_eq!(count(&young), "1");
    assert_ne!(partition_files(&lake, "signals", 2007), year_before, "the cutoff's year is rewritten");
    assert_eq!(
        (partition_files(&lake, "signals", 2012), partition_files(&lake, "persons", 2012)),
        young_before,
        "no file of another birth year is touched by the purge"
    );
}
