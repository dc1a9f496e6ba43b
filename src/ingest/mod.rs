//! Ingest, first half: inbox files → validated, pseudonymised canonical records in the run's
//! staging folder (one Parquet file per input file), plus what happened to each file.
//!
//! Files are found under `inbox/<source>/`, matched to a table by file name, skipped when
//! already ingested (same path, size and time, or the same content hash), and read
//! concurrently, each through its generated validation query.

pub mod csv_records;
pub mod decisions;
pub mod read;
pub mod reference;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;

use crate::config::Plan;
use crate::error::{Error, Result};
use crate::pseudo::Pseudonymiser;
use read::{Encoding, Format};

/// A file found in the inbox.
#[derive(Debug, Clone, Serialize)]
pub struct InboxFile {
    /// Path relative to the inbox, with `/`.
    pub file: String,
    #[serde(skip)]
    pub path: PathBuf,
    pub size: u64,
    pub mtime: i64,
    pub sha256: Option<String>,
    pub table: Option<String>,
    /// Why the file cannot be read at all (a dangling link, a FIFO, a folder): it is listed as
    /// skipped.
    #[serde(skip)]
    pub skipped: Option<String>,
}

/// What became of a file in this run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum FileStatus {
    /// Read; its rows are accounted for in this run.
    Accepted,
    /// Refused whole (missing column, unreadable, bad encoding): nothing of it entered the lake.
    Rejected(String),
    /// The same content as a file ingested before (or earlier in this run).
    DuplicateFile(String),
    /// Belongs to no declared table; left in place.
    Unrecognised(String),
    /// Not a readable file (a dangling symbolic link, a FIFO or device, a folder inside a source
    /// folder, a hidden file): listed with the reason, left in place.
    Skipped(String),
}

impl FileStatus {
    /// The status as the quality report names it.
    pub fn name(&self) -> &'static str {
        match self {
            FileStatus::Accepted => "accepted",
            FileStatus::Rejected(_) => "rejected",
            FileStatus::DuplicateFile(_) => "duplicate_file",
            FileStatus::Unrecognised(_) => "unrecognised",
            FileStatus::Skipped(_) => "skipped",
        }
    }
}

/// One file's line in the quality report.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    pub table: Option<String>,
    #[serde(flatten)]
    pub status: FileStatus,
    pub format: Option<Format>,
    pub encoding: Option<Encoding>,
    pub sha256: Option<String>,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
    pub rows_duplicate: u64,
    pub quarantined_by_reason: BTreeMap<String, u64>,
    #[serde(skip)]
    pub file_order: i64,
    #[serde(skip)]
    pub size: u64,
    #[serde(skip)]
    pub mtime: i64,
}

impl FileReport {
    fn new(f: &InboxFile, status: FileStatus) -> Self {
        FileReport {
            file: f.file.clone(),
            table: f.table.clone(),
            status,
            format: None,
            encoding: None,
            sha256: f.sha256.clone(),
            rows_read: 0,
            rows_accepted: 0,
            rows_quarantined: 0,
            rows_duplicate: 0,
            quarantined_by_reason: BTreeMap::new(),
            file_order: -1,
            size: f.size,
            mtime: f.mtime,
        }
    }
}

/// The inbox folder that rejected files are set aside into (`humiao inbox set-aside`), keeping
/// their source folder: never read by an ingest.
pub const SET_ASIDE_FOLDER: &str = "rejected";

/// Lists `inbox/<source>/*` in a fixed order: by table, then file name (files of a table are
/// applied in file-name order). `review/` belongs to reviewers' decisions and is not read here;
/// `rejected/` ([`SET_ASIDE_FOLDER`]) holds the files set aside and is not read at all.
/// What cannot be read as a file (a dangling symbolic link, a FIFO, a folder inside a source
/// folder, a hidden file such as an upload in progress) is listed as skipped, with the reason.
pub fn scan_inbox(plan: &Plan) -> Result<Vec<InboxFile>> {
    let inbox = &plan.inbox;
    let list = |dir: &Path| -> Result<Vec<(String, PathBuf)>> {
        let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound if dir == inbox => Error::Usage(format!("inbox {} not found", inbox.display())),
            _ => Error::io(dir, e),
        })?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            out.push((entry.file_name().to_string_lossy().to_string(), entry.path()));
        }
        Ok(out)
    };
    let mut found: Vec<(String, PathBuf, Option<String>)> = Vec::new();
    for (name, path) in list(inbox)? {
        if name.starts_with('.') {
            continue; // the inbox's own hidden entries (e.g. a sync tool's state)
        }
        if path.is_dir() {
            if name == crate::review::REVIEW_FOLDER || name == SET_ASIDE_FOLDER {
                continue;
            }
            for (file_name, inner) in list(&path)? {
                let file = format!("{name}/{file_name}");
                found.push((file, inner.clone(), skip_reason(&file_name, &inner)));
            }
        } else {
            found.push((name.clone(), path.clone(), skip_reason(&name, &path)));
        }
    }
    let mut files = Vec::new();
    for (file, path, skipped) in found {
        let meta = if skipped.is_none() { Some(std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?) } else { None };
        let mtime = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let (source, name) = file.split_once('/').unwrap_or(("", file.as_str()));
        let table = plan
            .table_for_file(name)
            .filter(|t| t.source == source)
            .map(|t| t.table.clone());
        let size = meta.map(|m| m.len()).unwrap_or(0);
        files.push(InboxFile { file, path, size, mtime, sha256: None, table, skipped });
    }
    files.sort_by(|a, b| (&a.table, &a.file).cmp(&(&b.table, &b.file)));
    Ok(files)
}

