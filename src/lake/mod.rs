//! The lake: humiao's Delta tables, and the only module that uses deltalake.
//!
//! | table | one row is |
//! |---|---|
//! | `signals` | one signal of an accepted record (a record may feed two categories) |
//! | `persons` | a pseudonymous person as seen with a name hash, birth date and gender |
//! | `pending` | a valid row whose person is not known yet, or dated after its run's as-of date (`future_date`), retried on later runs |
//! | `quarantine` | a rejected row: file, line, column, reason (never a value) |
//! | `files` | an ingested inbox file, with its content hash and row accounting |
//! | `runs` | a completed run (and the audit log entry it anchors); rows of any other run are debris of a crash |
//! | `scores` | the risk list of each scored as-of date (the history changes are read from) |
//! | `trends` | each run's monthly counts (month end, measure, key, people) |
//! | `month_ends` | a month end's counts (month end, measure, key, people), with the model and inputs fingerprint that made them, and whether they were sealed before the age-out purge reached its people; no person key |
//! | `decisions` | a reviewer's decision on a person for a unit (the note's text is not kept) |
//! | `tasks` | the tasks of each scored as-of date (the open ones are carried to the next date until a decision closes them) |
//!
//! Every row carries the `run_id` that wrote it. A run commits `runs` last, so
//! [`Lake::recover`] can remove what a killed run left behind before the next run starts. The
//! one exception is the sealed counts of `month_ends`: they are written (and committed) before
//! the purge of the run that writes them, from the committed lake, and stay whatever happens to
//! that run after (the purge they precede may already be done); `recover` leaves `month_ends`
//! to the rollback, which undoes only what a run wrote after [`Lake::begin`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::DeltaTable;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;

use crate::error::{Error, Result};
use crate::sql::{collect_strings, lit};

pub const SIGNALS: &str = "signals";
pub const PERSONS: &str = "persons";
pub const PENDING: &str = "pending";
pub const QUARANTINE: &str = "quarantine";
pub const FILES: &str = "files";
pub const RUNS: &str = "runs";
pub const SCORES: &str = "scores";
pub const TRENDS: &str = "trends";
pub const DECISIONS: &str = "decisions";
pub const MONTH_ENDS: &str = "month_ends";
pub const TASKS: &str = "tasks";
pub const TABLES: [&str; 11] = [SIGNALS, PERSONS, PENDING, QUARANTINE, FILES, RUNS, SCORES, TRENDS, DECISIONS, MONTH_ENDS, TASKS];

/// The column that `signals`, `persons`, `scores` and `tasks` are partitioned by: the birth year
/// of the person a row is about. The age-out purge then drops whole files of the years it has
/// passed and rewrites only the files of the year it is in (a nightly purge of a few people
/// rewrites one year's rows, not the table). A year names no one, so the partition values in
/// the Delta log say nothing about a person.
pub const BIRTH_YEAR: &str = "birth_year";

/// The partition columns a new table is created with.
fn partitioned_by(table: &str) -> Vec<String> {
    match table {
        SIGNALS | PERSONS | SCORES | TASKS => vec![BIRTH_YEAR.to_string()],
        _ => Vec::new(),
    }
}

/// No column statistics in the log: min/max of person_key would keep a purged person's key in
/// the log after their rows are gone.
const NO_COLUMN_STATISTICS: (&str, Option<&str>) = ("delta.dataSkippingNumIndexedCols", Some("0"));

/// Files of at most 4 MiB in the tables about people (Delta's default is 100 MiB): a
/// correction's merge and the purge rewrite only the files that hold a matched row, so smaller
/// files make a night's few corrections rewrite a few megabytes, not a whole birth year.
const SMALL_FILES: (&str, Option<&str>) = ("delta.targetFileSize", Some("4194304"));

