//! A typed as-of date cannot empty the lake (issue 10, point 2): a date far from today is refused
//! before the lake changes, a run dated before the latest run does not purge, and rows
//! quarantined as `future_date` by a mistyped early date are retried once the date is right.

use std::path::Path;

use crate::common::*;
use humiao::pseudo::DEMO_KEY;

/// Every file under `dir` with its bytes (empty when `dir` does not exist).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir).into_iter().map(|p| (p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap())).collect()
}

#[test]
fn a_far_as_of_date_is_refused_before_the_lake_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = demo_samples(dir);
    let today = china_today_plus(0);
    // A fresh lake: nothing is made, not even its folder.
    for (command, far) in [("run", "2100-01-01"), ("ingest", "2024-01-01"), ("score", "2100-01-01")] {
        let refused = strict(command, dir, &key, far, &[]);
        assert_eq!(refused.code, 2, "{command} --as-of {far}\n{}", refused.stderr);
        for needed in [far, today.as_str(), "--allow-as-of-far"] {
            assert!(refused.stderr.contains(needed), "{command} --as-of {far}: the message names {needed}\n{}", refused.stderr);
        }
        assert!(snapshot(&dir.join("lake")).is_empty(), "{command} --as-of {far} wrote into the lake");
        assert!(!dir.join("out").exists(), "{command} --as-of {far} wrote outputs");
    }

    // A lake with data: unchanged, byte for byte, audit log included.
    let run = pipeline_at("run", dir, &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let (lake, out) = (snapshot(&dir.join("lake")), snapshot(&dir.join("out")));
    for far in ["2100-01-01", "2024-01-01"] {
        let refused = strict("run", dir, &key, far, &[]);
        assert_eq!(refused.code, 2, "{}", refused.stderr);
        assert!(snapshot(&dir.join("lake")) == lake, "--as-of {far}: the lake changed");
        assert!(snapshot(&dir.join("out")) == out, "--as-of {far}: the outputs changed");
    }
    // Within the window no flag is needed.
    let near = strict("score", dir, &key, &china_today_plus(-3), &[]);
    assert_eq!(near.code, 0, "{}", near.stderr);
}

#[test]
fn the_demo_pipeline_runs_as_of_its_pinned_date_without_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = demo_samples(dir);
    let mut args = pipeline_args("ingest", &root().join("pipelines/demo.toml"), dir, &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    let at = args.iter().position(|a| a == "--as-of").unwrap();
    args.drain(at..at + 3); // --as-of AS_OF --allow-as-of-far
    let run = humiao(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(dir.join("out").join(AS_OF).join("quality.json").exists(), "the demo's outputs are those of {AS_OF}");
}

#[test]
fn a_mistyped_early_date_loses_no_row_the_right_date_lists_as_on_an_untouched_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let (typo, clean) = (tmp.path().join("typo"), tmp.path().join("clean"));
    let key = demo_samples(&typo);
    demo_samples(&clean);

    let early = strict("ingest", &typo, &key, "2024-01-01", &["--allow-as-of-far"]);
    assert_eq!(early.code, 3, "{}", early.stderr);
    let future = lake_query(&typo.join("lake"), "SELECT count(*) FROM pending WHERE reason = 'future_date'");
    let future: u64 = future[0][0].parse().unwrap();
    assert!(future > 1000, "nearly every row waits for its date ({future})");
    // Every waiting row passed every other check, and knows the date it waits for.
    let undated = lake_query(&typo.join("lake"), "SELECT count(*) FROM pending WHERE reason = 'future_date' AND NOT coalesce(future_on > DATE '2024-01-01', false)");
    assert_eq!(undated[0][0], "0");

    let right = pipeline_at("run", &typo, &typo.join("lake"), &typo.join("out"), &key, AS_OF, None);
    assert_eq!(right.code, 3, "{}", right.stderr);
    let reference = pipeline_at("run", &clean, &clean.join("lake"), &clean.join("out"), &key, AS_OF, None);
    assert_eq!(reference.code, 3, "{}", reference.stderr);
    let list = |dir: &Path| std::fs::read(dir.join("out").join(AS_OF).join("risk_list.csv")).unwrap();
    assert!(list(&typo) == list(&clean), "the list after a mistyped early date differs from an untouched lake's");
    let signals = "SELECT table_name, record_id, record_hash, category FROM signals ORDER BY 1, 2, 3, 4";
    assert_eq!(lake_query(&typo.join("lake"), signals), lake_query(&clean.join("lake"), signals), "the lakes hold other signals");
    let q = |dir: &Path| serde_json::from_slice::<serde_json::Value>(&std::fs::read(dir.join("out").join(AS_OF).join("quality.json")).unwrap()).unwrap();
    assert!(q(&typo)["relinked_from_earlier_runs"].as_u64().unwrap() > 1000, "the retried rows are counted");
    // Rows dated after the right date still wait, as on the untouched lake.
    assert_eq!(q(&typo)["pending_after_run"], q(&clean)["pending_after_run"]);
    // A second run retries nothing again.
    let again = pipeline_at("run", &typo, &typo.join("lake"), &typo.join("out"), &key, AS_OF, None);
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert_eq!(lake_query(&typo.join("lake"), signals), lake_query(&clean.join("lake"), signals));
}

#[test]
fn a_run_dated_before_the_latest_run_does_not_purge() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);
    let key = key_file(dir, DEMO_KEY);
    let (child, old) = (pk(1), pk(2));
    let year_ago = china_today_plus(-365);
    write_csv(
        &dir.join("inbox/police/police_incidents_1.csv"),
        &[&POLICE, &format!("{child},2012-03-03,1,431102001,P1,{},S,S01,", china_today_plus(-30))],
    );
    // The latest run of the lake is dated three days on (within the window: no flag).
    let later = china_today_plus(3);
    let run = strict("run", dir, &key, &later, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A person 20 years old, past 18 and the grace period, arrives.
    let born = china_today_plus(-(20 * 366));
    write_csv(&dir.join("inbox/police/police_incidents_2.csv"), &[&POLICE, &format!("{old},{born},1,431102001,P2,{year_ago},S,S01,")]);
    let kept = |dir: &Path| lake_query(&dir.join("lake"), &format!("SELECT count(*) FROM signals WHERE person_key = '{old}'"))[0][0].clone();

    let today = china_today_plus(0);
    let run = strict("run", dir, &key, &today, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("not purging"), "{}", run.stderr);
    assert_eq!(kept(dir), "1", "a run dated before the latest run purged");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("out").join(&today).join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["row_counts"]["persons_purged"], 0);

    // Told to, it purges; and so does a run of the latest date.
    let run = strict("run", dir, &key, &today, &["--allow-as-of-far"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(kept(dir), "0", "--allow-as-of-far purges");
}
