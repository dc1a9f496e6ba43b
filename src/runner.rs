//! The runner: passes a run through its stages (ingest → link → lake, then reports) and decides
//! the exit code. Stages do not call each other; each reads what the one before wrote.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;

use crate::config::Plan;
use crate::error::{Error, Result};
use crate::ingest::{self, FileStatus, IngestedFiles};
use crate::lake::{self, Lake};
use crate::model::Model;
use crate::ops::audit::AuditLog;
use crate::ops::lock::LakeLock;
use crate::progress::Stage;
use crate::pseudo::Pseudonymiser;
use crate::report::quality::{QualityReport, Totals};

/// How a run ended, for the exit code: 0 clean, 3 when it completed but rejected a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    RejectedFiles,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::RejectedFiles => 3,
        }
    }
}

/// What an ingest did, for the caller and later stages.
#[derive(Debug)]
pub struct IngestResult {
    pub outcome: Outcome,
    /// The quality report of the as-of date: every file ingested for it, by this run or an
    /// earlier one of the same date, and this run's rejected and unrecognised files.
    pub report: QualityReport,
    /// What this run itself read (its share of the report).
    pub this_run: Totals,
    /// The reviewers' decision files this run read.
    pub decision_files: Vec<crate::review::DecisionFile>,
    /// How many runs ingested the files the report covers.
    pub runs_covered: u64,
    pub out_dir: PathBuf,
    pub lake_versions: BTreeMap<String, i64>,
    pub seconds: f64,
}

fn new_run_id() -> String {
    format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id())
}

/// `humiao ingest`: reads every new inbox file into the lake and writes the quality report.
pub async fn ingest(plan: &Plan) -> Result<IngestResult> {
    let _lock = LakeLock::acquire(&plan.lake, "humiao ingest")?;
    let (pseudo, audit) = open_keyed(plan)?;
    audited(&audit, "ingest", plan, async {
        let result = ingest_stage(plan, &pseudo, &audit).await?;
        write_outputs(&result.out_dir, |dir| result.report.write(dir))?;
        audit_decisions(&audit, &result.decision_files)?;
        audit_outputs(&audit, &result.out_dir)?;
        let t = &result.this_run;
        let summary = serde_json::json!({ "exit_code": result.outcome.exit_code(), "rows_read": t.rows_read, "files_rejected": t.files_rejected });
        Ok((result, summary))
    })
    .await
}

/// `humiao score`: the risk list, changes, tasks, trend, charts, report and manifest of
/// `plan.as_of`, from the lake.
pub async fn score(plan: &Plan) -> Result<RunResult> {
    let _lock = LakeLock::acquire(&plan.lake, "humiao score")?;
    let (_, audit) = open_keyed(plan)?;
    audited(&audit, "score", plan, async {
        let model = load_model(plan).await?;
        let started = Instant::now();
        let scored = score_stage(plan, &model, &audit).await?;
        let purges = recorded_purges(&audit)?;
        let result = finish(plan, &model, None, scored, &purges, started)?;
        after_run(&audit, result)
    })
    .await
}

/// `humiao run`: ingest, then score, then every output in one move.
pub async fn run(plan: &Plan) -> Result<RunResult> {
    let _lock = LakeLock::acquire(&plan.lake, "humiao run")?;
    let (pseudo, audit) = open_keyed(plan)?;
    audited(&audit, "run", plan, async {
        // The model is read and planned first: a broken model file stops the run before the
        // lake changes.
        let model = load_model(plan).await?;
        let started = Instant::now();
        let ingested = ingest_stage(plan, &pseudo, &audit).await?;
        let scored = score_stage(plan, &model, &audit).await?;
        let purges = recorded_purges(&audit)?;
        let result = finish(plan, &model, Some(ingested), scored, &purges, started)?;
        after_run(&audit, result)
    })
    .await
}

