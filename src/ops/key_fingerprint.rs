//! One key per lake: `LAKE/key-fingerprint.json` names the county key the lake was made with, so
//! that a run with another key is refused before anything in the lake changes. (With a second
//! key the same child gets a second `person_key`, and the lake two identity spaces.)
//!
//! ```text
//! {"fingerprint":"<64 hex>","label":"humiao key fingerprint v1","recorded_at":"2026-11-27T02:30:00Z"}
//! ```
//!
//! `fingerprint` is HMAC-SM3(county key, `label`) in hex: it tells keys apart without revealing
//! one, and it is not the pseudonym of any identifier. The file is written once, atomically, by
//! the first run on a lake; a lake that has data but no file (made by an older humiao) adopts the
//! key of the run that finds it, with a warning.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pseudo::Pseudonymiser;

/// The fingerprint's name in the lake folder.
pub const FINGERPRINT_FILE: &str = "key-fingerprint.json";

/// The message whose HMAC under the county key is the fingerprint.
pub const LABEL: &str = "humiao key fingerprint v1";

#[derive(Debug, Serialize, Deserialize)]
struct Recorded {
    fingerprint: String,
    label: String,
    recorded_at: String,
}

/// The fingerprint of a key.
pub fn fingerprint(key: &Pseudonymiser) -> String {
    key.hmac_hex(LABEL.as_bytes())
}

/// Refuses (with [`Error::KeyMismatch`]) a key other than the one the lake at `lake_root` was
/// made with; a lake without a fingerprint passes. Reads only.
pub fn check(lake_root: &Path, key: &Pseudonymiser, key_file: &Path) -> Result<bool> {
    let path = lake_root.join(FINGERPRINT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let recorded: Recorded = serde_json::from_slice(&bytes)
        .map_err(|e| Error::config(&path, format!("is not a key fingerprint file ({e})")))?;
    if recorded.label != LABEL {
        return Err(Error::config(&path, format!("has the label `{}`, which this humiao does not know", recorded.label)));
    }
    if recorded.fingerprint != fingerprint(key) {
        return Err(Error::KeyMismatch { lake: lake_root.to_path_buf(), key_file: key_file.to_path_buf() });
    }
    Ok(true)
}

/// [`check`], then records the key's fingerprint in a lake that has none yet: the first run of a
/// new lake, or one made before fingerprints (which adopts this key, with a warning).
pub fn check_or_record(lake_root: &Path, key: &Pseudonymiser, key_file: &Path) -> Result<()> {
    if check(lake_root, key, key_file)? {
        return Ok(());
    }
    if has_data(lake_root) {
        tracing::warn!(
            lake = %lake_root.display(),
            key_file = %key_file.display(),
            "the lake has data but no key fingerprint (it was made by an older humiao): recording this key's; \
             if the lake was made with another key, stop and re-key it (README.md, \"Re-keying a lake\")"
        );
    } else {
        tracing::info!(lake = %lake_root.display(), "a new lake: recording its key's fingerprint");
    }
    std::fs::create_dir_all(lake_root).map_err(|e| Error::io(lake_root, e))?;
    let recorded = Recorded {
        fingerprint: fingerprint(key),
        label: LABEL.into(),
        recorded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    super::write_atomic(&lake_root.join(FINGERPRINT_FILE), &serde_json::to_vec(&recorded)?)
}

/// True when the lake folder holds a Delta table or a non-empty audit log.
fn has_data(lake_root: &Path) -> bool {
    let table = crate::lake::TABLES.iter().any(|t| lake_root.join(t).join("_delta_log").is_dir());
    let audit: PathBuf = lake_root.join(super::audit::AUDIT_FILE);
    table || std::fs::metadata(audit).is_ok_and(|m| m.len() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_key_is_recorded_and_another_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (Pseudonymiser::new(b"key a"), Pseudonymiser::new(b"key b"));
        let key_file = Path::new("b.key");
        assert!(!check(tmp.path(), &a, key_file).unwrap());
        check_or_record(tmp.path(), &a, key_file).unwrap();
        assert!(check(tmp.path(), &a, key_file).unwrap());
        check_or_record(tmp.path(), &a, key_file).unwrap();
        let err = check_or_record(tmp.path(), &b, key_file).unwrap_err();
        assert!(matches!(err, Error::KeyMismatch { .. }) && err.exit_code() == 2, "{err}");
        let text = std::fs::read_to_string(tmp.path().join(FINGERPRINT_FILE)).unwrap();
        assert!(text.contains(&fingerprint(&a)) && !text.contains("key a"), "{text}");
    }
}
