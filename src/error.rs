//! The crate's error type. Errors are grouped by who must act: the user's configuration or
//! command line (exit 2), the input data or the machine (exit 1). A rejected input file is not an
//! error of the run: it is reported and the run goes on (exit 3 at the end).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file, a table contract, the codebook or a flag is wrong: the user must act.
    #[error("configuration error in {path}: {problem}")]
    Config { path: PathBuf, problem: String },

    /// A flag or argument is wrong.
    #[error("usage error: {0}")]
    Usage(String),

    /// The pseudonymisation key file is missing, empty or too widely readable.
    #[error("key file {path} {problem}")]
    KeyFile { path: PathBuf, problem: String },

    /// The key file holds another key than the one the lake was made with (its
    /// `key-fingerprint.json`): the same children would get other `person_key`s.
    #[error(
        "the key in {} differs from the one the lake {} was made with (its fingerprint is in {}); \
         with another key the same children get other person_keys. Use the lake's key, or re-key the lake as \
         README.md, \"Re-keying a lake\", describes",
        .key_file.display(),
        .lake.display(),
        .lake.join(crate::ops::key_fingerprint::FINGERPRINT_FILE).display()
    )]
    KeyMismatch { lake: PathBuf, key_file: PathBuf },

    /// An input file cannot be read as its table: named with the column and row where known.
    #[error("{file}: {problem}")]
    InputFile { file: String, problem: String },

    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, #[source] source: std::io::Error },

    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),

    #[error(transparent)]
    Delta(#[from] deltalake::DeltaTableError),

    #[error(transparent)]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),

    #[error(transparent)]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),

    #[error(transparent)]
    Json(#[from] serde_json::Error),

    /// Another humiao run holds the lake's lock (`LAKE/.humiao.lock`). `host` is set when that
    /// run is on another machine (a lake on a shared drive), whose processes this one cannot see.
    #[error(
        "another humiao run is using the lake {}: pid {pid}{} (`{command}`), started {started_at}; wait for it to finish or stop it{}",
        .lake.display(),
        on_host(.host),
        other_host_hint(.host, .lake)
    )]
    Busy { lake: PathBuf, pid: u32, host: Option<String>, started_at: String, command: String },

    /// The audit log cannot be appended to (its last entry is unreadable): `humiao audit verify`
    /// says where it is broken.
    #[error("audit log {path}: {problem}")]
    Audit { path: PathBuf, problem: String },

    #[error("internal error (a bug in humiao): {0}")]
    Internal(String),
}

fn on_host(host: &Option<String>) -> String {
    host.as_ref().map(|h| format!(" on host {h}")).unwrap_or_default()
}

fn other_host_hint(host: &Option<String>, lake: &std::path::Path) -> String {
    match host {
        Some(_) => format!(
            " (this machine cannot see that host's processes: if that run is over, delete {})",
            lake.join(crate::ops::lock::LOCK_FILE).display()
        ),
        None => String::new(),
    }
}

impl Error {
    /// The process exit code for this error: 2 for what the user must fix in the command or the
    /// configuration, 1 otherwise (a lake busy with another run included: nothing to fix, try later).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::KeyFile { .. } | Error::KeyMismatch { .. } => 2,
            _ => 1,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn config(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Config { path: path.into(), problem: problem.into() }
    }
}
