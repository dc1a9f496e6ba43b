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
    crate::score::register_dates(ctx, &dates).await?;
    let pairs: Vec<Vec<String>> =
        dates.windows(2).map(|w| vec![format!("DATE '{}'", w[1]), format!("DATE '{}'", w[0])]).collect();
    crate::score::register_values(ctx, "month_pairs", &["as_of", "prev"], &pairs).await?;
    crate::score::evaluate(ctx, model).await?;
    let key_tiers: Vec<String> = model.trend.key_youth_tiers.iter().map(|t| lit(t)).collect();
    let fill = |sql: &str| {
        sql.replace("{key_youth_tiers}", &key_tiers.join(", "))
            .replace("{max_age}", &model.max_age_years.to_string())
            .replace("{left_behind}", &model.trend.left_behind)
    };
    let base = fill(TREND_BASE_SQL);
    let mut statements = base.split("\n;;\n");
    for name in ["trend_listed", "trend_listed_categories", "trend_left_behind"] {
        let stmt = statements.next().expect("trend_base.sql has three statements");
        crate::score::materialise(ctx, name, stmt).await?;
    }
    let sql = fill(TREND_SQL);
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
    let table = crate::score::collect(
        ctx,
        &format!(
            "SELECT month_end, measure, key, CAST(people AS BIGINT) AS people FROM (
               {sql}
               UNION ALL
               {population}
             ) WHERE month_end >= {first}
             ORDER BY month_end, measure, key"
        ),
    )
    .await?;
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
    crate::score::register_batches(ctx, "trend_rows", table[0].schema(), table.clone())?;
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
