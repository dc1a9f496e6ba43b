//! The validation query of one file: generated from its table's contract, run by DataFusion.
//!
//! The query types every column with the strict UDFs of [`crate::session`], looks codes up in the
//! codebook (as literal lists, so the plan streams with no join), finds each row's first problem
//! and maps valid rows to the canonical record shape that every table shares from here on
//! ([`crate::lake::staged_fields`]). One input row gives one output row, problem or not.

use chrono::NaiveDate;

use crate::config::{Codebook, ColumnType, TableContract};
use crate::error::{Error, Result};
use crate::sql::lit;

/// Quarantine reasons, in the order they are tested (the first that applies is the row's).
/// `future_date` comes last of the row checks: such a row is otherwise valid, waits in the lake's
/// `pending` table and is retried once the as-of date reaches it (a typed date loses no row).
pub const REASONS: [&str; 16] = [
    "too_long",
    "control_character",
    "bad_person_key",
    "bad_id_number",
    "id_number_not_text",
    "bad_name_hash",
    "missing_field",
    "bad_date",
    "bad_number",
    "unknown_code",
    "unknown_township",
    "birth_after_event",
    "role_code_mismatch",
    "future_date",
    "unlinkable",
    "ambiguous_link",
];

fn ident(s: &str) -> String {
    format!("\"{s}\"")
}

fn raw(s: &str) -> String {
    ident(&format!("{s}__raw"))
}

/// The column holding a value's `too_long` / `control_character` problem, if any.
fn text_problem(s: &str) -> String {
    ident(&format!("{s}__text"))
}

fn in_list<'a>(values: impl IntoIterator<Item = &'a String>) -> String {
    values.into_iter().map(|v| lit(v)).collect::<Vec<_>>().join(", ")
}

/// Replaces `{section.param}` placeholders with codebook parameters.
pub fn expand(expr: &str, book: &Codebook, contract: &TableContract) -> Result<String> {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| Error::config(&contract.path, format!("unclosed `{{` in `{expr}`")))?;
        let name = &rest[start + 1..start + end];
        let value = book.params.get(name).ok_or_else(|| {
            Error::config(&contract.path, format!("`{{{name}}}`: the codebook has no such parameter"))
        })?;
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(format!("({out})"))
}

/// Everything about one file that goes into its query.
pub struct FileQuery<'a> {
    pub contract: &'a TableContract,
    pub codebook: &'a Codebook,
    pub townships: &'a [String],
    pub as_of: NaiveDate,
    /// The registered name of the file's raw batches.
    pub source_table: &'a str,
    /// The file's path relative to the inbox.
    pub file: &'a str,
    /// The file's place in this run's order of application.
    pub file_order: i64,
}

