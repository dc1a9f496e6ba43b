//! The trend: the model evaluated at the month ends on or before the as-of date, in one pass
//! (the same plans as the list, over a table of dates), counted per month into a long table
//! (`month_end`, `measure`, `key`, `people`). Kept in the lake's `trends` table per run and
//! written to `trend.parquet` unsuppressed, for analysts; leadership sees it only through
//! [`crate::report::view`].

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::config::Plan;
use crate::error::Result;
use crate::ingest::validate::lit;
use crate::lake::{self, Lake};
use crate::model::Model;

const TREND_BASE_SQL: &str = include_str!("trend_base.sql");
const TREND_SQL: &str = include_str!("trend.sql");

/// The most month ends evaluated in one pass (memory grows with it).
const MAX_DATES_PER_PASS: usize = 5;

/// The monthly counts of one run.
#[derive(Debug)]
pub struct Trend {
    /// The month ends shown, oldest first.
    pub months: Vec<NaiveDate>,
    /// (month_end, measure, key) → people; a missing entry is 0.
    pub counts: BTreeMap<(NaiveDate, String, String), u64>,
    /// The same as a table, sorted (for `trend.parquet`).
    pub table: Vec<RecordBatch>,
    pub seconds: f64,
}

impl Trend {
    pub fn get(&self, month: NaiveDate, measure: &str, key: &str) -> u64 {
        self.counts.get(&(month, measure.to_string(), key.to_string())).copied().unwrap_or(0)
    }
}

/// The last day of the month before `d`'s month.
fn previous_month_end(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists").pred_opt().expect("dates are far from the minimum")
}

/// The `n` month ends on or before `as_of`, oldest first.
pub fn month_ends(as_of: NaiveDate, n: usize) -> Vec<NaiveDate> {
    let mut latest = crate::session::last_day_of_month(as_of);
    if latest > as_of {
        latest = previous_month_end(as_of);
    }
    let mut out = vec![latest];
    while out.len() < n {
        let before = previous_month_end(*out.last().expect("not empty"));
        out.push(before);
    }
    out.reverse();
    out
}

