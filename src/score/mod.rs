//! Scoring: the collision model evaluated on the lake as of a date, as DataFusion plans.
//!
//! `model::active_sql` → `active` (signals active on the date), `person.sql` → `person_asof`
//! (birth date, gender, township and age on the date), `model::scored_sql` → `scored` (facts,
//! tier, intervention, score per person), `list.sql` → the ranked risk list with reasons,
//! records, links and changes. The list is kept in the lake's `scores` history, from which the
//! next run learns what changed and how long each person has been listed.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::config::Plan;
use crate::error::Result;
use crate::lake::{self, Lake};
use crate::model::Model;
use crate::sql::{self, Template, collect, count_by, lit, materialise, register_batches, register_values, rows, split_statements};

pub mod check;
mod reasons;
pub mod trend;

const PERSON_SQL: &str = include_str!("person.sql");
const LISTED_SQL: &str = include_str!("listed.sql");
const LIST_SQL: &str = include_str!("list.sql");
const TASKS_SQL: &str = include_str!("tasks.sql");
const CHANGES_SQL: &str = include_str!("changes.sql");

/// The columns of the tasks (`tasks.parquet`, the unit sheets of `tasks.xlsx`).
pub const TASK_COLUMNS: [&str; 17] = [
    "unit",
    "person_key",
    "rank",
    "tier",
    "tier_label",
    "reasons",
    "township_name",
    "school_code",
    "assigned_on",
    "tier_assigned",
    "tier_assigned_label",
    "due_on",
    "status",
    "status_label",
    "days_overdue",
    "closed_on",
    "note",
];

/// The columns of `risk_list.parquet`, in order (the list plan has a few more for history).
pub const RISK_COLUMNS: [&str; 33] = [
    "rank",
    "person_key",
    "tier",
    "tier_label",
    "score",
    "intervention",
    "intervention_label",
    "tier_rule",
    "tier_rule_label",
    "cadence",
    "task_due_on",
    "categories",
    "category_labels",
    "n_categories",
    "departments",
    "collision",
    "units",
    "age",
    "gender",
    "gender_label",
    "township_code",
    "township_name",
    "school_code",
    "school_name",
    "reasons",
    "evidence",
    "link_methods",
    "change",
    "change_label",
    "first_listed_on",
    "days_listed",
    "as_of",
    "model_version",
];

const LINK_LABELS: [(&str, &str); 3] = [("person_key", "直接提供"), ("id_number", "身份证号转换"), ("name_hash", "姓名哈希关联")];

/// What a scoring produced: the list, the changes and the tasks, sorted, plus counts and timings.
#[derive(Debug)]
pub struct Scored {
    pub as_of: NaiveDate,
    pub previous_as_of: Option<NaiveDate>,
    pub risk: Vec<RecordBatch>,
    pub changes: Vec<RecordBatch>,
    pub tasks: Vec<RecordBatch>,
    pub counts: BTreeMap<String, u64>,
    pub timings: BTreeMap<String, f64>,
    /// Every file the lake was made from: (file, sha256), for the manifest.
    pub lake_files: Vec<(String, String)>,
    /// Tasks per responsible unit, in unit order.
    pub task_counts: Vec<TaskCount>,
}

/// One unit's tasks: how many, how many closed by a decision, how many overdue (亮灯).
#[derive(Debug, Clone)]
pub struct TaskCount {
    pub unit: String,
    pub tasks: u64,
    pub closed: u64,
    pub overdue: u64,
}

