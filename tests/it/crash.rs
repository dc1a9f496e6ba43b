//! Crash safety: a run killed (SIGKILL) during ingest, scoring or report writing leaves the
//! previous outputs intact, and the rerun's list is byte-identical to that of a run that was
//! never interrupted.

use std::path::Path;

use crate::common::*;
use humiao::pseudo::DEMO_KEY;

/// `humiao run` on `dir` as of `as_of`, killed at `kill_at` if given. Returns the exit code
/// (None when killed by a signal).
fn night(dir: &Path, as_of: &str, kill_at: Option<&str>) -> Option<i32> {
    let args = pipeline_args("run", &root().join("pipelines/demo.toml"), dir, &dir.join("lake"), &dir.join("out"), &dir.join("county.key"), as_of, None);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = kill_at.map(|point| ("HUMIAO_KILL_AT", point)).into_iter().collect();
    let run = humiao_with_env(&args, &env);
    if kill_at.is_none() {
        assert!(matches!(run.code, 0 | 3), "{}", run.stderr);
    }
    (run.code != -1).then_some(run.code)
}

/// The second night's new file: new people with recent records, and a correction of one of them.
fn add_night_two(dir: &Path) {
    let header = POLICE.as_str();
    let towns = std::fs::read_to_string(dir.join("reference/townships.csv")).unwrap();
    let town = towns.lines().nth(1).unwrap().split(',').next().unwrap().to_string();
    let mut lines = vec![header.to_string()];
    for n in 0..12u32 {
        let code = ["S01", "B03", "V02", "C02"][n as usize % 4];
        let role = if code.starts_with('V') { "V" } else { "S" };
        lines.push(format!("{:064x},2011-05-0{},1,{town},N2-{n},2026-11-2{},{role},{code},", 0xabc000 + n, 1 + n % 9, n % 4));
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    write_csv(&dir.join("inbox/police/police_incidents_2026-11-24_night2.csv"), &refs);
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir).into_iter().map(|p| (p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap())).collect()
}

#[test]
fn a_run_killed_anywhere_leaves_the_previous_outputs_and_reruns_to_the_same_list() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let synth = humiao(&["synth", "--youths", "600", "--seed", "9", "--as-of", "2026-11-23", "--out", &s(&base)]);
    assert_eq!(synth.code, 0, "{}", synth.stderr);
    key_file(&base, DEMO_KEY);
    night(&base, "2026-11-23", None);
    let night_one = snapshot(&base.join("out/2026-11-23"));

    // The night that was never interrupted.
    let reference = tmp.path().join("reference-run");
    copy_tree(&base, &reference);
    add_night_two(&reference);
    night(&reference, "2026-11-24", None);
    let list = |dir: &Path| {
        let out = dir.join("out/2026-11-24");
        (
            std::fs::read(out.join("risk_list.csv")).unwrap(),
            std::fs::read(out.join("risk_list.parquet")).unwrap(),
            std::fs::read(out.join("trend.parquet")).unwrap(),
        )
    };
    let want = list(&reference);
    assert!(String::from_utf8_lossy(&want.0).contains("新增"));

    for point in ["ingest_staged", "ingest_written", "sealed", "purged", "scored", "trend", "outputs_half", "outputs_swapping"] {
        let dir = tmp.path().join(point);
        copy_tree(&base, &dir);
        add_night_two(&dir);
        assert_eq!(night(&dir, "2026-11-24", Some(point)), None, "{point}: the run should have been killed");
        assert_eq!(snapshot(&dir.join("out/2026-11-23")), night_one, "{point}: the previous outputs changed");
        assert!(!dir.join("out/2026-11-24/risk_list.csv").exists(), "{point}: a half-made output folder is visible");
        night(&dir, "2026-11-24", None);
        assert!(list(&dir) == want, "{point}: the rerun's list or trend differs from an uninterrupted run's");
        assert!(!dir.join("lake/.inflight.json").exists());
    }

    // A rerun of the same night killed while swapping its folder in: the folder is the old one,
    // whole, and the next run replaces it.
    let dir = tmp.path().join("same-night");
    copy_tree(&reference, &dir);
    assert_eq!(night(&dir, "2026-11-24", Some("outputs_swapping")), None);
    assert_eq!(list(&dir), want);
    night(&dir, "2026-11-24", None);
    assert_eq!(list(&dir), want);
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("out")).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().starts_with('.')).collect();
    assert!(leftovers.is_empty(), "debris left: {leftovers:?}");
}
