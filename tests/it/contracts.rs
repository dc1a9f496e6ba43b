//! Each quarantine reason, row by row, from hand-written extracts; and a new department added
//! by configuration alone.

use std::sync::LazyLock;

use crate::common::*;
use humiao::config::IDENTITY_COLUMNS;
use humiao::pseudo::{DEMO_KEY, Pseudonymiser};

static POLICE_HEADER: LazyLock<String> = LazyLock::new(|| header("police_incidents", &IDENTITY_COLUMNS));

#[test]
fn every_quarantine_reason_is_found_on_its_own_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    let p = Pseudonymiser::new(DEMO_KEY.as_bytes());
    let twin_a = p.person_key("110105201001011235");
    let twin_b = p.person_key("110105201001012222");
    let twin_name = p.name_hash("王小红");
    let known_name = p.name_hash("张小明");
    // (line content, expected reason or "" for accepted, expected column)
    let rows: Vec<(String, &str, &str)> = vec![
        (format!(",110105201001011232,{known_name},2010-01-01,1,431102001,P01,2026-10-03,S,S01,D05"), "", ""),
        (format!("{twin_a},,{twin_name},2011-03-04,2,431102001,P02,2026-10-03,V,V04,"), "", ""),
        (format!("{twin_b},,{twin_name},2011-03-04,2,431102002,P03,2026-10-03,V,V04,"), "", ""),
        (format!(",,{known_name},2010-01-01,1,431102001,P04,2026-10-05,P,B02,"), "", ""),
        (",110105201001011232,,2010-01-01,1,431102001,,2026-10-05,S,B02,".into(), "missing_field", "record_id"),
        (",110105201001011232,,2010-01-01,,431102001,P05,2026-10-05,S,B02,".into(), "missing_field", "gender"),
        (",,,2010-01-01,1,431102001,P06,2026-10-05,S,B02,".into(), "missing_field", "person_key"),
        (",110105201001011232,,2010-01-01,1,431102001,P07,,S,B02,".into(), "missing_field", "occurred_on"),
        (",110105201001011232,,2010-01-01,1,431102001,P08,2026-02-30,S,B02,".into(), "bad_date", "occurred_on"),
        (",110105201001011232,,2010-13-01,1,431102001,P09,2026-02-03,S,B02,".into(), "bad_date", "birth_date"),
        (",110105201001011232,,2010-01-01,1,431102001,P10,2026-12-01,S,B02,".into(), "future_date", "occurred_on"),
        (",110105201001011232,,2010-01-01,1,431102001,P11,2026-10-05,S,B99,".into(), "unknown_code", "behaviour_code"),
        (",110105201001011232,,2010-01-01,3,431102001,P12,2026-10-05,S,B01,".into(), "unknown_code", "gender"),
        (",110105201001011232,,2010-01-01,1,431102001,P13,2026-10-05,S,B01,D99".into(), "unknown_code", "disposition"),
        (",110105201001011232,,2010-01-01,1,999999999,P14,2026-10-05,S,B01,".into(), "unknown_township", "township_code"),
        (",110105201001011232,,2026-11-01,1,431102001,P15,2026-10-05,S,B01,".into(), "birth_after_event", "birth_date"),
        (",110105201001011232,,2010-01-01,1,431102001,P16,2026-10-05,V,B01,".into(), "role_code_mismatch", "role"),
        (",110105201001011232,,2010-01-01,1,431102001,P17,2026-10-05,P,C01,".into(), "role_code_mismatch", "role"),
        (format!(",,{},2010-01-01,1,431102001,P18,2026-10-05,S,B01,", p.name_hash("李四")), "unlinkable", "name_hash"),
        (format!(",,{known_name},2010-01-02,1,431102001,P19,2026-10-05,S,B01,"), "unlinkable", "name_hash"),
        (format!(",,{twin_name},2011-03-04,2,431102001,P20,2026-10-05,S,B01,"), "ambiguous_link", "name_hash"),
        ("NOT-HEX,,,2010-01-01,1,431102001,P21,2026-10-05,S,B01,".into(), "bad_person_key", "person_key"),
        (",110105201001011235,,2010-01-01,1,431102001,P22,2026-10-05,S,B01,".into(), "bad_id_number", "id_number"),
        (",,张小明,2010-01-01,1,431102001,P23,2026-10-05,S,B01,".into(), "bad_name_hash", "name_hash"),
        (format!(",110105201001011232,,2010-01-01,1,431102001,{},2026-10-05,S,B01,", "P".repeat(65)), "too_long", "record_id"),
        (",110105201001011232,,2010-01-01,1,431102001,P25,2026-10-05,S,B01,D0\u{7}".into(), "control_character", "disposition"),
    ];
    let mut lines = vec![POLICE_HEADER.to_string()];
    lines.extend(rows.iter().map(|(l, _, _)| l.clone()));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    write_csv(&dir.join("inbox/police/police_incidents_2026-11-20.csv"), &refs);
    let key = key_file(dir, DEMO_KEY);
    let run = ingest(dir, &key);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got: std::collections::BTreeMap<i64, (String, String)> =
        lake_query(&dir.join("lake"), "SELECT line, reason, column_name FROM quarantine")
            .into_iter()
            .map(|r| (r[0].parse().unwrap(), (r[1].clone(), r[2].clone())))
            .collect();
    for (i, (_, reason, column)) in rows.iter().enumerate() {
        let line = i as i64 + 2;
        if reason.is_empty() {
            assert!(!got.contains_key(&line), "line {line} should be accepted, got {:?}", got.get(&line));
        } else {
            assert_eq!(got.get(&line), Some(&(reason.to_string(), column.to_string())), "line {line}");
        }
    }
    let q = quality(dir);
    let f = file_entry(&q, "police/police_incidents_2026-11-20.csv");
    assert_eq!(f["rows_read"], rows.len() as u64);
    assert_eq!(f["rows_accepted"], 4);
    // The name-only row P04 is linked to the person made from the id number.
    let linked = lake_query(&dir.join("lake"), "SELECT person_key, link_method FROM signals WHERE record_id = 'P04'");
    assert_eq!(linked, vec![vec![p.person_key("110105201001011232"), "name_hash".to_string()]]);
    // P01 (role S, S01, D05) feeds C2 and also C3.
    let cats = lake_query(&dir.join("lake"), "SELECT category FROM signals WHERE record_id = 'P01' ORDER BY category");
    assert_eq!(cats, vec![vec!["C2".to_string()], vec!["C3".to_string()]]);
}

