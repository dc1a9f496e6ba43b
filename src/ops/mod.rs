//! Operations for nightly unattended runs: one run at a time per lake ([`lock`]), one
//! pseudonymisation key per lake ([`key_fingerprint`]), an append-only audit log of what the
//! runs did, chained under a key ([`audit`]), the long-lived scheduler that starts a run at the
//! hours a cron expression names ([`schedule`]), and the setting aside of a rejected inbox file
//! ([`set_aside`]).

use std::path::Path;

use crate::error::{Error, Result};

pub mod audit;
pub mod key_fingerprint;
pub mod lock;
pub mod schedule;
pub mod set_aside;

/// Writes `bytes` to `path` so that a reader (or a crash) sees the old file whole or the new one
/// whole: a temporary file beside it, synced, renamed over it, and the folder synced.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}