/// The properties a new table is created with.
fn table_configuration(table: &str) -> Vec<(&'static str, Option<&'static str>)> {
    if partitioned_by(table).is_empty() { vec![NO_COLUMN_STATISTICS] } else { vec![NO_COLUMN_STATISTICS, SMALL_FILES] }
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
fn int64(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}
fn int32(name: &str) -> Field {
    Field::new(name, DataType::Int32, true)
}
fn date(name: &str) -> Field {
    Field::new(name, DataType::Date32, true)
}

/// Names the lake table `table` (and its version, where known) in an error about it.
fn on<E: Into<Error>>(table: &str, version: Option<i64>) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::lake(table, version, e)
}

/// A table's version as read.
fn version_of(t: &DeltaTable) -> Option<i64> {
    t.version().map(|v| v as i64)
}

/// The newest version in a table's log folder (the one opening it reads), from its commit files'
/// names (`00000000000000000003.json`).
fn newest_logged(log: &Path) -> Option<i64> {
    std::fs::read_dir(log)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse::<i64>().ok())
        .max()
}

/// The canonical record every table's rows are validated into (one row per input row).
pub fn staged_fields() -> Vec<Field> {
    vec![
        utf8("file"),
        int64("file_order"),
        int64("line"),
        utf8("source"),
        utf8("table_name"),
        utf8("record_kind"),
        utf8("record_id"),
        utf8("person_key"),
        utf8("name_hash"),
        utf8("link_method"),
        utf8("birth_date"),
        date("birth_on"),
        utf8("gender"),
        utf8("township_code"),
        utf8("school_code"),
        date("event_on"),
        date("end_on"),
        // the date compared with the as-of date for `future_date` (an attendance month's 1st)
        date("future_on"),
        utf8("code"),
        utf8("qualifier"),
        utf8("category"),
        int32("severity"),
        utf8("also_category"),
        int32("also_severity"),
        utf8("reason"),
        utf8("reason_column"),
    ]
}

/// The column names of the canonical record, in order.
pub fn staged_columns() -> Vec<String> {
    staged_fields().iter().map(|f| f.name().clone()).collect()
}