impl FileQuery<'_> {
    pub fn sql(&self) -> Result<String> {
        let c = self.contract;
        let book = self.codebook;
        let x = |e: &str| expand(e, book, c);
        let as_of = crate::sql::date(self.as_of);

        // 1. raw: trimmed text, empty as NULL.
        let mut raw_cols =
            vec!["_line".to_string(), "person_key".into(), "name_hash".into(), "link_method".into(), "identity_problem".into()];
        for name in c.header_columns() {
            raw_cols.push(format!("nullif(btrim({}), '') AS {}", ident(name), raw(name)));
        }

        // 2. typed: parsed values and codebook lookups.
        let mut typed = vec![
            "raw.*".to_string(),
            format!("{} AS birth_date", raw("birth_date")),
            format!("parse_birth({}) AS birth_on", raw("birth_date")),
            format!("{} AS gender", raw("gender")),
            format!("{} AS township_code", raw("township_code")),
        ];
        // Every value's length and characters, before anything else looks at it.
        for (name, max) in c.header_columns_with_max_length() {
            typed.push(format!("text_problem({}, {max}) AS {}", raw(name), text_problem(name)));
        }
        for col in &c.columns {
            let r = raw(&col.name);
            let n = ident(&col.name);
            match col.kind {
                ColumnType::Text => typed.push(format!("{r} AS {n}")),
                ColumnType::Date => typed.push(format!("parse_date({r}) AS {n}")),
                ColumnType::Month => typed.push(format!("parse_month({r}) AS {n}")),
                ColumnType::Integer => typed.push(format!("parse_int({r}) AS {n}")),
                ColumnType::Code => {
                    typed.push(format!("{r} AS {n}"));
                    let section = book.section(col.codes.as_deref().unwrap_or_default()).expect("checked on load");
                    let case = |f: &dyn Fn(&crate::config::CodeEntry) -> Option<String>| {
                        let arms: Vec<String> = section
                            .iter()
                            .filter_map(|(code, e)| f(e).map(|v| format!("WHEN {} THEN {v}", lit(code))))
                            .collect();
                        if arms.is_empty() { "NULL".to_string() } else { format!("CASE {r} {} END", arms.join(" ")) }
                    };
                    typed.push(format!("CAST({} AS VARCHAR) AS {}", case(&|e| e.category.as_deref().map(lit)), ident(&format!("{}_category", col.name))));
                    typed.push(format!("CAST({} AS INT) AS {}", case(&|e| e.severity.map(|s| s.to_string())), ident(&format!("{}_severity", col.name))));
                    typed.push(format!("CAST({} AS VARCHAR) AS {}", case(&|e| Some(lit(&e.label))), ident(&format!("{}_label", col.name))));
                }
            }
        }

        // 3. dated: the signal's dates, needed by the checks.
        let s = &c.signal;
        let event_on = x(&s.event_on)?;
        let future_on = x(s.future_on.as_deref().unwrap_or(&s.event_on))?;

        // 4. the first problem of each row, as `reason:column`.
        let mut arms: Vec<String> = Vec::new();
        let problem = |cond: String, reason: &str, column: &str| format!("WHEN {cond} THEN {}", lit(&format!("{reason}:{column}")));
        for name in c.header_columns() {
            let tp = text_problem(name);
            arms.push(format!("WHEN {tp} IS NOT NULL THEN concat({tp}, {})", lit(&format!(":{name}"))));
        }
        // The reader dropped a malformed identity value and named its problem.
        arms.push("WHEN identity_problem IS NOT NULL THEN identity_problem".into());
        arms.push(problem(format!("{} IS NULL", raw("record_id")), "missing_field", "record_id"));
        for name in ["birth_date", "gender", "township_code"] {
            arms.push(problem(format!("{} IS NULL", raw(name)), "missing_field", name));
        }
        arms.push(problem("person_key IS NULL AND name_hash IS NULL".into(), "missing_field", "person_key"));
        for col in c.columns.iter().filter(|col| col.required && col.name != "record_id") {
            arms.push(problem(format!("{} IS NULL", raw(&col.name)), "missing_field", &col.name));
        }
        arms.push(problem("birth_on IS NULL".into(), "bad_date", "birth_date"));
        for col in &c.columns {
            let bad = format!("{} IS NOT NULL AND {} IS NULL", raw(&col.name), ident(&col.name));
            match col.kind {
                ColumnType::Date | ColumnType::Month => arms.push(problem(bad, "bad_date", &col.name)),
                ColumnType::Integer => arms.push(problem(bad, "bad_number", &col.name)),
                _ => {}
            }
        }
        let genders = book.section("person.gender").map(|s| s.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        arms.push(problem(format!("gender NOT IN ({})", in_list(&genders)), "unknown_code", "gender"));
        for col in c.columns.iter().filter(|col| col.kind == ColumnType::Code) {
            let section = book.section(col.codes.as_deref().unwrap_or_default()).expect("checked on load");
            arms.push(problem(
                format!("{} IS NOT NULL AND {} NOT IN ({})", raw(&col.name), raw(&col.name), in_list(section.keys())),
                "unknown_code",
                &col.name,
            ));
        }
        let townships = if self.townships.is_empty() { "NULL".to_string() } else { in_list(self.townships) };
        arms.push(problem(format!("township_code NOT IN ({townships})"), "unknown_township", "township_code"));
        arms.push(problem("birth_on > __event_on".into(), "birth_after_event", "birth_date"));
        for check in &c.checks {
            arms.push(problem(format!("NOT coalesce({}, false)", x(&check.valid_when)?), &check.reason, &check.column));
        }
        // Last: a future-dated row has passed every other check, so it can wait for its date.
        let event_column = first_identifier(s.future_on.as_deref().unwrap_or(&s.event_on)).unwrap_or("event_on");
        arms.push(problem(format!("__future_on > {as_of}"), "future_date", event_column));

        let opt = |e: &Option<String>| -> Result<String> { e.as_deref().map(x).transpose().map(|v| v.unwrap_or_else(|| "NULL".into())) };
        let (also_category, also_severity) = match &s.also {
            Some(a) => {
                let when = x(&a.when)?;
                (
                    format!("CASE WHEN coalesce({when}, false) THEN CAST({} AS VARCHAR) END", x(&a.category)?),
                    format!("CASE WHEN coalesce({when}, false) THEN CAST({} AS INT) END", x(&a.severity)?),
                )
            }
            None => ("CAST(NULL AS VARCHAR)".into(), "CAST(NULL AS INT)".into()),
        };

        Ok(format!(
            "WITH raw AS (\n  SELECT {raw_cols}\n  FROM {src}\n),\n\
             typed AS (\n  SELECT {typed}\n  FROM raw\n),\n\
             dated AS (\n  SELECT typed.*, CAST({event_on} AS DATE) AS __event_on, CAST({future_on} AS DATE) AS __future_on\n  FROM typed\n),\n\
             checked AS (\n  SELECT dated.*, CASE\n    {arms}\n  END AS __problem\n  FROM dated\n)\n\
             SELECT\n  {file} AS file, CAST({order} AS BIGINT) AS file_order, _line AS line,\n  \
               {source} AS source, {table} AS table_name, {kind} AS record_kind,\n  \
               -- a quarantined row's record id is kept only if it cannot hold an identity or a name
               -- (a row waiting for its date is valid and keeps it)
               CASE WHEN __problem IS NULL OR starts_with(__problem, 'future_date:') THEN {rid}
                    ELSE report_safe_id({rid}) END AS record_id,\n  \
               person_key, name_hash, link_method, birth_date, birth_on, gender, township_code,\n  \
               CAST({school} AS VARCHAR) AS school_code,\n  \
               __event_on AS event_on, CAST({end_on} AS DATE) AS end_on, __future_on AS future_on,\n  \
               CAST({code} AS VARCHAR) AS code, CAST({qualifier} AS VARCHAR) AS qualifier,\n  \
               CAST({category} AS VARCHAR) AS category, CAST({severity} AS INT) AS severity,\n  \
               {also_category} AS also_category, {also_severity} AS also_severity,\n  \
               CASE WHEN __problem IS NULL THEN NULL ELSE split_part(__problem, ':', 1) END AS reason,\n  \
               CASE WHEN __problem IS NULL THEN NULL ELSE split_part(__problem, ':', 2) END AS reason_column\n\
             FROM checked",
            raw_cols = raw_cols.join(",\n    "),
            src = ident(self.source_table),
            typed = typed.join(",\n    "),
            arms = arms.join("\n    "),
            file = lit(self.file),
            order = self.file_order,
            source = lit(&c.source),
            table = lit(&c.table),
            kind = lit(c.kind.as_str()),
            rid = ident("record_id"),
            school = opt(&s.school_code)?,
            end_on = opt(&s.end_on)?,
            code = x(&s.code)?,
            qualifier = opt(&s.qualifier)?,
            category = x(&s.category)?,
            severity = x(&s.severity)?,
        ))
    }
}

/// The first identifier in an expression (`last_day_of_month(month)` gives `month`), to name
/// the column a date problem is about.
fn first_identifier(expr: &str) -> Option<&str> {
    expr.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
        .filter(|w| !w.is_empty() && !w.as_bytes()[0].is_ascii_digit())
        .find(|w| !w.contains("last_day") && !w.chars().any(|ch| ch.is_ascii_uppercase()))
}
