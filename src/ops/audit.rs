//! The audit log: `LAKE/audit.jsonl`, append-only, chained under a key derived from the county
//! key, with its head recorded outside it, so that [`verify`] (`humiao audit verify`) finds an
//! entry that was changed, removed, reordered or inserted, a log whose tail was cut or that was
//! emptied, and a chain recomputed by someone who does not hold the county key.
//!
//! ## Entries
//!
//! One JSON object per line, fields in this order:
//!
//! ```text
//! {"seq":1,"at":"2026-11-27T02:30:00Z","kind":"run_started","detail":{…},"prev":"000…000","hash":"9f…"}
//! ```
//!
//! `seq` counts from 1; `at` is RFC 3339 UTC; `kind` says what happened (`run_started`,
//! `run_finished`, `run_failed`, `output_written`, `purge`, `decisions_ingested`,
//! `legacy_log_sealed`, `file_set_aside`); `detail` is any JSON (a `purge`'s is `{persons,
//! files_removed, cutoff, run_id}`, written as soon as the purge is done, so a run killed
//! afterwards still leaves it; a `file_set_aside`'s, by `humiao inbox set-aside`, is `{file, to,
//! sha256, rejected_by_run, rejected_as_of}`);
//! `prev` is the `hash` of the entry before (64 zeros for the first); `hash` is a keyed hash of
//! the entry's canonical bytes:
//!
//! ```text
//! audit key = HMAC-SM3(county key, "humiao audit chain v1")      32 bytes, used as they are
//! hash      = hex(HMAC-SM3(audit key, canonical bytes))
//! ```
//!
//! The canonical bytes are the serde_json serialisation of {seq, at, kind, detail, prev} in that
//! order, with `detail`'s object keys sorted. The line is those bytes with `,"hash":"…"` inserted
//! before the closing brace, so a checker in any language takes the line, removes its final
//! `,"hash":"<64 hex>"` member and computes the HMAC of what is left. Hashing the bytes as written
//! (rather than a re-serialisation of the parsed line) keeps the check exact: serde_json's
//! default float parsing does not promise to round-trip every float, and any edit at all, even of
//! white space, is found. Without the county key nobody can compute a hash: an edited entry
//! cannot be given a valid one, nor the entries after it be chained again (as anyone could with
//! a plain SHA-256 chain).
//!
//! ## The head
//!
//! A chain alone cannot tell a log whose last entries were removed from a shorter one, so the
//! head is kept in two places outside the log:
//!
//! - `LAKE/audit.head`, `{"seq":57,"hash":"…","mac":"…"}`: the last entry's seq and hash, with
//!   `mac` = hex(HMAC-SM3(audit key, "audit.head <seq> <hash>")). It is rewritten atomically after
//!   every append; a crash between the two leaves it one entry behind the log, which is accepted
//!   (an entry after the head's is still chained under the key).
//! - the lake's `runs` table: each committed run's row holds `audit_seq` and `audit_hash`, the last
//!   entry written before its commit ([`anchors`] reads them).
//!
//! [`verify`] finds a log shorter than either says (the entry at the head's or a run's seq missing,
//! or with another hash), an emptied log, and a missing or forged head file. [`AuditLog::append`]
//! refuses to chain onto a log shorter than its head, so a cut log is not papered over.
//!
//! ## Logs of older versions
//!
//! Before the keyed chain, `hash` was the plain SHA-256 of the canonical bytes and there was no
//! head. [`AuditLog::open`] on such a log (its first entry's hash is a SHA-256 and there is no
//! head file) moves it aside to `LAKE/audit.legacy.jsonl`, unchanged, and starts the new log with
//! a `legacy_log_sealed` entry: `{"file","lines","sha256","chain"}` (the old file's line count,
//! SHA-256, and whether its SHA-256 chain verified when it was sealed). [`verify`] checks that the
//! sealed file is still exactly that.
//!
//! The log holds only counts, file names, hashes and run ids, never an identifier of a person.
//! Entries are appended by a run that holds the lake's lock ([`super::lock`]): one writer at a time.

use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::pseudo::Pseudonymiser;

/// The audit log's name in the lake folder.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// The head file's name in the lake folder.
pub const HEAD_FILE: &str = "audit.head";

