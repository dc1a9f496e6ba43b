//! `humiao inbox set-aside FILE`: a file the last run rejected is moved out of the way, to
//! `INBOX/rejected/<source>/<file>` ([`crate::ingest::SET_ASIDE_FOLDER`], which no ingest reads),
//! and the move is recorded in the audit log (`file_set_aside`), so that the next run no longer
//! rejects it and exits 0 instead of 3.
//!
//! The lake does not remember rejected files (every run looks at them again), so what says a file
//! was rejected is the quality report: of every `OUT/<as-of>/quality.json`, the one written by the
//! latest run that saw the file must list it as rejected, with the content it has now (its
//! SHA-256). A file the lake's `files` table holds with that content (read, or a re-delivered
//! copy) is refused, and so is one outside the inbox, one that changed since it was rejected (the
//! next run reads it again) and one no report names. Refusals are usage errors (exit 2) naming
//! the file and never anything in it.

use std::path::{Path, PathBuf};

use crate::config::Plan;
use crate::error::{Error, Result};
use crate::ingest::SET_ASIDE_FOLDER;
use crate::ops::audit::{AUDIT_FILE, AuditLog};
use crate::ops::lock::LakeLock;

/// The audit log's kind for a file set aside.
pub const AUDIT_KIND: &str = "file_set_aside";

/// What [`set_aside`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// The file, relative to the inbox (`education/education_conduct_broken.csv`).
    pub file: String,
    /// Where it is now, relative to the inbox (`rejected/education/education_conduct_broken.csv`,
    /// with a `-2`, `-3`, … before the extension when that name was taken).
    pub to: String,
    /// The inbox folder.
    pub inbox: PathBuf,
    /// The run whose quality report rejected it, and that report's as-of date.
    pub rejected_by_run: String,
    pub rejected_as_of: String,
    /// The audit log entry recording the move.
    pub audit_seq: u64,
}

/// Moves `file` (relative to the inbox as the run named it, or a path to it) to
/// `INBOX/rejected/`, under the lake's lock, and records it in the lake's audit log.
pub async fn set_aside(plan: &Plan, file: &Path) -> Result<SetAside> {
    let (path, rel) = in_inbox(&plan.inbox, file)?;
    if !plan.lake.join(AUDIT_FILE).exists() {
        return Err(Error::Usage(format!(
            "{rel}: no run has used the lake {} yet, so no file was rejected; nothing set aside",
            plan.lake.display()
        )));
    }
    let key = crate::pseudo::Pseudonymiser::from_key_file(&plan.key_file)?;
    crate::ops::key_fingerprint::check(&plan.lake, &key, &plan.key_file)?;
    let _lock = LakeLock::acquire(&plan.lake, "humiao inbox set-aside")?;
    let sha = crate::ingest::sha256_file(&path)?;

    // Read into the lake (or remembered as a copy of a file that was): not a rejected file.
    let ctx = crate::session::new_session(None)?;
    crate::lake::Lake::new(&plan.lake)?.register_all(&ctx).await?;
    let lit = crate::sql::lit;
    let known = crate::sql::collect_strings(
        &ctx,
        &format!("SELECT status FROM files WHERE file = {} AND sha256 = {} ORDER BY status", lit(&rel), lit(&sha)),
    )
    .await?;
    if let Some(status) = known.first() {
        return Err(Error::Usage(format!(
            "{rel} was not rejected: the lake holds it as {status}; only a file a run rejected is set aside"
        )));
    }

    let seen = latest_report_of(&plan.out, &rel)?.ok_or_else(|| {
        Error::Usage(format!(
            "{rel}: no quality report under {} lists it (has a run read it yet?); only a file a run rejected is set aside",
            plan.out.display()
        ))
    })?;
    if seen.status != "rejected" {
        return Err(Error::Usage(format!(
            "{rel} was not rejected: the latest run that saw it ({}, as of {}) lists it as {}; only a file a run rejected is set aside",
            seen.run_id, seen.as_of, seen.status
        )));
    }
    if seen.sha256.as_ref().is_some_and(|s| *s != sha) {
        return Err(Error::Usage(format!(
            "{rel} has changed since run {} rejected it: the next run reads it again; nothing set aside",
            seen.run_id
        )));
    }

    let to = move_without_overwriting(&plan.inbox, &path, &rel)?;
    let audit = AuditLog::open(&plan.lake, &key)?;
    let detail = serde_json::json!({
        "file": rel,
        "to": to,
        "sha256": sha,
        "rejected_by_run": seen.run_id,
        "rejected_as_of": seen.as_of,
    });
    let audit_seq = match audit.append(AUDIT_KIND, detail) {
        Ok(seq) => seq,
        Err(e) => {
            // Not recorded, so not done: the file goes back where it was.
            let _ = std::fs::rename(plan.inbox.join(&to), &path);
            return Err(e);
        }
    };
    tracing::info!(file = %rel, to = %to, audit_seq, "rejected file set aside");
    Ok(SetAside {
        file: rel,
        to,
        inbox: plan.inbox.clone(),
        rejected_by_run: seen.run_id,
        rejected_as_of: seen.as_of,
        audit_seq,
    })
}

