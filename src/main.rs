//! The `humiao` binary: parse the flags, run, print the error chain, exit with its code. A run's
//! last line says in Chinese what its exit code means. Logs go to stderr, coloured only on a
//! terminal (and never under `NO_COLOR`), stamped with the time in the county's time zone.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::Parser;
use humiao::cli::{AuditCommand, Cli, Command, InboxCommand, Locations, ScheduleArgs, last_line};
use humiao::lake::Lake;
use humiao::config::{Overrides, Plan};
use humiao::error::{Error, redact};

/// The time zone of the log lines: the pipeline's `[run] time_zone` once a pipeline file is read
/// (the first one read, for `schedule`), the default zone before (and for commands that read
/// none, such as `synth`).
static LOG_ZONE: OnceLock<chrono_tz::Tz> = OnceLock::new();

/// A log line's time: RFC 3339 with milliseconds and the offset of the county's time zone, e.g.
/// `2026-11-24T02:30:00.123+08:00`.
struct LogTime;

impl tracing_subscriber::fmt::time::FormatTime for LogTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let zone = LOG_ZONE.get().copied().unwrap_or_else(default_zone);
        let now = chrono::Utc::now().with_timezone(&zone);
        write!(w, "{}", now.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
    }
}

fn default_zone() -> chrono_tz::Tz {
    humiao::config::DEFAULT_TIME_ZONE.parse().expect("the default time zone is an IANA name")
}

/// Colour codes only for a person at a terminal: a log file or a pipe gets plain text, and so
/// does anyone who sets `NO_COLOR` (https://no-color.org: present and not empty).
fn log_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HUMIAO_LOG").unwrap_or_else(|_| "warn,humiao=info,deltalake_core=error,delta_kernel=error".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(log_colour())
        .with_timer(LogTime)
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            eprintln!("{}", last_line(1, 0));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // Engine messages below humiao's own may quote a value: never shown.
            let mut shown = redact(&err.to_string());
            eprintln!("error: {shown}");
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                // A message that ends with its cause (`lake table signals: <cause>`) is not
                // followed by the cause again.
                let text = redact(&s.to_string());
                if !shown.ends_with(&text) {
                    eprintln!("  caused by: {text}");
                }
                shown = text;
                source = s.source();
            }
            eprintln!("{}", last_line(err.exit_code(), 0));
            ExitCode::from(err.exit_code())
        }
    }
}

/// Reads the pipeline file; its time zone becomes the log's.
fn load(pipeline: &std::path::Path, overrides: Overrides) -> Result<Plan, Error> {
    let plan = Plan::load(pipeline, overrides)?;
    let _ = LOG_ZONE.set(plan.time_zone);
    Ok(plan)
}

async fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Ingest(args) => {
            let plan = load(&args.pipeline, Overrides { full: args.full, ..overrides(&args.locations, args.as_of, args.allow_as_of_far) })?;
            let result = humiao::runner::ingest(&plan).await?;
            print_ingest(&result);
            println!("quality report: {}", result.out_dir.join("quality.xlsx").display());
            let code = result.outcome.exit_code();
            println!("{}", last_line(code, result.this_run.files_rejected));
            Ok(code)
        }
        Command::Run(args) => {
            let plan = load(&args.pipeline, Overrides { full: args.full, ..overrides(&args.locations, args.as_of, args.allow_as_of_far) })?;
            Ok(print_run(&humiao::runner::run(&plan).await?))
        }
        Command::Score(args) => {
            let plan = load(&args.pipeline, Overrides { full: args.full, ..overrides(&args.locations, args.as_of, args.allow_as_of_far) })?;
            Ok(print_run(&humiao::runner::score(&plan).await?))
        }
        Command::Query(args) => {
            let plan = load(&args.pipeline, Overrides { lake: args.lake.clone(), ..Default::default() })?;
            let ctx = humiao::session::new_session(None)?;
            Lake::new(&plan.lake)?.register_all(&ctx).await?;
            let batches = ctx.sql(&args.sql).await?.collect().await?;
            println!("{}", datafusion::arrow::util::pretty::pretty_format_batches(&batches)?);
            Ok(0)
        }
        Command::Schedule(args) => schedule(&args).await,
        Command::Inbox(args) => match args.command {
            InboxCommand::SetAside(args) => {
                let plan = load(&args.pipeline, overrides(&args.locations, None, false))?;
                let done = humiao::ops::set_aside::set_aside(&plan, &args.file).await?;
                println!(
                    "set aside {} (rejected by run {}, as of {}): moved to {}, which no run reads; audit log entry {}",
                    done.file,
                    done.rejected_by_run,
                    done.rejected_as_of,
                    done.inbox.join(&done.to).display(),
                    done.audit_seq
                );
                Ok(0)
            }
        },
        Command::Audit(args) => match args.command {
            AuditCommand::Verify(args) => {
                let overrides = Overrides { lake: args.lake.clone(), key_file: args.key_file.clone(), ..Default::default() };
                audit_verify(&load(&args.pipeline, overrides)?).await
            }
        },
        Command::Synth(args) => {
            let key = match &args.key_file {
                Some(path) => {
                    let bytes = std::fs::read(path)
                        .map_err(|e| Error::KeyFile { path: path.clone(), problem: format!("cannot be read: {e}") })?;
                    let key = String::from_utf8_lossy(&bytes).trim_end_matches(['\r', '\n']).as_bytes().to_vec();
                    if key.is_empty() {
                        return Err(Error::KeyFile { path: path.clone(), problem: "is empty".into() });
                    }
                    key
                }
                None => humiao::pseudo::DEMO_KEY.as_bytes().to_vec(),
            };
            let opts = humiao::synth::SynthOptions {
                youths: args.youths,
                seed: args.seed,
                as_of: args.as_of,
                out: args.out.clone(),
                dirty: args.dirty,
                key,
            };
            let summary = tokio::task::spawn_blocking(move || humiao::synth::synth(&opts))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
            let rows: usize = summary.files.iter().map(|(_, n)| n).sum();
            println!("wrote {} files, {rows} rows, {} injected bad rows, under {}", summary.files.len(), summary.injected, args.out.display());
            Ok(0)
        }
    }
}

/// `humiao audit verify`: the key (refused if it is not the lake's), the lake's anchors, then the
/// log. Exit 0 when whole, 1 when broken or missing.
async fn audit_verify(plan: &Plan) -> Result<u8, Error> {
    use humiao::ops::audit;
    let key = humiao::pseudo::Pseudonymiser::from_key_file(&plan.key_file)?;
    humiao::ops::key_fingerprint::check(&plan.lake, &key, &plan.key_file)?;
    let path = plan.lake.join(audit::AUDIT_FILE);
    if !path.exists() {
        println!("no audit log at {}", path.display());
        return Ok(1);
    }
    // The anchors before the log: a run committing meanwhile anchors an entry already written.
    let anchors = audit::anchors(&plan.lake).await?;
    match audit::verify(&path, &key, &anchors)? {
        Ok(n) => {
            println!("audit log OK: {n} entries");
            Ok(0)
        }
        Err(b) => {
            println!("audit log broken at entry {} (line {}): {}", b.seq, b.line, b.problem);
            Ok(1)
        }
    }
}

/// `humiao schedule`: a run at every time `--at` names, each as of that day in `--tz`, with the
/// pipeline file read again (so edits take effect). One line on stdout per run; the rest is logged.
async fn schedule(args: &ScheduleArgs) -> Result<u8, Error> {
    let zone = humiao::ops::schedule::time_zone(&args.tz)?;
    humiao::ops::schedule::schedule(&args.at, &args.tz, args.max_runs, || async move {
        let as_of = humiao::ops::schedule::today_in(zone);
        let overrides = overrides(&args.locations, Some(as_of), false);
        let plan = load(&args.pipeline, overrides)?;
        let result = humiao::runner::run(&plan).await?;
        let n = |k: &str| result.counts.get(k).copied().unwrap_or(0);
        println!(
            "run as of {as_of}: exit code {}, listed {} of {} minors, outputs {}",
            result.outcome.exit_code(),
            n("persons_listed"),
            n("minors_known"),
            result.out_dir.display()
        );
        Ok(result.outcome.exit_code())
    })
    .await?;
    Ok(0)
}

