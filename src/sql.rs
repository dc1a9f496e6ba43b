//! SQL as text, and the few ways humiao runs it: literals and identifiers, the checked fill of
//! the `.sql` templates beside each stage, the split of a two-statement file, and the readers that
//! run a query and keep or collect its result.
//!
//! Every stage writes its SQL with these, so no stage borrows another's helpers. A template names
//! its holes `{name}` (an identifier: `[a-z_][a-z0-9_]*`); [`Template::render`] fails on a hole
//! left unfilled or a value the template never uses, so a renamed placeholder is a bug reported
//! by the first run or test, not a query that silently reads `{as_of}`. Braces that are not an
//! identifier (`{64}` in a regex) are text; `{{name}}` writes a literal `{name}` (a placeholder
//! of another layer, such as the tier labels' `{categories}` that `list.sql` replaces itself).

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::TableParquetOptions;
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::error::{Error, Result};

/// A SQL string literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL date literal, `DATE 'YYYY-MM-DD'`.
pub fn date(d: NaiveDate) -> String {
    format!("DATE '{d}'")
}

/// A SQL date literal, or a NULL date when there is none.
pub fn date_or_null(d: Option<NaiveDate>) -> String {
    d.map(date).unwrap_or_else(|| "CAST(NULL AS DATE)".into())
}

/// A quoted identifier (a column or table name that may not be a bare word).
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A SQL template (the text of a `.sql` file) and the values of its `{name}` placeholders.
#[derive(Debug)]
pub struct Template<'a> {
    name: &'a str,
    sql: &'a str,
    values: Vec<(&'a str, String)>,
}

impl<'a> Template<'a> {
    /// `name` says which template an error is about (its file name).
    pub fn new(name: &'a str, sql: &'a str) -> Self {
        Template { name, sql, values: Vec::new() }
    }

    /// The value of `{key}`, inserted as written (render literals with [`lit`] or [`date`]).
    pub fn set(mut self, key: &'a str, value: impl Into<String>) -> Self {
        self.values.push((key, value.into()));
        self
    }

    /// The filled SQL, in one pass over the template: a value is never searched for
    /// placeholders. Fails on a placeholder with no value, a value given twice, or a value the
    /// template never uses.
    pub fn render(&self) -> Result<String> {
        let bad = |problem: String| Error::Internal(format!("SQL template {}: {problem}", self.name));
        for (i, (k, _)) in self.values.iter().enumerate() {
            if self.values[..i].iter().any(|(other, _)| other == k) {
                return Err(bad(format!("{{{k}}} is given twice")));
            }
        }
        let mut used = vec![false; self.values.len()];
        let mut out = String::with_capacity(self.sql.len() * 2);
        let mut rest = self.sql;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            if let Some(name) = after.strip_prefix("{{").and_then(placeholder).filter(|n| after[2 + n.len()..].starts_with("}}")) {
                // `{{name}}`: a literal `{name}`.
                out.push('{');
                out.push_str(name);
                out.push('}');
                rest = &after[name.len() + 4..];
            } else if let Some(name) = placeholder(&after[1..]) {
                let Some(i) = self.values.iter().position(|(k, _)| *k == name) else {
                    return Err(bad(format!("placeholder {{{name}}} has no value")));
                };
                used[i] = true;
                out.push_str(&self.values[i].1);
                rest = &after[name.len() + 2..];
            } else {
                out.push('{');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        if let Some(i) = used.iter().position(|u| !u) {
            return Err(bad(format!("the value of {{{}}} is never used", self.values[i].0)));
        }
        Ok(out)
    }
}

/// The identifier at the start of `s` if it is closed by `}`: `s` follows a `{`.
fn placeholder(s: &str) -> Option<&str> {
    let end = s.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))?;
    let name = &s[..end];
    let first = name.chars().next()?;
    (first.is_ascii_lowercase() || first == '_').then_some(())?;
    s[end..].starts_with('}').then_some(name)
}

/// A file of two SQL statements separated by a line of `;;`.
pub fn split_statements(sql: &str) -> (&str, &str) {
    sql.split_once("\n;;\n").expect("two statements separated by a line of ;;")
}

/// The number of rows of `batches`.
pub fn rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

