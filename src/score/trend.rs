//! The trend: the model evaluated at the month ends on or before the as-of date, in one pass
//! (the same plans as the list, over a table of dates), counted per month into a long table
//! (`month_end`, `measure`, `key`, `people`). Kept in the lake's `trends` table per run and
//! written to `trend.parquet` unsuppressed, for analysts; leadership sees it only through
//! [`crate::report::view`].
//!
//! Month ends are kept as counts in the lake's `month_ends` table (no person key), with the
//! model that made them ([`model_hash`]: the model file's and the codebook's SHA-256) and the
//! fingerprint of their inputs ([`fingerprints`], fingerprint.sql: every signal dated on or
//! before the month end, of everyone who may be a minor on the month end before it). Which month
//! ends a run takes from there and which it evaluates on the lake:
//!
//! - A month end is *sealed* once a minor of the month end before it (which its `new` and
//!   `lifted` counts compare with) may be born on or before the purge cutoff (18 years +
//!   `grace_days` before the as-of date): the purge may then remove some of the people it
//!   counts. Before every purge, [`seal`] evaluates each shown month end that this purge seals
//!   and that has no sealed counts for this model yet, on the lake as it still is, and keeps the
//!   counts (committed before the purge, so they outlive a run killed after it). A month end
//!   becomes sealed by the purge that could first remove someone it counts, so its sealed
//!   counts are those of the whole lake. A sealed month end is always taken from its sealed
//!   counts and never evaluated again.
//! - Any other month end is taken from kept counts of this model whose fingerprint is the one
//!   of the lake now; otherwise (a new, corrected or re-delivered record dated on or before it,
//!   another birth date, gender or township in one, a newly linked pending row, another model
//!   or codebook) it is evaluated on the lake and its counts are kept with their fingerprint.
//!   The log line `trend month ends` names the month ends reused and computed.
//!
//! A sealed month end with no sealed counts for this model (another model version or codebook,
//! a run dated before the latest one, which does not purge, or a lake purged by a humiao older
//! than `month_ends`) is evaluated on the lake and misses the people already purged; the run
//! logs a warning naming it. Sealed counts are not revised by records that arrive later for the
//! people who remain. The latest month end's `population_gender` is always counted on the lake
//! (the population of the as-of date).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Months, NaiveDate};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::config::Plan;
use crate::error::Result;
use crate::lake::{self, Lake};
use crate::model::Model;
use crate::sql::{self, Template, lit};

const TREND_BASE_SQL: &str = include_str!("trend_base.sql");
const TREND_SQL: &str = include_str!("trend.sql");
const FINGERPRINT_SQL: &str = include_str!("fingerprint.sql");

/// The most month ends evaluated in one pass (memory grows with it).
const MAX_DATES_PER_PASS: usize = 5;

/// The columns of a month end's counts, typed as `trend.parquet` holds them whether the rows
/// were computed or kept.
const COUNT_COLUMNS: &str = "CAST(month_end AS DATE) AS month_end, CAST(measure AS VARCHAR) AS measure, \
    CAST(key AS VARCHAR) AS key, CAST(people AS BIGINT) AS people";

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

/// What `month_ends` (registered in `ctx`) keeps for `model_hash`: per month end, the sealed
/// counts' run, and the run of each fingerprint's unsealed counts (the latest, should two have).
#[derive(Debug, Default)]
struct Kept {
    sealed: BTreeMap<NaiveDate, String>,
    unsealed: BTreeMap<(NaiveDate, String), String>,
}

async fn kept(ctx: &SessionContext, model_hash: &str) -> Result<Kept> {
    let batches = sql::collect(
        ctx,
        &format!(
            "SELECT CAST(month_end AS VARCHAR), CAST(coalesce(sealed, false) AS VARCHAR), coalesce(inputs_fingerprint, ''), max(run_id)
             FROM month_ends WHERE model_hash = {} GROUP BY 1, 2, 3",
            lit(model_hash)
        ),
    )
    .await?;
    let mut kept = Kept::default();
    for b in &batches {
        let text: Vec<_> =
            (0..4).map(|i| datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8)).collect::<std::result::Result<_, _>>()?;
        let t = |c: usize, i: usize| text[c].as_string::<i32>().value(i).to_string();
        for i in 0..b.num_rows() {
            let Some(month) = crate::session::parse_iso_date(&t(0, i)) else { continue };
            if t(1, i) == "true" {
                kept.sealed.insert(month, t(3, i));
            } else {
                kept.unsealed.insert((month, t(2, i)), t(3, i));
            }
        }
    }
    Ok(kept)
}