#[test]
fn an_unlinkable_row_enters_the_lake_once_its_person_is_known() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    let p = Pseudonymiser::new(DEMO_KEY.as_bytes());
    let name = p.name_hash("赵六");
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-20.csv"),
        &[&POLICE_HEADER, &format!(",,{name},2012-05-06,2,431102001,P1,2026-10-03,V,V04,")],
    );
    let key = key_file(dir, DEMO_KEY);
    assert_eq!(ingest(dir, &key).code, 0);
    assert_eq!(quality(dir)["totals"]["rows_quarantined"], 1);
    assert_eq!(lake_query(&dir.join("lake"), "SELECT count(*) FROM signals")[0][0], "0");
    // The keyed record arrives the next night.
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-21.csv"),
        &[&POLICE_HEADER, &format!(",120105201205061225,{name},2012-05-06,2,431102001,P2,2026-10-04,V,V02,")],
    );
    assert_eq!(ingest(dir, &key).code, 0);
    assert_eq!(quality(dir)["relinked_from_earlier_runs"], 1);
    let rows = lake_query(&dir.join("lake"), "SELECT record_id, person_key, link_method FROM signals ORDER BY record_id");
    let person = p.person_key("120105201205061225");
    assert_eq!(
        rows,
        vec![
            vec!["P1".to_string(), person.clone(), "name_hash".to_string()],
            vec!["P2".to_string(), person, "id_number".to_string()],
        ]
    );
    // A third run links nothing again (the day's report still counts the one the second linked).
    assert_eq!(ingest(dir, &key).code, 0);
    assert_eq!(quality(dir)["relinked_from_earlier_runs"], 1);
    assert_eq!(quality(dir)["pending_after_run"], 0);
    assert_eq!(lake_query(&dir.join("lake"), "SELECT count(*) FROM signals")[0][0], "2");
}