/// Reads the key file, refuses a key other than the lake's (before anything in the lake changes)
/// and opens the lake's audit log, chained under a key derived from it.
fn open_keyed(plan: &Plan) -> Result<(Pseudonymiser, AuditLog)> {
    let pseudo = Pseudonymiser::from_key_file(&plan.key_file)?;
    crate::ops::key_fingerprint::check_or_record(&plan.lake, &pseudo, &plan.key_file)?;
    let audit = AuditLog::open(&plan.lake, &pseudo)?;
    Ok((pseudo, audit))
}

/// Reads the model file and plans every SQL expression it holds (nothing runs), so that a typo
/// is a configuration error naming the fact or rule, found before the lake changes.
async fn load_model(plan: &Plan) -> Result<Model> {
    let model = Model::load(&plan.model, &plan.codebook, &plan.tables)?;
    crate::score::check::check(&model).await?;
    Ok(model)
}

/// The purges the audit log records since the last finished `run` or `score` (a purge by a run
/// that was killed after it included), for the manifest.
fn recorded_purges(audit: &AuditLog) -> Result<Vec<crate::report::manifest::Purge>> {
    let entries = audit.entries()?;
    let scoring = |e: &crate::ops::audit::Entry| {
        e.kind == "run_finished" && matches!(e.detail["command"].as_str(), Some("run" | "score"))
    };
    let since = entries.iter().rposition(scoring).map_or(0, |i| i + 1);
    Ok(entries[since..]
        .iter()
        .filter(|e| e.kind == "purge")
        .map(|e| crate::report::manifest::Purge {
            seq: e.seq,
            persons: e.detail["persons"].as_u64().unwrap_or(0),
            files_removed: e.detail["files_removed"].as_u64().unwrap_or(0),
            cutoff: e.detail["cutoff"].as_str().map(String::from),
        })
        .collect())
}

