//! Golden tests of humiao's SQL: each file `tests/sql/*.slt` declares a few small input tables,
//! runs queries humiao renders exactly as the pipeline does (from `pipelines/demo.toml` and
//! `models/collision.toml`, loaded by the library) and holds the rows each must return. One
//! DataFusion session (humiao's own, with its functions) per file; files and queries run in
//! order, so a query's result can be kept as a table the next one reads.
//!
//! `HUMIAO_BLESS=1 cargo test --test it sql_golden::` rewrites the expected rows from what the
//! queries return (then read the diff before committing it); without it a mismatch fails with a
//! diff that names the file, the line and the query.
//!
//! A file is blocks separated by blank lines; a line starting with `#` is a comment:
//!
//! ```text
//! reference                  the model's reference tables (ref_tiers, ref_townships, …)
//! dates 2026-11-24 …         model_asof: the dates to evaluate on
//! as_of 2026-11-24           the default `as_of=` of the queries below (else 2026-11-24)
//!
//! table signals              a table: a header of column names, then one row per line,
//! person_key | event_on      values separated by ` | `, NULL for NULL. A lake table (or
//! p1 | 2026-11-01            `staged`) has its lake schema, columns left out are NULL;
//!                            another table's columns are text unless typed `name:bigint`
//!                            (also int, double, bool, date)
//!
//! statement                  any SQL statement, run as written
//! CREATE TABLE x AS VALUES (1)
//!
//! run model/active.sql:1 as signal_spans             runs humiao's SQL and keeps its rows
//! query score/listed.sql as_of=2026-11-24 as listed columns person_key,tier
//! ----                       runs it, keeps it (`as`), compares the columns named (all
//! p1 | red                   without `columns`) with these rows, sorted unless the
//!                            query line says `ordered`
//! ```
//!
//! A query is named by its file under `src/` (`:N` for its N-th statement); [`render`] lists
//! them and their arguments. Every `.sql` file under `src/` must be named by a `query` of some
//! golden file ([`every_sql_file_under_src_has_a_golden_file`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{ArrayRef, StringArray, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;
use humiao::config::{Overrides, Plan};
use humiao::model::Model;

use crate::common::root;

/// The as-of date of a query that names none (and of the plan).
const DEFAULT_AS_OF: &str = "2026-11-24";

fn golden_dir() -> PathBuf {
    root().join("tests/sql")
}

fn golden_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/sql exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    files
}

/// What a file's queries are rendered from: the demo pipeline and its model.
struct Env {
    plan: Plan,
    model: Model,
}

impl Env {
    fn load() -> Env {
        let overrides = Overrides { allow_as_of_far: true, ..Default::default() };
        let plan = Plan::load(&root().join("pipelines/demo.toml"), overrides).expect("the demo pipeline loads");
        let model = Model::load(&plan.model, &plan.codebook, &plan.tables).expect("the collision model loads");
        Env { plan, model }
    }
}

/// The `key=value` arguments of a query line.
struct Args<'a> {
    values: BTreeMap<&'a str, &'a str>,
    as_of: NaiveDate,
}

impl Args<'_> {
    fn get(&self, key: &str) -> Result<&str, String> {
        self.values.get(key).copied().ok_or_else(|| format!("needs {key}=…"))
    }

    fn date(&self, key: &str) -> Result<NaiveDate, String> {
        if key == "as_of" && !self.values.contains_key(key) {
            return Ok(self.as_of);
        }
        let v = self.get(key)?;
        NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| format!("{key}={v} is not a date"))
    }

    /// `previous_as_of=YYYY-MM-DD`, or `previous_as_of=none` (the first scored date).
    fn optional_date(&self, key: &str) -> Result<Option<NaiveDate>, String> {
        if self.values.get(key) == Some(&"none") { Ok(None) } else { self.date(key).map(Some) }
    }
}

/// The `n`-th (1-based) statement of a file of statements separated by lines of `;;`.
fn statement(sql: &str, n: Option<usize>, name: &str) -> Result<String, String> {
    let parts: Vec<&str> = sql.split("\n;;\n").collect();
    match n {
        None if parts.len() == 1 => Ok(sql.to_string()),
        None => Err(format!("{name} has {} statements: name one (`{name}:1`)", parts.len())),
        Some(i) => parts.get(i.wrapping_sub(1)).map(|s| s.to_string()).ok_or_else(|| format!("{name} has no statement {i}")),
    }
}

