//! Reviewers' decisions round trip: a decision file closes tasks, overdue tasks are lit, 排除
//! keeps a person off the list until a new signal arrives, bad rows are quarantined.

use crate::common::*;

#[test]
fn decisions_close_tasks_light_overdue_ones_and_keep_ruled_out_people_off_the_list() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, lake, out) = hand_made_county(dir);
    // 1: S01 → orange (公安, due in 7 days); 2: LB → blue (民政, 90 days); 3: B01 → blue (教育);
    // 4: S03 → orange (公安), nobody decides: overdue by night 2.
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-01.csv"),
        &[
            &POLICE,
            &format!("{},2012-01-01,1,431102001,P1,2026-10-20,S,S01,", pk(1)),
            &format!("{},2012-01-01,1,431102001,P3,2026-10-20,S,B01,", pk(3)),
            &format!("{},2012-01-01,2,431102002,P4,2026-10-21,S,S03,", pk(4)),
        ],
    );
    write_csv(&dir.join("inbox/civil/civil_status_2026-11-01.csv"), &[&CIVIL, &format!("{},2012-01-01,2,431102001,CS2,LB,2025-01-01,", pk(2))]);
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
            // 3 is off the list, and their task is shown closed by the decision this once
            vec![pk(3), "教育".into(), "closed".into(), "0".into(), "2027-01-30".into()],
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
    write_csv(&dir.join("inbox/police/police_incidents_2026-11-25.csv"), &[&POLICE, &format!("{},2012-01-01,1,431102001,P5,2026-11-22,S,B03,", pk(3))]);
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-25", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let back = parquet_rows(&out.join("2026-11-25/risk_list.parquet"), &format!("SELECT change FROM t WHERE person_key = '{}'", pk(3)));
    assert_eq!(back, vec![vec!["new".to_string()]]);
}

