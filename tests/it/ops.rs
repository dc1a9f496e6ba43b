//! Nightly operations through the binary: a lake in use by another run, one key per lake, the
//! audit log's verification (a changed, cut, emptied or re-chained log; a purge by a killed
//! run), and the scheduler.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use humiao::config::IDENTITY_COLUMNS;
use humiao::ops::audit::{AUDIT_FILE, AuditLog, HEAD_FILE};
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
    assert_eq!(busy.code, 4, "a lake busy with another run is the machine's state: {}", busy.stderr);
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
    let demo = Pseudonymiser::new(DEMO_KEY.as_bytes());
    let log = AuditLog::open(&lake, &demo).unwrap();
    for i in 1..=5u64 {
        let seq = log.append("run_finished", serde_json::json!({"run_id": format!("run-{i}"), "rows_read": i * 10})).unwrap();
        assert_eq!(seq, i);
    }
    let path = lake.join(AUDIT_FILE);
    assert_eq!(humiao::ops::audit::verify(&path, &demo, &[]).unwrap(), Ok(5));
    let ok = audit_verify(&lake);
    assert_eq!((ok.code, ok.stdout.trim()), (0, "audit log OK: 5 entries"), "{}", ok.stderr);

    let original = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    assert!(lines[2].contains("\"rows_read\":30"), "{}", lines[2]);
    let tampered = original.replacen("\"rows_read\":30", "\"rows_read\":3", 1);
    std::fs::write(&path, &tampered).unwrap();
    let broken = humiao::ops::audit::verify(&path, &demo, &[]).unwrap().unwrap_err();
    assert_eq!((broken.seq, broken.line), (3, 3), "{}", broken.problem);
    let cli = audit_verify(&lake);
    assert_eq!(cli.code, 1, "{}{}", cli.stdout, cli.stderr);
    assert!(cli.stdout.contains("audit log broken at entry 3 (line 3): "), "{}", cli.stdout);

    let without_2: String = lines.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, l)| format!("{l}\n")).collect();
    std::fs::write(&path, without_2).unwrap();
    let broken = humiao::ops::audit::verify(&path, &demo, &[]).unwrap().unwrap_err();
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
            &header("police_incidents", &IDENTITY_COLUMNS),
            ",110105201001011232,,2010-01-01,1,431102001,P01,2026-10-03,S,S01,D05",
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() { copy_dir(&e.path(), &target) } else { std::fs::copy(e.path(), &target).map(|_| ()).unwrap() }
    }
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
    let verify = humiao(&["audit", "verify", "--pipeline", &s(&root().join("pipelines/demo.toml")), "--lake", &s(&lake), "--key-file", &s(&other)]);
    assert_eq!(verify.code, 2, "{}{}", verify.stdout, verify.stderr);
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

/// The newest commit file of a lake table, and its version.
fn newest_commit(table_dir: &Path) -> (std::path::PathBuf, u64) {
    files_under(&table_dir.join("_delta_log"))
        .into_iter()
        .filter_map(|p| Some((p.file_name()?.to_str()?.strip_suffix(".json")?.parse::<u64>().ok()?, p.clone())))
        .max()
        .map(|(v, p)| (p, v))
        .expect("a commit file")
}

/// A lake table whose newest commit cannot be read, or that lost a data file, stops the next
/// run with an error that names the table (and the version read), beside what the engine says.
#[test]
fn a_corrupted_or_missing_lake_table_file_is_named_by_its_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = samples_at("ingest", dir, &demo_key());
    assert!(matches!(first.code, 0 | 3), "{}", first.stderr);
    let samples = root().join("data-samples");
    let score = |lake: &Path| pipeline_at("score", &samples, lake, &dir.join("out"), &demo_key(), AS_OF, None);

    let corrupted = dir.join("corrupted");
    copy_dir(&dir.join("lake"), &corrupted);
    let (commit, version) = newest_commit(&corrupted.join("persons"));
    std::fs::write(&commit, "{ this is not a commit\n").unwrap();
    let run = score(&corrupted);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("error: lake table persons (version {version}): ")), "{}", run.stderr);

    let missing = dir.join("missing");
    copy_dir(&dir.join("lake"), &missing);
    let data = files_under(&missing.join("signals"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .expect("a data file of signals");
    std::fs::remove_file(&data).unwrap();
    let (_, version) = newest_commit(&missing.join("signals"));
    let run = score(&missing);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("error: lake table signals (version {version}): ")), "{}", run.stderr);
}

/// `humiao audit verify` of `lake` with the demo key.
fn verify_demo(lake: &Path) -> Run {
    let run = audit_verify(lake);
    assert!(!run.stdout.contains(DEMO_KEY) && !run.stderr.contains(DEMO_KEY));
    run
}

