//! Reviewers' decisions (复核结论), fed back: files in `inbox/review/` (CSV or XLSX) with
//! `person_key`, `unit`, `decision` (已核实 / 已帮扶 / 排除 / 转介, the codebook's
//! `[review.decision]`), `note`, `reviewer`, `decided_on`. Rows are validated like any input — a
//! bad row is quarantined with its file, line, column and reason — and kept in the lake's
//! `decisions` table. A decision closes that person's task for that unit; 排除 keeps the person
//! off the list until a signal dated after the decision arrives.
//!
//! The note is free text a reviewer typed and may name a child, so it is never stored: the lake
//! keeps only whether there was one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::config::{Plan, sha256_hex};
use crate::error::{Error, Result};
use crate::lake::{self, Lake};
use crate::sql::lit;

/// The folder of the inbox reviewers' files go into.
pub const REVIEW_FOLDER: &str = "review";
/// The name decisions go by in the `files` and `quarantine` tables.
pub const TABLE: &str = "review_decisions";
const COLUMNS: [&str; 6] = ["person_key", "unit", "decision", "note", "reviewer", "decided_on"];
const REQUIRED: [&str; 5] = ["person_key", "unit", "decision", "reviewer", "decided_on"];

/// What became of one decisions file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecisionFile {
    pub file: String,
    /// accepted, rejected (with why), or duplicate_file (ingested before).
    pub status: String,
    pub detail: Option<String>,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
}

/// One row of a decisions file: the fields of `COLUMNS`, where it was (the sheet of a tasks
/// workbook, else none) and its line.
struct RawRow {
    fields: Vec<String>,
    sheet: Option<String>,
    line: i64,
}