/// The SQL humiao runs for the query `name` (a file under `src/`, `:N` for its N-th statement),
/// rendered by the library as the pipeline renders it.
fn render(env: &Env, name: &str, args: &Args) -> Result<String, String> {
    let e = |r: humiao::error::Result<String>| r.map_err(|e| e.to_string());
    let (file, n) = match name.split_once(':') {
        Some((f, n)) => (f, Some(n.parse::<usize>().map_err(|_| format!("{name}: bad statement number"))?)),
        None => (name, None),
    };
    let (model, plan) = (&env.model, &env.plan);
    let sql = match file {
        // The validation query of one file of `table=` (its raw rows in the table `source=`).
        "ingest/validate" => {
            let table = args.get("table")?;
            let contract = plan.tables.iter().find(|t| t.table == table).ok_or_else(|| format!("no table {table}"))?;
            let townships: Vec<String> = humiao::ingest::reference::load_townships(&plan.reference)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|t| t.code)
                .collect();
            let query = humiao::ingest::validate::FileQuery {
                contract,
                codebook: &plan.codebook,
                townships: &townships,
                as_of: args.date("as_of")?,
                source_table: args.get("source")?,
                file: args.get("file")?,
                file_order: args.values.get("file_order").map_or(Ok(0), |v| v.parse()).map_err(|_| "bad file_order")?,
            };
            e(query.sql())?
        }
        "link/link.sql" => e(humiao::link::link_sql(args.date("as_of")?))?,
        "link/version.sql" => e(humiao::link::version_sql())?,
        "link/waiting.sql" => humiao::link::waiting_sql().to_string(),
        "model/active.sql" => e(model.active_sql())?,
        "model/scored.sql" => e(model.scored_sql())?,
        "score/person.sql" => {
            let (spans, asof) = humiao::score::person_sql();
            format!("{spans}\n;;\n{asof}")
        }
        "score/listed.sql" => e(humiao::score::listed_sql(model, args.date("as_of")?))?,
        "score/list.sql" => e(humiao::score::list_sql(model, args.date("as_of")?))?,
        "score/changes.sql" => e(humiao::score::changes_sql(args.date("as_of")?, args.optional_date("previous_as_of")?))?,
        "score/tasks.sql" => e(humiao::score::tasks_sql(model, args.date("as_of")?, args.optional_date("previous_as_of")?))?,
        "score/trend_base.sql" => e(humiao::score::trend::trend_base_sql(model))?,
        // `months=` the counted month ends; `:3` is `month_rows` as the trend runs it.
        "score/trend.sql" => {
            let months = args
                .get("months")?
                .split(',')
                .map(|m| NaiveDate::parse_from_str(m, "%Y-%m-%d").map_err(|_| format!("months: {m} is not a date")))
                .collect::<Result<Vec<_>, _>>()?;
            let [a, b, c] = humiao::score::trend::trend_sql(model, &months).map_err(|e| e.to_string())?;
            [a, b, c].join("\n;;\n")
        }
        "score/fingerprint.sql" => humiao::score::trend::fingerprint_sql().to_string(),
        "report/quality_files.sql" => e(humiao::report::quality::files_sql(&args.date("as_of")?.to_string()))?,
        "report/quality_rows.sql" => {
            let of_decisions = args.get("of_decisions")? == "true";
            e(humiao::report::quality::rows_sql(&args.date("as_of")?.to_string(), of_decisions))?
        }
        other => return Err(format!("no humiao SQL is named {other}")),
    };
    statement(&sql, n, name)
}

/// The type of a column of a hand-made table: `name:bigint` (text without a type).
fn typed_column(header: &str) -> Result<Field, String> {
    let (name, kind) = header.split_once(':').unwrap_or((header, "text"));
    let t = match kind {
        "text" => DataType::Utf8,
        "bigint" => DataType::Int64,
        "int" => DataType::Int32,
        "double" => DataType::Float64,
        "bool" => DataType::Boolean,
        "date" => DataType::Date32,
        other => return Err(format!("column {name}: unknown type {other}")),
    };
    Ok(Field::new(name, t, true))
}

fn cells(line: &str) -> Vec<&str> {
    line.split(" | ").map(str::trim).collect()
}