/// The file `file` names in `inbox` and its path relative to the inbox (with `/`): a file that
/// the ingest reads (`<source>/<file>`, or `review/<file>`), not one already set aside.
fn in_inbox(inbox: &Path, file: &Path) -> Result<(PathBuf, String)> {
    let refuse = |why: &str| Error::Usage(format!("{} {why}; nothing set aside", file.display()));
    let root = inbox.canonicalize().map_err(|_| Error::Usage(format!("inbox {} not found", inbox.display())))?;
    // As the run named it (relative to the inbox), else as a path.
    let given = if file.is_relative() && inbox.join(file).exists() { inbox.join(file) } else { file.to_path_buf() };
    let (Some(parent), Some(name)) = (given.parent(), given.file_name()) else {
        return Err(refuse("is not a file in the inbox"));
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let Ok(parent) = parent.canonicalize() else { return Err(refuse("is not a file in the inbox")) };
    let path = parent.join(name);
    let Ok(rel) = path.strip_prefix(&root) else {
        return Err(refuse(&format!("is not in the inbox {}", inbox.display())));
    };
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.first().is_some_and(|p| p == SET_ASIDE_FOLDER) {
        return Err(refuse(&format!("is already set aside (in {SET_ASIDE_FOLDER}/)")));
    }
    if parts.len() != 2 || !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
        return Err(refuse("is not a file in a source folder of the inbox (INBOX/<source>/<file>)"));
    }
    Ok((path, parts.join("/")))
}

/// A file's line in the latest quality report that names it.
#[derive(Debug)]
struct Seen {
    run_id: String,
    as_of: String,
    status: String,
    sha256: Option<String>,
}

/// Of every `out/<as-of>/quality.json`, the line for `file` in the one whose run is the latest
/// (run ids start with their UTC start time, so they sort in time).
fn latest_report_of(out: &Path, file: &str) -> Result<Option<Seen>> {
    let Ok(entries) = std::fs::read_dir(out) else { return Ok(None) };
    let mut latest: Option<Seen> = None;
    for entry in entries.flatten() {
        // A killed run's temporary folder is not a report of record.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path().join("quality.json");
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let report: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::InputFile {
            file: path.display().to_string(),
            problem: format!("is not a quality report: {e}"),
        })?;
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        let run_id = text(&report["run_id"]).unwrap_or_default();
        let lines = ["files", "decision_files"].into_iter().filter_map(|k| report[k].as_array()).flatten();
        for line in lines.filter(|l| l["file"] == file) {
            if latest.as_ref().is_none_or(|l| run_id > l.run_id) {
                latest = Some(Seen {
                    run_id: run_id.clone(),
                    as_of: text(&report["as_of"]).unwrap_or_default(),
                    status: text(&line["status"]).unwrap_or_default(),
                    sha256: text(&line["sha256"]),
                });
            }
        }
    }
    Ok(latest)
}

/// Moves `path` (`rel` in `inbox`) to `inbox/rejected/<rel>`, or to a free name beside it
/// (`name-2.csv`, `name-3.csv`, …): never over a file. Returns where it went, relative to the
/// inbox.
fn move_without_overwriting(inbox: &Path, path: &Path, rel: &str) -> Result<String> {
    let target = Path::new(SET_ASIDE_FOLDER).join(rel);
    let dir = inbox.join(target.parent().expect("a file in a folder"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let name = Path::new(rel).file_name().expect("a file name").to_string_lossy().into_owned();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.clone(), String::new()),
    };
    for n in 1..10_000u32 {
        let candidate = if n == 1 { name.clone() } else { format!("{stem}-{n}{ext}") };
        let to = dir.join(&candidate);
        match rename_no_replace(path, &to) {
            Ok(()) => {
                let to = target.with_file_name(candidate);
                return Ok(to.to_string_lossy().replace('\\', "/"));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&to, e)),
        }
    }
    Err(Error::Usage(format!("{rel}: {} holds too many files of that name; nothing set aside", dir.display())))
}

/// Renames `from` to `to` unless `to` exists (Linux `renameat2(RENAME_NOREPLACE)`, atomic; on a
/// file system without it, a check then a rename).
fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e));
    let (cf, ct) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, cf.as_ptr(), libc::AT_FDCWD, ct.as_ptr(), libc::RENAME_NOREPLACE) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            if to.exists() {
                return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
            }
            std::fs::rename(from, to)
        }
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_name_gets_a_suffix_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path();
        std::fs::create_dir_all(inbox.join("rejected/police")).unwrap();
        std::fs::write(inbox.join("rejected/police/p.csv"), "earlier").unwrap();
        std::fs::create_dir_all(inbox.join("police")).unwrap();
        std::fs::write(inbox.join("police/p.csv"), "now").unwrap();
        let to = move_without_overwriting(inbox, &inbox.join("police/p.csv"), "police/p.csv").unwrap();
        assert_eq!(to, "rejected/police/p-2.csv");
        assert_eq!(std::fs::read_to_string(inbox.join("rejected/police/p.csv")).unwrap(), "earlier");
        assert_eq!(std::fs::read_to_string(inbox.join(&to)).unwrap(), "now");
        assert!(!inbox.join("police/p.csv").exists());
    }

    #[test]
    fn only_a_file_of_a_source_folder_of_the_inbox_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        std::fs::create_dir_all(inbox.join("police")).unwrap();
        std::fs::create_dir_all(inbox.join("rejected/police")).unwrap();
        std::fs::write(inbox.join("police/p.csv"), "x").unwrap();
        std::fs::write(inbox.join("rejected/police/q.csv"), "x").unwrap();
        std::fs::write(inbox.join("top.csv"), "x").unwrap();
        std::fs::write(dir.path().join("outside.csv"), "x").unwrap();
        let (path, rel) = in_inbox(&inbox, Path::new("police/p.csv")).unwrap();
        assert_eq!(rel, "police/p.csv");
        assert_eq!(in_inbox(&inbox, &path).unwrap().1, "police/p.csv", "a path to it works too");
        for bad in ["rejected/police/q.csv", "top.csv", "police/none.csv", "police"] {
            let e = in_inbox(&inbox, Path::new(bad)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        let e = in_inbox(&inbox, &dir.path().join("outside.csv")).unwrap_err();
        assert!(e.to_string().contains("is not in the inbox"), "{e}");
    }
}
