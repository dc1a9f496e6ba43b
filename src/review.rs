//! Reviewers' decisions (复核结论), fed back: files in `inbox/review/` (CSV or XLSX) with
//! `person_key`, `unit`, `decision` (已核实 / 已帮扶 / 排除 / 转介, the codebook's
//! `[review.decision]`), `note`, `reviewer`, `decided_on`. Rows are validated like any input — a
//! bad row is quarantined with its file, line, column and reason — and kept in the lake's
//! `decisions` table. A decision closes that person's task for that unit; 排除 keeps the person
//! off the list until a signal dated after the decision arrives.
//!
//! The note is free text a reviewer typed and may name a child, so it is never stored: the lake
//! keeps only whether there was one.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::config::{Plan, sha256_hex};
use crate::error::{Error, Result};
use crate::ingest::decisions::{COLUMNS, read_rows};
use crate::lake::{self, Lake};
use crate::sql::lit;

/// The folder of the inbox reviewers' files go into.
pub const REVIEW_FOLDER: &str = "review";
/// The name decisions go by in the `files` and `quarantine` tables.
pub const TABLE: &str = "review_decisions";

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

/// Ingests the new decisions files of `inbox/review/` into the lake's `decisions` table (and
/// bad rows into `quarantine`). `ctx` has the lake registered.
/// The decisions a reviewer may record (the codebook's `[review.decision]`): what a decision file's
/// rows are checked against, and the drop-down of tasks.xlsx.
pub fn decision_codes(plan: &Plan) -> Vec<String> {
    plan.codebook.section("review.decision").map(|s| s.keys().cloned().collect()).unwrap_or_default()
}

pub async fn ingest(ctx: &SessionContext, plan: &Plan, lake: &Lake, run_id: &str) -> Result<Vec<DecisionFile>> {
    let folder = plan.inbox.join(REVIEW_FOLDER);
    let Ok(entries) = std::fs::read_dir(&folder) else { return Ok(Vec::new()) };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    paths.sort();
    let known = crate::sql::collect_strings(ctx, &format!("SELECT sha256 FROM files WHERE table_name = {}", lit(TABLE))).await?;
    let units = &plan.codebook.units;
    let decisions = decision_codes(plan);
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
        let rows = match read_rows(&path, units) {
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