/// A 家庭暴力 victim's red tasks (公安, 民政), overdue with no decision, were replaced the day the
/// tier decayed to blue by blue tasks due in 90 days, with no 逾期 light; a lifted person's open
/// task vanished with them. A task stays open and lit until a decision closes it.
#[test]
fn an_overdue_task_stays_lit_through_a_tier_decay_and_a_lifting_until_a_decision_closes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, lake, out) = hand_made_county(dir);
    // 1: 遭受家庭暴力 (V02, severity 3) on 09-11: red while under 90 days old (to 12-09), then blue.
    // 2: 遭受电信网络诈骗 (V05) on 2025-12-08: blue until the record is a year old, then lifted.
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-12-07.csv"),
        &[
            &POLICE,
            &format!("{},2012-01-01,2,431102001,P1,2026-09-11,V,V02,", pk(1)),
            &format!("{},2012-01-01,1,431102001,P2,2025-12-08,V,V05,", pk(2)),
        ],
    );
    let tasks_on = |as_of: &str| {
        let run = pipeline_at("run", dir, &lake, &out, &key, as_of, None);
        assert_eq!(run.code, 0, "{as_of}: {}", run.stderr);
        parquet_rows(
            &out.join(as_of).join("tasks.parquet"),
            "SELECT person_key, unit, coalesce(tier, '-'), tier_assigned, CAST(assigned_on AS VARCHAR), CAST(due_on AS VARCHAR),
                    status, CAST(days_overdue AS VARCHAR), coalesce(note, '') FROM t ORDER BY person_key, unit",
        )
    };
    let row = |p: u32, unit: &str, tier: &str, assigned: &str, on: &str, due: &str, status: &str, overdue: &str, note: &str| -> Vec<String> {
        [pk(p).as_str(), unit, tier, assigned, on, due, status, overdue, note].iter().map(|s| s.to_string()).collect()
    };
    assert_eq!(
        tasks_on("2026-12-07"),
        vec![
            row(1, "公安", "red", "red", "2026-12-07", "2026-12-08", "open", "0", ""),
            row(1, "民政", "red", "red", "2026-12-07", "2026-12-08", "open", "0", ""),
            row(2, "公安", "blue", "blue", "2026-12-07", "2027-03-07", "open", "0", ""),
            row(2, "民政", "blue", "blue", "2026-12-07", "2027-03-07", "open", "0", ""),
        ]
    );
    let lifted = "已于2026-12-09移出名单，仍待核查决定";
    assert_eq!(
        tasks_on("2026-12-09"),
        vec![
            row(1, "公安", "red", "red", "2026-12-07", "2026-12-08", "open", "1", ""),
            row(1, "民政", "red", "red", "2026-12-07", "2026-12-08", "open", "1", ""),
            row(2, "公安", "-", "blue", "2026-12-07", "2027-03-07", "open", "0", lifted),
            row(2, "民政", "-", "blue", "2026-12-07", "2027-03-07", "open", "0", lifted),
        ]
    );
    // The tier decays: the tasks keep their date, due date and light, with a note.
    let decayed = "派发时为红色，自2026-12-10起为蓝色";
    assert_eq!(
        tasks_on("2026-12-10"),
        vec![
            row(1, "公安", "blue", "red", "2026-12-07", "2026-12-08", "open", "2", decayed),
            row(1, "民政", "blue", "red", "2026-12-07", "2026-12-08", "open", "2", decayed),
            row(2, "公安", "-", "blue", "2026-12-07", "2027-03-07", "open", "0", lifted),
            row(2, "民政", "-", "blue", "2026-12-07", "2027-03-07", "open", "0", lifted),
        ]
    );
    // The list itself says by when: the earliest due date of the person's open tasks.
    let due = parquet_rows(&out.join("2026-12-10/risk_list.parquet"), "SELECT person_key, tier, CAST(task_due_on AS VARCHAR) FROM t");
    assert_eq!(due, vec![vec![pk(1), "blue".into(), "2026-12-08".into()]]);
    let xlsx = std::fs::read(out.join("2026-12-10/tasks.xlsx")).unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    use calamine::Reader;
    let police = book.worksheet_range("公安").unwrap();
    let text: Vec<String> = police.rows().flat_map(|r| r.iter().map(|c| c.to_string())).collect();
    assert!(text.iter().any(|c| c == decayed) && text.iter().any(|c| c == lifted), "the unit's sheet shows the notes");
    assert!(text.iter().any(|c| c == "逾期"), "the decayed task is still lit");

    // Decisions close what they name, and only that.
    write_csv(
        &dir.join("inbox/review/decisions_2026-12-11.csv"),
        &[
            "person_key,unit,decision,note,reviewer,decided_on",
            &format!("{},公安,已帮扶,,R001,2026-12-10", pk(1)),
            &format!("{},公安,已核实,,R001,2026-12-10", pk(2)),
        ],
    );
    let night = tasks_on("2026-12-11");
    let status: Vec<(String, String, String)> = night.iter().map(|r| (r[0].clone(), r[1].clone(), r[6].clone())).collect();
    assert_eq!(
        status,
        vec![
            (pk(1), "公安".into(), "closed".into()),
            (pk(1), "民政".into(), "open".into()),
            (pk(2), "公安".into(), "closed".into()),
            (pk(2), "民政".into(), "open".into()),
        ]
    );
    // The closed task of a person no longer listed is not carried further; the open one is.
    let night = tasks_on("2026-12-12");
    let keys: Vec<(String, String)> = night.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(keys, vec![(pk(1), "公安".into()), (pk(1), "民政".into()), (pk(2), "民政".into())]);
}