/// The inputs fingerprint of each month end (fingerprint.sql); `signals` registered in `ctx`.
pub async fn fingerprints(ctx: &SessionContext, months: &[NaiveDate], max_age_years: u32) -> Result<BTreeMap<NaiveDate, String>> {
    let rows: Vec<Vec<String>> = months
        .iter()
        .map(|m| {
            let young_after =
                previous_month_end(*m).checked_sub_months(Months::new(12 * max_age_years)).expect("dates are far from the minimum");
            vec![sql::date(*m), sql::date(young_after)]
        })
        .collect();
    sql::register_values(ctx, "fp_months", &["month_end", "young_after"], &rows).await?;
    let batches = sql::collect(ctx, fingerprint_sql()).await?;
    let mut out: BTreeMap<NaiveDate, String> = months.iter().map(|m| (*m, "0:0".to_string())).collect();
    for b in &batches {
        let m = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let f = datafusion::arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        for i in 0..b.num_rows() {
            if let Some(d) = crate::session::parse_iso_date(m.as_string::<i32>().value(i)) {
                out.insert(d, f.as_string::<i32>().value(i).to_string());
            }
        }
    }
    ctx.deregister_table("fp_months")?;
    Ok(out)
}

/// Appends the rows of `month_rows` of `months` to `month_ends`, each month end with its
/// fingerprint, sealed or not.
#[allow(clippy::too_many_arguments)]
async fn keep(
    ctx: &SessionContext,
    plan: &Plan,
    model: &Model,
    lake: &Lake,
    run_id: &str,
    fingerprints: &BTreeMap<NaiveDate, String>,
    months: &[NaiveDate],
    sealed: bool,
) -> Result<()> {
    let cases: Vec<String> = months.iter().map(|m| format!("WHEN DATE '{m}' THEN {}", lit(&fingerprints[m]))).collect();
    let df = ctx
        .sql(&format!(
            "SELECT month_end, measure, key, people, {} AS model_version, {} AS model_hash, {} AS run_id,
                    DATE '{}' AS computed_as_of, CASE month_end {} END AS inputs_fingerprint, {sealed} AS sealed
             FROM month_rows WHERE month_end IN ({})",
            lit(&model.version),
            lit(&model_hash(plan, model)),
            lit(run_id),
            plan.as_of,
            cases.join(" "),
            months.iter().map(|m| sql::date(*m)).collect::<Vec<_>>().join(", "),
        ))
        .await?;
    lake.append(ctx, lake::MONTH_ENDS, df).await?;
    Ok(())
}

