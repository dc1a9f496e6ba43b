//! The trend: the model evaluated at the month ends on or before the as-of date, in one pass
//! (the same plans as the list, over a table of dates), counted per month into a long table
//! (`month_end`, `measure`, `key`, `people`). Kept in the lake's `trends` table per run and
//! written to `trend.parquet` unsuppressed, for analysts; leadership sees it only through
//! [`crate::report::view`].
//!
//! History survives the age-out purge as counts. A month end is *sealed* once a minor of the
//! month end before it (whose list its `new` and `lifted` counts compare with) may be born on or
//! before the purge cutoff (18 years + `grace_days` before the as-of date): from then on the
//! purge may remove some of the people it counts. Before every purge, [`seal`] computes the
//! counts of each shown month end that is sealed and not yet kept for this model (model file and
//! codebook, [`model_hash`]) from the lake as it still is, and keeps them in the lake's
//! `month_ends` table (no person key). [`trend`] then takes a sealed month end's counts from
//! `month_ends` and evaluates every other month end on the lake. A month end becomes sealed by
//! the purge that could first remove someone it counts, and is kept just before that purge, so
//! the kept counts are those of the whole lake.
//!
//! A sealed month end with no kept counts for this model (another model version or codebook,
//! or a lake purged by a humiao older than `month_ends`) is evaluated on the lake and misses
//! the people already purged; the run logs a warning naming it. Kept counts are not revised by
//! records that arrive later for the people who remain (reopening them is issue 12, point 2).
//! The latest month end's `population_gender` is always counted on the lake (the population of
//! the as-of date).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Months, NaiveDate};
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
    /// The month ends taken from the counts kept in `month_ends`, and those evaluated on the lake.
    pub reused: Vec<NaiveDate>,
    pub computed: Vec<NaiveDate>,
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

/// SHA-256 of the model file's and the codebook's hashes: kept counts are reused only by the
/// model and codebook that made them.
pub fn model_hash(plan: &Plan, model: &Model) -> String {
    crate::config::sha256_hex(format!("humiao month ends v1\n{}\n{}", model.sha256, plan.codebook.sha256).as_bytes())
}

/// Whether the counts of month end `month` may include someone the purge of `cutoff` removes:
/// someone born on the cutoff is a minor on the month end before it (birth + 18 years after
/// it). On or before, not before: a 29 February birth day plus 18 years falls on 28 February.
pub fn sealed(month: NaiveDate, cutoff: NaiveDate, max_age_years: u32) -> bool {
    let adult = cutoff.checked_add_months(Months::new(12 * max_age_years)).expect("dates are far from the maximum");
    previous_month_end(month) <= adult
}

/// The month ends of `model_hash` kept in `month_ends` (registered in `ctx`), each with the
/// run that kept it (the latest, should two have).
async fn kept_months(ctx: &SessionContext, model_hash: &str) -> Result<BTreeSet<NaiveDate>> {
    let v = lake::collect_strings(
        ctx,
        &format!("SELECT DISTINCT CAST(month_end AS VARCHAR) FROM month_ends WHERE model_hash = {}", lit(model_hash)),
    )
    .await?;
    Ok(v.iter().filter_map(|d| crate::session::parse_iso_date(d)).collect())
}

/// The month ends kept in `month_ends` by another model or codebook only.
async fn kept_by_other_models(ctx: &SessionContext, model_hash: &str) -> Result<BTreeSet<NaiveDate>> {
    let v = lake::collect_strings(
        ctx,
        &format!("SELECT DISTINCT CAST(month_end AS VARCHAR) FROM month_ends WHERE model_hash <> {}", lit(model_hash)),
    )
    .await?;
    Ok(v.iter().filter_map(|d| crate::session::parse_iso_date(d)).collect())
}

fn warn_missing_people(months: &[NaiveDate], other: &BTreeSet<NaiveDate>) {
    let missing: Vec<String> = months.iter().filter(|m| other.contains(m)).map(|m| m.to_string()).collect();
    if !missing.is_empty() {
        tracing::warn!(
            month_ends = %missing.join(","),
            "month ends whose people may have been purged are counted by another model or codebook than the one that kept them: \
             they are evaluated on the lake as it is, without the people already purged"
        );
    }
}

