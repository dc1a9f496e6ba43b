//! Reviewers' decisions round trip: a decision file closes tasks, overdue tasks are lit, 排除
//! keeps a person off the list until a new signal arrives, bad rows are quarantined.

mod common;

use common::*;
use humiao::pseudo::DEMO_KEY;

#[test]
fn decisions_close_tasks_light_overdue_ones_and_keep_ruled_out_people_off_the_list() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    let key = key_file(dir, DEMO_KEY);
    let (lake, out) = (dir.join("lake"), dir.join("out"));
    // 1: S01 → orange (公安, due in 7 days); 2: LB → blue (民政, 90 days); 3: B01 → blue (教育);
    // 4: S03 → orange (公安), nobody decides: overdue by night 2.
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-01.csv"),
        &[
            POLICE,
            &format!("{},2012-01-01,1,431102001,P1,2026-10-20,S,S01,", pk(1)),
            &format!("{},2012-01-01,1,431102001,P3,2026-10-20,S,B01,", pk(3)),
            &format!("{},2012-01-01,2,431102002,P4,2026-10-21,S,S03,", pk(4)),
        ],
    );
    write_csv(&dir.join("inbox/civil/civil_status_2026-11-01.csv"), &[CIVIL, &format!("{},2012-01-01,2,431102001,CS2,LB,2025-01-01,", pk(2))]);
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-01", None);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Night 2: the reviewers' file arrives.
    write_csv(
        &dir.join("inbox/review/decisions_2026-11-19.csv"),
        &[
            "person_key,unit,decision,note,reviewer,decided_on",
            &format!("{},公安,已帮扶,已约谈家长,R001,2026-11-05", pk(1)),
            &format!("{},教育,排除,误报,R002,2026-11-10", pk(3)),
            &format!("{},公安,不知道,,R003,2026-11-10", pk(4)),
            &format!("{},公安,已核实,,,2026-11-10", pk(4)),
        ],
    );
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-20", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let night2 = out.join("2026-11-20");
    let listed = parquet_rows(&night2.join("risk_list.parquet"), "SELECT person_key FROM t ORDER BY person_key");
    assert_eq!(listed, vec![vec![pk(1)], vec![pk(2)], vec![pk(4)]], "3 was ruled out (排除)");
    let tasks = parquet_rows(
        &night2.join("tasks.parquet"),
        "SELECT person_key, unit, status, CAST(days_overdue AS VARCHAR), CAST(due_on AS VARCHAR) FROM t ORDER BY person_key, unit",
    );
    assert_eq!(
        tasks,
        vec![
            vec![pk(1), "公安".into(), "closed".into(), "0".into(), "2026-11-08".into()],
            vec![pk(2), "民政".into(), "open".into(), "0".into(), "2027-01-30".into()],
            vec![pk(4), "公安".into(), "open".into(), "12".into(), "2026-11-08".into()],
        ]
    );
    // The bad rows are quarantined with their reasons; the note's text is kept nowhere.
    let q = lake_query(&lake, "SELECT line, column_name, reason FROM quarantine WHERE table_name = 'review_decisions' ORDER BY line");
    assert_eq!(
        q,
        vec![vec!["4".to_string(), "decision".into(), "unknown_code".into()], vec!["5".to_string(), "reviewer".into(), "missing_field".into()]]
    );
    for f in files_under(&lake).into_iter().chain(files_under(&out)) {
        let bytes = std::fs::read(&f).unwrap();
        let needle = "约谈".as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{} holds the note", f.display());
    }
    let quality: serde_json::Value = serde_json::from_slice(&std::fs::read(night2.join("quality.json")).unwrap()).unwrap();
    let d = &quality["decision_files"][0];
    assert_eq!((d["rows_read"].as_u64(), d["rows_accepted"].as_u64(), d["rows_quarantined"].as_u64()), (Some(4), Some(2), Some(2)));
    // The tasks workbook lights the overdue task; the report counts it per unit.
    let report = std::fs::read_to_string(night2.join("report.html")).unwrap();
    assert!(report.contains("包保任务办理"));
    let audit = std::fs::read_to_string(lake.join("audit.jsonl")).unwrap();
    assert!(audit.contains("\"decisions_ingested\""));

    // Night 3: a new signal for 3 after the decision puts them back on the list, as 新增.
    write_csv(&dir.join("inbox/police/police_incidents_2026-11-25.csv"), &[POLICE, &format!("{},2012-01-01,1,431102001,P5,2026-11-22,S,B03,", pk(3))]);
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-25", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let back = parquet_rows(&out.join("2026-11-25/risk_list.parquet"), &format!("SELECT change FROM t WHERE person_key = '{}'", pk(3)));
    assert_eq!(back, vec![vec!["new".to_string()]]);
}
