//! The long-lived nightly scheduler (`humiao schedule`): runs a job at every time a cron
//! expression matches in a time zone, logs each run's start, end, outcome and duration, and goes
//! on after a run that failed (or panicked). What a run does is the caller's job; mutual
//! exclusion with other runs on the lake is the runner's ([`super::lock`]).
//!
//! The cron expression has seconds: `sec min hour day-of-month month day-of-week [year]`, e.g.
//! `0 30 2 * * *` for 02:30:00 every night. Days of the week are best written by name (`Mon-Fri`):
//! as numbers they count from 1 = Sunday, unlike Unix cron.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::FutureExt;

use crate::error::{Error, Result};

/// The longest single sleep: the wall clock is looked at again after it, so that a clock that was
/// set (or a machine that slept) does not shift the runs.
const MAX_NAP: Duration = Duration::from_secs(60);

/// A time zone by its IANA name, e.g. "Asia/Shanghai"; a usage error naming it otherwise.
pub fn time_zone(tz: &str) -> Result<Tz> {
    Tz::from_str(tz).map_err(|_| Error::Usage(format!("`{tz}` is not a time zone (give an IANA name such as Asia/Shanghai)")))
}

/// A cron expression with seconds; a usage error naming it otherwise (with the parser's reason
/// and, below, where in the expression it stopped).
pub fn cron_schedule(cron: &str) -> Result<cron::Schedule> {
    cron::Schedule::from_str(cron).map_err(|e| {
        // The parser's message is "EXPRESSION\n   ^\nREASON" (or just a reason).
        let text = e.to_string();
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let reason = lines.pop().unwrap_or("it does not parse");
        let pointer: String = lines.iter().map(|l| format!("\n    {l}")).collect();
        Error::Usage(format!(
            "`{cron}` is not a cron expression with seconds (sec min hour day-of-month month day-of-week [year], \
             e.g. \"0 30 2 * * *\" for 02:30 every night): {reason}{pointer}"
        ))
    })
}

/// Today's date in `tz`.
pub fn today_in(tz: Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

/// Runs `job` at every time `cron` (6 fields with seconds, e.g. "0 30 2 * * *") matches in time
/// zone `tz` (e.g. "Asia/Shanghai"), forever (or `max_runs` times, for tests).
///
/// Logs each run's start, end, outcome (exit code or error chain) and duration with tracing; a
/// failed run is logged and the loop goes on. Firings that pass while a run is still going on
/// are skipped (with a warning), never queued. A bad cron expression or time zone is
/// [`Error::Usage`] naming it.
pub async fn schedule<F, Fut>(cron: &str, tz: &str, max_runs: Option<u64>, mut job: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u8>>,
{
    let zone = time_zone(tz)?;
    let schedule = cron_schedule(cron)?;
    let Some(mut next) = schedule.upcoming(zone).next() else {
        return Err(Error::Usage(format!("`{cron}` matches no time from now on")));
    };
    tracing::info!(cron, tz, "scheduler started; the first run is at {next}");
    let mut runs = 0u64;
    loop {
        sleep_until(next.with_timezone(&Utc)).await;
        runs += 1;
        tracing::info!(run = runs, "scheduled run {runs} started (due at {next})");
        let started = Instant::now();
        let outcome = AssertUnwindSafe(job()).catch_unwind().await;
        let seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        match outcome {
            Ok(Ok(0)) => tracing::info!(run = runs, exit_code = 0, seconds, "scheduled run {runs} ended: exit code 0"),
            Ok(Ok(code)) => tracing::warn!(run = runs, exit_code = code, seconds, "scheduled run {runs} ended: exit code {code}"),
            Ok(Err(e)) => tracing::error!(
                run = runs,
                exit_code = e.exit_code(),
                seconds,
                "scheduled run {runs} ended: failed (exit code {}): {}",
                e.exit_code(),
                error_chain(&e)
            ),
            Err(panic) => tracing::error!(
                run = runs,
                seconds,
                "scheduled run {runs} ended: panicked (a bug in humiao): {}",
                panic_message(panic.as_ref())
            ),
        }
        if max_runs.is_some_and(|m| runs >= m) {
            return Ok(());
        }
        let now = Utc::now().with_timezone(&zone);
        let skipped = schedule.after(&next).take_while(|t| *t <= now).take(100_000).count();
        if skipped > 0 {
            tracing::warn!(run = runs, skipped, "skipped {skipped} firing(s) that fell while run {runs} was going on");
        }
        match schedule.after(&now).next() {
            Some(t) => next = t,
            None => {
                tracing::info!("`{cron}` matches no later time; the scheduler stops");
                return Ok(());
            }
        }
        tracing::info!("next run at {next}");
    }
}

/// Sleeps until the wall clock reaches `t`, in naps of at most [`MAX_NAP`].
async fn sleep_until(t: DateTime<Utc>) {
    while let Ok(left) = (t - Utc::now()).to_std() {
        if left.is_zero() {
            break;
        }
        tokio::time::sleep(left.min(MAX_NAP)).await;
    }
}

/// An error and its sources, joined with ": " (a source that its error's message already ends
/// with is not repeated).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_nightly_expression_fires_at_local_time_in_the_zone() {
        let zone = time_zone("Asia/Shanghai").unwrap();
        let s = cron_schedule("0 30 2 * * *").unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap().with_timezone(&zone);
        let next: Vec<String> = s.after(&after).take(2).map(|t| t.with_timezone(&Utc).to_rfc3339()).collect();
        assert_eq!(next, ["2026-11-27T18:30:00+00:00", "2026-11-28T18:30:00+00:00"]);
    }

    #[test]
    fn a_bad_expression_or_zone_is_a_usage_error_naming_it() {
        for (cron, tz, named) in [("61 * * * *", "Asia/Shanghai", "`61 * * * *`"), ("0 30 2 * * *", "Asia/Shang", "`Asia/Shang`")] {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let err = rt.block_on(schedule(cron, tz, Some(1), || async { Ok(0) })).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{err}");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(named), "{err}");
        }
        assert!(cron_schedule("0 30 2 * *").is_err(), "5 fields have no seconds");
        assert!(cron_schedule("0 0 3 * * Mon-Fri").is_ok());
    }

    #[tokio::test]
    async fn a_failed_or_panicking_run_does_not_stop_the_loop() {
        let calls = AtomicU64::new(0);
        let started = Instant::now();
        schedule("* * * * * *", "UTC", Some(3), || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                match n {
                    1 => Err(Error::Internal("the first run fails".into())),
                    2 => panic!("the second run panics"),
                    _ => Ok(3),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    }

    #[test]
    fn the_error_chain_names_every_source() {
        let e = Error::io("/x/lake/audit.jsonl", std::io::Error::other("disk full"));
        assert_eq!(error_chain(&e), "I/O error on /x/lake/audit.jsonl: disk full");
    }
}
