//! Link: one person per youth across departments, and one current version per record.
//!
//! Rows with only `name_hash` + `birth_date` + `gender` are linked to the single `person_key`
//! seen with the same three (given, or made from `id_number`); none is `unlinkable`, more than
//! one is `ambiguous_link`. Such rows wait in the lake's `pending` table and are retried on every
//! run. A record whose `(table, record_id)` is known replaces the earlier version when it
//! differs (a correction) and is a duplicate when it is identical. All of it is one SQL plan
//! (`resolve.sql`); this module writes its result into the lake.

use std::path::Path;

use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::error::Result;
use crate::lake::{self, Lake};

const RESOLVE_SQL: &str = include_str!("resolve.sql");
const IDENTITY: [&str; 3] = ["person_key", "name_hash", "link_method"];

/// The resolve query, with its column lists filled in.
fn resolve_sql() -> String {
    let cols = lake::staged_columns();
    let plain: Vec<&str> = cols.iter().map(String::as_str).filter(|c| *c != "reason" && *c != "reason_column").collect();
    let but_identity: Vec<&str> = plain.iter().copied().filter(|c| !IDENTITY.contains(c)).collect();
    let pending_cols: Vec<String> = plain
        .iter()
        .map(|c| if *c == "file_order" { "CAST(-1 AS BIGINT) AS file_order".to_string() } else { format!("p.{c}") })
        .collect();
    let null_cols: Vec<String> = but_identity
        .iter()
        .filter(|c| **c != "table_name" && **c != "record_id")
        .map(|c| match *c {
            "file_order" => "CAST(-2 AS BIGINT) AS file_order".to_string(),
            "line" => "CAST(0 AS BIGINT) AS line".to_string(),
            other => format!("NULL AS {other}"),
        })
        .collect();
    // `versions` unions hashed.* with the lake rows: keep hashed's column order there.
    let hashed_order: Vec<&str> = but_identity.iter().copied().filter(|c| *c != "table_name" && *c != "record_id").collect();
    RESOLVE_SQL
        .replace("{cols}", &plain.join(", "))
        .replace("{pending_cols}", &pending_cols.join(", "))
        .replace("{u_cols_but_identity}", &but_identity.iter().map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", "))
        .replace("{cols_but_identity}", &but_identity.join(", "))
        .replace("{null_cols_but_key}", &null_cols.join(", "))
        .replace("{out_cols}", &but_identity.join(", "))
        .replace("SELECT hashed.*, false AS in_lake FROM hashed", &format!(
            "SELECT {}, table_name, record_id, name_hash, from_pending, person_key, link_method, link_reason, record_hash, false AS in_lake FROM hashed",
            hashed_order.join(", ")
        ))
}

/// Runs the resolve plan over `staging/*.parquet` and the lake, writing `resolved.parquet`
/// into the scratch folder. Returns the path.
pub async fn resolve(ctx: &SessionContext, staging: &Path, scratch: &Path) -> Result<std::path::PathBuf> {
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
    let out = scratch.join("resolved.parquet");
    ctx.sql(&resolve_sql())
        .await?
        .write_parquet(
            out.to_str().expect("utf-8 path"),
            datafusion::dataframe::DataFrameWriteOptions::new().with_single_file_output(true),
            Some(crate::ingest::staging_parquet_options()),
        )
        .await?;
    let _ = ctx.deregister_table("resolved");
    ctx.register_parquet("resolved", out.to_str().expect("utf-8 path"), ParquetReadOptions::default()).await?;
    Ok(out)
}

/// Writes the resolved records into the lake: replaced versions deleted, new versions appended
/// as signals, new persons, pending and quarantined rows. Returns (signals written, persons added).
pub async fn write_lake(ctx: &SessionContext, lake: &Lake, run_id: &str) -> Result<(u64, u64)> {
    let run = crate::ingest::validate::lit(run_id);
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
            "SELECT DISTINCT r.person_key, r.name_hash, r.birth_date, r.gender, {run} AS run_id
             FROM resolved r
             WHERE r.status <> 'quarantined' AND r.link_method IN ('person_key', 'id_number')
               AND NOT EXISTS (SELECT 1 FROM persons p WHERE p.person_key = r.person_key
                 AND (p.name_hash IS NOT DISTINCT FROM r.name_hash)
                 AND p.birth_date = r.birth_date AND p.gender = r.gender)"
        ))
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
    let pending = ctx
        .sql(&format!(
            "SELECT {}, {run} AS run_id FROM resolved WHERE status = 'quarantined' AND from_pending = 0",
            pending_cols.join(", ")
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
