//! The audit log: `LAKE/audit.jsonl`, append-only and hash-chained, so that a changed, removed or
//! reordered entry is found by [`verify`] (`humiao audit verify`).
//!
//! One JSON object per line, fields in this order:
//!
//! ```text
//! {"seq":1,"at":"2026-11-27T02:30:00Z","kind":"run_started","detail":{…},"prev":"000…000","hash":"9f…"}
//! ```
//!
//! `seq` counts from 1; `at` is RFC 3339 UTC; `kind` says what happened (`run_started`,
//! `run_finished`, `output_written`, `purge`, `decisions_ingested`, …); `detail` is any JSON;
//! `prev` is the `hash` of the entry before (64 zeros for the first); `hash` is the SHA-256 (hex)
//! of the entry's canonical bytes: the serde_json serialisation of {seq, at, kind, detail, prev}
//! in that order, with `detail`'s object keys sorted. The line is those bytes with
//! `,"hash":"…"` inserted before the closing brace, so a checker in any language takes the line,
//! removes its final `,"hash":"<64 hex>"` member and hashes what is left. Hashing the bytes as
//! written (rather than a re-serialisation of the parsed line) keeps the check exact: serde_json's
//! default float parsing does not promise to round-trip every float, and any edit at all, even of
//! white space, is found.
//!
//! The log holds only counts, file names, hashes and run ids, never an identifier of a person.
//! Entries are appended by a run that holds the lake's lock ([`super::lock`]): one writer at a time.

use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The audit log's name in the lake folder.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is hashed: an entry without its hash, fields in this order.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    at: &'a str,
    kind: &'a str,
    detail: &'a Value,
    prev: &'a str,
}

/// One line of the log, as read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    pub at: String,
    pub kind: String,
    pub detail: Value,
    pub prev: String,
    pub hash: String,
}

/// The audit log of one lake.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
}

/// Where the chain is broken: the entry (the seq it should have) and the line, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub seq: u64,
    pub line: usize,
    pub problem: String,
}