/// Registers a `table` block: `lines[0]` the header, the rest its rows.
fn register_table(ctx: &SessionContext, name: &str, lines: &[&str]) -> Result<(), String> {
    let header = cells(lines.first().ok_or("a table needs a header line")?);
    let lake_schema = if name == "staged" {
        Some(Schema::new(humiao::lake::staged_fields()))
    } else if humiao::lake::TABLES.contains(&name) {
        Some(humiao::lake::schema_of(name).as_ref().clone())
    } else {
        None
    };
    let (schema, given): (Schema, Vec<Option<usize>>) = match lake_schema {
        Some(s) => {
            for h in &header {
                if s.field_with_name(h).is_err() {
                    return Err(format!("table {name} has no column {h}"));
                }
            }
            let given = s.fields().iter().map(|f| header.iter().position(|h| h == f.name())).collect();
            (s, given)
        }
        None => {
            let fields = header.iter().map(|h| typed_column(h)).collect::<Result<Vec<_>, _>>()?;
            let given = (0..fields.len()).map(Some).collect();
            (Schema::new(fields), given)
        }
    };
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| cells(l)).collect();
    for (i, r) in rows.iter().enumerate() {
        if r.len() != header.len() {
            return Err(format!("table {name}, row {}: {} values for {} columns", i + 1, r.len(), header.len()));
        }
    }
    let strict = CastOptions { safe: false, ..Default::default() };
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, g) in schema.fields().iter().zip(&given) {
        let array: ArrayRef = match g {
            None => new_null_array(field.data_type(), rows.len()),
            Some(i) => {
                let text: StringArray = rows.iter().map(|r| (r[*i] != "NULL").then_some(r[*i])).collect();
                cast_with_options(&text, field.data_type(), &strict)
                    .map_err(|e| format!("table {name}, column {}: {e}", field.name()))?
            }
        };
        columns.push(array);
    }
    let schema = Arc::new(schema);
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    humiao::sql::register_batches(ctx, name, schema, vec![batch]).map_err(|e| e.to_string())
}

/// One value as the golden files write it.
fn show(array: &ArrayRef, row: usize) -> String {
    if array.is_null(row) {
        return "NULL".into();
    }
    let v = array_value_to_string(array, row).unwrap();
    if v.is_empty() { "(empty)".into() } else { v.replace('\n', "\\n") }
}

/// Runs `sql`; keeps its rows as `keep` if given; returns the names of `columns` (all if empty)
/// and their rows, each as the golden files write it.
async fn run_sql(ctx: &SessionContext, sql: &str, keep: Option<&str>, columns: &[&str]) -> Result<(String, Vec<String>), String> {
    let batches = humiao::sql::collect(ctx, sql).await.map_err(|e| e.to_string())?;
    let schema = batches[0].schema();
    if let Some(name) = keep {
        humiao::sql::register_batches(ctx, name, schema.clone(), batches.clone()).map_err(|e| e.to_string())?;
    }
    let indices: Vec<usize> = if columns.is_empty() {
        (0..schema.fields().len()).collect()
    } else {
        columns
            .iter()
            .map(|c| schema.index_of(c).map_err(|_| format!("the result has no column {c}")))
            .collect::<Result<_, _>>()?
    };
    let header = indices.iter().map(|i| schema.field(*i).name().as_str()).collect::<Vec<_>>().join(" | ");
    let mut out = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            out.push(indices.iter().map(|i| show(b.column(*i), r)).collect::<Vec<_>>().join(" | "));
        }
    }
    Ok((header, out))
}

/// A line-by-line diff of `expected` and `actual` (`-` expected only, `+` actual only).
fn diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out.push_str(&format!("    {}\n", expected[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("  + {}\n", actual[j]));
            j += 1;
        } else {
            out.push_str(&format!("  - {}\n", expected[i]));
            i += 1;
        }
    }
    out
}

/// What checking one file found: its failures, and its text with the expected rows replaced by
/// the actual ones (for `HUMIAO_BLESS=1`).
struct Checked {
    failures: Vec<String>,
    blessed: String,
    errors: bool,
}