/// Records a run's start and its end (finished, with a summary, or failed, with the error) in
/// the audit log. Errors never carry a raw identifier, so they may be logged.
async fn audited<T>(
    audit: &AuditLog,
    command: &str,
    plan: &Plan,
    body: impl std::future::Future<Output = Result<(T, serde_json::Value)>>,
) -> Result<T> {
    let started = Instant::now();
    audit.append(
        "run_started",
        serde_json::json!({ "command": command, "as_of": plan.as_of.to_string(), "pipeline": plan.pipeline_path.display().to_string(), "pid": std::process::id() }),
    )?;
    match body.await {
        Ok((value, mut summary)) => {
            summary["command"] = command.into();
            summary["seconds"] = ((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0).into();
            audit.append("run_finished", summary)?;
            Ok(value)
        }
        Err(e) => {
            let error = crate::error::redact(&e.to_string());
            let _ = audit.append("run_failed", serde_json::json!({ "command": command, "error": error }));
            Err(e)
        }
    }
}

/// Records the reviewers' decision files a run read.
fn audit_decisions(audit: &AuditLog, files: &[crate::review::DecisionFile]) -> Result<()> {
    for f in files.iter().filter(|f| f.status != "duplicate_file") {
        audit.append(
            "decisions_ingested",
            serde_json::json!({ "file": f.file, "status": f.status, "rows_read": f.rows_read, "rows_accepted": f.rows_accepted, "rows_quarantined": f.rows_quarantined }),
        )?;
    }
    Ok(())
}

/// Records every output file of a run (with its SHA-256). (A purge is recorded as soon as it is
/// done, by the scoring stage.)
fn after_run(audit: &AuditLog, result: RunResult) -> Result<(RunResult, serde_json::Value)> {
    if let Some(i) = &result.ingest {
        audit_decisions(audit, &i.decision_files)?;
    }
    audit_outputs(audit, &result.out_dir)?;
    let n = |k: &str| result.counts.get(k).copied().unwrap_or(0);
    let summary = serde_json::json!({
        "exit_code": result.outcome.exit_code(),
        "persons_listed": n("persons_listed"),
        "rows_read": n("rows_read"),
        "outputs": result.out_dir.display().to_string(),
    });
    Ok((result, summary))
}

fn audit_outputs(audit: &AuditLog, dir: &std::path::Path) -> Result<()> {
    for path in crate::report::manifest::files_under(dir)? {
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        audit.append(
            "output_written",
            serde_json::json!({ "file": path.display().to_string(), "sha256": crate::config::sha256_hex(&bytes) }),
        )?;
    }
    Ok(())
}

/// What a scoring run did, for the caller.
#[derive(Debug)]
pub struct RunResult {
    pub outcome: Outcome,
    pub out_dir: PathBuf,
    pub ingest: Option<IngestResult>,
    pub counts: BTreeMap<String, u64>,
}

/// Scores `plan.as_of` in its own session (spilling into the lake's scratch folder) and commits
/// the scoring as a run. A purge is written to the audit log as soon as it is done.
async fn score_stage(plan: &Plan, model: &Model, audit: &AuditLog) -> Result<Evaluated> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let lake = Lake::new(&plan.lake)?;
    let run_id = format!("{}-score", new_run_id());
    let scratch = lake.scratch(&run_id)?;
    let ctx = crate::session::new_session(Some(&scratch))?;
    let result = async {
        lake.recover(&ctx).await?;
        lake.register_all(&ctx).await?;
        // Purge before this run's writes begin: a purge is idempotent (a killed one is redone),
        // and its vacuum must not remove files a rollback of this run would need. A run dated
        // before the latest one of the lake is a look back: it deletes nothing unless told to.
        // A purge is in the audit log the moment it is done, whatever happens to the run after.
        let mut timings = BTreeMap::new();
        let (purged, files_removed) = match latest_as_of(&ctx).await? {
            Some(latest) if plan.as_of < latest && !plan.allow_as_of_far => {
                tracing::warn!(
                    as_of = %plan.as_of,
                    %latest,
                    "not purging: this run is dated before the latest as-of date already run on the lake; --allow-as-of-far purges anyway"
                );
                (0, 0)
            }
            _ => {
                let cutoff = crate::retention::purge_cutoff(plan.as_of, model.max_age_years as u32, plan.retention.grace_days);
                // What the trend needs of the people the purge may remove is kept first, as
                // counts per month end (committed on their own: they stay if this run dies).
                let t = Instant::now();
                crate::score::trend::seal(&ctx, plan, model, &lake, cutoff, &run_id).await?;
                timings.insert("seal".to_string(), t.elapsed().as_secs_f64());
                checkpoint("sealed");
                let t = Instant::now();
                let (purged, files_removed) = crate::retention::purge(&ctx, &lake, cutoff).await?;
                timings.insert("purge".to_string(), t.elapsed().as_secs_f64());
                if purged > 0 || files_removed > 0 {
                    audit.append(
                        "purge",
                        serde_json::json!({ "persons": purged, "files_removed": files_removed, "cutoff": cutoff.to_string(), "run_id": run_id }),
                    )?;
                }
                checkpoint("purged");
                (purged, files_removed)
            }
        };
        let versions = lake.register_all(&ctx).await?;
        lake.begin(&run_id).await?;
        let stage = Stage::start("score the as-of date", None);
        let mut scored = crate::score::score(&ctx, plan, model, &lake, &run_id).await?;
        scored.counts.insert("persons_purged".into(), purged);
        scored.counts.insert("lake_files_vacuumed".into(), files_removed);
        scored.timings.extend(timings);
        stage.finish(scored.counts.get("persons_listed").copied().unwrap_or(0));
        crate::session::release_memory();
        checkpoint("scored");
        let stage = Stage::start("trend of the month ends", None);
        let trend = crate::score::trend::trend(&ctx, plan, model, &lake, &run_id).await?;
        stage.finish(trend.counts.len() as u64);
        checkpoint("trend");
        commit_run(&ctx, &lake, &run_id, plan, &started_at, (0, 0, 0), audit).await?;
        lake.commit()?;
        Ok::<_, Error>(Evaluated { scored, trend, lake_versions: versions })
    }
    .await;
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::remove_dir(lake.root().join("_scratch"));
    result
}