/// Before a purge of `cutoff`: keeps in `month_ends` the counts of every shown month end that
/// the purge may reach (see [`sealed`]) and that is not kept yet for this model, computed on
/// the lake as it is. Returns the month ends kept. `ctx` has the lake registered (committed
/// rows only); replaces the session's evaluation tables.
pub async fn seal(ctx: &SessionContext, plan: &Plan, model: &Model, lake: &Lake, cutoff: NaiveDate, run_id: &str) -> Result<Vec<NaiveDate>> {
    let hash = model_hash(plan, model);
    let kept = kept_months(ctx, &hash).await?;
    let missing: Vec<NaiveDate> = month_ends(plan.as_of, model.trend.months)
        .into_iter()
        .filter(|m| sealed(*m, cutoff, model.max_age_years as u32) && !kept.contains(m))
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    warn_missing_people(&missing, &kept_by_other_models(ctx, &hash).await?);
    crate::score::register_reference(ctx, plan, model).await?;
    crate::score::prepare(ctx, model).await?;
    count_months(ctx, model, &missing).await?;
    let fingerprint = lake_fingerprint(lake).await?;
    let df = ctx
        .sql(&format!(
            "SELECT month_end, measure, key, people, {} AS model_version, {} AS model_hash, {} AS run_id,
                    DATE '{}' AS computed_as_of, {} AS inputs_fingerprint
             FROM month_rows",
            lit(&model.version),
            lit(&hash),
            lit(run_id),
            plan.as_of,
            lit(&fingerprint),
        ))
        .await?;
    lake.append(ctx, lake::MONTH_ENDS, df).await?;
    for table in ["month_rows", "signal_spans", "person_spans"] {
        ctx.deregister_table(table)?;
    }
    crate::session::release_memory();
    tracing::info!(
        month_ends = %missing.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(","),
        "kept the counts of the month ends the purge may reach"
    );
    Ok(missing)
}

/// The lake the counts were computed from: the versions of the tables the model reads.
async fn lake_fingerprint(lake: &Lake) -> Result<String> {
    let mut parts = Vec::new();
    for table in [lake::SIGNALS, lake::PERSONS] {
        let v = lake.open(table).await?.and_then(|t| t.version()).map(|v| v as i64).unwrap_or(-1);
        parts.push(format!("{table}@{v}"));
    }
    Ok(parts.join(";"))
}

