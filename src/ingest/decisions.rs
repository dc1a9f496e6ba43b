//! Reading a reviewers' decisions file (`inbox/review/`, see `review.rs` for what becomes of
//! its rows): a CSV or XLSX with the columns of [`COLUMNS`], or the day's `tasks.xlsx` filled in.
//! Only the rows' text: validation and the lake are the review stage's.

use std::path::Path;

/// The fields of a decision, in this order.
pub const COLUMNS: [&str; 6] = ["person_key", "unit", "decision", "note", "reviewer", "decided_on"];
const REQUIRED: [&str; 5] = ["person_key", "unit", "decision", "reviewer", "decided_on"];

/// One row of a decisions file: the fields of `COLUMNS`, where it was (the sheet of a tasks
/// workbook, else none) and its line.
pub struct RawRow {
    pub fields: Vec<String>,
    pub sheet: Option<String>,
    pub line: i64,
}

/// Reads a small decisions file into rows of text (header checked). Reviewers' files are a few
/// hundred rows a day, so they are read whole. A tasks workbook (`tasks.xlsx`, its unit sheets
/// with 人员编号 and 决定 columns) is read back too: each unit sheet's rows with anything filled
/// in the reviewer's columns are decisions for that unit.
pub fn read_rows(path: &Path, units: &[String]) -> std::result::Result<Vec<RawRow>, String> {
    let lower = path.to_string_lossy().to_lowercase();
    if lower.ends_with(".xlsx") {
        use calamine::{Reader, open_workbook_auto};
        let mut book = open_workbook_auto(path).map_err(|e| format!("cannot be read as XLSX: {e}"))?;
        let mut sheets = Vec::new();
        for name in book.sheet_names() {
            let range = book.worksheet_range(&name).map_err(|e| format!("cannot be read as XLSX: {e}"))?;
            let rows: Vec<Vec<String>> = range
                .rows()
                .map(|r| {
                    r.iter()
                        .map(|c| match c {
                            calamine::Data::DateTime(d) => d.as_datetime().map(|t| t.date().to_string()).unwrap_or_default(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect();
            sheets.push((name, rows));
        }
        let is_tasks = |rows: &[Vec<String>]| rows.first().is_some_and(|h| h.iter().any(|c| c.trim() == "人员编号") && h.iter().any(|c| c.trim() == "决定"));
        if sheets.iter().any(|(_, rows)| is_tasks(rows)) {
            return Ok(task_rows(sheets.into_iter().filter(|(_, rows)| is_tasks(rows)), units));
        }
        let (_, rows) = sheets.into_iter().next().ok_or("has no sheet")?;
        decision_rows(rows)
    } else if lower.ends_with(".csv") {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
        let text = crate::ingest::read::decode_text(&bytes)?;
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_string).collect()).map_err(|e| format!("is not valid CSV: {e}")))
            .collect::<std::result::Result<_, _>>()?;
        decision_rows(rows)
    } else {
        Err("is not a CSV or XLSX file".into())
    }
}

/// The rows of a decisions file (a header naming `COLUMNS`, then one decision per row).
fn decision_rows(mut rows: Vec<Vec<String>>) -> std::result::Result<Vec<RawRow>, String> {
    if rows.is_empty() {
        return Err("is empty".into());
    }
    let header: Vec<String> = rows.remove(0).iter().map(|c| c.trim().to_ascii_lowercase()).collect();
    if let Some(missing) = REQUIRED.iter().find(|c| !header.contains(&c.to_string())) {
        return Err(format!("the header lacks the required column `{missing}`"));
    }
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| RawRow {
            fields: COLUMNS
                .iter()
                .map(|c| header.iter().position(|h| h == c).and_then(|i| r.get(i)).map(|v| v.trim().to_string()).unwrap_or_default())
                .collect(),
            sheet: None,
            line: i as i64 + 2,
        })
        .collect())
}

/// The decisions of a tasks workbook: on each unit sheet, the rows where a reviewer filled in
/// one of 决定, 核查人, 决定日期, 备注 (a row left blank is a task nobody has decided yet). The
/// unit is the sheet's (a sheet of no known unit gives rows without a unit, quarantined).
fn task_rows(sheets: impl Iterator<Item = (String, Vec<Vec<String>>)>, units: &[String]) -> Vec<RawRow> {
    use crate::report::lists::{TASK_INPUTS, sheet_name};
    let mut out = Vec::new();
    for (name, mut rows) in sheets {
        let header: Vec<String> = rows.remove(0).iter().map(|c| c.trim().to_string()).collect();
        let at = |h: &str| header.iter().position(|c| c == h);
        let unit = units.iter().find(|u| sheet_name(u) == name).cloned().unwrap_or_default();
        for (i, r) in rows.iter().enumerate() {
            let get = |h: &str| at(h).and_then(|c| r.get(c)).map(|v| v.trim().to_string()).unwrap_or_default();
            if TASK_INPUTS.iter().skip(1).all(|(h, _)| get(h).is_empty()) {
                continue;
            }
            let fields = COLUMNS
                .iter()
                .map(|c| match *c {
                    "unit" => unit.clone(),
                    c => TASK_INPUTS.iter().find(|(_, f)| *f == c).map(|(h, _)| get(h)).unwrap_or_default(),
                })
                .collect();
            out.push(RawRow { fields, sheet: Some(name.clone()), line: i as i64 + 2 });
        }
    }
    out
}