/// What the scoring stage made: the list of the as-of date and the trend of the month ends.
struct Evaluated {
    scored: crate::score::Scored,
    trend: crate::score::trend::Trend,
    lake_versions: BTreeMap<String, i64>,
}

/// Writes the list outputs (and the quality report of an ingest) in one move, then the manifest.
fn finish(
    plan: &Plan,
    model: &Model,
    ingested: Option<IngestResult>,
    evaluated: Evaluated,
    purges: &[crate::report::manifest::Purge],
    started: Instant,
) -> Result<RunResult> {
    let Evaluated { scored, trend, lake_versions } = evaluated;
    let out_dir = plan.out.join(plan.as_of.to_string());
    let mut counts = scored.counts.clone();
    let mut timings = scored.timings.clone();
    timings.insert("trend".into(), trend.seconds);
    counts.insert("trend_month_ends_reused".into(), trend.reused.len() as u64);
    counts.insert("trend_month_ends_computed".into(), trend.computed.len() as u64);
    // The minors known to the lake on the as-of date (the fairness panel's population), for the summary line.
    counts.insert("minors_known".into(), trend.counts.iter().filter(|((m, measure, _), _)| Some(m) == trend.months.last() && measure == "population_gender").map(|(_, n)| n).sum());
    if let Some(i) = &ingested {
        let t = &i.report.totals;
        counts.insert("rows_read".into(), t.rows_read);
        counts.insert("rows_accepted".into(), t.rows_accepted);
        counts.insert("rows_quarantined".into(), t.rows_quarantined);
        counts.insert("rows_duplicate".into(), t.rows_duplicate);
        timings.insert("ingest".into(), i.seconds);
    }
    let t = Instant::now();
    write_outputs(&out_dir, |dir| {
        if let Some(i) = &ingested {
            i.report.write(dir)?;
        }
        let mut guide = model.guide(&plan.codebook, &plan.tables);
        guide.schools = plan.schools.is_some();
        let decisions = crate::review::decision_codes(plan);
        let tables = crate::report::lists::ListTables {
            as_of: scored.as_of,
            model_version: &model.version,
            risk: &scored.risk,
            changes: &scored.changes,
            tasks: &scored.tasks,
            guide: &guide,
            units: &plan.codebook.units,
            decisions: &decisions,
        };
        // The list's files are independent: written side by side (the two workbooks take most
        // of the time).
        let writers: [&(dyn Fn() -> Result<()> + Sync); 5] = [
            &|| crate::report::lists::write_risk_xlsx(&dir.join("risk_list.xlsx"), &tables),
            &|| crate::report::lists::write_tasks_xlsx(&dir.join("tasks.xlsx"), &tables),
            &|| crate::report::lists::write_risk_csv(&dir.join("risk_list.csv"), &tables),
            &|| {
                crate::report::write_parquet(&dir.join("risk_list.parquet"), &scored.risk)?;
                crate::report::write_parquet(&dir.join("changes.parquet"), &scored.changes)?;
                crate::report::write_parquet(&dir.join("tasks.parquet"), &scored.tasks)
            },
            &|| crate::report::write_parquet(&dir.join("trend.parquet"), &trend.table),
        ];
        std::thread::scope(|s| {
            let handles: Vec<_> = writers
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    s.spawn(move || {
                        let t = Instant::now();
                        let r = w();
                        tracing::debug!(writer = i, seconds = t.elapsed().as_secs_f64(), "list files written");
                        r
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| h.join().expect("an output writer panicked"))
        })?;
        checkpoint("outputs_half");
        let manifest = crate::report::manifest::ManifestInput {
            plan,
            model,
            lake_versions: &lake_versions,
            input_files: ingested.as_ref().map(|i| i.report.files.as_slice()).unwrap_or(&[]),
            lake_files: &scored.lake_files,
            previous_as_of: scored.previous_as_of,
            counts: &counts,
            timings: &timings,
            purges,
        };
        let run_hash = crate::report::manifest::run_hash(&manifest)?;
        let today = crate::report::leadership::Today::from_counts(&scored.counts, model, scored.previous_as_of);
        let view = crate::report::leadership::build_view(&crate::report::leadership::ViewInput {
            county: plan.report.county.as_deref().unwrap_or(&plan.name),
            as_of: plan.as_of,
            model,
            codebook: &plan.codebook,
            townships: &plan.townships,
            trend: &trend,
            quality: ingested.as_ref().map(|i| &i.report),
            threshold: plan.report.suppress_below,
            run_hash,
            task_counts: &scored.task_counts,
            today: &today,
            generated_at: format!("{} {}", chrono::Utc::now().with_timezone(&plan.time_zone).format("%Y-%m-%d %H:%M"), plan.time_zone),
        });
        // The numbers leadership sees, suppressed, for machines and audits.
        let path = dir.join("leadership.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&view)?).map_err(|e| Error::io(&path, e))?;
        let t_charts = Instant::now();
        let charts = dir.join("charts");
        crate::report::charts::write_charts(&charts, &view)?;
        crate::report::html::write_report(&dir.join("report.html"), &view, &charts)?;
        let mut timings = timings.clone();
        timings.insert("charts_and_report".into(), t_charts.elapsed().as_secs_f64());
        timings.insert("outputs".into(), t.elapsed().as_secs_f64());
        timings.insert("total".into(), started.elapsed().as_secs_f64());
        crate::report::manifest::write(dir, &crate::report::manifest::ManifestInput { timings: &timings, ..manifest })
    })?;
    let outcome = ingested.as_ref().map(|i| i.outcome).unwrap_or(Outcome::Clean);
    Ok(RunResult { outcome, out_dir, ingest: ingested, counts })
}

/// A named point of a run where a test may have the process killed (`HUMIAO_KILL_AT=<name>`):
/// SIGKILL, no cleanup, exactly as a power cut or an OOM kill would leave things.
pub fn checkpoint(name: &str) {
    if std::env::var("HUMIAO_KILL_AT").is_ok_and(|v| v == name) {
        tracing::warn!(checkpoint = name, "HUMIAO_KILL_AT: killing this process");
        // SAFETY: sending a signal to our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// The latest as-of date of a committed run (`runs` registered in `ctx`), if any.
async fn latest_as_of(ctx: &SessionContext) -> Result<Option<chrono::NaiveDate>> {
    let latest = crate::sql::collect_strings(ctx, "SELECT max(as_of) FROM runs").await?;
    Ok(latest.first().and_then(|d| crate::session::parse_iso_date(d)))
}

/// Records a finished run in the lake's `runs` table: its rows are now committed. The row anchors
/// the audit log's last entry (its seq and hash), so that `humiao audit verify` finds a log cut
/// shorter than the lake says.
async fn commit_run(
    ctx: &SessionContext,
    lake: &Lake,
    run_id: &str,
    plan: &Plan,
    started_at: &str,
    (files_ingested, rows_read, rows_relinked): (u64, u64, u64),
    audit: &AuditLog,
) -> Result<()> {
    use crate::sql::lit;
    let finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (audit_seq, audit_hash) = match audit.last()? {
        Some((seq, hash)) => (seq.to_string(), lit(&hash)),
        None => ("CAST(NULL AS BIGINT)".into(), "CAST(NULL AS VARCHAR)".into()),
    };
    let df = ctx
        .sql(&format!(
            "SELECT {} AS run_id, {} AS as_of, {} AS started_at, {} AS finished_at, {files_ingested} AS files_ingested, \
             {rows_read} AS rows_read, {rows_relinked} AS rows_relinked, {audit_seq} AS audit_seq, {audit_hash} AS audit_hash",
            lit(run_id),
            lit(&plan.as_of.to_string()),
            lit(started_at),
            lit(&finished_at),
        ))
        .await?;
    lake.append(ctx, lake::RUNS, df).await?;
    Ok(())
}

/// Ingests the new inbox files into the lake, pseudonymising with `pseudo`; the quality report is
/// returned, not written. The commit anchors `audit`'s last entry.
pub async fn ingest_stage(plan: &Plan, pseudo: &Pseudonymiser, audit: &AuditLog) -> Result<IngestResult> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let townships: Vec<String> = plan.townships.iter().map(|t| t.code.clone()).collect();
    let lake = Lake::new(&plan.lake)?;
    let run_id = new_run_id();
    let scratch = lake.scratch(&run_id)?;
    let ctx = crate::session::new_session(Some(&scratch))?;
    let result = ingest_in(plan, pseudo, &townships, &lake, &run_id, &scratch, &ctx, &started_at, audit).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::remove_dir(lake.root().join("_scratch"));
    crate::session::release_memory();
    let mut r = result?;
    r.seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        run_id,
        seconds = started.elapsed().as_secs_f64(),
        rows_read = r.this_run.rows_read,
        accepted = r.this_run.rows_accepted,
        quarantined = r.this_run.rows_quarantined,
        duplicate = r.this_run.rows_duplicate,
        "ingest finished"
    );
    Ok(r)
}

#[allow(clippy::too_many_arguments)]
async fn ingest_in(
    plan: &Plan,
    pseudo: &Pseudonymiser,
    townships: &[String],
    lake: &Lake,
    run_id: &str,
    scratch: &std::path::Path,
    ctx: &SessionContext,
    started_at: &str,
    audit: &AuditLog,
) -> Result<IngestResult> {
    let t = Instant::now();
    lake.recover(ctx).await?;
    lake.register_all(ctx).await?;
    lake.begin(run_id).await?;
    let known = known_files(ctx).await?;
    let mut files = ingest::scan_inbox(plan)?;
    let mut reports = ingest::plan_files(&mut files, &known)?;
    tracing::info!(files = reports.len(), seconds = t.elapsed().as_secs_f64(), "inbox scanned");

    let staging = scratch.join("staging");
    let to_read = reports.iter().filter(|r| r.status == FileStatus::Accepted).count() as u64;
    let stage = Stage::start("read and validate files", Some(to_read));
    ingest::stage_files(ctx, plan, pseudo, townships, &files, &mut reports, &staging, || stage.inc()).await?;
    stage.finish(to_read);

    checkpoint("ingest_staged");
    let stage = Stage::start("link and version records", None);
    crate::link::resolve(ctx, &staging, scratch, plan.as_of).await?;
    stage.finish(crate::sql::count(ctx, "SELECT count(*) FROM resolved").await?);

    // Per-file accounting, from the staged problems and the resolved statuses.
    let counts = ctx
        .sql(
            "SELECT file, status, coalesce(reason, '') AS reason, count(*) AS n FROM (
               SELECT file, 'quarantined' AS status, reason FROM staged WHERE reason IS NOT NULL
               UNION ALL
               SELECT file, status, status_reason AS reason FROM resolved WHERE from_pending = 0
             ) GROUP BY file, status, reason",
        )
        .await?
        .collect()
        .await?;
    for batch in &counts {
        let file = datafusion::arrow::compute::cast(batch.column(0), &datafusion::arrow::datatypes::DataType::Utf8)?;
        let status = datafusion::arrow::compute::cast(batch.column(1), &datafusion::arrow::datatypes::DataType::Utf8)?;
        let reason = datafusion::arrow::compute::cast(batch.column(2), &datafusion::arrow::datatypes::DataType::Utf8)?;
        let n = batch.column(3).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            let Some(r) = reports.iter_mut().find(|r| r.file == file.as_string::<i32>().value(i)) else { continue };
            let n = n.value(i) as u64;
            r.rows_read += n;
            match status.as_string::<i32>().value(i) {
                "accepted" => r.rows_accepted += n,
                "duplicate" => r.rows_duplicate += n,
                _ => {
                    r.rows_quarantined += n;
                    *r.quarantined_by_reason.entry(reason.as_string::<i32>().value(i).to_string()).or_default() += n;
                }
            }
        }
    }
    // A file with the same content as one read earlier in this run has that file's rows.
    let by_file: BTreeMap<String, u64> = reports.iter().map(|r| (r.file.clone(), r.rows_read)).collect();
    for r in reports.iter_mut() {
        if let FileStatus::DuplicateFile(of) = &r.status {
            if r.rows_read == 0 {
                r.rows_read = by_file.get(of).copied().unwrap_or(0);
                r.rows_duplicate = r.rows_read;
            }
        }
    }

    let t = Instant::now();
    let (signals_written, persons_added) = crate::link::write_lake(ctx, lake, run_id).await?;
    // Ingested files and re-delivered copies are remembered; rejected and unrecognised files
    // are looked at again on the next run.
    let remembered: Vec<(&ingest::FileReport, &str)> = reports
        .iter()
        .filter_map(|r| match r.status {
            FileStatus::Accepted => Some((r, "accepted")),
            FileStatus::DuplicateFile(_) => Some((r, "duplicate_file")),
            _ => None,
        })
        .collect();
    if !remembered.is_empty() {
        use crate::sql::lit;
        let opt = |v: Option<&str>| v.map(lit).unwrap_or_else(|| "CAST(NULL AS VARCHAR)".into());
        let values: Vec<String> = remembered
            .iter()
            .map(|(r, status)| {
                let of = match &r.status {
                    FileStatus::DuplicateFile(of) => Some(of.as_str()),
                    _ => None,
                };
                format!(
                    "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                    lit(run_id),
                    lit(&r.file),
                    lit(r.sha256.as_deref().unwrap_or("")),
                    r.size,
                    r.mtime,
                    lit(r.table.as_deref().unwrap_or("")),
                    lit(status),
                    r.rows_read,
                    r.rows_accepted,
                    r.rows_quarantined,
                    r.rows_duplicate,
                    opt(r.format.map(|f| f.name())),
                    opt(r.encoding.map(|e| e.name())),
                    opt(of),
                )
            })
            .collect();
        let df = ctx
            .sql(&format!(
                "SELECT column1 AS run_id, column2 AS file, column3 AS sha256, column4 AS size, column5 AS mtime,
                        column6 AS table_name, column7 AS status, column8 AS rows_read, column9 AS rows_accepted,
                        column10 AS rows_quarantined, column11 AS rows_duplicate, column12 AS format,
                        column13 AS encoding, column14 AS duplicate_of FROM (VALUES {})",
                values.join(", ")
            ))
            .await?;
        lake.append(ctx, lake::FILES, df).await?;
    }
    let relinked = crate::sql::count(ctx, "SELECT count(*) FROM resolved WHERE from_pending = 1 AND status <> 'quarantined'").await?;
    // This run's share, for the terminal and the audit log.
    let mut this_run = Totals::of(&reports);
    lake.register_all(ctx).await?;
    let decision_files = crate::review::ingest(ctx, plan, lake, run_id).await?;
    this_run.files_rejected += decision_files.iter().filter(|f| f.status == "rejected").count() as u64;
    checkpoint("ingest_written");
    commit_run(ctx, lake, run_id, plan, started_at, (this_run.files_accepted, this_run.rows_read, relinked), audit).await?;
    lake.commit()?;
    tracing::info!(signals_written, persons_added, seconds = t.elapsed().as_secs_f64(), "lake written");

    // The report of the as-of date, from the lake: every run of the date, this one included.
    let lake_versions = lake.register_all(ctx).await?;
    let pending = crate::link::waiting(ctx).await?;
    let report = QualityReport::from_lake(ctx, run_id, plan.as_of, &plan.name, &reports, &decision_files, pending).await?;
    let runs_covered = report_runs(ctx, plan.as_of).await?;
    let out_dir = plan.out.join(plan.as_of.to_string());
    let outcome = if this_run.files_rejected > 0 { Outcome::RejectedFiles } else { Outcome::Clean };
    Ok(IngestResult { outcome, report, this_run, decision_files, runs_covered, out_dir, lake_versions, seconds: 0.0 })
}