/// Why an inbox entry cannot be read as a file, if it cannot.
fn skip_reason(name: &str, path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let link = std::fs::symlink_metadata(path).ok()?;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) if link.file_type().is_symlink() => {
            return Some("a symbolic link whose target does not exist".into());
        }
        Err(e) => return Some(format!("cannot be examined: {e}")),
    };
    let kind = meta.file_type();
    if kind.is_dir() {
        Some("a folder inside a source folder: files must lie directly in inbox/<source>/".into())
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe), not a file".into())
    } else if kind.is_socket() || kind.is_block_device() || kind.is_char_device() {
        Some("a socket or device, not a file".into())
    } else if name.starts_with('.') {
        Some("a hidden file (an upload in progress?); rename it to have it read".into())
    } else {
        None
    }
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What the lake already knows about ingested files.
#[derive(Debug, Default)]
pub struct IngestedFiles {
    /// (file, size, mtime) → sha256
    pub by_stat: BTreeMap<(String, i64, i64), String>,
    /// sha256 → (file, rows_read)
    pub by_hash: BTreeMap<String, (String, u64)>,
}

/// Decides which files this run reads. Hashes a file only when its path, size and time are new.
pub fn plan_files(files: &mut [InboxFile], known: &IngestedFiles) -> Result<Vec<FileReport>> {
    let mut reports = Vec::new();
    let mut seen_in_run: BTreeMap<String, String> = BTreeMap::new();
    let mut order = 0i64;
    for f in files.iter_mut() {
        if let Some(why) = &f.skipped {
            reports.push(FileReport::new(f, FileStatus::Skipped(why.clone())));
            continue;
        }
        if f.table.is_none() {
            let why = match f.file.split_once('/') {
                None => "not in a source folder (inbox/<source>/)".to_string(),
                Some(_) => "its name starts with no declared table of its source folder".to_string(),
            };
            reports.push(FileReport::new(f, FileStatus::Unrecognised(why)));
            continue;
        }
        if known.by_stat.contains_key(&(f.file.clone(), f.size as i64, f.mtime)) {
            continue; // ingested by an earlier run, unchanged
        }
        let sha = sha256_file(&f.path)?;
        f.sha256 = Some(sha.clone());
        if let Some((earlier, rows)) = known.by_hash.get(&sha) {
            let mut r = FileReport::new(f, FileStatus::DuplicateFile(earlier.clone()));
            r.rows_read = *rows;
            r.rows_duplicate = *rows;
            reports.push(r);
            continue;
        }
        if let Some(earlier) = seen_in_run.get(&sha) {
            reports.push(FileReport::new(f, FileStatus::DuplicateFile(earlier.clone())));
            continue;
        }
        seen_in_run.insert(sha, f.file.clone());
        let mut r = FileReport::new(f, FileStatus::Accepted);
        r.file_order = order;
        order += 1;
        reports.push(r);
    }
    Ok(reports)
}

/// One file's batches as a DataFusion partition, read once.
struct ChannelPartition {
    schema: SchemaRef,
    batches: Mutex<Option<tokio::sync::mpsc::Receiver<std::result::Result<datafusion::arrow::record_batch::RecordBatch, String>>>>,
    file: String,
}

impl std::fmt::Debug for ChannelPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelPartition({})", self.file)
    }
}