/// `xlsx` with a reviewer's entries typed into the row of `person` on the sheet named `sheet`:
/// each (header, text) goes into that header's column, as a reviewer's spreadsheet would save it.
fn filled_in(xlsx: &std::path::Path, sheet: &str, entries: &[(&str, &[(&str, &str)])]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut zip = zip::ZipArchive::new(std::fs::File::open(xlsx).unwrap()).unwrap();
    let mut workbook = String::new();
    zip.by_name("xl/workbook.xml").unwrap().read_to_string(&mut workbook).unwrap();
    let names: Vec<&str> = workbook.split("<sheet name=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    let part = format!("xl/worksheets/sheet{}.xml", names.iter().position(|n| *n == sheet).unwrap() + 1);
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        if name == part {
            let mut xml = String::from_utf8(bytes).unwrap();
            let header_end = xml.find("</row>").unwrap();
            let column_of = |header: &str, xml: &str| -> String {
                let at = xml[..header_end].find(&format!(">{header}<")).unwrap_or_else(|| panic!("no column {header}"));
                let cell = xml[..at].rfind("<c r=\"").unwrap() + 6;
                xml[cell..].chars().take_while(|c| c.is_ascii_uppercase()).collect()
            };
            for (person, cells) in entries {
                let at = xml.find(person).unwrap_or_else(|| panic!("{person} is not on {sheet}"));
                let row_start = xml[..at].rfind("<row r=\"").unwrap() + 8;
                let row: String = xml[row_start..].chars().take_while(|c| c.is_ascii_digit()).collect();
                let end = at + xml[at..].find("</row>").unwrap();
                let typed: String = cells
                    .iter()
                    .map(|(h, v)| format!("<c r=\"{}{row}\" t=\"inlineStr\"><is><t>{v}</t></is></c>", column_of(h, &xml)))
                    .collect();
                xml.insert_str(end, &typed);
            }
            bytes = xml.into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// The tasks workbook is what reviewers have open: its 决定 column is a drop-down of the
/// codebook's decisions, and the workbook itself, filled in and dropped into inbox/review/, is
/// read back as decisions (a bad entry quarantined with its sheet and column).
#[test]
fn the_tasks_workbook_filled_in_by_a_reviewer_is_read_back_as_decisions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, lake, out) = hand_made_county(dir);
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-01.csv"),
        &[
            &POLICE,
            &format!("{},2012-01-01,1,431102001,P1,2026-10-20,S,S01,", pk(1)),
            &format!("{},2012-01-01,2,431102002,P4,2026-10-21,S,S03,", pk(4)),
            &format!("{},2012-01-01,2,431102002,P5,2026-10-21,S,S03,", pk(5)),
        ],
    );
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-01", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tasks = out.join("2026-11-01/tasks.xlsx");

    // The drop-down lists the decisions, on the 决定 column of every task row.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&tasks).unwrap()).unwrap();
    let mut sheet = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/worksheets/sheet3.xml").unwrap(), &mut sheet).unwrap();
    assert!(sheet.contains("<dataValidation type=\"list\""), "公安's sheet has a drop-down");
    for d in ["已核实", "已帮扶", "排除", "转介"] {
        assert!(sheet.contains(d), "the drop-down offers {d}");
    }

    let filled = filled_in(
        &tasks,
        "公安",
        &[
            (pk(1).as_str(), &[("决定", "已帮扶"), ("核查人", "R001"), ("决定日期", "2026-11-05"), ("备注", "已约谈家长")]),
            (pk(4).as_str(), &[("决定", "不知道"), ("核查人", "R003"), ("决定日期", "2026-11-06")]),
        ],
    );
    std::fs::create_dir_all(dir.join("inbox/review")).unwrap();
    std::fs::write(dir.join("inbox/review/tasks_2026-11-01.xlsx"), filled).unwrap();
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-20", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("decisions review/tasks_2026-11-01.xlsx: 2 row(s) read, 1 accepted, 1 quarantined"), "{}", run.stdout);
    let night2 = out.join("2026-11-20");
    let status = parquet_rows(&night2.join("tasks.parquet"), "SELECT person_key, status FROM t ORDER BY person_key");
    assert_eq!(status, vec![vec![pk(1), "closed".into()], vec![pk(4), "open".into()], vec![pk(5), "open".into()]]);
    let closed_on = parquet_rows(&night2.join("tasks.parquet"), &format!("SELECT CAST(closed_on AS VARCHAR) FROM t WHERE person_key = '{}'", pk(1)));
    assert_eq!(closed_on, vec![vec!["2026-11-05".to_string()]]);
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&tasks).unwrap();
    let police = calamine::Reader::worksheet_range(&mut book, "公安").unwrap();
    let line = police.rows().position(|r| r[0].to_string() == pk(4)).unwrap() + 1;
    let q = lake_query(&lake, "SELECT line, column_name, reason FROM quarantine WHERE table_name = 'review_decisions'");
    assert_eq!(q, vec![vec![line.to_string(), "公安!decision".into(), "unknown_code".into()]]);
    let quality: serde_json::Value = serde_json::from_slice(&std::fs::read(night2.join("quality.json")).unwrap()).unwrap();
    let d = &quality["decision_files"][0];
    assert_eq!((d["rows_read"].as_u64(), d["rows_accepted"].as_u64(), d["rows_quarantined"].as_u64()), (Some(2), Some(1), Some(1)));
    // quality.xlsx shows the file and its quarantined row, as a reviewer's supervisor reads it.
    let mut q: calamine::Xlsx<_> = calamine::open_workbook(night2.join("quality.xlsx")).unwrap();
    let files = calamine::Reader::worksheet_range(&mut q, "复核决定文件").unwrap();
    let row: Vec<String> = files.rows().nth(1).unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(row, ["review/tasks_2026-11-01.xlsx", "已接收", "", "2", "1", "1"]);
    assert!(
        files.rows().any(|r| r[0].to_string() == "review/tasks_2026-11-01.xlsx" && r[1].to_string() == line.to_string() && r[2].to_string() == "公安!decision"),
        "the quarantined decision is listed"
    );
    for f in files_under(&lake) {
        let bytes = std::fs::read(&f).unwrap();
        let needle = "约谈".as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{} holds the note", f.display());
    }
}
