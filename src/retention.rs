//! Forgetting at 18: people who are 18 or older on the as-of date are never listed (the model
//! scores only minors); once they are past 18 by the grace period, every row about them leaves
//! the lake, and the files that held those rows are vacuumed, so the data is really gone.

use chrono::{Months, NaiveDate};
use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::lake::{self, Lake};

/// The latest birth date whose owner is purged on `as_of`: 18 years + `grace_days` before it.
pub fn purge_cutoff(as_of: NaiveDate, max_age_years: u32, grace_days: u32) -> NaiveDate {
    (as_of - chrono::Duration::days(grace_days as i64))
        .checked_sub_months(Months::new(12 * max_age_years))
        .expect("dates are far from the minimum")
}

/// Deletes every row of every person born on or before `cutoff` (signals, persons, pending,
/// score and task history), then vacuums the lake. Returns (persons purged, files removed). `ctx` has
/// the lake registered.
pub async fn purge(ctx: &SessionContext, lake: &Lake, cutoff: NaiveDate) -> Result<(u64, u64)> {
    let c = crate::sql::date(cutoff);
    let keys = ctx
        .sql(&format!(
            "SELECT DISTINCT person_key FROM (
               SELECT person_key FROM signals WHERE birth_on <= {c}
               UNION ALL SELECT person_key FROM persons WHERE parse_birth(birth_date) <= {c}
               UNION ALL SELECT person_key FROM pending WHERE birth_on <= {c} AND person_key IS NOT NULL
             )"
        ))
        .await?
        .count()
        .await? as u64;
    let n = keys;
    let pending_rows = ctx.sql(&format!("SELECT 1 FROM pending WHERE birth_on <= {c}")).await?.count().await?;
    if n == 0 && pending_rows == 0 {
        return Ok((0, 0));
    }
    // The predicates name a date only: a list of keys would stay in the Delta log's record of
    // the delete, and the purged keys with it. A row goes by its own birth date (`YYYY-MM`
    // compares as that month's 1st: "2007-11" < "2007-11-24").
    for (table, born) in [
        (lake::SIGNALS, "birth_on"),
        (lake::PENDING, "birth_on"),
        (lake::SCORES, "birth_on"),
        (lake::TASKS, "birth_on"),
        (lake::PERSONS, "birth_date"),
    ] {
        lake.delete_born_by(ctx, table, born, cutoff).await?;
    }
    let files = lake.vacuum_all().await?;
    tracing::info!(persons = n, files_removed = files, %cutoff, "purged people past 18 and the grace period");
    Ok((n, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_eighteen_years_and_the_grace_before() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(purge_cutoff(d("2026-11-24"), 18, 365), d("2007-11-24"));
        assert_eq!(purge_cutoff(d("2026-11-24"), 18, 0), d("2008-11-24"));
    }
}