impl PartitionStream for ChannelPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rx = self.batches.lock().expect("not poisoned").take();
        let file = self.file.clone();
        let stream = futures::stream::unfold(rx, move |rx| {
            let file = file.clone();
            async move {
                let mut rx = rx?;
                let item = rx.recv().await?;
                let item = item.map_err(|problem| {
                    datafusion::error::DataFusionError::External(Box::new(Error::InputFile { file, problem }))
                });
                Some((item, Some(rx)))
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// Reads and validates every accepted file of `reports` into `staging/<order>.parquet`,
/// concurrently. A file that fails is marked rejected and leaves no staging file.
pub async fn stage_files(
    ctx: &SessionContext,
    plan: &Plan,
    pseudo: &Pseudonymiser,
    townships: &[String],
    files: &[InboxFile],
    reports: &mut [FileReport],
    staging: &Path,
    file_done: impl Fn(),
) -> Result<()> {
    std::fs::create_dir_all(staging).map_err(|e| Error::io(staging, e))?;
    let jobs: Vec<(usize, InboxFile)> = reports
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == FileStatus::Accepted)
        .map(|(i, r)| (i, files.iter().find(|f| f.file == r.file).expect("listed").clone()))
        .collect();
    let results: Vec<(usize, std::result::Result<(Format, Option<Encoding>), String>)> = futures::stream::iter(jobs)
        .map(|(i, f)| {
            let order = reports[i].file_order;
            let file_done = &file_done;
            async move {
                let result = stage_one(ctx, plan, pseudo, townships, &f, order, staging).await;
                file_done();
                (i, result)
            }
        })
        .buffer_unordered(3)
        .collect()
        .await;
    for (i, result) in results {
        match result {
            Ok((format, encoding)) => {
                reports[i].format = Some(format);
                reports[i].encoding = encoding;
            }
            Err(problem) => {
                tracing::error!(file = %reports[i].file, "rejected: {problem}");
                let _ = std::fs::remove_file(staging.join(format!("{}.parquet", reports[i].file_order)));
                reports[i].status = FileStatus::Rejected(problem);
            }
        }
    }
    // A copy of a file this run rejected is rejected too (it must not be remembered as read).
    let rejected: BTreeMap<String, String> = reports
        .iter()
        .filter_map(|r| match &r.status {
            FileStatus::Rejected(why) => Some((r.file.clone(), why.clone())),
            _ => None,
        })
        .collect();
    for r in reports.iter_mut() {
        if let FileStatus::DuplicateFile(of) = &r.status {
            if let Some(why) = rejected.get(of) {
                r.status = FileStatus::Rejected(format!("has the same content as {of}, which was rejected: {why}"));
            }
        }
    }
    Ok(())
}

async fn stage_one(
    ctx: &SessionContext,
    plan: &Plan,
    pseudo: &Pseudonymiser,
    townships: &[String],
    f: &InboxFile,
    order: i64,
    staging: &Path,
) -> std::result::Result<(Format, Option<Encoding>), String> {
    let contract = plan
        .tables
        .iter()
        .find(|t| Some(&t.table) == f.table.as_ref())
        .expect("recognised files have a table");
    let (path, c, p) = (f.path.clone(), contract.clone(), pseudo.clone());
    let opened = tokio::task::spawn_blocking(move || read::open(path, &c, p))
        .await
        .map_err(|e| format!("reader failed: {e}"))??;
    let header = opened.header.clone();
    let source_table = format!("src_{order}");
    let partition = ChannelPartition {
        schema: opened.schema.clone(),
        batches: Mutex::new(Some(opened.batches)),
        file: f.file.clone(),
    };
    let table = StreamingTable::try_new(opened.schema.clone(), vec![Arc::new(partition)]).map_err(|e| e.to_string())?;
    ctx.register_table(&source_table, Arc::new(table)).map_err(|e| e.to_string())?;
    let query = validate::FileQuery {
        contract,
        codebook: &plan.codebook,
        townships,
        as_of: plan.as_of,
        source_table: &source_table,
        file: &f.file,
        file_order: order,
    };
    let result = async {
        let sql = query.sql().map_err(|e| e.to_string())?;
        let df = ctx.sql(&sql).await.map_err(|e| format!("validation query failed: {}", crate::error::redact(&e.to_string())))?;
        let out = staging.join(format!("{order}.parquet"));
        df.write_parquet(
            out.to_str().expect("utf-8 path"),
            DataFrameWriteOptions::new().with_single_file_output(true),
            Some(staging_parquet_options()),
        )
        .await
        .map_err(|e| input_problem(e))?;
        Ok::<_, String>(())
    }
    .await;
    let _ = ctx.deregister_table(&source_table);
    result.map(|_| (header.format, header.encoding))
}

/// The reader's own words when a query failed because of the file (an engine's words with any
/// value taken out).
fn input_problem(e: datafusion::error::DataFusionError) -> String {
    let mut text = crate::error::redact(&e.to_string());
    if let Some(pos) = text.find(": ") {
        // "External error: police/x.csv: has invalid ..." → keep the reader's sentence
        if text.starts_with("External error") {
            text = text[pos + 2..].to_string();
            if let Some(p) = text.find(": ") {
                text = text[p + 2..].to_string();
            }
        }
    }
    text
}

/// Staging files are short-lived: fast compression.
pub fn staging_parquet_options() -> TableParquetOptions {
    let mut o = TableParquetOptions::default();
    o.global.compression = Some("lz4_raw".into());
    o.global.statistics_enabled = Some("none".into());
    o
}