/// The model's reference tables: labels of codes, sources, categories, units, tiers, genders,
/// link methods; the townships.
pub async fn register_reference(ctx: &SessionContext, plan: &Plan, model: &Model) -> Result<()> {
    let book = &plan.codebook;
    let mut code_labels = Vec::new();
    for t in &plan.tables {
        let section = t.signal.labels.clone().or_else(|| {
            t.columns.iter().find(|c| c.name == t.signal.code.trim()).and_then(|c| c.codes.clone())
        });
        if let Some(entries) = section.as_deref().and_then(|s| book.section(s)) {
            for (code, e) in entries {
                code_labels.push(vec![lit(&t.table), lit(code), lit(&e.label)]);
            }
        }
    }
    register_values(ctx, "ref_code_labels", &["table_name", "code", "label"], &code_labels).await?;
    let section_rows = |name: &str| -> Vec<Vec<String>> {
        book.section(name)
            .map(|s| s.iter().map(|(k, e)| vec![lit(k), lit(&e.label)]).collect())
            .unwrap_or_default()
    };
    register_values(ctx, "ref_sources", &["source", "label"], &section_rows("sources")).await?;
    register_values(ctx, "ref_gender", &["code", "label"], &section_rows("person.gender")).await?;
    let categories = book.section("categories").cloned().unwrap_or_default();
    let cats: Vec<Vec<String>> = categories.iter().map(|(k, e)| vec![lit(k), lit(&e.label)]).collect();
    register_values(ctx, "ref_categories", &["category", "label"], &cats).await?;
    let units = &book.units;
    let mut cat_units = Vec::new();
    for (c, unit_list) in &book.category_units {
        for u in unit_list {
            let order = units.iter().position(|x| x == u).unwrap_or(units.len());
            cat_units.push(vec![lit(c), lit(u), order.to_string()]);
        }
    }
    register_values(ctx, "ref_category_units", &["category", "unit", "unit_order"], &cat_units).await?;
    let tiers: Vec<Vec<String>> = model
        .tiers
        .iter()
        .enumerate()
        .map(|(i, t)| vec![lit(&t.name), lit(&t.facts.label), (i + 1).to_string(), t.facts.due_days.to_string(), lit(&t.facts.cadence)])
        .collect();
    register_values(ctx, "ref_tiers", &["tier", "label", "tier_rank", "due_days", "cadence"], &tiers).await?;
    // The tier rules, numbered as `listed.tier_rule` numbers them.
    let rules: Vec<Vec<String>> = model
        .tier_rules(book)
        .iter()
        .enumerate()
        .map(|(n, (tier, i, label))| vec![format!("CAST({} AS BIGINT)", n + 1), lit(tier), i.to_string(), lit(label)])
        .collect();
    register_values(ctx, "ref_tier_rules", &["tier_rule", "tier", "rule_in_tier", "label"], &rules).await?;
    let interventions: Vec<Vec<String>> =
        model.interventions.iter().map(|i| vec![lit(&i.name), lit(&i.label)]).collect();
    register_values(ctx, "ref_interventions", &["intervention", "label"], &interventions).await?;
    let links: Vec<Vec<String>> =
        LINK_LABELS.iter().enumerate().map(|(i, (m, l))| vec![lit(m), lit(l), i.to_string()]).collect();
    register_values(ctx, "ref_link_methods", &["link_method", "label", "link_order"], &links).await?;
    let towns: Vec<Vec<String>> = plan
        .townships
        .iter()
        .map(|t| vec![lit(&t.code), lit(&t.name), t.minors_population.to_string()])
        .collect();
    register_values(ctx, "ref_townships", &["township_code", "name", "minors_population"], &towns).await?;
    let schools: Vec<Vec<String>> = plan
        .schools
        .iter()
        .flatten()
        .map(|s| vec![lit(&s.code), lit(&s.name), lit(&s.township_code)])
        .collect();
    register_values(ctx, "ref_schools", &["school_code", "name", "township_code"], &schools).await?;
    Ok(())
}

/// Registers `model_asof`: the dates to evaluate on, with their day numbers.
pub async fn register_dates(ctx: &SessionContext, dates: &[NaiveDate]) -> Result<()> {
    register_dates_from(ctx, dates, 0).await
}

/// `model_asof` with positions `i` counted from `first` (the trend evaluates its month ends a
/// few at a time).
pub async fn register_dates_from(ctx: &SessionContext, dates: &[NaiveDate], first: usize) -> Result<()> {
    let rows: Vec<Vec<String>> = dates
        .iter()
        .enumerate()
        .map(|(i, d)| {
            vec![sql::date(*d), crate::session::date_to_days(*d).to_string(), format!("CAST({} AS BIGINT)", first + i)]
        })
        .collect();
    register_values(ctx, "model_asof", &["as_of", "a", "i"], &rows).await
}

/// Materialises the date-independent tables of an evaluation, `signal_spans` and
/// `person_spans`, once per run: the list and the trend share them.
pub async fn prepare(ctx: &SessionContext, model: &Model) -> Result<()> {
    let active = model.active_sql()?;
    let (spans, _) = split_statements(&active);
    materialise(ctx, "signal_spans", spans).await?;
    materialise(ctx, "person_spans", person_sql().0).await?;
    Ok(())
}

/// Evaluates the model on every date of `model_asof`: registers `active`, `person_asof` and
/// `scored` (one row per person and date). Returns (active signals, scored people). Needs
/// [`prepare`] first.
pub async fn evaluate(ctx: &SessionContext, model: &Model) -> Result<(u64, u64)> {
    let sql = model.active_sql()?;
    let active = materialise(ctx, "active", split_statements(&sql).1).await?;
    materialise(ctx, "person_asof", person_sql().1).await?;
    let scored = materialise(ctx, "scored", &model.scored_sql()?).await?;
    Ok((active, scored))
}