/// Runs `sql` and collects its rows; an empty result is one empty batch, so its schema is kept.
pub async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let df = ctx.sql(sql).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let mut batches: Vec<RecordBatch> = df.collect().await?.into_iter().filter(|b| b.num_rows() > 0).collect();
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(batches)
}

/// Runs a query returning one text column (cast to text); NULLs are skipped.
pub async fn collect_strings(ctx: &SessionContext, sql: &str) -> Result<Vec<String>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut out = Vec::new();
    for b in batches {
        let col = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let col = col.as_string::<i32>();
        for i in 0..col.len() {
            if col.is_valid(i) {
                out.push(col.value(i).to_string());
            }
        }
    }
    Ok(out)
}

/// Runs a query of (key, count) rows; rows with a NULL key are skipped.
pub async fn count_by(ctx: &SessionContext, sql: &str) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for b in ctx.sql(sql).await?.collect().await? {
        let k = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let n = datafusion::arrow::compute::cast(b.column(1), &DataType::Int64)?;
        for i in 0..b.num_rows() {
            if k.is_valid(i) {
                out.push((k.as_string::<i32>().value(i).to_string(), n.as_primitive::<Int64Type>().value(i) as u64));
            }
        }
    }
    Ok(out)
}

/// Runs a query of one `count(*)`: its value, 0 for no row.
pub async fn count(ctx: &SessionContext, sql: &str) -> Result<u64> {
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok(batches
        .first()
        .filter(|b| b.num_rows() > 0)
        .map(|b| b.column(0).as_primitive::<Int64Type>().value(0) as u64)
        .unwrap_or(0))
}