/// The schema of each lake table (used to read a table that does not exist yet as empty).
pub fn schema_of(table: &str) -> SchemaRef {
    let fields = match table {
        SIGNALS => vec![
            utf8("person_key"),
            utf8("link_method"),
            utf8("source"),
            utf8("table_name"),
            utf8("record_kind"),
            utf8("record_id"),
            utf8("category"),
            utf8("code"),
            utf8("qualifier"),
            int32("severity"),
            date("event_on"),
            date("end_on"),
            utf8("birth_date"),
            date("birth_on"),
            utf8("gender"),
            utf8("township_code"),
            utf8("school_code"),
            utf8("name_hash"),
            utf8("record_hash"),
            Field::new("is_also", DataType::Boolean, true),
            utf8("file"),
            int64("line"),
            utf8("run_id"),
            int32(BIRTH_YEAR),
        ],
        PERSONS => vec![utf8("person_key"), utf8("name_hash"), utf8("birth_date"), utf8("gender"), utf8("run_id"), int32(BIRTH_YEAR)],
        PENDING => {
            let mut f = staged_fields();
            f.push(utf8("run_id"));
            f
        }
        QUARANTINE => vec![
            utf8("run_id"),
            utf8("file"),
            int64("line"),
            utf8("table_name"),
            utf8("record_id"),
            utf8("column_name"),
            utf8("reason"),
        ],
        FILES => vec![
            utf8("run_id"),
            utf8("file"),
            utf8("sha256"),
            int64("size"),
            int64("mtime"),
            utf8("table_name"),
            utf8("status"),
            int64("rows_read"),
            int64("rows_accepted"),
            int64("rows_quarantined"),
            int64("rows_duplicate"),
            // added later (NULL in rows of older lakes): what the quality report shows of the file
            utf8("format"),
            utf8("encoding"),
            utf8("duplicate_of"),
        ],
        RUNS => vec![
            utf8("run_id"),
            utf8("as_of"),
            utf8("started_at"),
            utf8("finished_at"),
            int64("files_ingested"),
            int64("rows_read"),
            // added later: rows of `pending` this run linked or whose date came
            int64("rows_relinked"),
            // added later: the last audit log entry written before the run committed (see
            // ops::audit, "The head")
            int64("audit_seq"),
            utf8("audit_hash"),
        ],
        SCORES => vec![
            date("as_of"),
            utf8("person_key"),
            utf8("tier"),
            Field::new("score", DataType::Float64, true),
            date("first_listed_on"),
            date("tier_since"),
            date("birth_on"),
            utf8("model_version"),
            utf8("run_id"),
            int32(BIRTH_YEAR),
        ],
        DECISIONS => vec![
            utf8("run_id"),
            utf8("file"),
            int64("line"),
            utf8("person_key"),
            utf8("unit"),
            utf8("decision"),
            utf8("reviewer"),
            date("decided_on"),
            Field::new("has_note", DataType::Boolean, true),
        ],
        TASKS => vec![
            date("as_of"),
            utf8("unit"),
            utf8("person_key"),
            int64("rank"),
            utf8("tier"),
            utf8("tier_label"),
            utf8("reasons"),
            utf8("township_name"),
            utf8("school_code"),
            date("assigned_on"),
            utf8("tier_assigned"),
            utf8("tier_assigned_label"),
            date("due_on"),
            utf8("status"),
            utf8("status_label"),
            int64("days_overdue"),
            date("closed_on"),
            utf8("note"),
            // the first as-of date the task was carried without a list row to derive it from
            date("left_on"),
            // for the age-out: a purged person's tasks go with their other rows
            date("birth_on"),
            int64("unit_order"),
            utf8("run_id"),
            int32(BIRTH_YEAR),
        ],
        TRENDS => vec![
            utf8("run_id"),
            date("as_of"),
            date("month_end"),
            utf8("measure"),
            utf8("key"),
            int64("people"),
        ],
        MONTH_ENDS => vec![
            date("month_end"),
            utf8("measure"),
            utf8("key"),
            int64("people"),
            utf8("model_version"),
            // SHA-256 of the model file's and the codebook's hashes: another model or codebook
            // does not reuse these counts
            utf8("model_hash"),
            utf8("run_id"),
            // the as-of date of the run that computed them
            date("computed_as_of"),
            // what they were counted from: the signals a month end's evaluation reads (see
            // score::trend::fingerprints)
            utf8("inputs_fingerprint"),
            // kept before a purge that may reach their people (never recomputed while reused)
            Field::new("sealed", DataType::Boolean, true),
        ],
        other => unreachable!("no lake table {other}"),
    };
    Arc::new(Schema::new(fields))
}

/// A handle on the lake folder.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