/// Where [`AuditLog::open`] moves a log of an older version (SHA-256 chained, no head).
pub const LEGACY_FILE: &str = "audit.legacy.jsonl";

/// The message whose HMAC under the county key is the audit key.
pub const CHAIN_LABEL: &str = "humiao audit chain v1";

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

/// `audit.head`: the last entry's seq and hash, and their MAC.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    seq: u64,
    hash: String,
    mac: String,
}

/// The key the chain is made with, derived from the county key (see the module doc).
#[derive(Clone)]
pub struct AuditKey(Pseudonymiser);

impl AuditKey {
    pub fn derive(county_key: &Pseudonymiser) -> AuditKey {
        let key = hex::decode(county_key.hmac_hex(CHAIN_LABEL.as_bytes())).expect("hmac_hex is hex");
        AuditKey(Pseudonymiser::new(&key))
    }

    /// The `hash` of an entry with these canonical bytes.
    pub fn hash(&self, canonical: &[u8]) -> String {
        self.0.hmac_hex(canonical)
    }

    fn head_mac(&self, seq: u64, hash: &str) -> String {
        self.0.hmac_hex(format!("{HEAD_FILE} {seq} {hash}").as_bytes())
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// The audit log of one lake.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    key: AuditKey,
}

/// Where the chain is broken: the entry (the seq it should have) and the line, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub seq: u64,
    pub line: usize,
    pub problem: String,
}

/// An entry that a committed run's row in the lake's `runs` table names: the last one written
/// before the run committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub run_id: String,
    pub seq: u64,
    pub hash: String,
}