/// Reads a small decisions file into rows of text (header checked). Reviewers' files are a few
/// hundred rows a day, so they are read whole. A tasks workbook (`tasks.xlsx`, its unit sheets
/// with 人员编号 and 决定 columns) is read back too: each unit sheet's rows with anything filled
/// in the reviewer's columns are decisions for that unit.
fn read_rows(path: &Path, units: &[String]) -> std::result::Result<Vec<RawRow>, String> {
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

/// Ingests the new decisions files of `inbox/review/` into the lake's `decisions` table (and
/// bad rows into `quarantine`). `ctx` has the lake registered.
pub async fn ingest(ctx: &SessionContext, plan: &Plan, lake: &Lake, run_id: &str) -> Result<Vec<DecisionFile>> {
    let folder = plan.inbox.join(REVIEW_FOLDER);
    let Ok(entries) = std::fs::read_dir(&folder) else { return Ok(Vec::new()) };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    paths.sort();
    let known = crate::sql::collect_strings(ctx, &format!("SELECT sha256 FROM files WHERE table_name = {}", lit(TABLE))).await?;
    let units = crate::score::unit_order(plan);
    let decisions: Vec<String> = plan.codebook.section("review.decision").map(|s| s.keys().cloned().collect()).unwrap_or_default();
    let mut reports = Vec::new();
    for path in paths {
        let file = format!("{REVIEW_FOLDER}/{}", path.file_name().unwrap_or_default().to_string_lossy());
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let sha = sha256_hex(&bytes);
        let mut report = DecisionFile { file: file.clone(), status: "accepted".into(), detail: None, rows_read: 0, rows_accepted: 0, rows_quarantined: 0 };
        if known.contains(&sha) {
            report.status = "duplicate_file".into();
            reports.push(report);
            continue;
        }
        let rows = match read_rows(&path, &units) {
            Ok(rows) => rows,
            Err(why) => {
                tracing::error!(file, "rejected: {why}");
                report.status = "rejected".into();
                report.detail = Some(why);
                reports.push(report);
                continue;
            }
        };
        let columns: Vec<ArrayRef> = (0..COLUMNS.len())
            .map(|i| {
                Arc::new(StringArray::from(
                    rows.iter().map(|r| Some(r.fields[i].as_str()).filter(|v| !v.is_empty())).collect::<Vec<_>>(),
                )) as ArrayRef
            })
            .chain([
                Arc::new(StringArray::from(rows.iter().map(|r| r.sheet.as_deref()).collect::<Vec<_>>())) as ArrayRef,
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.line))) as ArrayRef,
            ])
            .collect();
        let mut fields: Vec<Field> = COLUMNS.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect();
        fields.push(Field::new("sheet", DataType::Utf8, true));
        fields.push(Field::new("line", DataType::Int64, false));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let _ = ctx.deregister_table("review_raw");
        ctx.register_table("review_raw", Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?))?;
        let list = |v: &[String]| v.iter().map(|x| lit(x)).collect::<Vec<_>>().join(", ");
        let a = crate::sql::date(plan.as_of);
        let checked = format!(
            "SELECT *, CASE
                 WHEN person_key IS NULL THEN 'missing_field' WHEN unit IS NULL THEN 'missing_field'
                 WHEN decision IS NULL THEN 'missing_field' WHEN reviewer IS NULL THEN 'missing_field'
                 WHEN decided_on IS NULL THEN 'missing_field'
                 WHEN NOT regexp_like(person_key, '^[0-9a-f]{{64}}$') THEN 'bad_person_key'
                 WHEN unit NOT IN ({units}) THEN 'unknown_code'
                 WHEN decision NOT IN ({decisions}) THEN 'unknown_code'
                 WHEN parse_date(decided_on) IS NULL THEN 'bad_date'
                 WHEN parse_date(decided_on) > {a} THEN 'future_date'
               END AS reason,
               CASE
                 WHEN person_key IS NULL THEN 'person_key' WHEN unit IS NULL THEN 'unit'
                 WHEN decision IS NULL THEN 'decision' WHEN reviewer IS NULL THEN 'reviewer'
                 WHEN decided_on IS NULL THEN 'decided_on'
                 WHEN NOT regexp_like(person_key, '^[0-9a-f]{{64}}$') THEN 'person_key'
                 WHEN unit NOT IN ({units}) THEN 'unit'
                 WHEN decision NOT IN ({decisions}) THEN 'decision'
                 ELSE 'decided_on'
               END AS reason_column
             FROM review_raw",
            units = list(&units),
            decisions = if decisions.is_empty() { "''".into() } else { list(&decisions) },
        );
        let run = lit(run_id);
        let f = lit(&file);
        let good = ctx
            .sql(&format!(
                "SELECT {run} AS run_id, {f} AS file, line, person_key, unit, decision, reviewer,
                        parse_date(decided_on) AS decided_on, note IS NOT NULL AS has_note
                 FROM ({checked}) WHERE reason IS NULL"
            ))
            .await?;
        let bad = ctx
            .sql(&format!(
                "SELECT {run} AS run_id, {f} AS file, line, {t} AS table_name, CAST(NULL AS VARCHAR) AS record_id,
                        CASE WHEN sheet IS NULL THEN reason_column ELSE sheet || '!' || reason_column END AS column_name, reason
                 FROM ({checked}) WHERE reason IS NOT NULL",
                t = lit(TABLE)
            ))
            .await?;
        report.rows_read = rows.len() as u64;
        report.rows_accepted = good.clone().count().await? as u64;
        report.rows_quarantined = bad.clone().count().await? as u64;
        if report.rows_accepted > 0 {
            lake.append(ctx, lake::DECISIONS, good).await?;
        }
        if report.rows_quarantined > 0 {
            lake.append(ctx, lake::QUARANTINE, bad).await?;
        }
        let remember = ctx
            .sql(&format!(
                "SELECT {run} AS run_id, {f} AS file, {sha} AS sha256, {size} AS size, 0 AS mtime, {t} AS table_name,
                        'accepted' AS status, {read} AS rows_read, {acc} AS rows_accepted, {q} AS rows_quarantined, 0 AS rows_duplicate,
                        CAST(NULL AS VARCHAR) AS format, CAST(NULL AS VARCHAR) AS encoding, CAST(NULL AS VARCHAR) AS duplicate_of",
                sha = lit(&sha),
                size = bytes.len(),
                t = lit(TABLE),
                read = report.rows_read,
                acc = report.rows_accepted,
                q = report.rows_quarantined,
            ))
            .await?;
        lake.append(ctx, lake::FILES, remember).await?;
        tracing::info!(file, rows = report.rows_read, accepted = report.rows_accepted, quarantined = report.rows_quarantined, "decisions ingested");
        reports.push(report);
    }
    Ok(reports)
}
