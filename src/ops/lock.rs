//! One run at a time per lake. A run that writes the lake holds `LAKE/.humiao.lock`, a small JSON
//! file naming the process (pid, host, start time, command); a second run finds it and stops at
//! once, naming the first. A lock whose process is gone (killed, machine restarted) is taken over
//! with a warning, so a crash never needs a human to clean up.
//!
//! The file is created with `O_EXCL` (`create_new`), so of two runs starting together exactly one
//! gets it. Whether a process is alive can only be told on its own machine: a lock written on
//! another host (a lake on a shared drive) is taken as held, and the message says which file to
//! delete if that run is over.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The lock file's name in the lake folder.
pub const LOCK_FILE: &str = ".humiao.lock";

/// The lock files this process holds now: a lock naming our own pid that is not among them was
/// left by an earlier process that had the same pid (a restarted container's pid 1).
static HELD: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// What the lock file says about the run that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// What runs, e.g. "humiao run".
    pub command: String,
}

/// Held while a run uses the lake; released (file removed) on drop.
#[derive(Debug)]
pub struct LakeLock {
    path: PathBuf,
    /// The bytes we wrote: the file is removed on drop only if it still holds them.
    content: Vec<u8>,
}

/// What is in a lock file found in place.
enum Found {
    /// Gone before we could read it: try again.
    Vanished,
    /// Not a lock file humiao wrote (empty, cut short, garbage): the problem.
    Unreadable(String),
    Holder(Holder, Vec<u8>),
}

impl LakeLock {
    /// Takes `LAKE/.humiao.lock` (created with O_EXCL / `create_new`; the lake folder is created
    /// if missing), writing JSON {"pid", "host", "started_at" (RFC 3339 UTC), "command"}.
    ///
    /// If it exists and its pid is alive on this host, fails at once with [`Error::Busy`] naming
    /// the running process. If the pid is dead (or the file is unreadable), the lock is taken
    /// over with a warning. A lock written on another host is taken as held.
    pub fn acquire(lake_root: &Path, command: &str) -> Result<LakeLock> {
        std::fs::create_dir_all(lake_root).map_err(|e| Error::io(lake_root, e))?;
        let root = lake_root.canonicalize().map_err(|e| Error::io(lake_root, e))?;
        let path = root.join(LOCK_FILE);
        let me = Holder {
            pid: std::process::id(),
            host: hostname(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            command: command.to_string(),
        };
        let mut content = serde_json::to_vec(&me)?;
        content.push(b'\n');
        // Two tries: the second after taking over a stale lock (or after one that vanished).
        for attempt in 0..2 {
            match create_new(&path, &content) {
                Ok(()) => {
                    HELD.lock().unwrap_or_else(|p| p.into_inner()).insert(path.clone());
                    tracing::debug!(lock = %path.display(), "lake locked");
                    return Ok(LakeLock { path, content });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
            let stale = match read_lock(&path)? {
                Found::Vanished => continue,
                Found::Holder(h, bytes) => {
                    if is_alive(&h, &path, &me.host) {
                        return Err(busy(&root, &h, &me.host));
                    }
                    if attempt == 0 {
                        tracing::warn!(
                            lock = %path.display(),
                            "taking over a lock left by pid {}, which is no longer running (`{}`, started {})",
                            h.pid,
                            h.command,
                            h.started_at
                        );
                    }
                    bytes
                }
                Found::Unreadable(problem) => {
                    if attempt == 0 {
                        tracing::warn!(lock = %path.display(), "taking over a lock file that cannot be read ({problem})");
                    }
                    std::fs::read(&path).unwrap_or_default()
                }
            };
            if attempt == 1 {
                break;
            }
            // Remove only what we judged stale: another run may have taken the lock over meanwhile.
            if std::fs::read(&path).is_ok_and(|now| now == stale) {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&path, e)),
                }
            }
        }
        Err(Error::io(
            &path,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "another humiao run took the lake's lock over at the same moment; try again",
            ),
        ))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LakeLock {
    fn drop(&mut self) {
        HELD.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.path);
        match std::fs::read(&self.path) {
            Ok(now) if now == self.content => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(lock = %self.path.display(), "cannot remove the lake's lock: {e}");
                }
            }
            Ok(_) => tracing::warn!(lock = %self.path.display(), "the lake's lock was replaced by another run; leaving it"),
            Err(e) => tracing::warn!(lock = %self.path.display(), "the lake's lock is gone before the run ended: {e}"),
        }
    }
}

/// Creates `path` only if it does not exist, with `content`, flushed to disk.
fn create_new(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    let written = file.write_all(content).and_then(|()| file.sync_all());
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Reads a lock file found in place. A file that does not parse may be one being written this
/// instant (created, not yet filled): it is read again for up to a second before it counts as
/// unreadable.
fn read_lock(path: &Path) -> Result<Found> {
    let mut problem = String::new();
    for _ in 0..10 {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Vanished),
            Err(e) => return Err(Error::io(path, e)),
        };
        match serde_json::from_slice::<Holder>(&bytes) {
            Ok(h) => return Ok(Found::Holder(h, bytes)),
            Err(e) => problem = if bytes.is_empty() { "it is empty".into() } else { e.to_string() },
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Found::Unreadable(problem))
}

