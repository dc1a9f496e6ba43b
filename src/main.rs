//! The `humiao` binary: parse the flags, run, print the error chain, exit with its code.

use std::process::ExitCode;

use clap::Parser;
use humiao::cli::{AuditCommand, Cli, Command, Locations, ScheduleArgs};
use humiao::lake::Lake;
use humiao::config::{Overrides, Plan};
use humiao::error::{Error, redact};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HUMIAO_LOG").unwrap_or_else(|_| "warn,humiao=info,deltalake_core=error,delta_kernel=error".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // Engine messages below humiao's own may quote a value: never shown.
            eprintln!("error: {}", redact(&err.to_string()));
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                eprintln!("  caused by: {}", redact(&s.to_string()));
                source = s.source();
            }
            ExitCode::from(err.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Ingest(args) => {
            let plan = Plan::load(&args.pipeline, overrides(&args.locations, args.as_of, args.allow_as_of_far))?;
            let result = humiao::runner::ingest(&plan).await?;
            print_ingest(&result);
            println!("quality report: {}", result.out_dir.join("quality.xlsx").display());
            Ok(result.outcome.exit_code())
        }
        Command::Run(args) => {
            let plan = Plan::load(&args.pipeline, overrides(&args.locations, args.as_of, args.allow_as_of_far))?;
            Ok(print_run(&humiao::runner::run(&plan).await?))
        }
        Command::Score(args) => {
            let plan = Plan::load(&args.pipeline, overrides(&args.locations, args.as_of, args.allow_as_of_far))?;
            Ok(print_run(&humiao::runner::score(&plan).await?))
        }
        Command::Query(args) => {
            let plan = Plan::load(&args.pipeline, Overrides { lake: args.lake.clone(), ..Default::default() })?;
            let ctx = humiao::session::new_session(None)?;
            Lake::new(&plan.lake)?.register_all(&ctx).await?;
            let batches = ctx.sql(&args.sql).await?.collect().await?;
            println!("{}", datafusion::arrow::util::pretty::pretty_format_batches(&batches)?);
            Ok(0)
        }
        Command::Schedule(args) => schedule(&args).await,
        Command::Audit(args) => match args.command {
            AuditCommand::Verify(args) => {
                let overrides = Overrides { lake: args.lake.clone(), key_file: args.key_file.clone(), ..Default::default() };
                audit_verify(&Plan::load(&args.pipeline, overrides)?).await
            }
        },
        Command::Synth(args) => {
            let key = match &args.key_file {
                Some(path) => {
                    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
                    String::from_utf8_lossy(&bytes).trim_end_matches(['\r', '\n']).as_bytes().to_vec()
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
                .map_err(|e| Error::Internal(e.to_string()))?
                .map_err(|e| Error::Internal(format!("synth failed: {e:#}")))?;
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
        let plan = Plan::load(&args.pipeline, overrides)?;
        let result = humiao::runner::run(&plan).await?;
        let n = |k: &str| result.counts.get(k).copied().unwrap_or(0);
        println!(
            "run as of {as_of}: exit code {}, listed {} of {} scored, outputs {}",
            result.outcome.exit_code(),
            n("persons_listed"),
            n("persons_scored"),
            result.out_dir.display()
        );
        Ok(result.outcome.exit_code())
    })
    .await?;
    Ok(0)
}

/// Prints what a run or a scoring did; returns its exit code.
fn print_run(result: &humiao::runner::RunResult) -> u8 {
    if let Some(i) = &result.ingest {
        print_ingest(i);
    }
    let n = |k: &str| result.counts.get(k).copied().unwrap_or(0);
    println!(
        "listed {} of {} scored: {} red, {} orange, {} yellow, {} blue; {} new, {} up, {} down, {} lifted",
        n("persons_listed"),
        n("persons_scored"),
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
    result.outcome.exit_code()
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
    for f in &result.report.files {
        match &f.status {
            humiao::ingest::FileStatus::Rejected(why) => eprintln!("rejected {}: {why}", f.file),
            humiao::ingest::FileStatus::Skipped(why) => eprintln!("skipped {}: {why}", f.file),
            _ => {}
        }
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
    }
}