impl AuditLog {
    /// The audit log of the lake at `lake_root`; creates the lake folder and the file if missing.
    pub fn open(lake_root: &Path) -> Result<AuditLog> {
        std::fs::create_dir_all(lake_root).map_err(|e| Error::io(lake_root, e))?;
        let path = lake_root.join(AUDIT_FILE);
        let existed = path.exists();
        std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        if !existed {
            // Make the new file's name durable too.
            if let Ok(dir) = std::fs::File::open(lake_root) {
                let _ = dir.sync_all();
            }
        }
        Ok(AuditLog { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry of `kind` with `detail`; returns its seq. Reads the last line for the
    /// seq and hash to chain to; writes the line in one `O_APPEND` write and fsyncs it. Refuses
    /// (with [`Error::Audit`]) to chain onto a last line that is cut short or does not parse, and
    /// to write a string that is a whole identity number.
    pub fn append(&self, kind: &str, detail: Value) -> Result<u64> {
        if let Some(at) = identity_number_in(&detail) {
            return Err(Error::Internal(format!(
                "refusing to write an identity number into the audit log (at `detail{at}` of a `{kind}` entry)"
            )));
        }
        let (seq, prev) = match self.last_line()? {
            None => (1, GENESIS.to_string()),
            Some(line) => match serde_json::from_slice::<Entry>(&line) {
                Ok(last) => (last.seq + 1, last.hash),
                Err(e) => {
                    return Err(self.broken(format!(
                        "its last line does not parse ({e}); run `humiao audit verify` to see where it is broken"
                    )));
                }
            },
        };
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let canonical = serde_json::to_vec(&Canonical { seq, at: &at, kind, detail: &detail, prev: &prev })?;
        let hash = hex::encode(Sha256::digest(&canonical));
        let mut line = canonical;
        line.pop(); // the closing brace
        line.extend_from_slice(format!(",\"hash\":\"{hash}\"}}\n").as_bytes());
        let mut file =
            std::fs::OpenOptions::new().append(true).open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        file.write_all(&line).and_then(|()| file.sync_data()).map_err(|e| Error::io(&self.path, e))?;
        Ok(seq)
    }

    /// The last line of the file without its newline, read from the end; `None` for an empty file.
    fn last_line(&self) -> Result<Option<Vec<u8>>> {
        let io = |e| Error::io(&self.path, e);
        let mut file = std::fs::File::open(&self.path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Ok(None);
        }
        let mut window = 4096u64;
        loop {
            let start = len.saturating_sub(window);
            file.seek(SeekFrom::Start(start)).map_err(io)?;
            let mut buf = vec![0; (len - start) as usize];
            file.read_exact(&mut buf).map_err(io)?;
            if buf.last() != Some(&b'\n') {
                return Err(self.broken(
                    "its last line is not complete (a write was cut short); run `humiao audit verify`".into(),
                ));
            }
            let body = &buf[..buf.len() - 1];
            if let Some(i) = body.iter().rposition(|&b| b == b'\n') {
                return Ok(Some(body[i + 1..].to_vec()));
            }
            if start == 0 {
                return Ok(Some(body.to_vec()));
            }
            window *= 4;
        }
    }

    fn broken(&self, problem: String) -> Error {
        Error::Audit { path: self.path.clone(), problem }
    }
}

/// Checks the whole chain: every line parses, seq runs 1, 2, 3, …, prev equals the previous
/// entry's hash and every hash recomputes. `Ok(number of entries)` or `Err(the first broken
/// entry)`; the outer error is for a file that cannot be read.
pub fn verify(path: &Path) -> Result<std::result::Result<u64, Broken>> {
    let io = |e| Error::io(path, e);
    let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut prev = GENESIS.to_string();
    let mut seq = 1u64;
    let mut line_no = 0usize;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
            return Ok(Ok(seq - 1));
        }
        line_no += 1;
        let broken = |problem: String| Ok(Err(Broken { seq, line: line_no, problem }));
        if buf.pop() != Some(b'\n') {
            return broken("the line is not complete (a write was cut short)".into());
        }
        match check_line(&buf, seq, &prev) {
            Ok(hash) => prev = hash,
            Err(problem) => return broken(problem),
        }
        seq += 1;
    }
}

/// Checks one line (without its newline) as entry `seq` following `prev`; returns its hash.
fn check_line(line: &[u8], seq: u64, prev: &str) -> std::result::Result<String, String> {
    if line.is_empty() {
        return Err("the line is empty".into());
    }
    let entry: Entry = serde_json::from_slice(line).map_err(|e| format!("the line is not an audit entry: {e}"))?;
    if entry.seq != seq {
        return Err(if entry.seq > seq {
            format!("the entry says seq {}: entries {seq}..{} are missing", entry.seq, entry.seq - 1)
        } else {
            format!("the entry says seq {}: entries are repeated or out of order", entry.seq)
        });
    }
    let suffix = format!(",\"hash\":\"{}\"}}", entry.hash);
    let Some(body) = line.strip_suffix(suffix.as_bytes()) else {
        return Err("the line does not end with its hash".into());
    };
    let mut canonical = body.to_vec();
    canonical.push(b'}');
    if hex::encode(Sha256::digest(&canonical)) != entry.hash {
        return Err("its hash does not match its content: the entry was changed after it was written".into());
    }
    if entry.prev != prev {
        return Err(if seq == 1 {
            "the first entry's prev is not 64 zeros: the entries before it were removed".into()
        } else {
            format!("its prev is not the hash of entry {}: that entry was changed or replaced", seq - 1)
        });
    }
    if chrono::DateTime::parse_from_rfc3339(&entry.at).is_err() {
        return Err(format!("its time `{}` is not RFC 3339", entry.at));
    }
    Ok(entry.hash)
}

/// Where in `v` a string is a whole 18-character identity number, as a path like `.rows[0].id`
/// ("" for `v` itself).
fn identity_number_in(v: &Value) -> Option<String> {
    fn looks_like_id(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() == 18
            && b[..17].iter().all(u8::is_ascii_digit)
            && (b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x')
    }
    match v {
        Value::String(s) if looks_like_id(s) => Some(String::new()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| identity_number_in(x).map(|p| format!("[{i}]{p}"))),
        Value::Object(map) => map.iter().find_map(|(k, x)| identity_number_in(x).map(|p| format!(".{k}{p}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn log_with(n: u64) -> (tempfile::TempDir, AuditLog) {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::open(tmp.path()).unwrap();
        for i in 1..=n {
            assert_eq!(log.append("run_finished", json!({"run_id": format!("r{i}"), "rows": i, "seconds": 0.1 * i as f64})).unwrap(), i);
        }
        (tmp, log)
    }

    fn lines(log: &AuditLog) -> Vec<String> {
        std::fs::read_to_string(log.path()).unwrap().lines().map(String::from).collect()
    }

    fn rewrite(log: &AuditLog, lines: &[String]) {
        std::fs::write(log.path(), lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    }

    #[test]
    fn entries_chain_from_64_zeros_and_verify() {
        let (_tmp, log) = log_with(3);
        let entries: Vec<Entry> = lines(&log).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(entries[0].prev, GENESIS);
        assert_eq!(entries[1].prev, entries[0].hash);
        assert_eq!(entries[2].seq, 3);
        assert_eq!(verify(log.path()).unwrap(), Ok(3));
        // The line's fields are in the documented order.
        assert!(lines(&log)[0].starts_with("{\"seq\":1,\"at\":\""), "{}", lines(&log)[0]);
    }

    #[test]
    fn the_hash_is_of_the_line_without_its_hash_member() {
        let (_tmp, log) = log_with(1);
        let line = &lines(&log)[0];
        let (body, hash) = line.rsplit_once(",\"hash\":\"").unwrap();
        let hash = hash.trim_end_matches("\"}");
        assert_eq!(hex::encode(Sha256::digest(format!("{body}}}").as_bytes())), hash);
    }

    #[test]
    fn an_empty_log_verifies_with_no_entries_and_reopening_keeps_the_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::open(tmp.path()).unwrap();
        assert_eq!(verify(log.path()).unwrap(), Ok(0));
        log.append("run_started", json!({})).unwrap();
        let again = AuditLog::open(tmp.path()).unwrap();
        assert_eq!(again.append("run_finished", json!({"exit_code": 0})).unwrap(), 2);
        assert_eq!(verify(again.path()).unwrap(), Ok(2));
    }

    #[test]
    fn a_changed_detail_is_found_at_its_entry() {
        let (_tmp, log) = log_with(4);
        let mut l = lines(&log);
        l[2] = l[2].replace("\"rows\":3", "\"rows\":4");
        rewrite(&log, &l);
        let b = verify(log.path()).unwrap().unwrap_err();
        assert_eq!((b.seq, b.line), (3, 3));
        assert!(b.problem.contains("hash does not match"), "{}", b.problem);
    }

    #[test]
    fn a_changed_entry_with_a_recomputed_hash_breaks_the_next_one() {
        let (_tmp, log) = log_with(4);
        let mut l = lines(&log);
        let e: Entry = serde_json::from_str(&l[1]).unwrap();
        let detail = json!({"run_id": "forged"});
        let canonical =
            serde_json::to_vec(&Canonical { seq: e.seq, at: &e.at, kind: &e.kind, detail: &detail, prev: &e.prev }).unwrap();
        let hash = hex::encode(Sha256::digest(&canonical));
        l[1] = format!("{},\"hash\":\"{hash}\"}}", std::str::from_utf8(&canonical[..canonical.len() - 1]).unwrap());
        rewrite(&log, &l);
        let b = verify(log.path()).unwrap().unwrap_err();
        assert_eq!((b.seq, b.line), (3, 3));
        assert!(b.problem.contains("prev is not the hash of entry 2"), "{}", b.problem);
    }

    #[test]
    fn a_removed_or_repeated_line_is_found() {
        let (_tmp, log) = log_with(5);
        let all = lines(&log);
        let mut l = all.clone();
        l.remove(2);
        rewrite(&log, &l);
        let b = verify(log.path()).unwrap().unwrap_err();
        assert_eq!((b.seq, b.line), (3, 3));
        assert!(b.problem.contains("entries 3..3 are missing"), "{}", b.problem);

        let mut l = all.clone();
        l.remove(0);
        rewrite(&log, &l);
        assert_eq!(verify(log.path()).unwrap().unwrap_err().seq, 1);

        let mut l = all;
        l.insert(3, l[2].clone());
        rewrite(&log, &l);
        let b = verify(log.path()).unwrap().unwrap_err();
        assert_eq!((b.seq, b.line), (4, 4));
        assert!(b.problem.contains("repeated or out of order"), "{}", b.problem);
    }

    #[test]
    fn a_cut_short_last_line_is_found_and_nothing_is_chained_onto_it() {
        let (_tmp, log) = log_with(2);
        let text = std::fs::read_to_string(log.path()).unwrap();
        std::fs::write(log.path(), &text[..text.len() - 10]).unwrap();
        let b = verify(log.path()).unwrap().unwrap_err();
        assert_eq!((b.seq, b.line), (2, 2));
        let err = log.append("run_started", json!({})).unwrap_err();
        assert!(matches!(err, Error::Audit { .. }), "{err}");
    }

    #[test]
    fn floats_and_unicode_in_detail_verify() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::open(tmp.path()).unwrap();
        log.append("output_written", json!({"file": "风险名单.xlsx", "seconds": 0.30000000000000004, "x": 1.7976931348623157e308}))
            .unwrap();
        log.append("purge", json!({"persons": 2, "b": [1, 2], "a": null})).unwrap();
        assert_eq!(verify(log.path()).unwrap(), Ok(2));
    }

    #[test]
    fn an_identity_number_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::open(tmp.path()).unwrap();
        let err = log.append("decisions_ingested", json!({"rows": [{"id": "11010520100101123X"}]})).unwrap_err();
        assert!(err.to_string().contains("identity number into the audit log (at `detail.rows[0].id`"), "{err}");
        assert_eq!(std::fs::read_to_string(log.path()).unwrap(), "");
        // A 64-hex hash or a long count is fine.
        log.append("run_finished", json!({"sha256": "1".repeat(64), "rows": 123456789012345678u64})).unwrap();
    }
}