impl AuditLog {
    /// The audit log of the lake at `lake_root`, chained under a key derived from `county_key`;
    /// creates the lake folder and the file if missing, and seals a log of an older version (see
    /// the module doc).
    pub fn open(lake_root: &Path, county_key: &Pseudonymiser) -> Result<AuditLog> {
        std::fs::create_dir_all(lake_root).map_err(|e| Error::io(lake_root, e))?;
        let path = lake_root.join(AUDIT_FILE);
        let existed = path.exists();
        std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        if !existed {
            // Make the new file's name durable too.
            sync_dir(lake_root);
        }
        let log = AuditLog { path, key: AuditKey::derive(county_key) };
        log.seal_legacy()?;
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn head_path(&self) -> PathBuf {
        self.path.with_file_name(HEAD_FILE)
    }

    /// Appends an entry of `kind` with `detail`; returns its seq. Reads the last line for the
    /// seq and hash to chain to; writes the line in one `O_APPEND` write and fsyncs it, then
    /// rewrites the head. Refuses (with [`Error::Audit`]) to chain onto a last line that is cut
    /// short or does not parse, onto a log shorter than its head, and to write a string that is
    /// a whole identity number.
    pub fn append(&self, kind: &str, detail: Value) -> Result<u64> {
        if let Some(at) = identity_number_in(&detail) {
            return Err(Error::Internal(format!(
                "refusing to write an identity number into the audit log (at `detail{at}` of a `{kind}` entry)"
            )));
        }
        let last = self.last()?;
        self.check_head(last.as_ref())?;
        let (seq, prev) = match last {
            None => (1, GENESIS.to_string()),
            Some((seq, hash)) => (seq + 1, hash),
        };
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let canonical = serde_json::to_vec(&Canonical { seq, at: &at, kind, detail: &detail, prev: &prev })?;
        let hash = self.key.hash(&canonical);
        let mut line = canonical;
        line.pop(); // the closing brace
        line.extend_from_slice(format!(",\"hash\":\"{hash}\"}}\n").as_bytes());
        let mut file =
            std::fs::OpenOptions::new().append(true).open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        file.write_all(&line).and_then(|()| file.sync_data()).map_err(|e| Error::io(&self.path, e))?;
        let head = Head { seq, mac: self.key.head_mac(seq, &hash), hash };
        super::write_atomic(&self.head_path(), &serde_json::to_vec(&head)?)?;
        Ok(seq)
    }

    /// The seq and hash of the last entry; `None` for an empty log. (A run's row in the lake's
    /// `runs` table records them: see the module doc.)
    pub fn last(&self) -> Result<Option<(u64, String)>> {
        let Some(line) = self.last_line()? else { return Ok(None) };
        match serde_json::from_slice::<Entry>(&line) {
            Ok(last) => Ok(Some((last.seq, last.hash))),
            Err(e) => Err(self.broken(format!(
                "its last line does not parse ({e}); run `humiao audit verify` to see where it is broken"
            ))),
        }
    }

    /// Every entry, in order (for the manifest's purges). Each line must parse; the chain is not
    /// checked ([`verify`] does that).
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let text = std::fs::read(&self.path).map_err(|e| Error::io(&self.path, e))?;
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_slice(l).map_err(|e| {
                    self.broken(format!("line {} does not parse ({e}); run `humiao audit verify`", i + 1))
                })
            })
            .collect()
    }

    /// Refuses to chain onto a log that does not reach its head: its tail was cut or it was
    /// emptied, or the head file is missing or forged.
    fn check_head(&self, last: Option<&(u64, String)>) -> Result<()> {
        let problem = match (read_head(&self.head_path(), &self.key)?, last) {
            (None, None) => return Ok(()),
            (None, Some(_)) => format!("its head file {HEAD_FILE} is missing"),
            (Some(Err(problem)), _) => problem,
            (Some(Ok(h)), None) => format!("it is empty, but its head file says it held {} entries", h.seq),
            (Some(Ok(h)), Some((seq, _))) if *seq < h.seq => {
                format!("it ends at entry {seq}, but its head file says it held {} entries", h.seq)
            }
            (Some(Ok(h)), Some((seq, hash))) if *seq == h.seq && *hash != h.hash => {
                format!("its last entry {seq} is not the one its head file recorded")
            }
            _ => return Ok(()),
        };
        Err(self.broken(format!("{problem}; nothing is appended to it. Run `humiao audit verify`")))
    }

    /// Moves a log of an older version (SHA-256 chained, no head file) aside to
    /// [`LEGACY_FILE`], and starts the new log with an entry that seals it.
    fn seal_legacy(&self) -> Result<()> {
        if self.head_path().exists() {
            return Ok(());
        }
        let legacy = self.path.with_file_name(LEGACY_FILE);
        let first = first_line(&self.path)?;
        if first.as_deref().is_some_and(is_legacy_line) {
            if legacy.exists() {
                return Err(self.broken(format!(
                    "it is a log of an older humiao, but {} already exists: move that file away first",
                    legacy.display()
                )));
            }
            std::fs::rename(&self.path, &legacy).map_err(|e| Error::io(&legacy, e))?;
            std::fs::File::create(&self.path).and_then(|f| f.sync_all()).map_err(|e| Error::io(&self.path, e))?;
            sync_dir(self.path.parent().unwrap_or(Path::new(".")));
        } else if first.is_some() || !legacy.exists() {
            return Ok(());
        }
        // Here the log is empty and the legacy file is not sealed yet (a run killed right after
        // the move comes here too).
        let bytes = std::fs::read(&legacy).map_err(|e| Error::io(&legacy, e))?;
        let lines = bytes.iter().filter(|&&b| b == b'\n').count();
        let chain = match chain_of(&legacy, &|c| hex::encode(Sha256::digest(c)))? {
            Ok(_) => "verified".to_string(),
            Err(b) => format!("broken at entry {} (line {}): {}", b.seq, b.line, b.problem),
        };
        tracing::warn!(legacy = %legacy.display(), lines, chain, "sealed the audit log of an older humiao and started a keyed one");
        self.append("legacy_log_sealed", serde_json::json!({ "file": LEGACY_FILE, "lines": lines, "sha256": hex::encode(Sha256::digest(&bytes)), "chain": chain }))?;
        Ok(())
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

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The first line of the file without its newline; `None` for an empty or missing file.
fn first_line(path: &Path) -> Result<Option<Vec<u8>>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut line = Vec::new();
    std::io::BufReader::new(file).read_until(b'\n', &mut line).map_err(|e| Error::io(path, e))?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok((!line.is_empty()).then_some(line))
}

/// True for an entry of an older version: its hash is the plain SHA-256 of its canonical bytes.
fn is_legacy_line(line: &[u8]) -> bool {
    let Ok(entry) = serde_json::from_slice::<Entry>(line) else { return false };
    canonical_of(line, &entry).is_some_and(|c| hex::encode(Sha256::digest(&c)) == entry.hash)
}