/// Evaluates the model at the month ends `months` (and at the month end before each, for the
/// new and lifted counts) and registers their counts as `month_rows` (`month_end`, `measure`,
/// `key`, `people`; counts of 0 left out; no population of the as-of date). Needs
/// [`crate::score::prepare`]; replaces the session's `active`, `person_asof` and `scored`.
async fn count_months(ctx: &SessionContext, model: &Model, months: &[NaiveDate]) -> Result<()> {
    // Every month end evaluated, oldest first: the counted ones and the one before each.
    let dates: Vec<NaiveDate> = months
        .iter()
        .flat_map(|m| [previous_month_end(*m), *m])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(dates.len() < 63, "a person's month bits fit in a BIGINT");
    let position = |d: NaiveDate| dates.iter().position(|x| *x == d).expect("evaluated");
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
    // New and lifted at a month end: listed then and not at the month end before, and the other
    // way round.
    let mut move_sums = Vec::new();
    let mut move_rows = Vec::new();
    for d in months {
        let (i, j) = (position(*d), position(previous_month_end(*d)));
        let (now, before) = (1i64 << i, 1i64 << j);
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
    let counted: Vec<String> = months.iter().map(|m| format!("DATE '{m}'")).collect();
    crate::score::materialise(
        ctx,
        "month_rows",
        &format!(
            "SELECT CAST(month_end AS DATE) AS month_end, CAST(measure AS VARCHAR) AS measure, CAST(key AS VARCHAR) AS key,
                    CAST(people AS BIGINT) AS people
             FROM ({sql}) WHERE month_end IN ({}) AND people > 0",
            counted.join(", ")
        ),
    )
    .await?;
    for table in ["trend_people", "trend_bits", "trend_monthly", "trend_moves"] {
        ctx.deregister_table(table)?;
    }
    Ok(())
}

/// The counts of the month ends shown on `plan.as_of`: a sealed month end's from the counts
/// kept in `month_ends` for this model, every other one evaluated on the lake (see the module
/// doc). Replaces the session's `active`, `person_asof` and `scored` with those of the month
/// ends evaluated.
pub async fn trend(ctx: &SessionContext, plan: &Plan, model: &Model, lake: &Lake, run_id: &str) -> Result<Trend> {
    let t = std::time::Instant::now();
    let shown = month_ends(plan.as_of, model.trend.months);
    let cutoff = crate::retention::purge_cutoff(plan.as_of, model.max_age_years as u32, plan.retention.grace_days);
    let hash = model_hash(plan, model);
    let kept = kept_months(ctx, &hash).await?;
    let (reused, computed): (Vec<NaiveDate>, Vec<NaiveDate>) =
        shown.iter().copied().partition(|m| sealed(*m, cutoff, model.max_age_years as u32) && kept.contains(m));
    let sealed_computed: Vec<NaiveDate> =
        computed.iter().copied().filter(|m| sealed(*m, cutoff, model.max_age_years as u32)).collect();
    if !sealed_computed.is_empty() {
        warn_missing_people(&sealed_computed, &kept_by_other_models(ctx, &hash).await?);
    }
    let list = |ms: &[NaiveDate]| ms.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(",");
    tracing::info!(reused = %list(&reused), computed = %list(&computed), "trend month ends");
    if computed.is_empty() {
        ctx.deregister_table("month_rows")?;
        crate::score::materialise(
            ctx,
            "month_rows",
            "SELECT CAST(NULL AS DATE) AS month_end, CAST(NULL AS VARCHAR) AS measure, CAST(NULL AS VARCHAR) AS key,
                    CAST(NULL AS BIGINT) AS people WHERE false",
        )
        .await?;
    } else {
        count_months(ctx, model, &computed).await?;
    }
    let a = format!("DATE '{}'", plan.as_of);
    let latest = format!("DATE '{}'", shown.last().expect("at least one month"));
    let population = format!(
        "SELECT CAST({latest} AS DATE) AS month_end, 'population_gender' AS measure, gender AS key, count(DISTINCT person_key) AS people
         FROM (SELECT person_key, gender, parse_birth(birth_date) AS b FROM persons)
         WHERE b IS NOT NULL AND b <= {a}
           AND CAST(date_part('year', {a}) - date_part('year', b) AS INT)
               - CASE WHEN date_part('month', {a}) * 100 + date_part('day', {a}) < date_part('month', b) * 100 + date_part('day', b)
                      THEN 1 ELSE 0 END < {max_age}
         GROUP BY gender",
        max_age = model.max_age_years,
    );
    let reused_dates: Vec<String> = reused.iter().map(|m| format!("DATE '{m}'")).collect();
    let kept_rows = if reused.is_empty() {
        String::new()
    } else {
        format!(
            "UNION ALL
             SELECT k.month_end, k.measure, k.key, k.people
             FROM month_ends k
             JOIN (SELECT month_end, max(run_id) AS run_id FROM month_ends WHERE model_hash = {h} GROUP BY month_end) r
               ON r.month_end = k.month_end AND r.run_id = k.run_id
             WHERE k.model_hash = {h} AND k.month_end IN ({dates}) AND k.measure <> 'population_gender'",
            h = lit(&hash),
            dates = reused_dates.join(", "),
        )
    };
    crate::score::materialise(
        ctx,
        "trend_rows",
        &format!(
            "SELECT CAST(month_end AS DATE) AS month_end, CAST(measure AS VARCHAR) AS measure, CAST(key AS VARCHAR) AS key,
                    CAST(people AS BIGINT) AS people
             FROM (
               SELECT month_end, measure, key, people FROM month_rows
               {kept_rows}
               UNION ALL
               {population}
             ) WHERE people > 0"
        ),
    )
    .await?;
    let table = crate::score::collect(ctx, "SELECT * FROM trend_rows ORDER BY month_end, measure, key").await?;
    // One schema whichever way the rows came (kept or evaluated): the same counts give the same
    // bytes.
    let table = conform_trend(table)?;
    let mut counts = BTreeMap::new();
    for b in &table {
        let month = b.column(0).as_primitive::<datafusion::arrow::datatypes::Date32Type>();
        let measure = b.column(1).as_string::<i32>();
        let key = b.column(2).as_string::<i32>();
        let people = b.column(3).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let k = if key.is_valid(i) { key.value(i).to_string() } else { String::new() };
            counts.insert((crate::session::days_to_date(month.value(i)), measure.value(i).to_string(), k), people.value(i) as u64);
        }
    }
    ctx.deregister_table("month_rows")?;
    // Each run's monthly counts are kept in the lake.
    let df = ctx
        .sql(&format!(
            "SELECT {} AS run_id, {a} AS as_of, month_end, measure, key, people FROM trend_rows",
            lit(run_id)
        ))
        .await?;
    lake.append(ctx, lake::TRENDS, df).await?;
    Ok(Trend {
        months: shown,
        counts,
        table,
        seconds: t.elapsed().as_secs_f64(),
        reused,
        computed,
    })
}

/// `trend.parquet`'s schema: month_end date, measure and key text, people BIGINT, all nullable.
fn conform_trend(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    use datafusion::arrow::datatypes::{Field, Schema};
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("month_end", DataType::Date32, true),
        Field::new("measure", DataType::Utf8, true),
        Field::new("key", DataType::Utf8, true),
        Field::new("people", DataType::Int64, true),
    ]));
    batches
        .into_iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect()
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

    #[test]
    fn a_month_end_is_sealed_when_a_minor_of_the_month_before_may_be_purged() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // grace 200 days on 2026-11-24: cutoff 2008-05-08, who turned 18 on 2026-05-08.
        let cutoff = crate::retention::purge_cutoff(d("2026-11-24"), 18, 200);
        assert_eq!(cutoff, d("2008-05-08"));
        assert!(sealed(d("2026-05-31"), cutoff, 18), "a minor on 2026-04-30 may be born on the cutoff");
        assert!(!sealed(d("2026-06-30"), cutoff, 18), "everyone purged was 18 by 2026-05-31");
        // born 2008-02-29 is 17 on 2026-02-28 (18 on 1 March): the month after is sealed too.
        assert!(sealed(d("2026-03-31"), d("2008-02-29"), 18));
    }
}
