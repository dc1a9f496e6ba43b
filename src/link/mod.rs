//! Link: one person per youth across departments, and one current version per record.
//!
//! Rows with only `name_hash` + `birth_date` + `gender` are linked to the single `person_key`
//! seen with the same three (given, or made from `id_number`); none is `unlinkable`, more than
//! one is `ambiguous_link`. Such rows wait in the lake's `pending` table and are retried on every
//! run. So do rows quarantined as `future_date` (dated after their run's as-of date, valid
//! otherwise): they are retried once a run's as-of date reaches their date, so that a mistyped
//! as-of date loses no row. A retried row that is resolved leaves `pending`. A record whose
//! `(table, record_id)` is known replaces the earlier version when it differs (a correction)
//! and is a duplicate when it is identical. All of it is one SQL plan (`link.sql`, then
//! `version.sql`); this module writes its result into the lake.

use std::path::Path;

use chrono::NaiveDate;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::error::Result;
use crate::lake::{self, Lake};
use crate::sql::{Keep, Template, count, lit, materialise_into};

const LINK_SQL: &str = include_str!("link.sql");
const VERSION_SQL: &str = include_str!("version.sql");
const WAITING_SQL: &str = include_str!("waiting.sql");
const IDENTITY: [&str; 3] = ["person_key", "name_hash", "link_method"];

/// The canonical columns without the problem columns, and without the identity ones.
fn column_lists() -> (Vec<String>, Vec<String>) {
    let plain: Vec<String> = lake::staged_columns()
        .into_iter()
        .filter(|c| c != "reason" && c != "reason_column")
        .collect();
    let but_identity = plain.iter().filter(|c| !IDENTITY.contains(&c.as_str())).cloned().collect();
    (plain, but_identity)
}

/// Step 1 (`link.sql`), with its column lists and the run's as-of date filled in (reads
/// `staged`, `persons`, `pending`, `signals`).
pub fn link_sql(as_of: NaiveDate) -> Result<String> {
    let (plain, but_identity) = column_lists();
    let pending_cols: Vec<String> = plain
        .iter()
        .map(|c| if c == "file_order" { "CAST(-1 AS BIGINT) AS file_order".to_string() } else { format!("p.{c}") })
        .collect();
    Template::new("link.sql", LINK_SQL)
        .set("cols", plain.join(", "))
        .set("pending_cols", pending_cols.join(", "))
        .set("u_cols_but_identity", but_identity.iter().map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", "))
        .set("cols_but_identity", but_identity.join(", "))
        .set("as_of", as_of.format("%Y-%m-%d").to_string())
        .render()
}

/// Step 2 (`version.sql`), with its column lists filled in (reads `linked`, `signals`).
pub fn version_sql() -> Result<String> {
    let (_, but_identity) = column_lists();
    let tail = ["name_hash", "from_pending", "person_key", "link_method"];
    let mut linked: Vec<String> = but_identity.clone();
    linked.extend(tail.iter().map(|c| c.to_string()));
    linked.push("link_reason".into());
    linked.push("record_hash".into());
    let nulls: Vec<String> = linked
        .iter()
        .map(|c| match c.as_str() {
            "table_name" | "record_id" | "record_hash" => c.clone(),
            "file_order" => "CAST(-2 AS BIGINT) AS file_order".into(),
            "line" => "CAST(0 AS BIGINT) AS line".into(),
            "from_pending" => "0 AS from_pending".into(),
            other => format!("NULL AS {other}"),
        })
        .collect();
    let mut out: Vec<String> = but_identity;
    out.extend(tail.iter().map(|c| c.to_string()));
    out.push("record_hash".into());
    Template::new("version.sql", VERSION_SQL)
        .set("hashed_cols", linked.join(", "))
        .set("null_cols", nulls.join(", "))
        .set("out_cols", out.join(", "))
        .render()
}

/// Runs the two resolve plans over `staging/*.parquet` and the lake, as of `as_of` (the run's
/// date, which decides which `future_date` rows of `pending` are retried), writing
/// `linked.parquet` and `resolved.parquet` into the scratch folder. Returns the path of the latter.
pub async fn resolve(ctx: &SessionContext, staging: &Path, scratch: &Path, as_of: NaiveDate) -> Result<std::path::PathBuf> {
    let _ = ctx.deregister_table("staged");
    let has_staged = std::fs::read_dir(staging).map(|d| d.count() > 0).unwrap_or(false);
    if has_staged {
        ctx.register_parquet("staged", staging.to_str().expect("utf-8 path"), ParquetReadOptions::default())
            .await?;
    } else {
        let empty = datafusion::datasource::MemTable::try_new(
            std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(lake::staged_fields())),
            vec![vec![]],
        )?;
        ctx.register_table("staged", std::sync::Arc::new(empty))?;
    }
    let t = std::time::Instant::now();
    let linked = scratch.join("linked.parquet");
    materialise_into(ctx, "linked", &link_sql(as_of)?, Keep::Parquet(&linked, crate::ingest::staging_parquet_options())).await?;
    tracing::debug!(seconds = t.elapsed().as_secs_f64(), "linked");
    let out = scratch.join("resolved.parquet");
    materialise_into(ctx, "resolved", &version_sql()?, Keep::Parquet(&out, crate::ingest::staging_parquet_options())).await?;
    Ok(out)
}