/// Runs one golden file in a session of its own.
async fn check_file(env: &Env, path: &Path) -> Checked {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let file = path.strip_prefix(root()).unwrap_or(path).display().to_string();
    let ctx = humiao::session::new_session(None).expect("a session");
    let mut out: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    let mut errors = false;
    let mut as_of = NaiveDate::parse_from_str(DEFAULT_AS_OF, "%Y-%m-%d").unwrap();
    // The lines of the block that starts at `i` (up to a blank line or the end).
    let block_end = |i: usize| (i..lines.len()).find(|k| lines[*k].trim().is_empty()).unwrap_or(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let at = format!("{file}:{}", i + 1);
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() || line.starts_with('#') {
            out.push(line.to_string());
            i += 1;
            continue;
        }
        let mut fail = |msg: String| {
            failures.push(format!("{at}: {msg}"));
            errors = true;
        };
        match words[0] {
            "reference" => {
                if let Err(e) = humiao::score::register_reference(&ctx, &env.plan, &env.model).await {
                    fail(e.to_string());
                }
            }
            "dates" => {
                let dates: Result<Vec<NaiveDate>, _> =
                    words[1..].iter().map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d")).collect();
                match dates {
                    Ok(d) => {
                        if let Err(e) = humiao::score::register_dates(&ctx, &d).await {
                            fail(e.to_string());
                        }
                    }
                    Err(_) => fail(format!("bad dates: {line}")),
                }
            }
            "as_of" => match words.get(1).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
                Some(d) => as_of = d,
                None => fail(format!("bad as_of: {line}")),
            },
            "table" | "statement" => {
                let end = block_end(i + 1);
                out.extend(lines[i..end].iter().map(|l| l.to_string()));
                let body: Vec<&str> = lines[i + 1..end].iter().copied().filter(|l| !l.starts_with('#')).collect();
                let done = if words[0] == "table" {
                    match words.get(1) {
                        Some(name) => register_table(&ctx, name, &body),
                        None => Err("table needs a name".into()),
                    }
                } else {
                    let sql = body.join("\n");
                    match ctx.sql(sql.trim_end().trim_end_matches(';')).await {
                        Ok(df) => df.collect().await.map(|_| ()).map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                };
                if let Err(e) = done {
                    fail(e);
                }
                i = end;
                continue;
            }
            "run" | "query" => {
                let Some(name) = words.get(1).copied() else {
                    fail("which query?".into());
                    out.push(line.to_string());
                    i += 1;
                    continue;
                };
                let (mut keep, mut columns, mut ordered, mut values) = (None, Vec::new(), false, BTreeMap::new());
                let mut w = words[2..].iter();
                while let Some(word) = w.next() {
                    match *word {
                        "as" => keep = w.next().copied(),
                        "columns" => columns = w.next().map(|c| c.split(',').collect()).unwrap_or_default(),
                        "ordered" => ordered = true,
                        kv => match kv.split_once('=') {
                            Some((k, v)) => {
                                values.insert(k, v);
                            }
                            None => fail(format!("what is `{kv}`?")),
                        },
                    }
                }
                let args = Args { values, as_of };
                let result = match render(env, name, &args) {
                    Ok(sql) => run_sql(&ctx, &sql, keep, &columns).await,
                    Err(e) => Err(e),
                };
                out.push(line.to_string());
                if words[0] == "run" {
                    if let Err(e) = result {
                        fail(format!("{name}: {e}"));
                    }
                    i += 1;
                    continue;
                }
                if lines.get(i + 1).map(|l| l.trim()) != Some("----") {
                    fail(format!("{name}: a query is followed by a line ----, then its rows"));
                    i += 1;
                    continue;
                }
                out.push("----".into());
                let end = block_end(i + 2);
                let expected: Vec<String> = lines[i + 2..end].iter().map(|l| l.trim_end().to_string()).collect();
                match result {
                    Ok((header, mut actual)) => {
                        if !ordered {
                            actual.sort();
                        }
                        if actual != expected {
                            failures.push(format!(
                                "{at}: query {name}{} returned other rows (- expected, + actual):\n    {header}\n{}",
                                if ordered { " (ordered)" } else { "" },
                                diff(&expected, &actual)
                            ));
                        }
                        out.extend(actual);
                    }
                    Err(e) => {
                        fail(format!("{name}: {e}"));
                        out.extend(expected);
                    }
                }
                i = end;
                continue;
            }
            other => fail(format!("unknown directive {other}")),
        }
        out.push(line.to_string());
        i += 1;
    }
    let mut blessed = out.join("\n");
    blessed.push('\n');
    Checked { failures, blessed, errors }
}

#[test]
fn every_golden_file_returns_its_rows() {
    let bless = std::env::var("HUMIAO_BLESS").is_ok_and(|v| v == "1");
    let env = Env::load();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut failures = Vec::new();
    let files = golden_files();
    assert!(!files.is_empty(), "no golden files in tests/sql");
    for path in files {
        let checked = rt.block_on(check_file(&env, &path));
        if bless && !checked.errors {
            if checked.blessed != std::fs::read_to_string(&path).unwrap() {
                std::fs::write(&path, &checked.blessed).unwrap();
                eprintln!("blessed {}", path.display());
            }
        } else {
            failures.extend(checked.failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\n{} failure(s); if the new rows are right, HUMIAO_BLESS=1 cargo test --test it sql_golden:: rewrites them",
        failures.join("\n\n"),
        failures.len()
    );
}

/// Every file under `src/` ending in `.sql`, as `model/active.sql`.
fn sql_files_under_src() -> Vec<String> {
    let src = root().join("src");
    crate::common::files_under(&src)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| p.strip_prefix(&src).unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_sql_file_under_src_has_a_golden_file() {
    let mut queried = std::collections::BTreeSet::new();
    for path in golden_files() {
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if let ["query", name, ..] = line.split_whitespace().collect::<Vec<_>>()[..] {
                queried.insert(name.split(':').next().unwrap().to_string());
            }
        }
    }
    let missing: Vec<String> = sql_files_under_src().into_iter().filter(|f| !queried.contains(f)).collect();
    assert!(
        missing.is_empty(),
        "no golden file under tests/sql/ has a `query` of {missing:?}: add one (and name the SQL in tests/it/sql_golden.rs, render)"
    );
}