/// The canonical bytes of a line: the line without its final `,"hash":"…"` member.
fn canonical_of(line: &[u8], entry: &Entry) -> Option<Vec<u8>> {
    let suffix = format!(",\"hash\":\"{}\"}}", entry.hash);
    let mut canonical = line.strip_suffix(suffix.as_bytes())?.to_vec();
    canonical.push(b'}');
    Some(canonical)
}

/// The head file: `None` when missing, `Some(Err(problem))` when it is unreadable or its MAC
/// does not match.
fn read_head(path: &Path, key: &AuditKey) -> Result<Option<std::result::Result<Head, String>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    Ok(Some(match serde_json::from_slice::<Head>(&bytes) {
        Err(e) => Err(format!("its head file {HEAD_FILE} is not a head ({e})")),
        Ok(h) if key.head_mac(h.seq, &h.hash) != h.mac => {
            Err(format!("its head file {HEAD_FILE} does not match its MAC: it was changed (or the key is not the lake's)"))
        }
        Ok(h) => Ok(h),
    }))
}

/// Checks the log at `path` (the file `LAKE/audit.jsonl`) with the key derived from
/// `county_key`: every line parses, seq runs 1, 2, 3, …, prev equals the previous entry's hash,
/// every hash recomputes; a sealed legacy log is unchanged; the log reaches its head file and
/// every `anchors` entry (read them with [`anchors`] before calling this). `Ok(number of
/// entries)` or `Err(the first problem)`; the outer error is for a file that cannot be read.
pub fn verify(path: &Path, county_key: &Pseudonymiser, anchors: &[Anchor]) -> Result<std::result::Result<u64, Broken>> {
    let key = AuditKey::derive(county_key);
    // The head before the log: a run appending meanwhile makes the log longer than the head
    // read, never shorter.
    let head = read_head(&path.with_file_name(HEAD_FILE), &key)?;
    let entries = match chain_of(path, &|c| key.hash(c))? {
        Ok(e) => e,
        Err(b) => return Ok(Err(b)),
    };
    let n = entries.len() as u64;
    let end = |problem: String| Ok(Err(Broken { seq: n + 1, line: n as usize + 1, problem }));
    let at = |seq: u64, problem: String| Ok(Err(Broken { seq, line: seq as usize, problem }));
    if let Some(problem) = entries.first().and_then(|e| legacy_problem(path, e)) {
        return at(1, problem);
    }
    let ends_at = if n == 0 { "the log is empty".to_string() } else { format!("the log ends at entry {n}") };
    match head {
        None if n > 0 => return end(format!("the head file {HEAD_FILE} is missing (it is rewritten after every entry)")),
        None => {}
        Some(Err(problem)) => return end(problem.replacen("its head file", "the head file", 1)),
        Some(Ok(h)) if h.seq > n => {
            return end(format!("{ends_at}, but the head file says entry {} was written: entries {}..{} were removed", h.seq, n + 1, h.seq));
        }
        Some(Ok(h)) if entries[h.seq as usize - 1].hash != h.hash => {
            return at(h.seq, "it is not the entry the head file recorded: the log was replaced".into());
        }
        Some(Ok(_)) => {}
    }
    if let Some(a) = anchors.iter().filter(|a| a.seq > n).max_by_key(|a| a.seq) {
        return end(format!(
            "{ends_at}, but the lake's runs table says run {} committed after entry {}: entries {}..{} were removed",
            a.run_id,
            a.seq,
            n + 1,
            a.seq
        ));
    }
    for a in anchors {
        if a.seq == 0 || entries[a.seq as usize - 1].hash != a.hash {
            return at(a.seq, format!("it is not the entry run {} recorded in the lake's runs table: the log was replaced", a.run_id));
        }
    }
    Ok(Ok(n))
}

/// What is wrong with the legacy log a first entry `legacy_log_sealed` sealed, if anything.
fn legacy_problem(path: &Path, first: &Entry) -> Option<String> {
    if first.kind != "legacy_log_sealed" {
        return None;
    }
    let file = first.detail["file"].as_str().unwrap_or(LEGACY_FILE);
    let legacy = path.with_file_name(file);
    match std::fs::read(&legacy) {
        Err(e) => Some(format!("the sealed log of an older humiao, {}, cannot be read: {e}", legacy.display())),
        Ok(bytes) if Some(hex::encode(Sha256::digest(&bytes)).as_str()) != first.detail["sha256"].as_str() => {
            Some(format!("the sealed log of an older humiao, {}, was changed after it was sealed", legacy.display()))
        }
        Ok(_) => None,
    }
}