impl Lake {
    pub fn new(root: &Path) -> Result<Lake> {
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
        Ok(Lake { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A scratch folder for one run (staging files, spills); removed when the run ends. What a
    /// killed run left there (staged rows of quarantined records among them) is removed first:
    /// only the run holding the lake's lock calls this.
    pub fn scratch(&self, run_id: &str) -> Result<PathBuf> {
        let all = self.root.join("_scratch");
        if all.exists() {
            std::fs::remove_dir_all(&all).map_err(|e| Error::io(&all, e))?;
        }
        let dir = all.join(run_id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(dir)
    }

    fn url(&self, table: &str) -> Result<url::Url> {
        let dir = self.root.join(table);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        url::Url::from_directory_path(&dir).map_err(|_| Error::Internal(format!("bad lake path {}", dir.display())))
    }

    /// The table, or None when it has not been written yet.
    pub async fn open(&self, table: &str) -> Result<Option<DeltaTable>> {
        let log = self.root.join(table).join("_delta_log");
        if !std::fs::read_dir(&log).is_ok_and(|mut d| d.next().is_some()) {
            return Ok(None);
        }
        let url = self.url(table).map_err(on(table, None))?;
        let t = DeltaTable::try_from_url(url).await.map_err(on(table, newest_logged(&log)))?;
        Ok(t.version().is_some().then_some(t))
    }

    /// Registers every lake table in `ctx` under its own name (empty if not written yet) and
    /// returns the versions read.
    pub async fn register_all(&self, ctx: &SessionContext) -> Result<BTreeMap<String, i64>> {
        let mut versions = BTreeMap::new();
        for table in TABLES {
            let _ = ctx.deregister_table(table);
            match self.open(table).await? {
                Some(t) => {
                    let version = version_of(&t);
                    versions.insert(table.to_string(), version.unwrap_or(-1));
                    t.update_datafusion_session(&ctx.state()).map_err(on(table, version))?;
                    let provider = t.table_provider().await.map_err(on(table, version))?;
                    let provider = with_missing_columns(ctx, provider, &schema_of(table)).map_err(on(table, version))?;
                    ctx.register_table(table, provider).map_err(on(table, version))?;
                }
                None => {
                    versions.insert(table.to_string(), -1);
                    let empty = MemTable::try_new(schema_of(table), vec![vec![]]).map_err(on(table, None))?;
                    ctx.register_table(table, Arc::new(empty)).map_err(on(table, None))?;
                }
            }
        }
        Ok(versions)
    }

    /// Appends the rows of `df` to `table` in one commit; returns the new version. The table's
    /// schema is merged with [`schema_of`]: a lake made by an older version gains the columns
    /// added since (NULL in its earlier rows).
    pub async fn append(&self, ctx: &SessionContext, table: &str, df: DataFrame) -> Result<i64> {
        let started = std::time::Instant::now();
        let t = match self.open(table).await? {
            Some(t) => t,
            // A new table is created with its declared schema first: created by the write, it
            // would take the nullability of the first rows (a column whose first values are all
            // set would refuse a NULL later).
            None => {
                use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
                let schema: deltalake::kernel::StructType = schema_of(table)
                    .as_ref()
                    .try_into_kernel()
                    .map_err(|e| Error::Internal(format!("the schema of lake table {table}: {e}")))?;
                let url = self.url(table).map_err(on(table, None))?;
                deltalake::DeltaTableBuilder::from_url(url)
                    .and_then(|b| b.build())
                    .map_err(on(table, None))?
                    .create()
                    .with_columns(schema.fields().cloned())
                    .with_partition_columns(partitioned_by(table))
                    .with_configuration(table_configuration(table))
                    .await
                    .map_err(on(table, None))?
            }
        };
        let version = version_of(&t);
        // A table keeps the partitioning it was made with (a lake made before the tables were
        // partitioned keeps writing unpartitioned files).
        let partitions: Vec<String> = t.snapshot().map_err(on(table, version))?.metadata().partition_columns().to_vec();
        let df = conform(df, &schema_of(table)).map_err(on(table, version))?;
        let t = t
            .write(Vec::<RecordBatch>::new())
            .with_partition_columns(partitions)
            .with_configuration(table_configuration(table))
            .with_input_plan(df.logical_plan().clone())
            .with_session_state(Arc::new(ctx.state()))
            .with_save_mode(SaveMode::Append)
            .with_schema_mode(SchemaMode::Merge)
            .await
            .map_err(on(table, version))?;
        tracing::debug!(table, seconds = started.elapsed().as_secs_f64(), "appended");
        Ok(version_of(&t).unwrap_or(-1))
    }

    /// Deletes from `table` every row whose `(table_name, record_id)` is in `keys`, in one commit.
    pub async fn delete_keys(&self, ctx: &SessionContext, table: &str, keys: DataFrame) -> Result<()> {
        let Some(t) = self.open(table).await? else { return Ok(()) };
        let version = version_of(&t);
        t.merge(keys, "target.table_name = source.table_name AND target.record_id = source.record_id")
            .with_source_alias("source")
            .with_target_alias("target")
            .with_session_state(Arc::new(ctx.state()))
            .when_matched_delete(|d| d)
            .map_err(on(table, version))?
            .await
            .map_err(on(table, version))?;
        Ok(())
    }

    /// Deletes the rows of `table` whose birth date (column `born`: a date, or `YYYY-MM[-DD]`
    /// text, which compares as that month's 1st) is on or before `cutoff`. A table partitioned
    /// by [`BIRTH_YEAR`] loses the years before the cutoff's as whole files (no file is read) and
    /// has only the files of the cutoff's own year rewritten; one a lake made before the
    /// partitioning keeps the whole-table delete. The predicates name a date only, never a key.
    pub async fn delete_born_by(&self, ctx: &SessionContext, table: &str, born: &str, cutoff: chrono::NaiveDate) -> Result<()> {
        use chrono::Datelike;
        let Some(t) = self.open(table).await? else { return Ok(()) };
        let day = lit(&cutoff.to_string());
        let predicates = if t.snapshot().map_err(on(table, version_of(&t)))?.metadata().partition_columns().iter().any(|c| c == BIRTH_YEAR) {
            let year = cutoff.year();
            vec![format!("{BIRTH_YEAR} < {year}"), format!("{BIRTH_YEAR} = {year} AND {born} <= {day}")]
        } else {
            vec![format!("{born} <= {day}")]
        };
        let mut t = t;
        for predicate in predicates {
            let version = version_of(&t);
            (t, _) = t
                .delete()
                .with_predicate(predicate)
                .with_session_state(Arc::new(ctx.state()))
                .await
                .map_err(on(table, version))?;
        }
        Ok(())
    }

    /// Deletes the rows of `table` for which `predicate` (SQL) holds, in one commit.
    pub async fn delete_where(&self, ctx: &SessionContext, table: &str, predicate: &str) -> Result<()> {
        let Some(t) = self.open(table).await? else { return Ok(()) };
        let version = version_of(&t);
        t.delete()
            .with_predicate(predicate.to_string())
            .with_session_state(Arc::new(ctx.state()))
            .await
            .map_err(on(table, version))?;
        Ok(())
    }

    /// Removes from every table the files no current version needs (all of them, at once), and
    /// any stray file a killed run left: after a purge, the purged rows are really gone.
    pub async fn vacuum_all(&self) -> Result<u64> {
        let mut removed = 0;
        for table in TABLES {
            let Some(t) = self.open(table).await? else { continue };
            let version = version_of(&t);
            let (_, metrics) = t
                .vacuum()
                .with_retention_period(chrono::Duration::zero())
                .with_enforce_retention_duration(false)
                .with_mode(deltalake::operations::vacuum::VacuumMode::Full)
                .await
                .map_err(on(table, version))?;
            removed += metrics.files_deleted.len() as u64;
            // a birth year's folder whose files are all gone goes too
            let dir = self.root.join(table);
            for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?.flatten() {
                let path = entry.path();
                if path.is_dir() && path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(BIRTH_YEAR)) {
                    // fails (and is left) when the folder still holds a file
                    let _ = std::fs::remove_dir(&path);
                }
            }
        }
        Ok(removed)
    }

    fn inflight_path(&self) -> PathBuf {
        self.root.join(".inflight.json")
    }

    /// Marks the start of a run's writes: the version of every table now, so that a run killed
    /// before [`Lake::commit`] can be rolled back to exactly this state.
    pub async fn begin(&self, run_id: &str) -> Result<()> {
        let mut versions = BTreeMap::new();
        for table in TABLES {
            let v = self.open(table).await?.and_then(|t| t.version()).map(|v| v as i64).unwrap_or(-1);
            versions.insert(table.to_string(), v);
        }
        let text = serde_json::to_vec_pretty(&serde_json::json!({ "run_id": run_id, "versions": versions }))?;
        let path = self.inflight_path();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// The run's writes are complete (its `runs` row is written): nothing to roll back.
    pub fn commit(&self) -> Result<()> {
        let path = self.inflight_path();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// Rolls every table back to where a killed run found it (Delta restore), then removes the
    /// rows of any run that never committed.
    pub async fn recover(&self, ctx: &SessionContext) -> Result<usize> {
        let path = self.inflight_path();
        if let Ok(text) = std::fs::read(&path) {
            let state: serde_json::Value = serde_json::from_slice(&text)?;
            tracing::warn!(run_id = %state["run_id"], "rolling the lake back to where a run that did not finish found it");
            for table in TABLES {
                let Some(before) = state["versions"][table].as_i64() else { continue };
                let Some(t) = self.open(table).await? else { continue };
                let now = version_of(&t).unwrap_or(-1);
                if now <= before {
                    continue;
                }
                if before < 0 {
                    // The killed run created the table: remove it whole.
                    let dir = self.root.join(table);
                    std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                } else {
                    t.restore().with_version_to_restore(before as u64).await.map_err(on(table, Some(now)))?;
                }
            }
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        self.register_all(ctx).await?;
        let committed: Vec<String> =
            collect_strings(ctx, "SELECT DISTINCT run_id FROM runs").await.map_err(on(RUNS, None))?;
        let mut removed = 0;
        for table in [SIGNALS, PERSONS, PENDING, QUARANTINE, FILES, SCORES, TRENDS, DECISIONS, TASKS] {
            let Some(t) = self.open(table).await? else { continue };
            let version = version_of(&t);
            let stray: Vec<String> = collect_strings(ctx, &format!("SELECT DISTINCT run_id FROM {table}"))
                .await
                .map_err(on(table, version))?
                .into_iter()
                .filter(|r| !committed.contains(r))
                .collect();
            if stray.is_empty() {
                continue;
            }
            tracing::warn!(table, runs = ?stray, "removing rows left by a run that did not finish");
            let list = stray.iter().map(|r| lit(r)).collect::<Vec<_>>().join(", ");
            t.delete()
                .with_predicate(format!("run_id IN ({list})"))
                .with_session_state(Arc::new(ctx.state()))
                .await
                .map_err(on(table, version))?;
            removed += stray.len();
        }
        Ok(removed)
    }
}

/// The query planner a session needs to run the lake's writes and merges.
pub fn query_planner() -> Arc<dyn datafusion::execution::context::QueryPlanner + Send + Sync> {
    deltalake::delta_datafusion::planner::DeltaPlanner::new()
}

/// A table as read, with the columns of `schema` it lacks added as NULL: a table written by an
/// older version (before a column was added) reads as if it had it. Unchanged when none lacks.
fn with_missing_columns(
    ctx: &SessionContext,
    provider: Arc<dyn datafusion::catalog::TableProvider>,
    schema: &Schema,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    use datafusion::prelude::{Expr, cast, col, lit};
    let have = provider.schema();
    let missing: Vec<&Field> = schema.fields().iter().filter(|f| have.field_with_name(f.name()).is_err()).map(|f| f.as_ref()).collect();
    if missing.is_empty() {
        return Ok(provider);
    }
    let mut exprs: Vec<Expr> = have.fields().iter().map(|f| col(format!("\"{}\"", f.name()))).collect();
    exprs.extend(missing.iter().map(|f| cast(lit(datafusion::scalar::ScalarValue::Null), f.data_type().clone()).alias(f.name())));
    Ok(ctx.read_table(provider)?.select(exprs)?.into_view())
}

/// Selects and casts `df`'s columns to the lake table's schema, by name.
fn conform(df: DataFrame, schema: &Schema) -> Result<DataFrame> {
    use datafusion::prelude::{cast, col, lit, try_cast};
    let has = |name: &str| df.schema().fields().iter().any(|f| f.name() == name);
    let exprs: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| {
            let value = if f.name() == BIRTH_YEAR && !has(BIRTH_YEAR) {
                // derived from the row's own birth date (a `persons` row has it as text)
                if has("birth_on") {
                    datafusion::functions::expr_fn::date_part(lit("year"), col("birth_on"))
                } else {
                    try_cast(datafusion::functions::expr_fn::substring(col("birth_date"), lit(1i64), lit(4i64)), DataType::Int32)
                }
            } else {
                col(format!("\"{}\"", f.name()))
            };
            cast(value, f.data_type().clone()).alias(f.name())
        })
        .collect();
    Ok(df.select(exprs)?)
}