#[test]
fn a_new_department_is_added_by_configuration_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    // A copy of the demo configuration, plus a health table and its codes.
    let conf = dir.join("conf");
    std::fs::create_dir_all(conf.join("tables")).unwrap();
    for f in std::fs::read_dir(root().join("pipelines/tables")).unwrap().flatten() {
        std::fs::copy(f.path(), conf.join("tables").join(f.file_name())).unwrap();
    }
    let mut codebook = std::fs::read_to_string(root().join("models/codebook.toml")).unwrap();
    codebook.push_str("\n[health.visit_code]\nH1 = { label = \"自伤就诊\", category = \"C7\", severity = 3 }\nH2 = { label = \"常规体检\" }\n");
    std::fs::write(conf.join("codebook.toml"), codebook).unwrap();
    std::fs::write(
        conf.join("tables/health_visits.toml"),
        r#"table = "health_visits"
source = "health"
label = "卫健就诊"
kind = "event"

[[columns]]
name = "record_id"
type = "text"
required = true

[[columns]]
name = "visited_on"
type = "date"
required = true

[[columns]]
name = "visit_code"
type = "code"
codes = "health.visit_code"
required = true

[signal]
event_on = "visited_on"
code = "visit_code"
category = "visit_code_category"
severity = "visit_code_severity"
"#,
    )
    .unwrap();
    std::fs::write(
        conf.join("health.toml"),
        "[pipeline]\nname = \"health\"\ninbox = \"inbox\"\nreference = \"ref\"\nlake = \"lake\"\nout = \"out\"\nkey_file = \"key\"\ntables = \"tables\"\ncodebook = \"codebook.toml\"\n",
    )
    .unwrap();
    let p = Pseudonymiser::new(DEMO_KEY.as_bytes());
    let person = p.person_key("110105201001011235");
    write_csv(
        &dir.join("inbox/health/health_visits_2026-11.csv"),
        &[
            "person_key,birth_date,gender,township_code,record_id,visited_on,visit_code",
            &format!("{person},2010-01-01,1,431102001,H-1,2026-11-02,H1"),
            &format!("{person},2010-01-01,1,431102001,H-2,2026-11-03,H2"),
            &format!("{person},2010-01-01,1,431102001,H-3,2026-11-03,H9"),
        ],
    );
    let key = key_file(dir, DEMO_KEY);
    let run = ingest_with(dir, &key, &conf.join("health.toml"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = lake_query(&dir.join("lake"), "SELECT record_id, source, category, severity FROM signals ORDER BY record_id");
    assert_eq!(
        rows,
        vec![
            vec!["H-1".to_string(), "health".into(), "C7".into(), "3".into()],
            vec!["H-2".to_string(), "health".into(), "".into(), "".into()],
        ]
    );
    assert_eq!(lake_query(&dir.join("lake"), "SELECT reason FROM quarantine"), vec![vec!["unknown_code".to_string()]]);
}

#[test]
fn csv_in_gb18030_and_with_a_bom_and_xlsx_are_read_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    let p = Pseudonymiser::new(DEMO_KEY.as_bytes());
    let person = p.person_key("110105201001011235");
    let header = header_with_extra("civil_status", &["person_key"]);
    let row = |id: &str| format!("{person},2010-01-01,1,431102001,{id},LB,2025-01-01,,城关镇民政办");
    let text = format!("{header}\n{}\n", row("CS1"));
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    std::fs::create_dir_all(dir.join("inbox/civil")).unwrap();
    std::fs::write(dir.join("inbox/civil/civil_status_a.csv"), &gb).unwrap();
    let bom = format!("\u{feff}{header}\n{}\n", row("CS2"));
    std::fs::write(dir.join("inbox/civil/civil_status_b.csv"), bom).unwrap();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in header.split(',').enumerate() {
        sheet.write(0, c as u16, h).unwrap();
    }
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (c, v) in row("CS3").split(',').enumerate() {
        if c == 6 {
            sheet.write_datetime_with_format(1, c as u16, &rust_xlsxwriter::ExcelDateTime::from_ymd(2025, 1, 1).unwrap(), &date).unwrap();
        } else if !v.is_empty() {
            sheet.write(1, c as u16, v).unwrap();
        }
    }
    book.save(dir.join("inbox/civil/civil_status_c.xlsx")).unwrap();
    let key = key_file(dir, DEMO_KEY);
    let run = ingest(dir, &key);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let q = quality(dir);
    assert_eq!(file_entry(&q, "civil/civil_status_a.csv")["encoding"], "GB18030");
    assert_eq!(file_entry(&q, "civil/civil_status_b.csv")["encoding"], "UTF-8 with BOM");
    let rows = lake_query(&dir.join("lake"), "SELECT record_id, code, CAST(event_on AS VARCHAR), category FROM signals ORDER BY record_id");
    let want = |id: &str| vec![id.to_string(), "LB".into(), "2025-01-01".into(), "C6".into()];
    assert_eq!(rows, vec![want("CS1"), want("CS2"), want("CS3")]);
}

/// Regression: `handled_by` is an extra column of the county's civil extracts, not of the spec;
/// a file laid out exactly as the spec says (without it) must not be rejected.
#[test]
fn a_file_without_an_extra_column_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    let p = Pseudonymiser::new(DEMO_KEY.as_bytes());
    let person = p.person_key("110105201001011235");
    write_csv(
        &dir.join("inbox/civil/civil_status_spec.csv"),
        &[
            &CIVIL,
            &format!("{person},2010-01-01,1,431102001,CS1,LB,2025-01-01,"),
        ],
    );
    let key = key_file(dir, DEMO_KEY);
    let run = ingest(dir, &key);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let q = quality(dir);
    assert_eq!(file_entry(&q, "civil/civil_status_spec.csv")["rows_accepted"], 1);
}