#[test]
fn a_cut_emptied_or_rechained_audit_log_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let run = samples_at("run", &base, &demo_key());
    assert!(matches!(run.code, 0 | 3), "{}", run.stderr);
    let ok = verify_demo(&base.join("lake"));
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let lines: Vec<String> = std::fs::read_to_string(base.join("lake").join(AUDIT_FILE)).unwrap().lines().map(String::from).collect();
    let n = lines.len();
    assert!(ok.stdout.contains(&format!("audit log OK: {n} entries")), "{}", ok.stdout);
    // Each run's row anchors an entry written before it committed.
    let anchored = lake_query(&base.join("lake"), "SELECT audit_seq, audit_hash FROM runs ORDER BY audit_seq");
    assert_eq!(anchored.len(), 2, "{anchored:?}");
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(anchored[0], vec!["1".to_string(), first["hash"].as_str().unwrap().to_string()]);

    let case = |name: &str, tamper: &dyn Fn(&Path), want: &str, refused: bool| {
        let dir = tmp.path().join(name);
        copy_dir(&base, &dir);
        let lake = dir.join("lake");
        tamper(&lake);
        let cli = verify_demo(&lake);
        assert_eq!(cli.code, 1, "{name}: {}{}", cli.stdout, cli.stderr);
        assert!(cli.stdout.contains(want), "{name}: {}", cli.stdout);
        if refused {
            // Nothing is chained onto a log that does not reach its head.
            let score = samples_at("score", &dir, &demo_key());
            assert_eq!(score.code, 1, "{name}: a run appended to a broken log");
            assert!(score.stderr.contains("nothing is appended to it"), "{name}: {}", score.stderr);
        }
    };
    let keep = |lake: &Path, k: usize| {
        std::fs::write(lake.join(AUDIT_FILE), lines[..k].iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    };
    case(
        "cut",
        &|lake| keep(lake, n - 3),
        &format!("audit log broken at entry {} (line {}): the log ends at entry {}, but the head file says entry {n} was written", n - 2, n - 2, n - 3),
        true,
    );
    case("emptied", &|lake| keep(lake, 0), &format!("the log is empty, but the head file says entry {n} was written: entries 1..{n} were removed"), true);
    case(
        "cut-and-no-head",
        &|lake| {
            keep(lake, 0);
            std::fs::remove_file(lake.join(HEAD_FILE)).unwrap();
        },
        "the log is empty, but the lake's runs table says run ",
        false,
    );
    case(
        "rechained-with-sha256",
        &|lake| {
            // Change entry 2 and chain every later entry again with plain SHA-256, as someone
            // without the county key could.
            use sha2::Digest;
            let mut prev = first["hash"].as_str().unwrap().to_string();
            let mut out = format!("{}\n", lines[0]);
            for (i, line) in lines.iter().enumerate().skip(1) {
                let mut e: serde_json::Value = serde_json::from_str(line).unwrap();
                if i == 1 {
                    e["detail"]["edited"] = true.into();
                }
                let canonical = format!(
                    "{{\"seq\":{},\"at\":{},\"kind\":{},\"detail\":{},\"prev\":\"{prev}\"}}",
                    e["seq"], e["at"], e["kind"], e["detail"]
                );
                let hash = hex::encode(sha2::Sha256::digest(canonical.as_bytes()));
                out.push_str(&format!("{},\"hash\":\"{hash}\"}}\n", &canonical[..canonical.len() - 1]));
                prev = hash;
            }
            // From entry 2 on it is a SHA-256 chain: what `audit verify` of an older humiao
            // accepted.
            let mut prev = first["hash"].as_str().unwrap().to_string();
            for line in out.lines().skip(1) {
                let (body, hash) = line.rsplit_once(",\"hash\":\"").unwrap();
                let hash = hash.trim_end_matches("\"}");
                assert_eq!(hex::encode(sha2::Sha256::digest(format!("{body}}}").as_bytes())), hash);
                assert!(body.contains(&format!("\"prev\":\"{prev}\"")));
                prev = hash.to_string();
            }
            std::fs::write(lake.join(AUDIT_FILE), out).unwrap();
        },
        "audit log broken at entry 2 (line 2): its hash does not match its content under the lake's key",
        true,
    );
}

#[test]
fn a_purge_by_a_run_killed_right_after_it_reaches_the_audit_log_and_the_reruns_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    let key = key_file(dir, DEMO_KEY);
    // Born 2006-01-01: purged from 2025-01-01 on (18 years and a grace of 365 days).
    let header = POLICE.as_str();
    write_csv(
        &dir.join("inbox/police/police_incidents_2024-05-01.csv"),
        &[header, &format!("{},2006-01-01,1,431102001,P1,2024-03-01,S,S01,", pk(1)), &format!("{},2012-03-03,1,431102002,P2,2024-03-01,S,S01,", pk(2))],
    );
    let (lake, out) = (dir.join("lake"), dir.join("out"));
    let args = |as_of: &str| pipeline_args("run", &root().join("pipelines/demo.toml"), dir, &lake, &out, &key, as_of, None);
    let run = |as_of: &str, env: &[(&str, &str)]| humiao_with_env(&args(as_of).iter().map(String::as_str).collect::<Vec<_>>(), env);
    assert_eq!(run("2024-06-01", &[]).code, 0);
    let killed = run(AS_OF, &[("HUMIAO_KILL_AT", "purged")]);
    assert_eq!(killed.code, -1, "the run should have been killed: {}", killed.stderr);
    assert_eq!(lake_query(&lake, &format!("SELECT count(*) FROM signals WHERE person_key = '{}'", pk(1))), vec![vec!["0".to_string()]]);
    let log = std::fs::read_to_string(lake.join(AUDIT_FILE)).unwrap();
    let purge: serde_json::Value = log.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).find(|e| e["kind"] == "purge").expect("the purge is in the audit log");
    assert_eq!((purge["detail"]["persons"].as_u64(), purge["detail"]["cutoff"].as_str()), (Some(1), Some("2007-11-24")));

    let rerun = run(AS_OF, &[]);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join(AS_OF).join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["row_counts"]["persons_purged"], 0, "the rerun found nothing left to purge");
    let purges = manifest["purges"].as_array().expect("the manifest lists the purges");
    assert_eq!(purges.len(), 1, "{purges:?}");
    assert_eq!((&purges[0]["seq"], &purges[0]["persons"], &purges[0]["cutoff"]), (&purge["seq"], &1.into(), &"2007-11-24".into()));
    assert_eq!(verify_demo(&lake).code, 0);
    // The next run lists no purge: it was named by the run after it.
    assert_eq!(run(AS_OF, &[]).code, 0);
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join(AS_OF).join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["purges"], serde_json::json!([]));
}
