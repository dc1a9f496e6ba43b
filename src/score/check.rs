//! Checking a model before a run: every SQL expression of the model file (the facts, each tier
//! and intervention rule, `[trend] left_behind`) and the SQL generated from it are planned, not
//! run, against empty tables of the lake's schemas. A typo then stops the run before the lake
//! changes, with a configuration error that names the model file and the fact or rule.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::lake;
use crate::model::Model;

use super::PERSON_SQL;
use crate::sql::split_statements;

/// Plans the model's SQL in a throw-away session; `Err(Error::Config)` names the first fact or
/// rule that does not plan (or is not a condition where one is needed).
pub async fn check(model: &Model) -> Result<()> {
    let ctx = crate::session::new_session(None)?;
    for table in lake::TABLES {
        register_empty(&ctx, table, lake::schema_of(table))?;
    }
    let dates = Schema::new(vec![
        Field::new("as_of", DataType::Date32, true),
        Field::new("a", DataType::Int64, true),
        Field::new("i", DataType::Int64, true),
    ]);
    register_empty(&ctx, "model_asof", Arc::new(dates))?;
    let bad = |what: &str, e: Error| Error::config(&model.path, format!("{what}: {}", short(&e)));

    let active = model.active_sql()?;
    let (spans, active_on_dates) = split_statements(&active);
    let (person_spans, person_asof) = split_statements(PERSON_SQL);
    for (name, sql) in [("signal_spans", spans), ("person_spans", person_spans), ("active", active_on_dates), ("person_asof", person_asof)] {
        view(&ctx, name, sql).await.map_err(|e| bad(&format!("the generated SQL of `{name}`"), e))?;
    }

    let per_person = |expr: &str| format!("SELECT {expr} FROM active GROUP BY as_of, a, person_key");
    plan(&ctx, &per_person(&format!("bool_or({})", model.trend.left_behind)), None)
        .await
        .map_err(|e| bad("[trend] left_behind", e))?;
    for (name, expr) in &model.facts {
        plan(&ctx, &per_person(expr), None).await.map_err(|e| bad(&format!("fact `{name}`"), e))?;
    }

    // The judged facts of every person, without tiers and interventions: what their rules read.
    let mut bare = model.clone();
    bare.tiers.iter_mut().for_each(|t| t.when = vec!["false".into()]);
    bare.interventions.iter_mut().for_each(|i| i.when = "false".into());
    let judged = ctx
        .sql(&bare.scored_sql()?)
        .await
        .and_then(|df| df.drop_columns(&["tier", "intervention", "score"]))
        .map_err(|e| bad("the generated SQL of `scored` (the facts together)", e.into()))?;
    ctx.register_table("judged", judged.into_view()).map_err(|e| bad("the generated SQL of `scored`", e.into()))?;
    for t in &model.tiers {
        for (i, when) in t.when.iter().enumerate() {
            let what = format!("tier `{}` rule {} (`{when}`)", t.name, i + 1);
            plan(&ctx, &format!("SELECT ({when}) FROM judged"), Some(&DataType::Boolean)).await.map_err(|e| bad(&what, e))?;
        }
    }
    for r in &model.interventions {
        let what = format!("intervention `{}` (`{}`)", r.name, r.when);
        plan(&ctx, &format!("SELECT ({}) FROM judged", r.when), Some(&DataType::Boolean)).await.map_err(|e| bad(&what, e))?;
    }
    plan(&ctx, &model.scored_sql()?, None).await.map_err(|e| bad("the generated SQL of `scored`", e))?;
    Ok(())
}

fn register_empty(ctx: &SessionContext, name: &str, schema: datafusion::arrow::datatypes::SchemaRef) -> Result<()> {
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
    Ok(())
}

/// Plans `sql` and registers it as the view `name` (nothing runs).
async fn view(ctx: &SessionContext, name: &str, sql: &str) -> Result<()> {
    let df = ctx.sql(sql).await?;
    ctx.register_table(name, df.into_view())?;
    Ok(())
}

/// Plans `sql`; with `want`, its one column must be of that type.
async fn plan(ctx: &SessionContext, sql: &str, want: Option<&DataType>) -> Result<()> {
    let df = ctx.sql(sql).await?;
    if let Some(want) = want {
        let got = df.schema().field(0).data_type();
        if got != want && got != &DataType::Null {
            return Err(Error::Internal(format!("it is not a condition: its value is of type {got}, not {want}")));
        }
    }
    Ok(())
}

/// The error's message without DataFusion's list of every valid field (long, and no help to
/// someone who typed one name wrong).
fn short(e: &Error) -> String {
    let text = match e {
        Error::Internal(m) => m.clone(),
        other => other.to_string(),
    };
    match text.find("Valid fields are") {
        Some(i) => text[..i].trim_end().to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Overrides, Plan};

    fn model_with(edit: impl Fn(String) -> String) -> (tempfile::TempDir, Result<()>) {
        let plan = Plan::load(Path::new("pipelines/demo.toml"), Overrides::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.toml");
        std::fs::write(&path, edit(std::fs::read_to_string("models/collision.toml").unwrap())).unwrap();
        let model = Model::load(&path, &plan.codebook, &plan.tables).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let result = rt.block_on(check(&model));
        (dir, result)
    }

    fn problem(result: Result<()>) -> String {
        match result {
            Err(Error::Config { path, problem }) => {
                assert!(path.ends_with("model.toml"), "{}", path.display());
                problem
            }
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn the_default_model_plans() {
        let (_dir, result) = model_with(|t| t);
        result.unwrap();
    }

    #[test]
    fn an_unknown_name_in_a_tier_rule_is_named_by_its_tier_and_rule() {
        let (_dir, result) = model_with(|t| t.replace("\"c2 AND c6_no_carer\"", "\"c2 AND c9_active\""));
        let p = problem(result);
        assert!(p.starts_with("tier `red` rule 4 (`c2 AND c9_active`): "), "{p}");
        assert!(p.contains("c9_active") && !p.contains("Valid fields"), "{p}");
    }

    #[test]
    fn a_bad_fact_an_intervention_and_left_behind_are_named() {
        let (_dir, result) = model_with(|t| t.replace("bool_or(category = 'C4' AND", "bool_or(categroy = 'C4' AND"));
        let p = problem(result);
        assert!(p.starts_with("fact `c4_severe_recent`: ") && p.contains("categroy"), "{p}");
        let (_dir, result) = model_with(|t| t.replace("when = \"c3\"", "when = \"c3 AND\""));
        assert!(problem(result).starts_with("intervention `offending` (`c3 AND`): "));
        let (_dir, result) = model_with(|t| t.replace("code = 'LB'\"", "cod = 'LB'\""));
        assert!(problem(result).starts_with("[trend] left_behind: "));
    }

    #[test]
    fn a_rule_that_is_not_a_condition_is_refused() {
        let (_dir, result) = model_with(|t| t.replace("when = [\"n_categories = 1\"]", "when = [\"n_categories\"]"));
        let p = problem(result);
        assert!(p.starts_with("tier `blue` rule 1 (`n_categories`): it is not a condition"), "{p}");
    }
}
