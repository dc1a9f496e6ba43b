//! The run manifest (`manifest.json`): what made this run's outputs — code, pipeline, model and
//! codebook versions and hashes, the lake table versions read, the input files, row counts and
//! timings per stage — the purges the audit log records since the previous finished run (one by a
//! run killed after it included), and the SHA-256 of every output file beside it. Written last.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

use crate::config::{Plan, sha256_hex};
use crate::error::{Error, Result};
use crate::ingest::FileReport;
use crate::model::Model;

/// Everything the manifest is made from.
pub struct ManifestInput<'a> {
    pub plan: &'a Plan,
    pub model: &'a Model,
    pub lake_versions: &'a BTreeMap<String, i64>,
    /// The inbox files of the as-of date's quality report, ingested by this run or an earlier
    /// one of the same date (empty for `humiao score`).
    pub input_files: &'a [FileReport],
    /// Every file the lake was made from: (file, sha256).
    pub lake_files: &'a [(String, String)],
    pub previous_as_of: Option<NaiveDate>,
    pub counts: &'a BTreeMap<String, u64>,
    pub timings: &'a BTreeMap<String, f64>,
    /// The purges the audit log records since the previous finished `run` or `score`.
    pub purges: &'a [Purge],
}

/// A purge as the audit log records it (its `purge` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purge {
    /// The audit log entry's seq.
    pub seq: u64,
    pub persons: u64,
    pub files_removed: u64,
    /// The latest birth date purged.
    pub cutoff: Option<String>,
}

#[derive(Serialize)]
struct Versioned {
    path: String,
    version: Option<String>,
    sha256: String,
}

#[derive(Serialize)]
struct InputFile<'a> {
    file: &'a str,
    table: Option<&'a str>,
    status: String,
    sha256: Option<&'a str>,
    rows_read: u64,
}

#[derive(Serialize)]
struct Manifest<'a> {
    humiao_version: &'static str,
    git_commit: &'static str,
    pipeline_name: &'a str,
    as_of: String,
    previous_scored_as_of: Option<String>,
    pipeline: Versioned,
    model: Versioned,
    codebook: Versioned,
    table_contracts: Vec<Versioned>,
    lake: String,
    lake_table_versions: &'a BTreeMap<String, i64>,
    input_files: Vec<InputFile<'a>>,
    lake_files: BTreeMap<&'a str, &'a str>,
    row_counts: &'a BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timings_seconds: Option<BTreeMap<&'a str, f64>>,
    /// Not part of the run hash, like the timings: the audit log's record of what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    purges: Option<&'a [Purge]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outputs: Option<BTreeMap<String, String>>,
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let path = entry.map_err(|e| Error::io(&d, e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn file_hash(path: &Path) -> Result<String> {
    Ok(sha256_hex(&std::fs::read(path).map_err(|e| Error::io(path, e))?))
}

/// The run's hash: SHA-256 of what made it (the manifest without timings and outputs). The
/// report's footer shows it; the manifest records it.
pub fn run_hash(m: &ManifestInput) -> Result<String> {
    Ok(sha256_hex(&serde_json::to_vec(&manifest(m)?)?))
}

/// Writes `dir/manifest.json`, hashing every file already in `dir` (and in its subfolders).
pub fn write(dir: &Path, m: &ManifestInput) -> Result<()> {
    let mut outputs = BTreeMap::new();
    for path in files_under(dir)? {
        let name = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().into_owned();
        outputs.insert(name, file_hash(&path)?);
    }
    let mut manifest = manifest(m)?;
    manifest.run_hash = Some(run_hash(m)?);
    manifest.timings_seconds = Some(m.timings.iter().map(|(k, v)| (k.as_str(), (v * 1000.0).round() / 1000.0)).collect());
    manifest.purges = Some(m.purges);
    manifest.outputs = Some(outputs);
    let path = dir.join("manifest.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?).map_err(|e| Error::io(&path, e))
}

fn manifest<'a>(m: &'a ManifestInput) -> Result<Manifest<'a>> {
    let plan = m.plan;
    Ok(Manifest {
        humiao_version: env!("CARGO_PKG_VERSION"),
        git_commit: env!("HUMIAO_GIT_COMMIT"),
        pipeline_name: &plan.name,
        as_of: plan.as_of.to_string(),
        previous_scored_as_of: m.previous_as_of.map(|d| d.to_string()),
        pipeline: Versioned {
            path: plan.pipeline_path.display().to_string(),
            version: None,
            sha256: plan.pipeline_sha256.clone(),
        },
        model: Versioned {
            path: m.model.path.display().to_string(),
            version: Some(m.model.version.clone()),
            sha256: m.model.sha256.clone(),
        },
        codebook: Versioned {
            path: String::new(),
            version: Some(plan.codebook.version.clone()),
            sha256: plan.codebook.sha256.clone(),
        },
        table_contracts: plan
            .tables
            .iter()
            .map(|t| {
                Ok(Versioned { path: t.path.display().to_string(), version: None, sha256: file_hash(&t.path)? })
            })
            .collect::<Result<_>>()?,
        lake: plan.lake.display().to_string(),
        lake_table_versions: m.lake_versions,
        input_files: m
            .input_files
            .iter()
            .map(|f| InputFile {
                file: &f.file,
                table: f.table.as_deref(),
                status: f.status.name().to_string(),
                sha256: f.sha256.as_deref(),
                rows_read: f.rows_read,
            })
            .collect(),
        lake_files: m.lake_files.iter().map(|(f, h)| (f.as_str(), h.as_str())).collect(),
        row_counts: m.counts,
        timings_seconds: None,
        purges: None,
        run_hash: None,
        outputs: None,
    })
}
