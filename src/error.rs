//! The crate's error type. Errors are grouped by who must act: the user's configuration or
//! command line (exit 2), the machine — files that cannot be read or written, a full disk,
//! memory, a busy lake — (exit 4), the input data or a bug (exit 1). A rejected input file is not
//! an error of the run: it is reported and the run goes on (exit 3 at the end).

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
    /// run is on another machine (a lake on a shared drive), whose processes this one cannot see;
    /// `program` when the pid is alive on this machine but runs another program (the run that
    /// wrote the lock died and its pid was reused).
    #[error(
        "another humiao run is using the lake {}: pid {pid}{} (`{command}`), started {started_at}; {}",
        .lake.display(),
        on_host(.host),
        busy_hint(.host, .program, *.pid, .lake)
    )]
    Busy { lake: PathBuf, pid: u32, host: Option<String>, program: Option<String>, started_at: String, command: String },

    /// A lake table could not be opened, read or written: the table, the version it was at where
    /// known, and why. Who must act is the cause's to say (a full disk stays the machine's).
    #[error("lake table {table}{}: {source}", at_version(.version))]
    Lake { table: String, version: Option<i64>, #[source] source: Box<Error> },

    /// An output file could not be written (a full disk, permissions): the path, and why.
    #[error("cannot write {path}: {source}")]
    Output { path: PathBuf, #[source] source: Box<Error> },

    /// The audit log cannot be appended to (its last entry is unreadable): `humiao audit verify`
    /// says where it is broken.
    #[error("audit log {path}: {problem}")]
    Audit { path: PathBuf, problem: String },

    #[error("internal error (a bug in humiao): {0}")]
    Internal(String),
}

fn at_version(version: &Option<i64>) -> String {
    version.map(|v| format!(" (version {v})")).unwrap_or_default()
}

fn on_host(host: &Option<String>) -> String {
    host.as_ref().map(|h| format!(" on host {h}")).unwrap_or_default()
}

fn busy_hint(host: &Option<String>, program: &Option<String>, pid: u32, lake: &std::path::Path) -> String {
    let lock = lake.join(crate::ops::lock::LOCK_FILE);
    match (host, program) {
        (Some(_), _) => format!(
            "wait for it to finish or stop it (this machine cannot see that host's processes: if that run is over, delete {})",
            lock.display()
        ),
        (None, Some(program)) => format!(
            "but pid {pid} now runs `{program}`, not humiao: the run that took the lock has probably died and its pid \
             was reused. To tell, run `ps -o pid,lstart,args -p {pid}`; if no humiao run is using this lake, delete {}",
            lock.display()
        ),
        (None, None) => format!(
            "wait for it to finish or stop it (`ps -o pid,lstart,args -p {pid}` shows it; a lock is removed when its run ends)"
        ),
    }
}

/// An error text with anything that may be a value taken out: single-quoted strings (the query
/// engine quotes the values it could not cast or parse) and runs of 15 or more digits (a
/// 身份证号). humiao's own messages name files, lines and columns and never quote a value; this
/// guards what the engines below it say before a message reaches a terminal, a log or a report.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        // A quote that opens a literal: not an apostrophe inside a word (`the lake's`).
        let opens = c == '\'' && !text[..i].chars().next_back().is_some_and(char::is_alphanumeric);
        if opens {
            let closing = text[i + 1..].char_indices().find(|&(j, q)| {
                q == '\'' && !text[i + 1 + j + 1..].chars().next().is_some_and(char::is_alphanumeric)
            });
            if let Some((len, _)) = closing {
                out.push_str("'…'");
                while chars.peek().is_some_and(|(j, _)| *j <= i + 1 + len) {
                    chars.next();
                }
                continue;
            }
        }
        if c.is_ascii_digit() {
            let run = text[i..].bytes().take_while(|b| b.is_ascii_digit()).count();
            if run >= 15 {
                out.push_str("<redacted>");
                let mut end = i + run;
                if matches!(text.as_bytes().get(end), Some(b'X' | b'x')) {
                    end += 1;
                }
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
                continue;
            }
            out.push_str(&text[i..i + run]);
            while chars.peek().is_some_and(|(j, _)| *j < i + run) {
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

impl Error {
    /// The process exit code for this error, by who must act (`cli::EXIT_CODES`): 2 for what the
    /// user must fix in the command or the configuration; 4 for the machine (a file or folder
    /// that cannot be read or written, a full disk, memory, a lake busy with another run: nothing
    /// to fix in the data, see to the machine or try later); 1 for the input data or a bug.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Lake { source, .. } => source.exit_code(),
            Error::Config { .. } | Error::Usage(_) | Error::KeyFile { .. } | Error::KeyMismatch { .. } => 2,
            Error::Io { .. } | Error::Output { .. } | Error::Busy { .. } => 4,
            Error::DataFusion(e) => match e.find_root() {
                datafusion::error::DataFusionError::ResourcesExhausted(_) | datafusion::error::DataFusionError::IoError(_) => 4,
                _ => 1,
            },
            _ => 1,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn config(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Config { path: path.into(), problem: problem.into() }
    }

    /// An operation on the lake table `table`, at `version` where known, failed because of
    /// `source` (named once: an error that already names a table is kept as it is).
    pub fn lake(table: &str, version: Option<i64>, source: impl Into<Error>) -> Self {
        match source.into() {
            e @ Error::Lake { .. } => e,
            e => Error::Lake { table: table.to_string(), version, source: Box::new(e) },
        }
    }

    /// An output file at `path` could not be written because of `source`.
    pub fn writing(path: impl Into<PathBuf>, source: impl Into<Error>) -> Self {
        match source.into() {
            e @ Error::Output { .. } => e,
            e => Error::Output { path: path.into(), source: Box::new(e) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_taken_out_of_engine_messages() {
        assert_eq!(
            redact("Cannot cast string '11010520100101123X' to value of Int32 type"),
            "Cannot cast string '…' to value of Int32 type"
        );
        assert_eq!(redact("row 12: 11010520100101123X and 440306201006165963"), "row 12: <redacted> and <redacted>");
        assert_eq!(redact("file police/x.csv, line 7, column `record_id`"), "file police/x.csv, line 7, column `record_id`");
        assert_eq!(redact("it's 城关镇 2026-11-24"), "it's 城关镇 2026-11-24");
        assert_eq!(redact("the lake's lock and the run's files"), "the lake's lock and the run's files");
        assert_eq!(redact("Error parsing 'P'0001' as date"), "Error parsing '…' as date");
    }

    #[test]
    fn a_lake_error_names_its_table_and_keeps_its_causes_exit_code() {
        let full = Error::lake("signals", Some(3), Error::io("/lake/signals", std::io::Error::from(std::io::ErrorKind::StorageFull)));
        assert!(full.to_string().starts_with("lake table signals (version 3): I/O error on /lake/signals"), "{full}");
        assert_eq!(full.exit_code(), 4, "a full disk stays the machine's");
        let data = Error::lake("persons", None, Error::Internal("x".into()));
        assert!(data.to_string().starts_with("lake table persons: internal error"), "{data}");
        assert_eq!(data.exit_code(), 1);
        let twice = Error::lake("runs", None, Error::lake("signals", Some(1), Error::Internal("x".into())));
        assert!(twice.to_string().starts_with("lake table signals (version 1): internal"), "named once: {twice}");
    }
}
