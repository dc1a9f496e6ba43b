//! Nightly operations through the binary: a lake in use by another run, one key per lake, the
//! audit log's verification, and the scheduler.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use humiao::ops::audit::{AUDIT_FILE, AuditLog};
use humiao::ops::key_fingerprint::FINGERPRINT_FILE;
use humiao::ops::lock::LOCK_FILE;
use humiao::pseudo::{DEMO_KEY, Pseudonymiser};

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn a_run_on_a_lake_in_use_stops_at_once_and_takes_the_lock_over_once_its_holder_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    let key = key_file(dir, DEMO_KEY);
    let lake = dir.join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let mut holder = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let pid = holder.id();
    let lock = serde_json::json!({
        "pid": pid,
        "host": humiao::ops::lock::hostname(),
        "started_at": "2026-11-27T02:30:00Z",
        "command": "humiao run",
    });
    std::fs::write(lake.join(LOCK_FILE), lock.to_string()).unwrap();

    let started = Instant::now();
    let busy = pipeline_at("score", dir, &lake, &dir.join("out"), &key, AS_OF, None);
    let took = started.elapsed();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(busy.code, 1, "{}", busy.stderr);
    assert!(took < Duration::from_secs(5), "refusing took {took:?}");
    assert!(
        busy.stderr.contains(&format!("another humiao run is using the lake {}: pid {pid} (`humiao run`), started 2026-11-27T02:30:00Z", s(&lake.canonicalize().unwrap()))),
        "{}",
        busy.stderr
    );
    assert!(!dir.join("out").join(AS_OF).exists(), "a refused run wrote outputs");

    let after = pipeline_at("score", dir, &lake, &dir.join("out"), &key, AS_OF, None);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert!(
        after.stderr.contains(&format!("taking over a lock left by pid {pid}, which is no longer running")),
        "{}",
        after.stderr
    );
    assert!(!lake.join(LOCK_FILE).exists(), "the lock is released at the end of the run");
}

/// `humiao audit verify` on `lake`.
fn audit_verify(lake: &Path) -> Run {
    humiao(&["audit", "verify", "--pipeline", &s(&root().join("pipelines/demo.toml")), "--lake", &s(lake)])
}

#[test]
fn a_changed_or_removed_audit_entry_is_named_by_its_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let log = AuditLog::open(&lake).unwrap();
    for i in 1..=5u64 {
        let seq = log.append("run_finished", serde_json::json!({"run_id": format!("run-{i}"), "rows_read": i * 10})).unwrap();
        assert_eq!(seq, i);
    }
    let path = lake.join(AUDIT_FILE);
    assert_eq!(humiao::ops::audit::verify(&path).unwrap(), Ok(5));
    let ok = audit_verify(&lake);
    assert_eq!((ok.code, ok.stdout.trim()), (0, "audit log OK: 5 entries"), "{}", ok.stderr);

    let original = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    assert!(lines[2].contains("\"rows_read\":30"), "{}", lines[2]);
    let tampered = original.replacen("\"rows_read\":30", "\"rows_read\":3", 1);
    std::fs::write(&path, &tampered).unwrap();
    let broken = humiao::ops::audit::verify(&path).unwrap().unwrap_err();
    assert_eq!((broken.seq, broken.line), (3, 3), "{}", broken.problem);
    let cli = audit_verify(&lake);
    assert_eq!(cli.code, 1, "{}{}", cli.stdout, cli.stderr);
    assert!(cli.stdout.contains("audit log broken at entry 3 (line 3): "), "{}", cli.stdout);

    let without_2: String = lines.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, l)| format!("{l}\n")).collect();
    std::fs::write(&path, without_2).unwrap();
    let broken = humiao::ops::audit::verify(&path).unwrap().unwrap_err();
    assert_eq!((broken.seq, broken.line), (2, 2), "{}", broken.problem);
    assert!(broken.problem.contains("missing"), "{}", broken.problem);
    let cli = audit_verify(&lake);
    assert_eq!(cli.code, 1);
    assert!(cli.stdout.contains("audit log broken at entry 2 (line 2): the entry says seq 3"), "{}", cli.stdout);
}

#[test]
fn audit_verify_without_an_audit_log_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let run = audit_verify(&lake);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("no audit log at {}", s(&lake.join(AUDIT_FILE)))), "{}", run.stdout);
}