/// The month ends kept in `month_ends` by another model or codebook only.
async fn kept_by_other_models(ctx: &SessionContext, model_hash: &str) -> Result<BTreeSet<NaiveDate>> {
    let v = sql::collect_strings(
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
    let kept = kept(ctx, &hash).await?;
    let missing: Vec<NaiveDate> = month_ends(plan.as_of, model.trend.months)
        .into_iter()
        .filter(|m| sealed(*m, cutoff, model.max_age_years as u32) && !kept.sealed.contains_key(m))
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    warn_missing_people(&missing, &kept_by_other_models(ctx, &hash).await?);
    let fingerprints = fingerprints(ctx, &missing, model.max_age_years as u32).await?;
    crate::score::register_reference(ctx, plan, model).await?;
    crate::score::prepare(ctx, model).await?;
    count_months(ctx, model, &missing).await?;
    keep(ctx, plan, model, lake, run_id, &fingerprints, &missing, true).await?;
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

/// Every month end evaluated for the counts of `months`, oldest first: each of them and the one
/// before it (for the new and lifted counts). A month end's position in this list is its `i` in
/// `model_asof` and its bit in `trend_bits`.
pub fn evaluated_month_ends(months: &[NaiveDate]) -> Vec<NaiveDate> {
    let dates: Vec<NaiveDate> = months
        .iter()
        .flat_map(|m| [previous_month_end(*m), *m])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(dates.len() < 63, "a person's month bits fit in a BIGINT");
    dates
}

/// `trend_base.sql` filled in from the model: two statements (`trend_people`, `trend_bits`; read
/// `scored`, `model_asof`), separated by a line of `;;`.
pub fn trend_base_sql(model: &Model) -> Result<String> {
    let key_tiers: Vec<String> = model.trend.key_youth_tiers.iter().map(|t| lit(t)).collect();
    let category_flags: Vec<String> = model.categories.iter().map(|c| format!("s.{}", c.to_lowercase())).collect();
    Template::new("trend_base.sql", TREND_BASE_SQL)
        .set("key_youth_tiers", key_tiers.join(", "))
        .set("category_flags", category_flags.join(", "))
        .render()
}

/// `trend.sql` filled in for the counted month ends `months`, as the three queries a count runs:
/// `trend_monthly`, `trend_moves` (read `trend_people`, `trend_bits`) and `month_rows` (the
/// counts of `months` that are not 0; reads those two as well).
pub fn trend_sql(model: &Model, months: &[NaiveDate]) -> Result<[String; 3]> {
    let dates = evaluated_month_ends(months);
    let position = |d: NaiveDate| dates.iter().position(|x| *x == d).expect("evaluated");
    let flags: Vec<String> = model.categories.iter().map(|c| c.to_lowercase()).collect();
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
    let sql = Template::new("trend.sql", TREND_SQL)
        .set("category_sums", sums.join(",\n    "))
        .set("category_rows", category_rows.join("\nUNION ALL\n"))
        .set("move_sums", move_sums.join(",\n    "))
        .set("move_rows", move_rows.join("\nUNION ALL\n"))
        .render()?;
    let mut statements = sql.split("\n;;\n");
    let mut next = || statements.next().expect("trend.sql has three statements").to_string();
    let (monthly, moves, counts) = (next(), next(), next());
    let counted: Vec<String> = months.iter().map(|m| sql::date(*m)).collect();
    let month_rows = format!(
        "SELECT {COUNT_COLUMNS}
             FROM ({counts}) WHERE month_end IN ({}) AND people > 0",
        counted.join(", ")
    );
    Ok([monthly, moves, month_rows])
}

/// `fingerprint.sql` (reads `signals` and `fp_months`: month_end, young_after).
pub fn fingerprint_sql() -> &'static str {
    FINGERPRINT_SQL
}

/// Evaluates the model at the month ends `months` (and at the month end before each, for the
/// new and lifted counts) and registers their counts as `month_rows` (`month_end`, `measure`,
/// `key`, `people`; counts of 0 left out; no population of the as-of date). Needs
/// [`crate::score::prepare`]; replaces the session's `active`, `person_asof` and `scored`.
async fn count_months(ctx: &SessionContext, model: &Model, months: &[NaiveDate]) -> Result<()> {
    let dates = evaluated_month_ends(months);
    let base = trend_base_sql(model)?;
    let (people_sql, bits_sql) = sql::split_statements(&base);
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
    sql::register_batches(ctx, "trend_people", people_schema, people)?;
    sql::register_batches(ctx, "trend_bits", bits_schema, bits)?;
    let [monthly, moves, month_rows] = trend_sql(model, months)?;
    sql::materialise(ctx, "trend_monthly", &monthly).await?;
    sql::materialise(ctx, "trend_moves", &moves).await?;
    sql::materialise(ctx, "month_rows", &month_rows).await?;
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
    let max_age = model.max_age_years as u32;
    let kept = kept(ctx, &hash).await?;
    let fingerprints = fingerprints(ctx, &shown, max_age).await?;
    // Per month end reused: the run whose counts are taken and whether they are sealed.
    let mut take: Vec<(NaiveDate, String, bool)> = Vec::new();
    let (mut computed, mut sealed_computed) = (Vec::new(), Vec::new());
    for m in &shown {
        if sealed(*m, cutoff, max_age) {
            match kept.sealed.get(m) {
                Some(run) => take.push((*m, run.clone(), true)),
                None => {
                    computed.push(*m);
                    sealed_computed.push(*m);
                }
            }
        } else {
            match kept.unsealed.get(&(*m, fingerprints[m].clone())) {
                Some(run) if plan.recompute == crate::config::Recompute::Changed => take.push((*m, run.clone(), false)),
                _ => computed.push(*m),
            }
        }
    }
    if !sealed_computed.is_empty() {
        warn_missing_people(&sealed_computed, &kept_by_other_models(ctx, &hash).await?);
    }
    let reused: Vec<NaiveDate> = take.iter().map(|t| t.0).collect();
    let list = |ms: &[NaiveDate]| ms.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(",");
    tracing::info!(reused = %list(&reused), computed = %list(&computed), "trend month ends");
    if computed.is_empty() {
        ctx.deregister_table("month_rows")?;
        sql::materialise(
            ctx,
            "month_rows",
            "SELECT CAST(NULL AS DATE) AS month_end, CAST(NULL AS VARCHAR) AS measure, CAST(NULL AS VARCHAR) AS key,
                    CAST(NULL AS BIGINT) AS people WHERE false",
        )
        .await?;
    } else {
        count_months(ctx, model, &computed).await?;
        // Month ends the purge does not reach are kept with their fingerprint, for the next run
        // (sealed ones evaluated here lack purged people: not kept).
        let unsealed: Vec<NaiveDate> = computed.iter().copied().filter(|m| !sealed(*m, cutoff, max_age)).collect();
        if !unsealed.is_empty() {
            keep(ctx, plan, model, lake, run_id, &fingerprints, &unsealed, false).await?;
        }
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
    let kept_rows = if take.is_empty() {
        String::new()
    } else {
        let which: Vec<String> = take
            .iter()
            .map(|(m, run, sealed)| {
                let fp = if *sealed { String::new() } else { format!(" AND inputs_fingerprint = {}", lit(&fingerprints[m])) };
                format!("(month_end = DATE '{m}' AND run_id = {} AND coalesce(sealed, false) = {sealed}{fp})", lit(run))
            })
            .collect();
        format!(
            "UNION ALL
             SELECT month_end, measure, key, people FROM month_ends
             WHERE model_hash = {} AND measure <> 'population_gender' AND ({})",
            lit(&hash),
            which.join(" OR "),
        )
    };
    sql::materialise(
        ctx,
        "trend_rows",
        &format!(
            "SELECT {COUNT_COLUMNS}
             FROM (
               SELECT month_end, measure, key, people FROM month_rows
               {kept_rows}
               UNION ALL
               {population}
             ) WHERE people > 0"
        ),
    )
    .await?;
    let table = sql::collect(ctx, "SELECT * FROM trend_rows ORDER BY month_end, measure, key").await?;
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