/// Prints what a run or a scoring did, then what its exit code means; returns the code. The
/// list is counted against the minors known to the lake on the as-of date (the population the
/// report's rates are of), not against the people the model scored.
fn print_run(result: &humiao::runner::RunResult) -> u8 {
    if let Some(i) = &result.ingest {
        print_ingest(i);
    }
    let n = |k: &str| result.counts.get(k).copied().unwrap_or(0);
    println!(
        "listed {} of {} minors: {} red, {} orange, {} yellow, {} blue; {} new, {} up, {} down, {} lifted",
        n("persons_listed"),
        n("minors_known"),
        n("listed_red"),
        n("listed_orange"),
        n("listed_yellow"),
        n("listed_blue"),
        n("changes_new"),
        n("changes_up"),
        n("changes_down"),
        n("changes_lifted")
    );
    println!("outputs: {}", result.out_dir.display());
    let code = result.outcome.exit_code();
    println!("{}", last_line(code, result.ingest.as_ref().map_or(0, |i| i.this_run.files_rejected)));
    code
}

/// What this run ingested, then what the quality report of its as-of date covers (every run of
/// that date: a rerun ingests nothing new, yet its report is the day's).
fn print_ingest(result: &humiao::runner::IngestResult) {
    let t = &result.this_run;
    println!(
        "ingested {} file(s): {} rows read, {} accepted, {} quarantined, {} duplicate; {} file(s) rejected, {} unrecognised, {} skipped",
        t.files_accepted,
        t.rows_read,
        t.rows_accepted,
        t.rows_quarantined,
        t.rows_duplicate,
        t.files_rejected,
        t.files_unrecognised,
        t.files_skipped
    );
    let d = &result.report.totals;
    println!(
        "quality report of {}: {} file(s) ingested by {} run(s), {} rows read, {} accepted, {} quarantined, {} duplicate",
        result.report.as_of, d.files_accepted, result.runs_covered, d.rows_read, d.rows_accepted, d.rows_quarantined, d.rows_duplicate
    );
    for d in &result.decision_files {
        match d.status.as_str() {
            "accepted" => println!(
                "decisions {}: {} row(s) read, {} accepted, {} quarantined",
                d.file, d.rows_read, d.rows_accepted, d.rows_quarantined
            ),
            "duplicate_file" => println!("decisions {}: read before (duplicate file)", d.file),
            _ => eprintln!("rejected decisions {}: {}", d.file, d.detail.as_deref().unwrap_or("")),
        }
    }
    for f in &result.report.files {
        match &f.status {
            humiao::ingest::FileStatus::Rejected(why) => eprintln!("rejected {}: {why}", f.file),
            humiao::ingest::FileStatus::Skipped(why) => eprintln!("skipped {}: {why}", f.file),
            _ => {}
        }
    }
    if t.files_rejected > 0 {
        eprintln!(
            "a rejected file is read again by every run (exit code 3) until it is delivered again fixed, or set aside \
             with `humiao inbox set-aside --pipeline FILE <file as named above>`"
        );
    }
}

fn overrides(l: &Locations, as_of: Option<chrono::NaiveDate>, allow_as_of_far: bool) -> Overrides {
    Overrides {
        allow_as_of_far,
        inbox: l.inbox.clone(),
        reference: l.reference.clone(),
        lake: l.lake.clone(),
        out: l.out.clone(),
        key_file: l.key_file.clone(),
        as_of,
        model: l.model.clone(),
        full: false,
    }
}