#[test]
fn the_scheduler_runs_the_pipeline_at_each_firing_as_of_that_day() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-20.csv"),
        &[
            "person_key,id_number,name_hash,birth_date,gender,township_code,record_id,occurred_on,role,behaviour_code,disposition",
            ",11010520100101123X,,2010-01-01,1,431102001,P01,2026-10-03,S,S01,D05",
        ],
    );
    let key = key_file(dir, DEMO_KEY);
    let started = Instant::now();
    let run = humiao(&[
        "schedule",
        "--pipeline",
        &s(&root().join("pipelines/demo.toml")),
        "--at",
        "*/1 * * * * *",
        "--tz",
        "Asia/Shanghai",
        "--max-runs",
        "2",
        "--inbox",
        &s(&dir.join("inbox")),
        "--reference",
        &s(&dir.join("reference")),
        "--lake",
        &s(&dir.join("lake")),
        "--out",
        &s(&dir.join("out")),
        "--key-file",
        &s(&key),
    ]);
    let took = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(took < Duration::from_secs(60), "two runs took {took:?}");
    for n in 1..=2 {
        assert_eq!(run.stderr.matches(&format!("scheduled run {n} started")).count(), 1, "{}", run.stderr);
        assert_eq!(run.stderr.matches(&format!("scheduled run {n} ended: exit code 0")).count(), 1, "{}", run.stderr);
    }
    assert!(!run.stderr.contains("scheduled run 3"), "{}", run.stderr);
    // As of today in the zone: one line on stdout per run.
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive().to_string();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines.iter().all(|l| l.starts_with(&format!("run as of {today}: exit code 0"))), "{}", run.stdout);
    assert!(dir.join("out").join(&today).join("risk_list.parquet").exists());
    // The file was read by the first run only (P01 feeds C2 and C3).
    let signals = lake_query(&dir.join("lake"), "SELECT category FROM signals WHERE record_id = 'P01' ORDER BY category");
    assert_eq!(signals, vec![vec!["C2".to_string()], vec!["C3".to_string()]]);
}

#[test]
fn a_bad_schedule_is_a_usage_error_naming_it() {
    let pipeline = s(&root().join("pipelines/demo.toml"));
    let run = humiao(&["schedule", "--pipeline", &pipeline, "--at", "61 * * * *", "--max-runs", "1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`61 * * * *` is not a cron expression"), "{}", run.stderr);
    let run = humiao(&["schedule", "--pipeline", &pipeline, "--at", "0 30 2 * * *", "--tz", "Mars/Olympus", "--max-runs", "1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`Mars/Olympus` is not a time zone"), "{}", run.stderr);
}

/// The demo samples (data-samples/) with the lake and outputs under `dir`.
fn samples_at(command: &str, dir: &Path, key: &Path) -> Run {
    let samples = root().join("data-samples");
    pipeline_at(command, &samples, &dir.join("lake"), &dir.join("out"), key, AS_OF, None)
}

fn demo_key() -> std::path::PathBuf {
    root().join("data-samples/demo-county.key")
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    files_under(dir).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

#[test]
fn a_run_with_another_key_is_refused_before_the_lake_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let lake = dir.join("lake");
    let first = samples_at("ingest", dir, &demo_key());
    assert!(matches!(first.code, 0 | 3), "{}", first.stderr);
    let recorded = std::fs::read_to_string(lake.join(FINGERPRINT_FILE)).unwrap();
    let demo = Pseudonymiser::new(DEMO_KEY.as_bytes());
    assert!(recorded.contains(&humiao::ops::key_fingerprint::fingerprint(&demo)) && !recorded.contains(DEMO_KEY), "{recorded}");
    let versions = lake_query(&lake, "SELECT count(*) FROM runs");
    let before = snapshot(&lake);

    let other = key_file(dir, "another-county-key-of-the-same-county");
    for command in ["run", "ingest", "score"] {
        let refused = samples_at(command, dir, &other);
        assert_eq!(refused.code, 2, "{command}: {}", refused.stderr);
        let want = format!("the key in {} differs from the one the lake {} was made with", s(&other), s(&lake));
        assert!(refused.stderr.contains(&want) && refused.stderr.contains("Re-keying a lake"), "{command}: {}", refused.stderr);
        assert!(!refused.stderr.contains("another-county-key"), "the key itself is never shown: {}", refused.stderr);
    }
    assert!(snapshot(&lake) == before, "a refused run changed the lake");
    assert_eq!(lake_query(&lake, "SELECT count(*) FROM runs"), versions);

    // A lake made before fingerprints adopts the key of the run that finds it, with a warning.
    std::fs::remove_file(lake.join(FINGERPRINT_FILE)).unwrap();
    let adopted = samples_at("ingest", dir, &demo_key());
    assert!(matches!(adopted.code, 0 | 3), "{}", adopted.stderr);
    assert!(adopted.stderr.contains("the lake has data but no key fingerprint"), "{}", adopted.stderr);
    assert_eq!(std::fs::read_to_string(lake.join(FINGERPRINT_FILE)).unwrap().len(), recorded.len());
    assert_eq!(samples_at("ingest", dir, &other).code, 2);
}
