//! Command-line flags, as typed (resolving them into a plan happens in `config`), and the exit
//! codes: one table ([`EXIT_CODES`]) that `--help`, the last line of a run and the README's list
//! (checked by a test) all say the same from.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "humiao",
    version,
    about = "护苗: child-protection early warning for a county governance centre",
    after_help = exit_codes_help()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The nightly run: ingest the new inbox files, score the as-of date, write the list,
    /// changes, tasks, quality report and manifest.
    Run(PipelineArgs),
    /// Read every new inbox file into the lake and write the quality report.
    Ingest(PipelineArgs),
    /// Score the lake as of a date: the risk list, changes, tasks and manifest.
    Score(PipelineArgs),
    /// Write realistic synthetic extracts (an inbox, the township reference, an answer key).
    Synth(SynthArgs),
    /// Run one SQL query over the lake's tables and print the result (for analysts).
    Query(QueryArgs),
    /// Stay running and start the nightly run at every time `--at` names, as of that day.
    Schedule(ScheduleArgs),
    /// Check the lake's audit log.
    Audit(AuditArgs),
    /// Look after the inbox (set a rejected file aside).
    Inbox(InboxArgs),
}

/// What an exit code says: its number, its meaning (for `--help` and the README) and, in
/// Chinese, the last line a run ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitMeaning {
    pub code: u8,
    pub meaning: &'static str,
    pub last_line: &'static str,
}

/// Every exit code humiao ends with (`error::Error::exit_code`, `runner::Outcome::exit_code`).
/// In a 3's last line `{n}` is the number of files rejected.
pub const EXIT_CODES: [ExitMeaning; 5] = [
    ExitMeaning { code: 0, meaning: "success", last_line: "完成" },
    ExitMeaning {
        code: 1,
        meaning: "a failure in the input data or in humiao itself (a bug); the `error:` lines say which",
        last_line: "失败：输入数据或程序出错，见上方 error 行",
    },
    ExitMeaning {
        code: 2,
        meaning: "a usage or configuration error: the command line, the pipeline or model file, or the key file must be fixed",
        last_line: "未完成：命令行、配置或密钥文件有误，须修改后重新运行",
    },
    ExitMeaning {
        code: 3,
        meaning: "the run completed but rejected a file (listed on stderr and in quality.xlsx; fix it, or `humiao inbox set-aside FILE`)",
        last_line: "完成，但有 {n} 个文件被拒收",
    },
    ExitMeaning {
        code: 4,
        meaning: "the machine: a file or folder that cannot be read or written (a full disk, permissions), memory, or another run holds the lake's lock; nothing to fix in the data, the previous outputs are untouched",
        last_line: "失败：运行环境问题（磁盘已满、权限不足、内存不足，或另一个运行正在使用数据湖），见上方 error 行；上次的输出未受影响",
    },
];

/// The exit codes as `--help` lists them: one line each.
pub fn exit_codes_help() -> String {
    let mut text = String::from("Exit codes:\n");
    for e in &EXIT_CODES {
        text.push_str(&format!("  {}  {}\n", e.code, e.meaning));
    }
    text
}

/// The last line of a command that ended with `code`, in Chinese: what the code means, e.g.
/// "完成，但有 1 个文件被拒收（退出码 3）". `files_rejected` fills a 3's count.
pub fn last_line(code: u8, files_rejected: u64) -> String {
    let meaning = EXIT_CODES
        .iter()
        .find(|e| e.code == code)
        .map(|e| e.last_line.replace("{n}", &files_rejected.to_string()))
        .unwrap_or_else(|| "结束".to_string());
    format!("{meaning}（退出码 {code}）")
}

#[derive(Debug, Args)]
pub struct InboxArgs {
    #[command(subcommand)]
    pub command: InboxCommand,
}

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// Move a file the last run rejected from the inbox to INBOX/rejected/ (same sub-folder,
    /// never overwriting), record it in the audit log, so that the next run no longer rejects it
    /// (and exits 0). Refused (exit 2) for a file outside the inbox or one that was not rejected.
    SetAside(SetAsideArgs),
}

