//! Helpers shared by the integration tests: run the binary, read the lake, read outputs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use datafusion::arrow::util::display::array_value_to_string;

pub const AS_OF: &str = "2026-11-24";

/// The repository root (where Cargo.toml is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A key file only its owner can read, holding `key`.
pub fn key_file(dir: &Path, key: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("county.key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the humiao binary with `args`.
pub fn humiao(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_humiao"))
        .args(args)
        .env("HUMIAO_LOG", "warn,humiao=info,deltalake_core=error,delta_kernel=error")
        .output()
        .expect("humiao runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `humiao ingest` of the demo pipeline's tables on `dir/inbox`, `dir/reference`, into
/// `dir/lake` and `dir/out`.
pub fn ingest(dir: &Path, key: &Path) -> Run {
    ingest_with(dir, key, &root().join("pipelines/demo.toml"))
}

pub fn ingest_with(dir: &Path, key: &Path, pipeline: &Path) -> Run {
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    humiao(&[
        "ingest",
        "--pipeline",
        &s(pipeline.to_path_buf()),
        "--inbox",
        &s(dir.join("inbox")),
        "--reference",
        &s(dir.join("reference")),
        "--lake",
        &s(dir.join("lake")),
        "--out",
        &s(dir.join("out")),
        "--key-file",
        &s(key.to_path_buf()),
        "--as-of",
        AS_OF,
    ])
}

/// Rows of a query over the lake, every value as text ("" for NULL).
pub fn lake_query(lake: &Path, sql: &str) -> Vec<Vec<String>> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let ctx = humiao::session::new_session(None).unwrap();
        humiao::lake::Lake::new(lake).unwrap().register_all(&ctx).await.unwrap();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let mut rows = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                rows.push(
                    b.columns()
                        .iter()
                        .map(|c| if c.is_null(r) { String::new() } else { array_value_to_string(c, r).unwrap() })
                        .collect(),
                );
            }
        }
        rows
    })
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out.sort();
    out
}

pub fn quality(dir: &Path) -> serde_json::Value {
    let path = dir.join("out").join(AS_OF).join("quality.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The file entry of the quality report for `file` (relative to the inbox).
pub fn file_entry<'a>(q: &'a serde_json::Value, file: &str) -> &'a serde_json::Value {
    q["files"].as_array().unwrap().iter().find(|f| f["file"] == file).unwrap_or_else(|| panic!("{file} not in the quality report"))
}

/// Writes a CSV file (UTF-8) with the given lines.
pub fn write_csv(path: &Path, lines: &[&str]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

pub fn townships(dir: &Path) {
    write_csv(
        &dir.join("reference/townships.csv"),
        &["township_code,name,minors_population", "431102001,城关镇,1000", "431102002,东城街道,800"],
    );
}

/// Every value of `batches` as text ("" for NULL), row by row.
pub fn batch_rows(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| if c.is_null(r) { String::new() } else { array_value_to_string(c, r).unwrap() })
                    .collect(),
            );
        }
    }
    rows
}

/// Rows of a query over one Parquet file, registered as table `t`, every value as text ("" for
/// NULL).
pub fn parquet_rows(path: &Path, sql: &str) -> Vec<Vec<String>> {
    assert!(path.exists(), "{} does not exist", path.display());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let ctx = humiao::session::new_session(None).unwrap();
        ctx.register_parquet("t", path.to_string_lossy().as_ref(), Default::default()).await.unwrap();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        batch_rows(&batches)
    })
}

/// `humiao <command>` (`run` or `score`) of the demo pipeline with every location given: the
/// inbox and reference under `dir`, the lake `lake`, outputs under `out/<as_of>/`, and
/// optionally `--model`.
pub fn pipeline_at(command: &str, dir: &Path, lake: &Path, out: &Path, key: &Path, as_of: &str, model: Option<&Path>) -> Run {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut args: Vec<String> = vec![
        command.into(),
        "--pipeline".into(),
        s(&root().join("pipelines/demo.toml")),
        "--inbox".into(),
        s(&dir.join("inbox")),
        "--reference".into(),
        s(&dir.join("reference")),
        "--lake".into(),
        s(lake),
        "--out".into(),
        s(out),
        "--key-file".into(),
        s(key),
        "--as-of".into(),
        as_of.into(),
    ];
    if let Some(m) = model {
        args.push("--model".into());
        args.push(s(m));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    humiao(&refs)
}
