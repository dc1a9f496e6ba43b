//! The day's quality report survives a rerun (issue 10, point 3): it is rebuilt from the lake and
//! covers every file ingested for its as-of date, however many runs that took.

use std::path::Path;

use crate::common::*;

/// `quality.json` of `dir`'s outputs, without the fields that name the run that wrote it.
fn report(dir: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("run_id");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut q = quality(dir);
    strip(&mut q);
    q
}

/// `quality.xlsx` of `dir`'s outputs, every cell as text, without the line naming the run.
fn workbook(dir: &Path) -> Vec<Vec<String>> {
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook(dir.join("out").join(AS_OF).join("quality.xlsx")).unwrap();
    let mut cells = Vec::new();
    for sheet in book.sheet_names() {
        for row in book.worksheet_range(&sheet).unwrap().rows() {
            let row: Vec<String> = row.iter().map(|c| c.to_string()).collect();
            if !row.iter().any(|c| c.contains("运行编号")) {
                cells.push(row);
            }
        }
    }
    cells
}

fn run(dir: &Path, key: &Path, kill_at: Option<&str>) -> Run {
    let args = pipeline_args("run", &root().join("pipelines/demo.toml"), dir, &dir.join("lake"), &dir.join("out"), key, AS_OF, None);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = kill_at.map(|point| ("HUMIAO_KILL_AT", point)).into_iter().collect();
    humiao_with_env(&args, &env)
}

#[test]
fn a_second_run_the_same_day_reports_every_file_of_the_day() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = demo_samples(dir);
    write_csv(
        &dir.join("inbox/review/decisions_2026-11-24.csv"),
        &["person_key,unit,decision,note,reviewer,decided_on", &format!("{},公安,已核实,,R001,2026-11-20", pk(1))],
    );
    let first = run(dir, &key, None);
    assert_eq!(first.code, 3, "{}", first.stderr);
    let want = report(dir);
    assert_eq!(want["decision_files"][0]["status"], "accepted", "{want}");
    let files = want["files"].as_array().unwrap();
    assert!(files.iter().filter(|f| f["status"] == "accepted").count() >= 8, "{want}");
    assert!(want["totals"]["rows_read"].as_u64().unwrap() > 1000);
    let xlsx = workbook(dir);

    let second = run(dir, &key, None);
    assert_eq!(second.code, 3, "{}", second.stderr);
    assert!(second.stdout.contains("ingested 0 file(s)"), "{}", second.stdout);
    assert!(second.stdout.contains(&format!("quality report of {AS_OF}: {} file(s) ingested by 1 run(s)", want["totals"]["files_accepted"])), "{}", second.stdout);
    assert_eq!(report(dir), want, "the second run's report differs from the first's");
    assert_eq!(workbook(dir), xlsx, "the second run's workbook differs from the first's");
    // Per file, still: read = accepted + quarantined + duplicate, and the reasons add up.
    for f in report(dir)["files"].as_array().unwrap() {
        let n = |k: &str| f[k].as_u64().unwrap();
        assert_eq!(n("rows_read"), n("rows_accepted") + n("rows_quarantined") + n("rows_duplicate"), "{f}");
        let by_reason: u64 = f["quarantined_by_reason"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(by_reason, n("rows_quarantined"), "{f}");
    }

    // A file delivered later the same day joins the day's report.
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-24_late.csv"),
        &[&POLICE, &format!("{},2012-03-03,1,{},LATE-1,2026-11-20,V,V02,", pk(77), town(dir))],
    );
    let third = run(dir, &key, None);
    assert_eq!(third.code, 3, "{}", third.stderr);
    let q = report(dir);
    assert_eq!(q["files"].as_array().unwrap().len(), files.len() + 1);
    assert_eq!(file_entry(&q, "police/police_incidents_2026-11-24_late.csv")["rows_accepted"], 1);
    assert_eq!(q["totals"]["rows_read"].as_u64().unwrap(), want["totals"]["rows_read"].as_u64().unwrap() + 1);
    assert!(third.stdout.contains("ingested 1 file(s)"), "{}", third.stdout);
}

/// The first township of `dir`'s reference table.
fn town(dir: &Path) -> String {
    let towns = std::fs::read_to_string(dir.join("reference/townships.csv")).unwrap();
    towns.lines().nth(1).unwrap().split(',').next().unwrap().to_string()
}

#[test]
fn a_run_killed_after_its_ingest_committed_reruns_to_the_same_quality_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    let key = demo_samples(&whole);
    demo_samples(&killed);
    assert_eq!(run(&whole, &key, None).code, 3);
    let want = (report(&whole), workbook(&whole));

    assert_eq!(run(&killed, &key, Some("scored")).code, -1, "the run should have been killed");
    assert!(!killed.join("out").join(AS_OF).exists());
    let rerun = run(&killed, &key, None);
    assert_eq!(rerun.code, 3, "{}", rerun.stderr);
    assert!(rerun.stdout.contains("ingested 0 file(s)"), "the ingest had committed: {}", rerun.stdout);
    assert_eq!(report(&killed), want.0, "the rerun's quality.json differs from an uninterrupted run's");
    assert_eq!(workbook(&killed), want.1, "the rerun's quality.xlsx differs from an uninterrupted run's");
}
