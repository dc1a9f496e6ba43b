//! A seeded property test of ingest (issue 10): random mutations of valid extracts (cut lines,
//! stray quotes, random bytes, long fields, wrong types, other line ends, NUL bytes, a lost header
//! or a cut-off end). After each dirty night, and after the clean file is delivered again:
//! - every file's rows are accounted for (read = accepted + quarantined + duplicate);
//! - no raw 身份证号 of the inbox is anywhere in the lake, the outputs or the logs;
//! - nothing of the clean inbox is lost: every record of a run on an untouched lake is in the
//!   lake with the same content, and where the records agree the risk lists are byte-identical.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::*;
use humiao::pseudo::DEMO_KEY;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The files mutated: each is the last word on its records (no later file of its table corrects
/// or re-sends them), so delivering it again restores exactly what a clean run has.
const TARGETS: [&str; 5] = [
    "civil/civil_status.csv",
    "education/education_enrollment.csv",
    "education/education_attendance_part1.csv",
    "education/education_attendance_part2.csv",
    "police/police_incidents_2026-11-24_correction.csv",
];

const MUTATIONS: usize = 10;

/// Applies mutation `kind` to the bytes of a CSV file.
fn mutate(bytes: &[u8], kind: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    let data = lines.len().max(2);
    let pick = |rng: &mut ChaCha8Rng| rng.random_range(1..data);
    let join = |lines: &[Vec<u8>]| {
        let mut out = lines.join(&b'\n');
        out.push(b'\n');
        out
    };
    match kind {
        // A line cut short.
        0 => {
            let l = pick(rng);
            let at = rng.random_range(0..lines[l].len().max(1));
            lines[l].truncate(at);
            join(&lines)
        }
        // A stray quote somewhere in a line.
        1 => {
            let l = pick(rng);
            let at = rng.random_range(0..=lines[l].len());
            lines[l].insert(at, b'"');
            join(&lines)
        }
        // A few random bytes.
        2 => {
            let mut out = join(&lines);
            let start = lines[0].len() + 1;
            for _ in 0..3 {
                let at = rng.random_range(start..out.len());
                out[at] = rng.random();
            }
            out
        }
        // A 40,000-character field.
        3 => {
            let l = pick(rng);
            let commas: Vec<usize> = lines[l].iter().enumerate().filter(|(_, b)| **b == b',').map(|(i, _)| i).collect();
            let at = commas.get(rng.random_range(0..commas.len().max(1))).map(|i| i + 1).unwrap_or(0);
            lines[l].splice(at..at, std::iter::repeat_n(b'Z', 40_000));
            join(&lines)
        }
        // Wrong types: every date of a few lines made impossible, a number made a fraction.
        4 => {
            for _ in 0..3 {
                let l = pick(rng);
                let text = String::from_utf8_lossy(&lines[l]).into_owned();
                let fields: Vec<String> = text
                    .split(',')
                    .map(|f| {
                        if f.len() == 10 && f.as_bytes()[4] == b'-' {
                            "2026-02-30".to_string()
                        } else if !f.is_empty() && f.len() < 4 && f.bytes().all(|b| b.is_ascii_digit()) {
                            format!("{f}.5")
                        } else {
                            f.to_string()
                        }
                    })
                    .collect();
                if std::str::from_utf8(&lines[l]).is_ok() {
                    lines[l] = fields.join(",").into_bytes();
                }
            }
            join(&lines)
        }
        // Old Mac line ends.
        5 => {
            let mut out = lines.join(&b'\r');
            out.push(b'\r');
            out
        }
        // A NUL byte inside a value.
        6 => {
            let l = pick(rng);
            let at = rng.random_range(0..=lines[l].len());
            lines[l].insert(at, 0);
            join(&lines)
        }
        // The header lost.
        7 => join(&lines[1..]),
        // A trailing comma.
        8 => {
            let l = pick(rng);
            lines[l].push(b',');
            join(&lines)
        }
        // The end of the file cut off mid-line.
        _ => {
            let out = join(&lines);
            let at = rng.random_range(out.len() / 2..out.len());
            out[..at].to_vec()
        }
    }
}

/// The non-blank lines of a CSV file after its header, whatever its line ends.
fn data_lines(bytes: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n").replace('\r', "\n");
    (text.split('\n').filter(|l| !l.is_empty()).count() as u64).saturating_sub(1)
}

/// Every record of the lake with its content hash.
fn records(lake: &Path) -> BTreeSet<(String, String, String)> {
    lake_query(lake, "SELECT DISTINCT table_name, record_id, record_hash FROM signals")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect()
}

/// Every value of every lake table, and every byte of every file under `dirs`, as text.
fn all_text(lake: &Path, dirs: &[PathBuf], logs: &[&Run]) -> String {
    let mut text = String::new();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let ctx = humiao::session::new_session(None).unwrap();
        humiao::lake::Lake::new(lake).unwrap().register_all(&ctx).await.unwrap();
        for table in humiao::lake::TABLES {
            let batches = ctx.sql(&format!("SELECT * FROM {table}")).await.unwrap().collect().await.unwrap();
            for row in batch_rows(&batches) {
                text.push_str(&row.join("\t"));
                text.push('\n');
            }
        }
    });
    for d in dirs {
        for f in files_under(d) {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap()));
        }
    }
    for r in logs {
        text.push_str(&r.stdout);
        text.push_str(&r.stderr);
    }
    text
}