/// Writes the resolved records into the lake: replaced versions deleted, new versions appended
/// as signals, new persons, pending rows (unlinkable, ambiguous and future-dated; retried rows
/// that were resolved leave it) and quarantined rows. Returns (signals written, persons added).
pub async fn write_lake(ctx: &SessionContext, lake: &Lake, run_id: &str) -> Result<(u64, u64)> {
    let run = lit(run_id);
    let replaced = ctx
        .sql("SELECT DISTINCT table_name, record_id FROM resolved WHERE write_version AND key_in_lake")
        .await?;
    if replaced.clone().count().await? > 0 {
        lake.delete_keys(ctx, lake::SIGNALS, replaced).await?;
    }
    let signal_cols = "person_key, link_method, source, table_name, record_kind, record_id, code, qualifier, \
        event_on, end_on, birth_date, birth_on, gender, township_code, school_code, name_hash, record_hash, file, line";
    let signals = ctx
        .sql(&format!(
            "SELECT {signal_cols}, category, severity, false AS is_also, {run} AS run_id FROM resolved WHERE write_version
             UNION ALL
             SELECT {signal_cols}, also_category AS category, also_severity AS severity, true AS is_also, {run} AS run_id
             FROM resolved WHERE write_version AND also_category IS NOT NULL"
        ))
        .await?;
    let written = signals.clone().count().await? as u64;
    if written > 0 {
        lake.append(ctx, lake::SIGNALS, signals).await?;
    }
    let persons = ctx
        .sql(&format!(
            "WITH arriving AS (
               -- distinct first: the anti-join's hash table is built on these, not on every row
               SELECT DISTINCT person_key, name_hash, birth_date, gender FROM resolved
               WHERE status <> 'quarantined' AND link_method IN ('person_key', 'id_number')
             )
             SELECT r.person_key, r.name_hash, r.birth_date, r.gender, {run} AS run_id
             FROM arriving r
             WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.person_key = r.person_key
                 AND (p.name_hash IS NOT DISTINCT FROM r.name_hash)
                 AND p.birth_date = r.birth_date AND p.gender = r.gender)"
        ))
        .await?
        // kept in memory (a few columns): counting and writing then run the anti-join once
        .cache()
        .await?;
    let added = persons.clone().count().await? as u64;
    if added > 0 {
        lake.append(ctx, lake::PERSONS, persons).await?;
    }
    let staged = lake::staged_columns();
    let pending_cols: Vec<String> = staged
        .iter()
        .map(|c| match c.as_str() {
            "reason" => "status_reason AS reason".to_string(),
            "reason_column" => "'name_hash' AS reason_column".to_string(),
            other => other.to_string(),
        })
        .collect();
    let resolved_pending = ctx
        .sql("SELECT DISTINCT table_name, record_id FROM resolved WHERE from_pending = 1 AND status <> 'quarantined'")
        .await?;
    if resolved_pending.clone().count().await? > 0 {
        lake.delete_keys(ctx, lake::PENDING, resolved_pending).await?;
    }
    let pending = ctx
        .sql(&format!(
            "SELECT {}, {run} AS run_id FROM resolved WHERE status = 'quarantined' AND from_pending = 0
             UNION ALL
             SELECT {}, {run} AS run_id FROM staged WHERE reason = 'future_date'",
            pending_cols.join(", "),
            staged.join(", ")
        ))
        .await?;
    if pending.clone().count().await? > 0 {
        lake.append(ctx, lake::PENDING, pending).await?;
    }
    let quarantine = ctx
        .sql(&format!(
            "SELECT {run} AS run_id, file, line, table_name, record_id, reason_column AS column_name, reason
             FROM staged WHERE reason IS NOT NULL
             UNION ALL
             SELECT {run} AS run_id, file, line, table_name, record_id, 'name_hash' AS column_name, status_reason AS reason
             FROM resolved WHERE status = 'quarantined' AND from_pending = 0"
        ))
        .await?;
    if quarantine.clone().count().await? > 0 {
        lake.append(ctx, lake::QUARANTINE, quarantine).await?;
    }
    Ok((written, added))
}

/// The rows still waiting in `pending` for their person or their date (`waiting.sql`); `ctx`
/// has the lake registered.
pub async fn waiting(ctx: &SessionContext) -> Result<u64> {
    count(ctx, waiting_sql()).await
}

/// `waiting.sql` (reads `pending`, `signals`; one row: the count).
pub fn waiting_sql() -> &'static str {
    WAITING_SQL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolve_templates_are_filled_whole() {
        // `render` fails on a placeholder left unfilled or a value no longer used.
        let link = link_sql(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()).unwrap();
        assert!(link.contains("p.future_on <= DATE '2026-11-24'"), "{link}");
        let version = version_sql().unwrap();
        assert!(version.contains("CAST(-2 AS BIGINT) AS file_order") && !version.contains("{null_cols}"), "{version}");
    }
}