/// `humiao score`: the list of `plan.as_of` from the lake; the history is updated.
pub async fn score(ctx: &SessionContext, plan: &Plan, model: &Model, lake: &Lake, run_id: &str) -> Result<Scored> {
    let as_of = plan.as_of;
    let mut timings = BTreeMap::new();
    let mut counts = BTreeMap::new();
    let t = Instant::now();
    lake.register_all(ctx).await?;
    register_reference(ctx, plan, model).await?;
    register_dates(ctx, &[as_of]).await?;
    prepare(ctx, model).await?;
    let (active, scored) = evaluate(ctx, model).await?;
    counts.insert("signals_active".into(), active);
    counts.insert("persons_scored".into(), scored);
    timings.insert("evaluate".into(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let previous_as_of = previous_as_of(ctx, as_of).await?;
    let list_sql = list_sql(model, as_of)?;
    let listed_sql = listed_sql(model, as_of)?;
    materialise(ctx, "listed", &listed_sql).await?;
    reasons::register_per_person(ctx, plan).await?;
    let n = materialise(ctx, "listed_full", &list_sql).await?;
    counts.insert("persons_listed".into(), n);
    for (tier, n) in count_by(ctx, "SELECT tier, count(*) FROM listed_full GROUP BY tier").await? {
        counts.insert(format!("listed_{tier}"), n);
    }
    for (_, n) in count_by(ctx, "SELECT 'collision', count(*) FROM listed_full WHERE collision").await? {
        counts.insert("listed_collision".into(), n);
    }

    let prev = sql::date_or_null(previous_as_of);
    let changes = collect(ctx, &changes_sql(as_of, previous_as_of)?).await?;
    for (change, n) in count_by(ctx, &format!(
        "SELECT change, count(*) FROM listed_full WHERE change <> 'same' GROUP BY change
         UNION ALL SELECT 'lifted', count(*) FROM scores WHERE as_of = {prev} AND person_key NOT IN (SELECT person_key FROM listed_full)"
    ))
    .await?
    {
        counts.insert(format!("changes_{change}"), n);
    }
    let task_sql = tasks_sql(model, as_of, previous_as_of)?;
    materialise(ctx, "task_state", &task_sql).await?;
    let tasks = collect(ctx, &format!("SELECT {} FROM task_state ORDER BY unit_order, unit, rank NULLS LAST, person_key", TASK_COLUMNS.join(", "))).await?;
    // The list says by when: the earliest due date of the person's open tasks.
    let risk = collect(
        ctx,
        &format!(
            "SELECT {} FROM (
               SELECT l.*, t.task_due_on FROM listed_full l
               LEFT JOIN (SELECT person_key AS task_person, min(due_on) AS task_due_on FROM task_state
                          WHERE status = 'open' GROUP BY person_key) t ON t.task_person = l.person_key
             ) ORDER BY rank",
            RISK_COLUMNS.join(", ")
        ),
    )
    .await?;
    register_batches(ctx, "task_rows", tasks[0].schema(), tasks.clone())?;
    counts.insert("tasks".into(), rows(&tasks));
    let mut task_counts: Vec<TaskCount> =
        plan.codebook.units.iter().map(|unit| TaskCount { unit: unit.clone(), tasks: 0, closed: 0, overdue: 0 }).collect();
    for (what, sql) in [
        ("tasks", "SELECT unit, count(*) FROM task_rows GROUP BY unit"),
        ("closed", "SELECT unit, count(*) FROM task_rows WHERE status = 'closed' GROUP BY unit"),
        ("overdue", "SELECT unit, count(*) FROM task_rows WHERE days_overdue > 0 GROUP BY unit"),
    ] {
        for (unit, n) in count_by(ctx, sql).await? {
            if let Some(t) = task_counts.iter_mut().find(|t| t.unit == unit) {
                match what {
                    "tasks" => t.tasks = n,
                    "closed" => t.closed = n,
                    _ => t.overdue = n,
                }
            }
        }
    }
    for (k, n) in count_by(ctx, "SELECT status, count(*) FROM task_rows GROUP BY status UNION ALL SELECT 'overdue', count(*) FROM task_rows WHERE days_overdue > 0").await? {
        counts.insert(format!("tasks_{k}"), n);
    }
    timings.insert("list".into(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    write_history(ctx, lake, as_of, run_id).await?;
    write_tasks(ctx, lake, as_of, run_id).await?;
    timings.insert("history".into(), t.elapsed().as_secs_f64());
    let files = collect(ctx, "SELECT file, sha256 FROM files ORDER BY file, sha256").await?;
    let mut lake_files = Vec::new();
    for b in &files {
        use datafusion::arrow::array::AsArray;
        let f = datafusion::arrow::compute::cast(b.column(0), &datafusion::arrow::datatypes::DataType::Utf8)?;
        let h = datafusion::arrow::compute::cast(b.column(1), &datafusion::arrow::datatypes::DataType::Utf8)?;
        for i in 0..b.num_rows() {
            lake_files.push((f.as_string::<i32>().value(i).to_string(), h.as_string::<i32>().value(i).to_string()));
        }
    }
    Ok(Scored { as_of, previous_as_of, risk, changes, tasks, counts, timings, lake_files, task_counts })
}

/// `listed.sql` filled in for `as_of` (reads `scored`, `active`, `decisions`).
pub fn listed_sql(model: &Model, as_of: NaiveDate) -> Result<String> {
    Template::new("listed.sql", LISTED_SQL).set("as_of", sql::date(as_of)).set("tier_rule_case", model.tier_rule_case()).render()
}

/// `list.sql` filled in for `as_of` (reads `listed`, `per_person`, `signals`, `scores`, the reference tables).
pub fn list_sql(model: &Model, as_of: NaiveDate) -> Result<String> {
    Template::new("list.sql", LIST_SQL)
        .set("as_of", sql::date(as_of))
        .set("model_version", lit(&model.version))
        .set("tier_rank_now", model.tier_rank_case("l.tier"))
        .set("tier_rank_before", model.tier_rank_case("p.tier"))
        .render()
}

/// `changes.sql` filled in for `as_of` against the previous scored date (reads `listed_full`, `scores`).
pub fn changes_sql(as_of: NaiveDate, previous_as_of: Option<NaiveDate>) -> Result<String> {
    Template::new("changes.sql", CHANGES_SQL).set("as_of", sql::date(as_of)).set("previous_as_of", sql::date_or_null(previous_as_of)).render()
}

/// `tasks.sql` filled in for `as_of` (reads `listed_full`, `active`, `tasks`, `decisions`, `ref_category_units`, `ref_tiers`).
pub fn tasks_sql(model: &Model, as_of: NaiveDate, previous_as_of: Option<NaiveDate>) -> Result<String> {
    let adult_born_on = as_of.checked_sub_months(chrono::Months::new(12 * model.max_age_years as u32)).expect("dates are far from the minimum");
    Template::new("tasks.sql", TASKS_SQL)
        .set("as_of", sql::date(as_of))
        .set("previous_as_of", sql::date_or_null(previous_as_of))
        .set("adult_born_on", sql::date(adult_born_on))
        .render()
}

/// `person.sql`'s two statements: `person_spans` (reads `signals`, `signal_spans`) and
/// `person_asof` (reads `active`, `person_spans`).
pub fn person_sql() -> (&'static str, &'static str) {
    split_statements(PERSON_SQL)
}

/// The latest scored as-of date before `as_of`, if any.
async fn previous_as_of(ctx: &SessionContext, as_of: NaiveDate) -> Result<Option<NaiveDate>> {
    let v = sql::collect_strings(ctx, &format!("SELECT CAST(max(as_of) AS VARCHAR) FROM scores WHERE as_of < {}", sql::date(as_of))).await?;
    Ok(v.first().and_then(|s| crate::session::parse_iso_date(s)))
}

/// Keeps this date's tasks in the `tasks` history (the open ones are carried to the next date);
/// a rescoring of the same date replaces them.
async fn write_tasks(ctx: &SessionContext, lake: &Lake, as_of: NaiveDate, run_id: &str) -> Result<()> {
    lake.delete_where(ctx, lake::TASKS, &format!("as_of = '{as_of}'")).await?;
    let df = ctx.sql(&format!("SELECT {} AS as_of, *, {} AS run_id FROM task_state", sql::date(as_of), lit(run_id))).await?;
    if df.clone().count().await? > 0 {
        lake.append(ctx, lake::TASKS, df).await?;
    }
    Ok(())
}

/// Keeps this list in the `scores` history: a rescoring of the same date replaces it.
async fn write_history(ctx: &SessionContext, lake: &Lake, as_of: NaiveDate, run_id: &str) -> Result<()> {
    lake.delete_where(ctx, lake::SCORES, &format!("as_of = '{as_of}'")).await?;
    let df = ctx
        .sql(&format!(
            "SELECT as_of, person_key, tier, score, first_listed_on, tier_since, birth_on, model_version, {} AS run_id FROM listed_full",
            lit(run_id)
        ))
        .await?;
    if df.clone().count().await? > 0 {
        lake.append(ctx, lake::SCORES, df).await?;
    }
    Ok(())
}