/// Whether the run that wrote `h` may still be going on.
fn is_alive(h: &Holder, path: &Path, my_host: &str) -> bool {
    if h.host != my_host {
        return true;
    }
    if h.pid == std::process::id() {
        return HELD.lock().unwrap_or_else(|p| p.into_inner()).contains(path);
    }
    pid_alive(h.pid)
}

/// Whether a process with this pid exists on this machine.
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists but belongs to another user.
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn busy(root: &Path, h: &Holder, my_host: &str) -> Error {
    let here = h.host == my_host;
    Error::Busy {
        lake: root.to_path_buf(),
        pid: h.pid,
        host: (!here).then(|| h.host.clone()),
        program: if here { other_program(h.pid) } else { None },
        started_at: h.started_at.clone(),
        command: h.command.clone(),
    }
}

/// The program a live pid runs, when it is not humiao (from `/proc/<pid>/cmdline`); `None` when
/// it is humiao or cannot be told.
fn other_program(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if args.iter().take(2).any(|a| a.contains("humiao")) {
        return None;
    }
    let program = args.first().filter(|a| !a.is_empty())?;
    Some(Path::new(program).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| program.clone()))
}

/// This machine's host name ("" if it has none).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or fails.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_lock(lake: &Path, h: &Holder) {
        std::fs::write(lake.join(LOCK_FILE), serde_json::to_vec(h).unwrap()).unwrap();
    }

    fn holder(pid: u32, host: &str) -> Holder {
        Holder { pid, host: host.into(), started_at: "2026-11-27T02:30:00Z".into(), command: "humiao run".into() }
    }

    #[test]
    fn the_lock_names_this_process_and_goes_away_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = tmp.path().join("lake");
        let lock = LakeLock::acquire(&lake, "humiao run").unwrap();
        let h: Holder = serde_json::from_slice(&std::fs::read(lake.join(LOCK_FILE)).unwrap()).unwrap();
        assert_eq!(h.pid, std::process::id());
        assert_eq!(h.host, hostname());
        assert_eq!(h.command, "humiao run");
        assert!(chrono::DateTime::parse_from_rfc3339(&h.started_at).is_ok());
        drop(lock);
        assert!(!lake.join(LOCK_FILE).exists());
    }

    #[test]
    fn a_second_run_in_the_same_process_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let _lock = LakeLock::acquire(tmp.path(), "humiao run").unwrap();
        let err = LakeLock::acquire(tmp.path(), "humiao score").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Busy { .. }), "{msg}");
        assert!(msg.contains(&format!("pid {} (`humiao run`)", std::process::id())), "{msg}");
        assert!(msg.starts_with("another humiao run is using the lake "), "{msg}");
        assert_eq!(err.exit_code(), 4, "the machine is busy: try later");
    }

    #[test]
    fn a_live_pid_that_is_not_humiao_holds_the_lock_and_the_message_says_how_to_tell() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        // Until the child has exec'd, /proc shows this (humiao) test binary's command line.
        for _ in 0..100 {
            if other_program(child.id()).is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        write_lock(tmp.path(), &holder(child.id(), &hostname()));
        let err = LakeLock::acquire(tmp.path(), "humiao run").unwrap_err();
        child.kill().unwrap();
        child.wait().unwrap();
        let msg = err.to_string();
        assert!(msg.contains(&format!("pid {} (`humiao run`), started 2026-11-27T02:30:00Z;", child.id())), "{msg}");
        assert!(msg.contains("now runs `sleep`, not humiao"), "{msg}");
        assert!(msg.contains(&format!("ps -o pid,lstart,args -p {}", child.id())), "{msg}");
        assert!(msg.contains(&format!("delete {}", tmp.path().canonicalize().unwrap().join(LOCK_FILE).display())), "{msg}");
        // Now the process is gone: the lock is taken over.
        let lock = LakeLock::acquire(tmp.path(), "humiao score").unwrap();
        let h: Holder = serde_json::from_slice(&std::fs::read(lock.path()).unwrap()).unwrap();
        assert_eq!(h.pid, std::process::id());
    }

    #[test]
    fn a_lock_of_our_own_pid_that_we_do_not_hold_was_left_by_an_earlier_process() {
        let tmp = tempfile::tempdir().unwrap();
        write_lock(tmp.path(), &holder(std::process::id(), &hostname()));
        let _lock = LakeLock::acquire(tmp.path(), "humiao run").unwrap();
    }

    #[test]
    fn a_garbage_lock_file_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(LOCK_FILE), "not json").unwrap();
        let lock = LakeLock::acquire(tmp.path(), "humiao run").unwrap();
        assert!(std::fs::read_to_string(lock.path()).unwrap().contains("\"command\":\"humiao run\""));
    }

    #[test]
    fn a_lock_from_another_host_is_held_and_the_message_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        write_lock(tmp.path(), &holder(1, "elsewhere-7"));
        let msg = LakeLock::acquire(tmp.path(), "humiao run").unwrap_err().to_string();
        assert!(msg.contains("pid 1 on host elsewhere-7 (`humiao run`)"), "{msg}");
    }

    #[test]
    fn a_dropped_lock_leaves_a_file_another_run_wrote() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = LakeLock::acquire(tmp.path(), "humiao run").unwrap();
        write_lock(tmp.path(), &holder(1, "elsewhere-7"));
        drop(lock);
        assert!(tmp.path().join(LOCK_FILE).exists());
    }
}