fn run_night(dir: &Path, key: &Path) -> Run {
    let args = pipeline_args("run", &root().join("pipelines/demo.toml"), dir, &dir.join("lake"), &dir.join("out"), key, AS_OF, None);
    humiao_with_env(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[("HUMIAO_LOG", "info,humiao=debug,deltalake_core=error,delta_kernel=error")])
}

fn risk_list(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("out").join(AS_OF).join("risk_list.csv")).unwrap()
}

#[test]
fn mutated_extracts_never_lose_a_row_or_leak_an_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    humiao::synth::synth(&humiao::synth::SynthOptions {
        youths: 400,
        seed: 23,
        as_of: humiao::session::parse_iso_date(AS_OF).unwrap(),
        out: clean.clone(),
        dirty: 0.0,
        key: DEMO_KEY.as_bytes().to_vec(),
    })
    .unwrap();
    let key = key_file(tmp.path(), DEMO_KEY);
    let reference = run_night(&clean, &key);
    assert_eq!(reference.code, 0, "{}", reference.stderr);
    let want_list = risk_list(&clean);
    let want_records = records(&clean.join("lake"));
    let ids = raw_id_numbers(&clean);
    assert!(ids.len() > 20, "the inbox has raw 身份证号 to look for ({})", ids.len());

    let mut rng = ChaCha8Rng::seed_from_u64(0x6875_6d69_616f);
    for trial in 0..MUTATIONS {
        let kind = trial;
        let target = TARGETS[rng.random_range(0..TARGETS.len())];
        let dir = tmp.path().join(format!("trial-{trial}"));
        copy_tree(&clean.join("inbox"), &dir.join("inbox"));
        copy_tree(&clean.join("reference"), &dir.join("reference"));
        let original = std::fs::read(dir.join("inbox").join(target)).unwrap();
        let mutated = mutate(&original, kind, &mut rng);
        std::fs::write(dir.join("inbox").join(target), &mutated).unwrap();
        let what = format!("trial {trial}: mutation {kind} of {target}");
        let started = std::time::Instant::now();

        let dirty = run_night(&dir, &key);
        assert!(matches!(dirty.code, 0 | 3), "{what}: exit {}\n{}", dirty.code, dirty.stderr);
        let q = quality(&dir);
        for f in q["files"].as_array().unwrap() {
            let n = |k: &str| f[k].as_u64().unwrap();
            assert_eq!(n("rows_read"), n("rows_accepted") + n("rows_quarantined") + n("rows_duplicate"), "{what}: {f}");
        }
        // A file that was read has a row for every line after its header: none swallowed.
        let f = file_entry(&q, target);
        if f["status"] == "accepted" {
            assert_eq!(f["rows_read"].as_u64().unwrap(), data_lines(&mutated), "{what}: {f}");
        }

        // The department delivers the clean file again.
        std::fs::write(dir.join("inbox").join(target), &original).unwrap();
        let fixed = run_night(&dir, &key);
        assert!(matches!(fixed.code, 0 | 3), "{what}: exit {}\n{}", fixed.code, fixed.stderr);

        let text = all_text(&dir.join("lake"), &[dir.join("lake"), dir.join("out")], &[&dirty, &fixed]);
        for id in &ids {
            assert!(!text.contains(id.as_str()), "{what}: a raw 身份证号 is in the lake, an output or a log");
        }
        eprintln!("{what}: runs and scans in {:.1} s", started.elapsed().as_secs_f64());
        let got = records(&dir.join("lake"));
        let lost: Vec<_> = want_records.difference(&got).collect();
        assert!(lost.is_empty(), "{what}: records of the clean inbox are missing or differ: {lost:?}");
        let same = got == want_records;
        if same {
            assert!(risk_list(&dir) == want_list, "{what}: the same records give a different risk list");
        }
        eprintln!("{what}: exit codes {} and {}, lists compared: {same}", dirty.code, fixed.code);
    }
}