/// Registers `batches` (or an empty table of `schema`) as `name`.
pub fn register_batches(ctx: &SessionContext, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<()> {
    let _ = ctx.deregister_table(name);
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    Ok(())
}

/// A small reference table from SQL literals: `cols` names, each row already rendered.
pub async fn register_values(ctx: &SessionContext, name: &str, cols: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let select: Vec<String> = cols.iter().enumerate().map(|(i, c)| format!("column{} AS {c}", i + 1)).collect();
    let sql = if rows.is_empty() {
        let nulls: Vec<String> = cols.iter().map(|c| format!("CAST(NULL AS VARCHAR) AS {c}")).collect();
        format!("SELECT {} WHERE false", nulls.join(", "))
    } else {
        let values: Vec<String> = rows.iter().map(|r| format!("({})", r.join(", "))).collect();
        format!("SELECT {} FROM (VALUES {})", select.join(", "), values.join(", "))
    };
    materialise(ctx, name, &sql).await?;
    Ok(())
}

/// Where [`materialise_into`] keeps a result.
pub enum Keep<'a> {
    /// In memory, as its batches.
    Memory,
    /// Written to one Parquet file at the path and read back from it (a result too large to
    /// hold, or one a later step reads as a file).
    Parquet(&'a Path, TableParquetOptions),
}

/// Runs `sql`, keeps its result in memory and registers it as `name`; returns its row count.
pub async fn materialise(ctx: &SessionContext, name: &str, sql: &str) -> Result<u64> {
    materialise_into(ctx, name, sql, Keep::Memory).await
}

/// Runs `sql`, keeps its result as `keep` says and registers it as `name`; returns its row
/// count. `HUMIAO_EXPLAIN=name` prints the analysed plan of that table to stderr first (it runs
/// the query once more); each table's rows and seconds are logged at debug level.
pub async fn materialise_into(ctx: &SessionContext, name: &str, sql: &str, keep: Keep<'_>) -> Result<u64> {
    let t = std::time::Instant::now();
    if std::env::var("HUMIAO_EXPLAIN").is_ok_and(|v| v == name) {
        let plan = ctx.sql(&format!("EXPLAIN ANALYZE {sql}")).await?.collect().await?;
        eprintln!("{}", datafusion::arrow::util::pretty::pretty_format_batches(&plan)?);
    }
    let df = ctx.sql(sql).await?;
    let (n, parts) = match keep {
        Keep::Memory => {
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            let n = rows(&batches);
            // The batches' own schema (nullability may differ from the plan's).
            let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
            let parts = batches.len();
            register_batches(ctx, name, schema, batches)?;
            (n, parts)
        }
        Keep::Parquet(path, options) => {
            let path = path.to_str().expect("utf-8 path");
            let written = df
                .write_parquet(path, datafusion::dataframe::DataFrameWriteOptions::new().with_single_file_output(true), Some(options))
                .await?;
            let _ = ctx.deregister_table(name);
            ctx.register_parquet(name, path, ParquetReadOptions::default()).await?;
            // The writer answers with one row: the count of rows written.
            let n = written
                .first()
                .filter(|b| b.num_rows() > 0)
                .and_then(|b| datafusion::arrow::compute::cast(b.column(0), &DataType::Int64).ok())
                .map(|c| c.as_primitive::<Int64Type>().value(0) as u64)
                .unwrap_or(0);
            (n, 1)
        }
    };
    tracing::debug!(table = name, rows = n, batches = parts, seconds = t.elapsed().as_secs_f64(), "materialised");
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lit_doubles_quotes() {
        assert_eq!(lit("it's"), "'it''s'");
        assert_eq!(lit("''"), "''''''");
        assert_eq!(lit(""), "''");
        assert_eq!(date(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()), "DATE '2026-03-01'");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn fill_replaces_every_occurrence() {
        let sql = Template::new("t.sql", "SELECT {a}, {b_2} WHERE x = {a}").set("a", "1").set("b_2", "'two'").render().unwrap();
        assert_eq!(sql, "SELECT 1, 'two' WHERE x = 1");
    }

    #[test]
    fn fill_fails_on_a_missing_value() {
        let err = Template::new("t.sql", "SELECT {a}, {b}").set("a", "1").render().unwrap_err().to_string();
        assert!(err.contains("t.sql") && err.contains("{b} has no value"), "{err}");
    }

    #[test]
    fn fill_fails_on_an_unused_value() {
        let err = Template::new("t.sql", "SELECT {a}").set("a", "1").set("as_of", "2").render().unwrap_err().to_string();
        assert!(err.contains("t.sql") && err.contains("{as_of} is never used"), "{err}");
    }

    #[test]
    fn fill_fails_on_a_value_given_twice() {
        let err = Template::new("t.sql", "SELECT {a}").set("a", "1").set("a", "2").render().unwrap_err().to_string();
        assert!(err.contains("{a} is given twice"), "{err}");
    }

    #[test]
    fn fill_keeps_literal_braces() {
        let tpl = "SELECT regexp_like(k, '^[0-9a-f]{64}$'), '{}', '{X1}', '{ a }', '{{categories}}', '{{', '{', '}' {a}";
        let sql = Template::new("t.sql", tpl).set("a", "1").render().unwrap();
        assert_eq!(sql, "SELECT regexp_like(k, '^[0-9a-f]{64}$'), '{}', '{X1}', '{ a }', '{categories}', '{{', '{', '}' 1");
    }

    #[test]
    fn fill_never_fills_inside_a_value() {
        // A value that holds a placeholder's name (a model expression, a label) is inserted as
        // written, whatever the order of the values.
        let sql = Template::new("t.sql", "{a} {b}").set("a", "{b}").set("b", "x").render().unwrap();
        assert_eq!(sql, "{b} x");
    }

    #[test]
    fn split_at_the_line_of_two_semicolons() {
        assert_eq!(split_statements("SELECT 1\n;;\nSELECT 2\n"), ("SELECT 1", "SELECT 2\n"));
    }

    #[tokio::test]
    async fn readers_keep_schema_and_skip_nulls() {
        let ctx = SessionContext::new();
        register_values(&ctx, "v", &["k", "n"], &[vec![lit("a"), "2".into()], vec!["NULL".into(), "3".into()]]).await.unwrap();
        assert_eq!(collect_strings(&ctx, "SELECT k FROM v ORDER BY n").await.unwrap(), ["a"]);
        assert_eq!(count_by(&ctx, "SELECT k, n FROM v ORDER BY n").await.unwrap(), [("a".to_string(), 2)]);
        assert_eq!(count(&ctx, "SELECT count(*) FROM v").await.unwrap(), 2);
        let empty = collect(&ctx, "SELECT k FROM v WHERE false").await.unwrap();
        assert_eq!((empty.len(), rows(&empty), empty[0].schema().field(0).name().as_str()), (1, 0, "k"));
    }
}