/// Evaluates the model at the month ends and counts. Replaces the session's `active`,
/// `person_asof` and `scored` with those of the month ends.
pub async fn trend(ctx: &SessionContext, plan: &Plan, model: &Model, lake: &Lake, run_id: &str) -> Result<Trend> {
    let t = std::time::Instant::now();
    // One month more than shown, so that the first shown month has new and lifted counts.
    let dates = month_ends(plan.as_of, model.trend.months + 1);
    let shown: Vec<NaiveDate> = dates[1..].to_vec();
    let key_tiers: Vec<String> = model.trend.key_youth_tiers.iter().map(|t| lit(t)).collect();
    let flags: Vec<String> = model.categories.iter().map(|c| c.to_lowercase()).collect();
    let category_flags: Vec<String> = flags.iter().map(|f| format!("s.{f}")).collect();
    let base = TREND_BASE_SQL
        .replace("{key_youth_tiers}", &key_tiers.join(", "))
        .replace("{category_flags}", &category_flags.join(", "));
    let (people_sql, bits_sql) = crate::score::split_statements(&base);
    // A few month ends at a time: memory is bounded by one pass's signals and people, and only
    // the narrow rows of `trend_people` and `trend_bits` are kept from each pass.
    let passes = dates.len().div_ceil(MAX_DATES_PER_PASS);
    let per_pass = dates.len().div_ceil(passes);
    let (mut people, mut bits) = (Vec::new(), Vec::new());
    let mut schemas = None;
    for (n, chunk) in dates.chunks(per_pass).enumerate() {
        crate::score::register_dates_from(ctx, chunk, n * per_pass).await?;
        crate::score::evaluate(ctx, model).await?;
        for table in ["active", "person_asof"] {
            ctx.deregister_table(table)?;
        }
        let (p, b) = (ctx.sql(people_sql).await?, ctx.sql(bits_sql).await?);
        let arrow = |df: &datafusion::dataframe::DataFrame| std::sync::Arc::new(df.schema().as_arrow().clone());
        schemas.get_or_insert_with(|| (arrow(&p), arrow(&b)));
        people.extend(p.collect().await?);
        bits.extend(b.collect().await?);
        ctx.deregister_table("scored")?;
        crate::session::release_memory();
    }
    let (people_schema, bits_schema) = schemas.expect("at least one month end");
    crate::score::register_batches(ctx, "trend_people", people_schema, people)?;
    crate::score::register_batches(ctx, "trend_bits", bits_schema, bits)?;
    // Each category, and each pair of categories (C1+C2, …), counted in one pass.
    let mut sums = Vec::new();
    let mut category_rows = Vec::new();
    for (c, f) in model.categories.iter().zip(&flags) {
        sums.push(format!("sum(CASE WHEN {f} THEN 1 ELSE 0 END) AS n_{f}"));
        category_rows.push(format!("SELECT as_of, 'category', {}, n_{f} FROM trend_monthly", lit(c)));
    }
    for (x, (cx, fx)) in model.categories.iter().zip(&flags).enumerate() {
        for (cy, fy) in model.categories.iter().zip(&flags).skip(x + 1) {
            sums.push(format!("sum(CASE WHEN {fx} AND {fy} THEN 1 ELSE 0 END) AS n_{fx}_{fy}"));
            category_rows.push(format!("SELECT as_of, 'pair', {}, n_{fx}_{fy} FROM trend_monthly", lit(&format!("{cx}+{cy}"))));
        }
    }
    // New and lifted at month end i: listed at i and not at i − 1, and the other way round.
    let mut move_sums = Vec::new();
    let mut move_rows = Vec::new();
    for (i, d) in dates.iter().enumerate().skip(1) {
        let (now, before) = (1i64 << i, 1i64 << (i - 1));
        move_sums.push(format!(
            "sum(CASE WHEN listed_in & {now} <> 0 AND listed_in & {before} = 0 THEN 1 ELSE 0 END) AS new_{i}, \
             sum(CASE WHEN listed_in & {now} = 0 AND listed_in & {before} <> 0 THEN 1 ELSE 0 END) AS lifted_{i}"
        ));
        move_rows.push(format!("SELECT DATE '{d}', 'new', 'all', new_{i} FROM trend_moves"));
        move_rows.push(format!("SELECT DATE '{d}', 'lifted', 'all', lifted_{i} FROM trend_moves"));
    }
    let sql = TREND_SQL
        .replace("{category_sums}", &sums.join(",\n    "))
        .replace("{category_rows}", &category_rows.join("\nUNION ALL\n"))
        .replace("{move_sums}", &move_sums.join(",\n    "))
        .replace("{move_rows}", &move_rows.join("\nUNION ALL\n"));
    let mut statements = sql.split("\n;;\n");
    for name in ["trend_monthly", "trend_moves"] {
        let stmt = statements.next().expect("trend.sql has three statements");
        crate::score::materialise(ctx, name, stmt).await?;
    }
    let sql = statements.next().expect("trend.sql has three statements");
    let a = format!("DATE '{}'", plan.as_of);
    let population = format!(
        "SELECT CAST({latest} AS DATE) AS month_end, 'population_gender' AS measure, gender AS key, count(DISTINCT person_key) AS people
         FROM (SELECT person_key, gender, parse_birth(birth_date) AS b FROM persons)
         WHERE b IS NOT NULL AND b <= {a}
           AND CAST(date_part('year', {a}) - date_part('year', b) AS INT)
               - CASE WHEN date_part('month', {a}) * 100 + date_part('day', {a}) < date_part('month', b) * 100 + date_part('day', b)
                      THEN 1 ELSE 0 END < {max_age}
         GROUP BY gender",
        latest = format!("DATE '{}'", shown.last().expect("at least one month")),
        max_age = model.max_age_years,
    );
    let first = format!("DATE '{}'", shown[0]);
    crate::score::materialise(
        ctx,
        "trend_rows",
        &format!(
            "SELECT month_end, measure, key, CAST(people AS BIGINT) AS people FROM (
               {sql}
               UNION ALL
               {population}
             ) WHERE month_end >= {first} AND people > 0"
        ),
    )
    .await?;
    let table = crate::score::collect(ctx, "SELECT * FROM trend_rows ORDER BY month_end, measure, key").await?;
    let mut counts = BTreeMap::new();
    for b in &table {
        let month = b.column(0).as_primitive::<datafusion::arrow::datatypes::Date32Type>();
        let measure = datafusion::arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        let key = datafusion::arrow::compute::cast(b.column(2), &DataType::Utf8)?;
        let people = b.column(3).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let k = if key.is_valid(i) { key.as_string::<i32>().value(i).to_string() } else { String::new() };
            counts.insert(
                (
                    crate::session::days_to_date(month.value(i)),
                    measure.as_string::<i32>().value(i).to_string(),
                    k,
                ),
                people.value(i) as u64,
            );
        }
    }
    // Each run's monthly counts are kept in the lake.
    let df = ctx
        .sql(&format!(
            "SELECT {} AS run_id, {a} AS as_of, month_end, measure, key, people FROM trend_rows",
            lit(run_id)
        ))
        .await?;
    lake.append(ctx, lake::TRENDS, df).await?;
    Ok(Trend { months: shown, counts, table, seconds: t.elapsed().as_secs_f64() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_ends_are_on_or_before_the_as_of_date() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(month_ends(d("2026-11-24"), 3), vec![d("2026-08-31"), d("2026-09-30"), d("2026-10-31")]);
        assert_eq!(month_ends(d("2026-10-31"), 2), vec![d("2026-09-30"), d("2026-10-31")]);
        assert_eq!(month_ends(d("2024-03-15"), 2), vec![d("2024-01-31"), d("2024-02-29")]);
        assert_eq!(month_ends(d("2026-11-24"), 24).len(), 24);
    }
}