#[derive(Debug, Args)]
pub struct SetAsideArgs {
    /// The pipeline file (for the inbox, the lake, the outputs and the key file).
    #[arg(long)]
    pub pipeline: PathBuf,
    #[command(flatten)]
    pub locations: Locations,
    /// The rejected file: as the run named it (relative to the inbox, e.g.
    /// education/education_conduct_broken.csv), or a path to it.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The pipeline file, e.g. pipelines/demo.toml (read again at every run, so edits take effect).
    #[arg(long)]
    pub pipeline: PathBuf,
    /// When to run: a cron expression with seconds (sec min hour day-of-month month day-of-week),
    /// e.g. "0 30 2 * * *" for 02:30 every night.
    #[arg(long)]
    pub at: String,
    /// The time zone of `--at` and of each run's as-of date (an IANA name). Each run is as of
    /// today there, so the as-of guards of `run` never need `--allow-as-of-far` here.
    #[arg(long, default_value = "Asia/Shanghai")]
    pub tz: String,
    #[command(flatten)]
    pub locations: Locations,
    /// Stop after this many runs (for tests).
    #[arg(long, hide = true)]
    pub max_runs: Option<u64>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that every entry of LAKE/audit.jsonl is intact and in its keyed chain, and that the
    /// log reaches its head (LAKE/audit.head) and every run the lake's `runs` table records
    /// (exit 1 if not; 2 for a key other than the lake's).
    Verify(AuditVerifyArgs),
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// The pipeline file (for the lake's location).
    #[arg(long)]
    pub pipeline: PathBuf,
    /// The Delta lake folder (overrides the pipeline file).
    #[arg(long)]
    pub lake: Option<PathBuf>,
    /// The county key file the chain is keyed with (default: the pipeline's key file).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The pipeline file (for the lake's location).
    #[arg(long)]
    pub pipeline: PathBuf,
    /// The Delta lake folder (overrides the pipeline file).
    #[arg(long)]
    pub lake: Option<PathBuf>,
    /// The query, e.g. "SELECT reason, count(*) FROM quarantine GROUP BY reason".
    pub sql: String,
}

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// The pipeline file, e.g. pipelines/demo.toml.
    #[arg(long)]
    pub pipeline: PathBuf,
    #[command(flatten)]
    pub locations: Locations,
    /// The as-of date (default: the pipeline's `as_of`, else today in its `[run] time_zone`).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<NaiveDate>,
    /// Accept an `--as-of` more than `[run] as_of_within_days` (default 7) from today, and purge
    /// people past 18 on a run dated before the latest run of the lake.
    #[arg(long)]
    pub allow_as_of_far: bool,
    /// Recompute what a run would reuse from the lake (the month ends whose inputs did not
    /// change); the sealed month ends, counted before the age-out removed their people, are
    /// history and are still read. An incremental run gives what `--full` gives, byte for byte.
    #[arg(long)]
    pub full: bool,
}

/// Where a run reads and writes, each overriding the pipeline file.
#[derive(Debug, Args)]
pub struct Locations {
    /// The inbox folder (inbox/<source>/<file>).
    #[arg(long)]
    pub inbox: Option<PathBuf>,
    /// The folder holding townships.csv.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// The Delta lake folder.
    #[arg(long)]
    pub lake: Option<PathBuf>,
    /// Outputs go to OUT/<as-of>/.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The pseudonymisation key file (only its owner may read it).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// The collision model file (default: the pipeline's, models/collision.toml).
    #[arg(long)]
    pub model: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// How many youths the county has.
    #[arg(long)]
    pub youths: usize,
    /// The random seed: the same seed gives the same files, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The extracts' as-of date; they cover the 30 months before it.
    #[arg(long, value_parser = parse_date)]
    pub as_of: NaiveDate,
    /// Where to write inbox/, reference/ and expected/.
    #[arg(long)]
    pub out: PathBuf,
    /// Share of extra bad rows to inject (e.g. 0.01), plus a file with a missing column and
    /// a file of no declared table.
    #[arg(long, default_value_t = 0.0)]
    pub dirty: f64,
    /// The key to pseudonymise with (default: the public demo key).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    crate::session::parse_iso_date(s).ok_or_else(|| format!("`{s}` is not a date as YYYY-MM-DD"))
}