/// Reads and checks the chain of the log at `path` with `hash` (the keyed one, or SHA-256 for a
/// legacy log): `Ok(the entries)` or `Err(the first broken one)`.
fn chain_of(path: &Path, hash: &dyn Fn(&[u8]) -> String) -> Result<std::result::Result<Vec<Entry>, Broken>> {
    let io = |e| Error::io(path, e);
    let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut entries: Vec<Entry> = Vec::new();
    let mut line_no = 0usize;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
            return Ok(Ok(entries));
        }
        line_no += 1;
        let seq = entries.len() as u64 + 1;
        let broken = |problem: String| Ok(Err(Broken { seq, line: line_no, problem }));
        if buf.pop() != Some(b'\n') {
            return broken("the line is not complete (a write was cut short)".into());
        }
        let prev = entries.last().map_or(GENESIS, |e| e.hash.as_str());
        match check_line(&buf, seq, prev, hash) {
            Ok(entry) => entries.push(entry),
            Err(problem) => return broken(problem),
        }
    }
}

/// Checks one line (without its newline) as entry `seq` following `prev`; returns the entry.
fn check_line(line: &[u8], seq: u64, prev: &str, hash: &dyn Fn(&[u8]) -> String) -> std::result::Result<Entry, String> {
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
    let Some(canonical) = canonical_of(line, &entry) else {
        return Err("the line does not end with its hash".into());
    };
    if hash(&canonical) != entry.hash {
        return Err("its hash does not match its content under the lake's key: the entry was changed after it was written (or the key is not the lake's)".into());
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
    Ok(entry)
}

/// The entries the committed runs of the lake at `lake_root` name (`audit_seq`, `audit_hash` of
/// its `runs` table), by seq; none for a lake whose runs predate them.
pub async fn anchors(lake_root: &Path) -> Result<Vec<Anchor>> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, Int64Type};
    let ctx = crate::session::new_session(None)?;
    crate::lake::Lake::new(lake_root)?.register_all(&ctx).await?;
    let runs = ctx.table(crate::lake::RUNS).await?;
    if runs.schema().field_with_unqualified_name("audit_seq").is_err() {
        return Ok(Vec::new());
    }
    let batches = ctx
        .sql("SELECT run_id, audit_seq, audit_hash FROM runs WHERE audit_seq IS NOT NULL ORDER BY audit_seq, run_id")
        .await?
        .collect()
        .await?;
    let mut out = Vec::new();
    for b in batches {
        let text = |i: usize| datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8);
        let (run_id, hash) = (text(0)?, text(2)?);
        let seq = datafusion::arrow::compute::cast(b.column(1), &DataType::Int64)?;
        let seq = seq.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.push(Anchor {
                run_id: run_id.as_string::<i32>().value(i).to_string(),
                seq: seq.value(i).max(0) as u64,
                hash: if hash.is_valid(i) { hash.as_string::<i32>().value(i).to_string() } else { String::new() },
            });
        }
    }
    Ok(out)
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
    use crate::pseudo::DEMO_KEY;

    fn county() -> Pseudonymiser {
        Pseudonymiser::new(DEMO_KEY.as_bytes())
    }

    fn log_with(n: u64) -> (tempfile::TempDir, AuditLog) {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::open(tmp.path(), &county()).unwrap();
        for i in 1..=n {
            assert_eq!(log.append("run_finished", json!({"run_id": format!("r{i}"), "rows": i, "seconds": 0.1 * i as f64})).unwrap(), i);
        }
        (tmp, log)
    }

    fn check(log: &AuditLog) -> std::result::Result<u64, Broken> {
        verify(log.path(), &county(), &[]).unwrap()
    }

    fn lines(log: &AuditLog) -> Vec<String> {
        std::fs::read_to_string(log.path()).unwrap().lines().map(String::from).collect()
    }

    fn rewrite(log: &AuditLog, lines: &[String]) {
        std::fs::write(log.path(), lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    }

    /// The line of an entry with `detail` after `prev`, hashed with `hash`.
    fn forged(e: &Entry, detail: &Value, prev: &str, hash: &dyn Fn(&[u8]) -> String) -> (String, String) {
        let canonical =
            serde_json::to_vec(&Canonical { seq: e.seq, at: &e.at, kind: &e.kind, detail, prev }).unwrap();
        let h = hash(&canonical);
        (format!("{},\"hash\":\"{h}\"}}", std::str::from_utf8(&canonical[..canonical.len() - 1]).unwrap()), h)
    }

    #[test]
    fn entries_chain_from_64_zeros_and_verify() {
        let (_tmp, log) = log_with(3);
        let entries: Vec<Entry> = lines(&log).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(entries[0].prev, GENESIS);
        assert_eq!(entries[1].prev, entries[0].hash);
        assert_eq!(entries[2].seq, 3);
        assert_eq!(check(&log), Ok(3));
        assert_eq!(log.last().unwrap(), Some((3, entries[2].hash.clone())));
        assert_eq!(log.entries().unwrap(), entries);
        // The line's fields are in the documented order.
        assert!(lines(&log)[0].starts_with("{\"seq\":1,\"at\":\""), "{}", lines(&log)[0]);
    }

    #[test]
    fn the_hash_is_the_hmac_of_the_line_without_its_hash_member_under_the_derived_key() {
        let (_tmp, log) = log_with(1);
        let line = &lines(&log)[0];
        let (body, hash) = line.rsplit_once(",\"hash\":\"").unwrap();
        let hash = hash.trim_end_matches("\"}");
        let audit_key = hex::decode(county().hmac_hex(b"humiao audit chain v1")).unwrap();
        assert_eq!(Pseudonymiser::new(&audit_key).hmac_hex(format!("{body}}}").as_bytes()), hash);
        assert_ne!(hex::encode(Sha256::digest(format!("{body}}}").as_bytes())), hash);
        // The head names the last entry, with a MAC under the same key.
        let head: Head = serde_json::from_slice(&std::fs::read(log.head_path()).unwrap()).unwrap();
        assert_eq!((head.seq, head.hash.as_str()), (1, hash));
        assert_eq!(head.mac, Pseudonymiser::new(&audit_key).hmac_hex(format!("audit.head 1 {hash}").as_bytes()));
    }

    #[test]
    fn an_empty_log_verifies_with_no_entries_and_reopening_keeps_the_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::open(tmp.path(), &county()).unwrap();
        assert_eq!(check(&log), Ok(0));
        log.append("run_started", json!({})).unwrap();
        let again = AuditLog::open(tmp.path(), &county()).unwrap();
        assert_eq!(again.append("run_finished", json!({"exit_code": 0})).unwrap(), 2);
        assert_eq!(check(&again), Ok(2));
    }

    #[test]
    fn a_changed_detail_is_found_at_its_entry() {
        let (_tmp, log) = log_with(4);
        let mut l = lines(&log);
        l[2] = l[2].replace("\"rows\":3", "\"rows\":4");
        rewrite(&log, &l);
        let b = check(&log).unwrap_err();
        assert_eq!((b.seq, b.line), (3, 3));
        assert!(b.problem.contains("hash does not match"), "{}", b.problem);
    }

    #[test]
    fn a_changed_entry_with_every_later_hash_recomputed_as_sha256_is_found() {
        // What someone without the key can do: rewrite entry 2 and chain every later one again
        // with a plain SHA-256, as the log of an older humiao was chained.
        let (_tmp, log) = log_with(4);
        let mut l = lines(&log);
        let entries: Vec<Entry> = l.iter().map(|x| serde_json::from_str(x).unwrap()).collect();
        let sha = |c: &[u8]| hex::encode(Sha256::digest(c));
        let mut prev = entries[0].hash.clone();
        for i in 1..4 {
            let detail = if i == 1 { json!({"run_id": "forged"}) } else { entries[i].detail.clone() };
            let (line, h) = forged(&entries[i], &detail, &prev, &sha);
            l[i] = line;
            prev = h;
        }
        rewrite(&log, &l);
        let b = check(&log).unwrap_err();
        assert_eq!((b.seq, b.line), (2, 2));
        assert!(b.problem.contains("hash does not match its content under the lake's key"), "{}", b.problem);
    }

    #[test]
    fn a_changed_entry_with_a_recomputed_keyed_hash_breaks_the_next_one() {
        let (_tmp, log) = log_with(4);
        let mut l = lines(&log);
        let e: Entry = serde_json::from_str(&l[1]).unwrap();
        let key = AuditKey::derive(&county());
        l[1] = forged(&e, &json!({"run_id": "forged"}), &e.prev, &|c| key.hash(c)).0;
        rewrite(&log, &l);
        let b = check(&log).unwrap_err();
        assert_eq!((b.seq, b.line), (3, 3));
        assert!(b.problem.contains("prev is not the hash of entry 2"), "{}", b.problem);
    }

    #[test]
    fn another_key_does_not_verify() {
        let (_tmp, log) = log_with(2);
        let b = verify(log.path(), &Pseudonymiser::new(b"another county key"), &[]).unwrap().unwrap_err();
        assert_eq!(b.seq, 1);
        assert!(b.problem.contains("or the key is not the lake's"), "{}", b.problem);
    }

    #[test]
    fn a_removed_or_repeated_line_is_found() {
        let (_tmp, log) = log_with(5);
        let all = lines(&log);
        let mut l = all.clone();
        l.remove(2);
        rewrite(&log, &l);
        let b = check(&log).unwrap_err();
        assert_eq!((b.seq, b.line), (3, 3));
        assert!(b.problem.contains("entries 3..3 are missing"), "{}", b.problem);

        let mut l = all.clone();
        l.remove(0);
        rewrite(&log, &l);
        assert_eq!(check(&log).unwrap_err().seq, 1);

        let mut l = all;
        l.insert(3, l[2].clone());
        rewrite(&log, &l);
        let b = check(&log).unwrap_err();
        assert_eq!((b.seq, b.line), (4, 4));
        assert!(b.problem.contains("repeated or out of order"), "{}", b.problem);
    }

    #[test]
    fn a_cut_tail_or_an_emptied_log_is_found_by_its_head_and_nothing_is_chained_onto_it() {
        let (_tmp, log) = log_with(5);
        let all = lines(&log);
        rewrite(&log, &all[..3]);
        let b = check(&log).unwrap_err();
        assert_eq!((b.seq, b.line), (4, 4));
        assert!(b.problem.contains("the log ends at entry 3, but the head file says entry 5 was written: entries 4..5 were removed"), "{}", b.problem);
        let err = log.append("run_started", json!({})).unwrap_err();
        assert!(err.to_string().contains("it ends at entry 3, but its head file says it held 5 entries"), "{err}");

        rewrite(&log, &[]);
        let b = check(&log).unwrap_err();
        assert_eq!((b.seq, b.line), (1, 1));
        assert!(b.problem.contains("the log is empty, but the head file says entry 5 was written"), "{}", b.problem);
        assert!(log.append("run_started", json!({})).is_err());

        // Without its head file, a log cannot be shown whole.
        rewrite(&log, &all);
        assert_eq!(check(&log), Ok(5));
        std::fs::remove_file(log.head_path()).unwrap();
        assert!(check(&log).unwrap_err().problem.contains("head file audit.head is missing"));
        assert!(log.append("run_started", json!({})).is_err());
    }

    #[test]
    fn a_forged_head_or_a_head_one_entry_behind() {
        let (_tmp, log) = log_with(3);
        let head: Head = serde_json::from_slice(&std::fs::read(log.head_path()).unwrap()).unwrap();
        let e2: Entry = serde_json::from_str(&lines(&log)[1]).unwrap();
        // One entry behind (a crash between the append and the head's rewrite) is fine.
        let key = AuditKey::derive(&county());
        let behind = Head { seq: 2, mac: key.head_mac(2, &e2.hash), hash: e2.hash.clone() };
        std::fs::write(log.head_path(), serde_json::to_vec(&behind).unwrap()).unwrap();
        assert_eq!(check(&log), Ok(3));
        let forged = Head { seq: 2, mac: head.mac, hash: e2.hash };
        std::fs::write(log.head_path(), serde_json::to_vec(&forged).unwrap()).unwrap();
        assert!(check(&log).unwrap_err().problem.contains("does not match its MAC"));
    }

    #[test]
    fn a_log_shorter_than_a_run_anchored_is_found() {
        let (_tmp, log) = log_with(4);
        let (seq, hash) = log.last().unwrap().unwrap();
        let anchor = |seq: u64, hash: &str| vec![Anchor { run_id: "r1".into(), seq, hash: hash.into() }];
        assert_eq!(verify(log.path(), &county(), &anchor(seq, &hash)).unwrap(), Ok(4));
        let b = verify(log.path(), &county(), &anchor(6, &hash)).unwrap().unwrap_err();
        assert!(b.problem.contains("the lake's runs table says run r1 committed after entry 6: entries 5..6 were removed"), "{}", b.problem);
        let b = verify(log.path(), &county(), &anchor(2, &hash)).unwrap().unwrap_err();
        assert_eq!(b.seq, 2);
        assert!(b.problem.contains("not the entry run r1 recorded"), "{}", b.problem);
    }

    #[test]
    fn a_log_of_an_older_humiao_is_sealed_and_kept_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(AUDIT_FILE);
        let sha = |c: &[u8]| hex::encode(Sha256::digest(c));
        let mut text = String::new();
        let mut prev = GENESIS.to_string();
        for seq in 1..=3u64 {
            let e = Entry { seq, at: "2026-11-01T02:30:00Z".into(), kind: "run_finished".into(), detail: json!({}), prev: prev.clone(), hash: String::new() };
            let (line, h) = forged(&e, &json!({"n": seq}), &prev, &sha);
            text.push_str(&line);
            text.push('\n');
            prev = h;
        }
        std::fs::write(&path, &text).unwrap();
        let log = AuditLog::open(tmp.path(), &county()).unwrap();
        assert_eq!(std::fs::read_to_string(tmp.path().join(LEGACY_FILE)).unwrap(), text);
        let first = &log.entries().unwrap()[0];
        assert_eq!(first.kind, "legacy_log_sealed");
        assert_eq!((first.detail["lines"].as_u64(), first.detail["chain"].as_str()), (Some(3), Some("verified")));
        log.append("run_started", json!({})).unwrap();
        assert_eq!(check(&log), Ok(2));
        // Opening again does not seal again.
        assert_eq!(AuditLog::open(tmp.path(), &county()).unwrap().entries().unwrap().len(), 2);
        std::fs::write(tmp.path().join(LEGACY_FILE), text.replace("\"n\":2", "\"n\":9")).unwrap();
        let b = check(&log).unwrap_err();
        assert_eq!(b.seq, 1);
        assert!(b.problem.contains("was changed after it was sealed"), "{}", b.problem);
    }

    #[test]
    fn a_cut_short_last_line_is_found_and_nothing_is_chained_onto_it() {
        let (_tmp, log) = log_with(2);
        let text = std::fs::read_to_string(log.path()).unwrap();
        std::fs::write(log.path(), &text[..text.len() - 10]).unwrap();
        let b = check(&log).unwrap_err();
        assert_eq!((b.seq, b.line), (2, 2));
        let err = log.append("run_started", json!({})).unwrap_err();
        assert!(matches!(err, Error::Audit { .. }), "{err}");
    }

    #[test]
    fn floats_and_unicode_in_detail_verify() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::open(tmp.path(), &county()).unwrap();
        log.append("output_written", json!({"file": "风险名单.xlsx", "seconds": 0.30000000000000004, "x": 1.7976931348623157e308}))
            .unwrap();
        log.append("purge", json!({"persons": 2, "b": [1, 2], "a": null})).unwrap();
        assert_eq!(check(&log), Ok(2));
    }

    #[test]
    fn an_identity_number_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::open(tmp.path(), &county()).unwrap();
        let err = log.append("decisions_ingested", json!({"rows": [{"id": "11010520100101123X"}]})).unwrap_err();
        assert!(err.to_string().contains("identity number into the audit log (at `detail.rows[0].id`"), "{err}");
        assert_eq!(std::fs::read_to_string(log.path()).unwrap(), "");
        // A 64-hex hash or a long count is fine.
        log.append("run_finished", json!({"sha256": "1".repeat(64), "rows": 123456789012345678u64})).unwrap();
    }
}