/// How many committed runs of `as_of` ingested a file (`files` and `runs` registered in `ctx`).
async fn report_runs(ctx: &SessionContext, as_of: chrono::NaiveDate) -> Result<u64> {
    crate::sql::count(
        ctx,
        &format!(
            "SELECT count(DISTINCT f.run_id) FROM files f JOIN runs r ON f.run_id = r.run_id WHERE r.as_of = {}",
            crate::sql::lit(&as_of.to_string())
        ),
    )
    .await
}

/// Writes a run's outputs into a temporary folder beside `dir`, then swaps it into place in one
/// atomic rename (or exchange), so a reader (or a crash) sees the previous folder whole or the new
/// one whole, never a mix and never nothing. Files only the previous folder had (an `ingest`'s
/// quality report, for a later `score` of the same day) are carried over. Debris of a killed run
/// is cleaned up first.
pub fn write_outputs(dir: &std::path::Path, write: impl FnOnce(&std::path::Path) -> Result<()>) -> Result<()> {
    let parent = dir.parent().ok_or_else(|| Error::Usage(format!("bad output folder {}", dir.display())))?;
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
    clean_debris(parent, &name)?;
    let tmp = parent.join(format!(".tmp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written = write(&tmp).and_then(|()| {
        if dir.is_dir() {
            for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
                let entry = entry.map_err(|e| Error::io(dir, e))?;
                let target = tmp.join(entry.file_name());
                if !target.exists() && entry.path().is_file() {
                    std::fs::copy(entry.path(), &target).map_err(|e| Error::io(&target, e))?;
                }
            }
        }
        Ok(())
    });
    if let Err(e) = written {
        // A full disk (or any failure) leaves the previous outputs as they were, and no debris.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    checkpoint("outputs_swapping");
    if dir.exists() {
        // One atomic exchange: `dir` is the old folder or the new one, never missing.
        exchange(&tmp, dir)?;
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// Swaps two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &std::path::Path, b: &std::path::Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &std::path::Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::Usage(format!("bad path {}", p.display())));
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc != 0 {
        return Err(Error::io(b, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Removes what a run killed while writing `dir` left beside it (its temporary folder, or the
/// previous outputs it had just swapped out).
fn clean_debris(parent: &std::path::Path, name: &str) -> Result<()> {
    for entry in std::fs::read_dir(parent).map_err(|e| Error::io(parent, e))? {
        let entry = entry.map_err(|e| Error::io(parent, e))?;
        if entry.file_name().to_string_lossy().starts_with(&format!(".tmp-{name}-")) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

async fn known_files(ctx: &SessionContext) -> Result<IngestedFiles> {
    let batches = ctx
        .sql("SELECT file, size, mtime, sha256, rows_read, status FROM files")
        .await?
        .collect()
        .await?;
    let mut known = IngestedFiles::default();
    for b in batches {
        let text = |i: usize| datafusion::arrow::compute::cast(b.column(i), &datafusion::arrow::datatypes::DataType::Utf8);
        let (file, sha) = (text(0)?, text(3)?);
        let (file, sha) = (file.as_string::<i32>(), sha.as_string::<i32>());
        let size = b.column(1).as_primitive::<Int64Type>();
        let mtime = b.column(2).as_primitive::<Int64Type>();
        let rows = b.column(4).as_primitive::<Int64Type>();
        let status = text(5)?;
        let status = status.as_string::<i32>();
        for i in 0..b.num_rows() {
            known.by_stat.insert((file.value(i).to_string(), size.value(i), mtime.value(i)), sha.value(i).to_string());
            if status.value(i) == "accepted" {
                known.by_hash.insert(sha.value(i).to_string(), (file.value(i).to_string(), rows.value(i) as u64));
            }
        }
    }
    Ok(known)
}
