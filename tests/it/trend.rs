//! The trend: month-end evaluations agree with `humiao score --as-of <month end>`, and what
//! leadership sees is suppressed on the counts themselves.

use std::collections::BTreeMap;

use crate::common::*;
use humiao::config::IDENTITY_COLUMNS;
use humiao::pseudo::DEMO_KEY;

/// (measure, key) → people of `month` in a trend.parquet.
fn month_counts(trend: &std::path::Path, month: &str) -> BTreeMap<(String, String), u64> {
    parquet_rows(trend, &format!("SELECT measure, key, people FROM t WHERE month_end = DATE '{month}'"))
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), r[2].parse().unwrap()))
        .collect()
}

/// Where a police extract with `header` holds its person key, birth date, record id and event
/// date (the contract's `event_on`).
fn police_columns(header: &str) -> (usize, usize, usize, usize) {
    let at = |name: &str| header.split(',').position(|h| h == name).unwrap_or_else(|| panic!("no {name} in {header}"));
    (at("person_key"), at("birth_date"), at("record_id"), at(&contract("police_incidents").signal.event_on))
}

/// A synthetic county of `youths` (30 months of history to 2026-11-24) under `dir`; returns the
/// key file.
fn synth_county(dir: &std::path::Path, youths: u32, seed: u32) -> std::path::PathBuf {
    let s = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    let (youths, seed) = (youths.to_string(), seed.to_string());
    let synth = humiao(&["synth", "--youths", &youths, "--seed", &seed, "--as-of", "2026-11-24", "--out", &s(dir.to_path_buf())]);
    assert_eq!(synth.code, 0, "{}", synth.stderr);
    key_file(dir, DEMO_KEY)
}

#[test]
fn every_month_end_of_the_trend_gives_the_tiers_of_scoring_that_date() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = synth_county(dir, 3000, 21);
    let (lake, out) = (dir.join("lake"), dir.join("out"));
    // A list of a past month end can only be made from the people still in the lake, while the
    // trend counts those the age-out purge has removed since (from the counts kept before it):
    // the comparison is made on a lake the purge does not reach.
    let pipeline = pipeline_with_grace(dir, 100000);
    let pipeline_at = |command: &str, dir: &std::path::Path, lake: &std::path::Path, out: &std::path::Path, key: &std::path::Path, as_of: &str, model: Option<&std::path::Path>| {
        let args = pipeline_args(command, &pipeline, dir, lake, out, key, as_of, model);
        humiao(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-24", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let trend = out.join("2026-11-24/trend.parquet");
    let months = parquet_rows(&trend, "SELECT DISTINCT CAST(month_end AS VARCHAR) FROM t ORDER BY 1");
    assert_eq!(months.len(), 24);
    assert_eq!(months[0][0], "2024-11-30");
    assert_eq!(months[23][0], "2026-10-31");

    for month in ["2026-10-31", "2026-02-28", "2025-06-30"] {
        let scored_out = dir.join(format!("score-{month}"));
        let run = pipeline_at("score", dir, &lake, &scored_out, &key, month, None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let list = scored_out.join(month).join("risk_list.parquet");
        let by_tier = parquet_rows(&list, "SELECT tier, count(*) FROM t GROUP BY tier");
        let counts = month_counts(&trend, month);
        assert!(!by_tier.is_empty(), "{month}: nobody listed");
        for r in &by_tier {
            assert_eq!(counts.get(&("tier".into(), r[0].clone())).copied(), Some(r[1].parse().unwrap()), "{month} tier {}", r[0]);
        }
        let listed: u64 = by_tier.iter().map(|r| r[1].parse::<u64>().unwrap()).sum();
        assert_eq!(counts[&("listed".to_string(), "all".to_string())], listed, "{month}");
        let collisions = parquet_rows(&list, "SELECT count(*) FROM t WHERE collision")[0][0].parse::<u64>().unwrap();
        assert_eq!(counts.get(&("collision".into(), "all".into())).copied().unwrap_or(0), collisions, "{month}");
        for c in ["C1", "C2", "C3", "C4", "C5", "C6", "C7"] {
            let n = parquet_rows(&list, &format!("SELECT count(*) FROM t WHERE categories LIKE '%{c}%'"))[0][0].parse::<u64>().unwrap();
            assert_eq!(counts.get(&("category".into(), c.into())).copied().unwrap_or(0), n, "{month} {c}");
        }
        let pair = "categories LIKE '%C1%' AND categories LIKE '%C5%'";
        let n = parquet_rows(&list, &format!("SELECT count(*) FROM t WHERE {pair}"))[0][0].parse::<u64>().unwrap();
        assert_eq!(counts.get(&("pair".into(), "C1+C5".into())).copied().unwrap_or(0), n, "{month} C1+C5");
    }

    // New and lifted against the lists of two consecutive month ends. The trend evaluates its
    // month ends a few per pass; 2026-05-31 and 2026-06-30 fall in different passes.
    let listed_on = |month: &str| -> std::collections::BTreeSet<String> {
        let scored_out = dir.join(format!("score-{month}"));
        let run = pipeline_at("score", dir, &lake, &scored_out, &key, month, None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        parquet_rows(&scored_out.join(month).join("risk_list.parquet"), "SELECT person_key FROM t")
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    };
    let (before, now) = (listed_on("2026-05-31"), listed_on("2026-06-30"));
    let counts = month_counts(&trend, "2026-06-30");
    let new = now.difference(&before).count() as u64;
    let lifted = before.difference(&now).count() as u64;
    assert!(new > 0 && lifted > 0, "new {new}, lifted {lifted}: the month shows no movement");
    assert_eq!(counts.get(&("new".into(), "all".into())).copied().unwrap_or(0), new);
    assert_eq!(counts.get(&("lifted".into(), "all".into())).copied().unwrap_or(0), lifted);
}

/// A small county (800 youths: many cells are small) run as of 2026-11-24 under `dir`; returns
/// its output folder.
fn small_county_run(dir: &std::path::Path) -> std::path::PathBuf {
    let key = synth_county(dir, 800, 3);
    let run = pipeline_at("run", dir, &dir.join("lake"), &dir.join("out"), &key, "2026-11-24", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    dir.join("out/2026-11-24")
}

/// Every count leadership sees, from leadership.json: shown only when 0 or at least 5, and no
/// month's tiers give a hidden one away through the month's total.
#[test]
fn leadership_sees_no_count_below_five_and_no_total_that_reveals_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = small_county_run(tmp.path());
    let view: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("leadership.json")).unwrap()).unwrap();
    let mut shown = 0;
    let mut suppressed = 0;
    let mut check = |v: &serde_json::Value, what: &str| {
        if let Some(n) = v.get("Shown") {
            let n = n.as_u64().unwrap();
            assert!(n == 0 || n >= 5, "{what}: {n} is shown");
            shown += 1;
        } else {
            assert!(v == "Suppressed" || v == "Withheld", "{what}: {v}");
            suppressed += 1;
        }
    };
    for group in ["tiers", "categories", "collisions_and_key_youth", "new_and_lifted"] {
        for series in view[group].as_array().unwrap() {
            for c in series["cells"].as_array().unwrap() {
                check(c, &format!("{group} {}", series["key"]));
            }
        }
    }
    for t in view["townships"].as_array().unwrap() {
        check(&t["listed"], "township");
        check(&t["key_youth"], "township key youth");
        if t["listed"] == "Suppressed" || t["listed"] == "Withheld" {
            assert!(t["rate_per_1000"].is_null(), "a rate would give the count away");
        }
    }
    for p in view["pairs"].as_array().unwrap() {
        check(&p["people"], "pair");
    }
    for f in view["fairness"].as_array().unwrap() {
        check(&f["listed"], "fairness");
    }
    for h in view["headlines"].as_array().unwrap() {
        check(&h["now"], "headline");
    }
    assert!(suppressed > 0, "a county of 800 has small cells");
    assert!(shown > 0);
    // No month has exactly one hidden tier while its total is shown.
    let tiers = view["tiers"].as_array().unwrap();
    for m in 0..view["months"].as_array().unwrap().len() {
        let hidden = tiers.iter().filter(|s| s["cells"][m] == "Suppressed" || s["cells"][m] == "Withheld").count();
        let nonzero_hidden_alone = hidden == 1;
        assert!(!nonzero_hidden_alone, "month {m}: one hidden tier could be worked back from the total");
    }
    // The suppressed view is what the report shows: no number below 5 next to a tier name.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("&lt;5"), "the report marks suppressed cells");
}

/// A copy of the demo pipeline (paths made absolute) in `dir` with `[retention] grace_days`.
fn pipeline_with_grace(dir: &std::path::Path, grace_days: u32) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("pipelines/demo.toml")).unwrap();
    let abs = |p: &str| root().join("pipelines").join(p).to_string_lossy().into_owned();
    let text = text
        .replace("tables = \"tables\"", &format!("tables = \"{}\"", abs("tables")))
        .replace("codebook = \"../models/codebook.toml\"", &format!("codebook = \"{}\"", abs("../models/codebook.toml")))
        .replace("model = \"../models/collision.toml\"", &format!("model = \"{}\"", abs("../models/collision.toml")))
        .replace("grace_days = 365", &format!("grace_days = {grace_days}"));
    let path = dir.join(format!("grace-{grace_days}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Every (month_end, measure, key, people) of a trend.parquet, sorted.
fn all_counts(trend: &std::path::Path) -> Vec<Vec<String>> {
    parquet_rows(trend, "SELECT CAST(month_end AS VARCHAR), measure, key, people FROM t ORDER BY 1, 2, 3")
}

/// Issue 12, point 1: the age-out purge removed people who were minors at the older month ends,
/// and the trend counted fewer people there. The month ends' counts are kept before the purge.
#[test]
fn the_trend_counts_people_the_purge_has_removed_as_a_lake_that_keeps_everyone_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = synth_county(dir, 3000, 21);
    // 200 days: the purge reaches the month ends up to 2026-05-31; 100000: it reaches none.
    let (short, unbounded) = (pipeline_with_grace(dir, 200), pipeline_with_grace(dir, 100000));
    let run = |pipeline: &std::path::Path, lake: &str, as_of: &str| {
        let args = pipeline_args("run", pipeline, dir, &dir.join(lake), &dir.join(format!("out-{lake}")), &key, as_of, None);
        let r = humiao(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(r.code, 0, "{}", r.stderr);
        let out = dir.join(format!("out-{lake}")).join(as_of);
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        (all_counts(&out.join("trend.parquet")), manifest)
    };
    for (night, as_of) in ["2026-11-24", "2026-11-25"].into_iter().enumerate() {
        let (purged, m) = run(&short, "purged", as_of);
        let (kept, _) = run(&unbounded, "kept", as_of);
        if night == 0 {
            assert!(m["row_counts"]["persons_purged"].as_u64().unwrap() > 0, "the purge bites: {m}");
        }
        // The first night takes 2024-11-30 … 2026-05-31 from the counts kept before the purge;
        // the second also the later month ends, whose inputs did not change.
        let reused = if night == 0 { 19 } else { 24 };
        assert_eq!(m["row_counts"]["trend_month_ends_reused"], reused, "{as_of}: month ends from the kept counts");
        let months: std::collections::BTreeSet<&String> = purged.iter().map(|r| &r[0]).collect();
        assert_eq!(months.len(), 24, "{as_of}");
        for measure in ["listed", "tier", "category", "township", "new", "lifted", "pair", "gender", "collision", "key_youth"] {
            let of = |rows: &Vec<Vec<String>>| rows.iter().filter(|r| r[1] == measure).cloned().collect::<Vec<_>>();
            assert_eq!(of(&purged), of(&kept), "{as_of}: measure {measure}");
        }
        assert_eq!(purged, kept, "{as_of}: every count");
    }
    // The people are gone from the lake: a list of an old month end has fewer people than the
    // trend counted for it, and the kept counts hold no person key.
    let trend = dir.join("out-purged/2026-11-25/trend.parquet");
    let counted = month_counts(&trend, "2024-11-30")[&("listed".to_string(), "all".to_string())];
    let args = pipeline_args("score", &short, dir, &dir.join("purged"), &dir.join("old"), &key, "2024-11-30", None);
    let r = humiao(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let listed = parquet_rows(&dir.join("old/2024-11-30/risk_list.parquet"), "SELECT count(*) FROM t")[0][0].parse::<u64>().unwrap();
    assert!(listed < counted, "the purged lake lists {listed} on 2024-11-30, the trend counted {counted}");
    let columns = lake_query(&dir.join("purged"), "SELECT * FROM month_ends LIMIT 1");
    assert!(!columns.is_empty());
    let keys = lake_query(&dir.join("purged"), "SELECT count(*) FROM month_ends WHERE length(key) = 64");
    assert_eq!(keys, vec![vec!["0".to_string()]]);
}

/// Issue 12, point 2: a month end is evaluated again only when what it is counted from changed.
/// A run with nothing new takes every month end from the kept counts (and writes the same
/// trend.parquet); a correction of an August record reopens August to October only; and the
/// result is that of a lake made from scratch from the same inbox.
#[test]
fn only_the_month_ends_whose_inputs_changed_are_counted_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = synth_county(dir, 3000, 21);
    let run = |lake: &str| {
        let out = dir.join(format!("out-{lake}"));
        let r = pipeline_at("run", dir, &dir.join(lake), &out, &key, "2026-11-24", None);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let out = out.join("2026-11-24");
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        let computed = manifest["row_counts"]["trend_month_ends_computed"].as_u64().unwrap();
        (std::fs::read(out.join("trend.parquet")).unwrap(), computed, r.stderr)
    };
    let (first, computed, _) = run("lake");
    assert_eq!(computed, 24 - 13, "the first run evaluates the month ends the purge does not reach (2025-12-31 on)");
    let (again, computed, log) = run("lake");
    assert_eq!(computed, 0, "nothing new: {log}");
    assert!(first == again, "nothing new gives the same trend.parquet");

    // A correction of a police record of August 2026 (another day of the same month).
    let police = dir.join("inbox/police");
    let text = std::fs::read_to_string(police.join("police_incidents_2026-11-23.csv")).unwrap();
    // (a record that no later file of the inbox delivers again)
    let corrected = std::fs::read_to_string(police.join("police_incidents_2026-11-24.csv")).unwrap()
        + &std::fs::read_to_string(police.join("police_incidents_2026-11-24_correction.csv")).unwrap();
    let header = text.lines().next().unwrap();
    let (key, birth, record_id, on) = police_columns(header);
    let line = text
        .lines()
        .skip(1)
        .find(|l| {
            let f: Vec<&str> = l.split(',').collect();
            !l.contains('"') && !f[key].is_empty() && f[birth] > "2010" && f[on].starts_with("2026-08-") && !corrected.contains(f[record_id])
        })
        .expect("a police record of August 2026");
    let mut f: Vec<String> = line.split(',').map(String::from).collect();
    f[on] = if f[on] == "2026-08-01" { "2026-08-02".into() } else { "2026-08-01".into() };
    write_csv(&police.join("police_incidents_zz_fix.csv"), &[header, &f.join(",")]);
    let (incremental, computed, log) = run("lake");
    assert_eq!(computed, 3, "2026-08-31, 2026-09-30 and 2026-10-31: {log}");
    let line = log.lines().find(|l| l.contains("trend month ends")).expect("the trend logs its month ends");
    assert!(line.ends_with("2026-08-31,2026-09-30,2026-10-31") || line.contains("2026-08-31,2026-09-30,2026-10-31\u{1b}"), "the log names them: {line}");
    let (full, computed, _) = run("fresh");
    assert_eq!(computed, 11);
    assert!(incremental == full, "the kept counts and the corrected month ends give what a new lake gives");
}

/// Another model cannot reuse the month ends another model's counts were kept for: the purged
/// people are missing from them, and the run says so.
#[test]
fn another_model_counts_the_sealed_month_ends_again_and_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = synth_county(dir, 800, 5);
    let (lake, out) = (dir.join("lake"), dir.join("out"));
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-24", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("another model or codebook"), "{}", run.stderr);
    let text = std::fs::read_to_string(root().join("models/collision.toml")).unwrap();
    let model = dir.join("collision-next.toml");
    std::fs::write(&model, text.replacen("version = \"", "version = \"next-", 1)).unwrap();
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-24", Some(&model));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("another model or codebook"), "{}", run.stderr);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("2026-11-24/manifest.json")).unwrap()).unwrap();
    // The 13 sealed month ends are counted again (before the purge) and kept for the new model;
    // the other 11 are evaluated.
    assert_eq!(manifest["row_counts"]["trend_month_ends_computed"], 11);
    assert_eq!(manifest["row_counts"]["trend_month_ends_reused"], 13);
}

/// Issue 13, point 1: red at 2–4 people hid orange and yellow too, and the chart drew them at a
/// made-up height. For every month of a synthetic trend the hidden tiers are the fewest people
/// that protect the small ones (against a brute force over the month's table), no hidden cell
/// could be shown again, and the chart draws the hidden tiers as one band of their true total,
/// as leadership.json says.
#[test]
fn the_tier_chart_hides_the_least_and_draws_hidden_tiers_at_their_true_total() {
    let tmp = tempfile::tempdir().unwrap();
    let out = small_county_run(tmp.path());
    let view: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("leadership.json")).unwrap()).unwrap();
    let months: Vec<String> = view["months"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
    let tiers = view["tiers"].as_array().unwrap();
    assert_eq!(tiers.len(), 4, "red, orange, yellow, blue");
    // A month's table: red, orange, yellow, blue, listed (their total), 重点青少年 (red + orange).
    let exposed = |v: &[u64; 6], h: &[bool; 6]| {
        let one = |members: &[usize], total: usize| !h[total] && members.iter().filter(|&&m| h[m]).count() == 1;
        one(&[0, 1, 2, 3], 4) || one(&[0, 1], 5) && v[0] + v[1] > 0
    };
    let mut merged_months = 0;
    for (m, month) in months.iter().enumerate() {
        let counts = month_counts(&out.join("trend.parquet"), month);
        let get = |measure: &str, key: &str| counts.get(&(measure.to_string(), key.to_string())).copied().unwrap_or(0);
        let v = [get("tier", "red"), get("tier", "orange"), get("tier", "yellow"), get("tier", "blue"), get("listed", "all"), get("key_youth", "all")];
        let tier_hidden: Vec<bool> = tiers.iter().map(|t| t["cells"][m] == "Suppressed" || t["cells"][m] == "Withheld").collect();
        // Where the listed and 重点 totals are shown, the month's table is all that constrains it
        // (the latest month's totals also add up over townships, genders and 留守).
        let listed_shown = view["tiers_hidden_total"][m].is_u64() || !tier_hidden.contains(&true);
        let lost: u64 = (0..4).filter(|&i| tier_hidden[i] && v[i] >= 5).map(|i| v[i]).sum();
        if m + 1 < months.len() && listed_shown {
            let least = (0u32..64)
                .filter_map(|mask| {
                    let h: [bool; 6] = std::array::from_fn(|i| mask & (1 << i) != 0);
                    let ok = (0..6).all(|i| (v[i] > 0 && v[i] < 5) <= h[i] && (!h[i] || v[i] > 0)) && !exposed(&v, &h);
                    ok.then(|| (0..6).filter(|&i| h[i] && v[i] >= 5).map(|i| v[i]).sum::<u64>())
                })
                .min()
                .unwrap();
            assert_eq!(lost, least, "{month}: tiers {v:?} hidden {tier_hidden:?}");
        }
        for (i, &h) in tier_hidden.iter().enumerate() {
            if v[i] > 0 && v[i] < 5 {
                assert!(h, "{month}: tier {i} is small and shown");
            }
        }
        // The chart's band is the hidden tiers' true total.
        if tier_hidden.contains(&true) && view["tiers_hidden_total"][m].is_u64() {
            let hidden_total: u64 = (0..4).filter(|&i| tier_hidden[i]).map(|i| v[i]).sum();
            assert_eq!(view["tiers_hidden_total"][m].as_u64(), Some(hidden_total), "{month}");
            merged_months += 1;
        } else {
            assert!(view["tiers_hidden_total"][m].is_null(), "{month}: no band without hidden tiers");
        }
    }
    assert!(merged_months > 0, "a county of 800 has months with a small red tier");
    let svg = std::fs::read_to_string(out.join("charts/tiers.svg")).unwrap();
    assert!(!svg.contains("示意"), "no tier is drawn at a made-up height");
    assert!(svg.contains("斜线带为合并显示的等级"), "the footnote says what the band is");
    assert!(!svg.contains("阴影/空白表示少于"), "hidden tiers are not all below 5");
}

/// The report's cards once said the latest month end's numbers under a header of the as-of date
/// (687 listed against the list's 686; on a first run 本月新增 25 against the list's 686 新增).
#[test]
fn the_headline_cards_are_the_numbers_of_the_as_of_dates_list() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = synth_county(dir, 3000, 5);
    let (lake, out) = (dir.join("lake"), dir.join("out"));
    for (as_of, previous) in [("2026-11-24", None), ("2026-11-26", Some("2026-11-24"))] {
        let run = pipeline_at("run", dir, &lake, &out, &key, as_of, None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let day = out.join(as_of);
        let view: serde_json::Value = serde_json::from_slice(&std::fs::read(day.join("leadership.json")).unwrap()).unwrap();
        let card = |label: &str| -> (u64, String) {
            let h = view["headlines"].as_array().unwrap().iter().find(|h| h["label"] == label).unwrap_or_else(|| panic!("no card {label}"));
            (h["now"]["Shown"].as_u64().unwrap_or_else(|| panic!("{label} is suppressed")), h["note"].as_str().unwrap().to_string())
        };
        let list = day.join("risk_list.parquet");
        let count = |sql: &str| parquet_rows(&list, sql)[0][0].parse::<u64>().unwrap();
        let listed = count("SELECT count(*) FROM t");
        assert!(listed > 50, "{as_of}: {listed} listed");
        assert_eq!(card("列入名单人数"), (listed, "较2026年10月末".to_string()), "{as_of}");
        assert_eq!(card("重点青少年（红+橙）").0, count("SELECT count(*) FROM t WHERE tier IN ('red', 'orange')"), "{as_of}");
        assert_eq!(card("红色预警").0, count("SELECT count(*) FROM t WHERE tier = 'red'"), "{as_of}");
        assert_eq!(card("碰撞命中").0, count("SELECT count(*) FROM t WHERE collision"), "{as_of}");
        let changes = day.join("changes.parquet");
        let change = |c: &str| parquet_rows(&changes, &format!("SELECT count(*) FROM t WHERE change = '{c}'"))[0][0].parse::<u64>().unwrap();
        let (new, new_note) = card("新增");
        assert_eq!(new, change("new"), "{as_of}");
        match previous {
            None => {
                assert_eq!(new, listed, "on a first run everyone listed is new");
                assert!(new_note.contains("首次运行"), "{new_note}");
            }
            Some(p) => assert_eq!(new_note, format!("较上次运行（{p}）")),
        }
        let lifted = view["headlines"].as_array().unwrap().iter().find(|h| h["label"] == "解除").unwrap();
        if let Some(n) = lifted["now"]["Shown"].as_u64() {
            assert_eq!(n, change("lifted"), "{as_of}");
        }
        let html = std::fs::read_to_string(day.join("report.html")).unwrap();
        assert!(html.contains(&format!("<div class=\"card-value\">{}</div>", thousands(listed))), "{as_of}: the card shows the list's total");
    }
}

/// 12,345 → "12,345", as the report writes counts.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A hex key for a person or name hash made up by a test (`n` keeps them apart).
fn made_up_key(n: u32) -> String {
    format!("{:064x}", 0xabc0_0000_u64 + n as u64)
}

/// models/collision.toml with the C1 window 180 → 30 days, as a new version.
fn model_with_short_c1(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("models/collision.toml")).unwrap();
    let c1 = "category = \"C1\"\nrule = \"within\"\ndays = 180";
    assert!(text.contains(c1));
    let text = text.replacen(c1, "category = \"C1\"\nrule = \"within\"\ndays = 30", 1).replacen("version = \"", "version = \"c1-30d-", 1);
    let path = dir.join("collision-c1-30d.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Five nights on one lake — new records, a correction of an old record, an identical
/// re-delivery, a row that waits for its person and is linked two nights later, a purge, a
/// reviewer's 排除, a model edit — and after each, what the nightly run wrote equals what
/// `humiao score --full` (reusing nothing but the sealed history) writes from the same lake.
#[test]
fn five_nights_of_incremental_runs_equal_a_full_recomputation_each_night() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = synth_county(dir, 2000, 7);
    // The demo's grace period: the 13 oldest month ends are sealed, the 11 others are kept for
    // reuse and counted again when their inputs change.
    let pipeline = pipeline_with_grace(dir, 365);
    let lake = dir.join("lake");
    let police = dir.join("inbox/police");
    let header = &header("police_incidents", &IDENTITY_COLUMNS);
    let existing = std::fs::read_to_string(police.join("police_incidents_2026-11-23.csv")).unwrap();
    let (keyed, birth, record_id, on) = police_columns(header);
    let with_key: Vec<Vec<String>> = existing
        .lines()
        .skip(1)
        .filter(|l| !l.contains('"'))
        .map(|l| l.split(',').map(String::from).collect::<Vec<_>>())
        .filter(|f| !f[keyed].is_empty() && f[birth].as_str() > "2010")
        .collect();
    let model = model_with_short_c1(dir);
    let night = |as_of: &str, model: Option<&std::path::Path>| -> std::path::PathBuf {
        let out = dir.join("out");
        let args = pipeline_args("run", &pipeline, dir, &lake, &out, &key, as_of, model);
        let run = humiao(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(run.code == 0 || run.code == 3, "{as_of}: {}", run.stderr);
        let copy = dir.join(format!("lake-full-{as_of}"));
        copy_tree(&lake, &copy);
        let full_out = dir.join(format!("out-full-{as_of}"));
        let mut args = pipeline_args("score", &pipeline, dir, &copy, &full_out, &key, as_of, model);
        args.push("--full".into());
        let full = humiao(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(full.code, 0, "{as_of} --full: {}", full.stderr);
        for name in ["risk_list.csv", "risk_list.parquet", "changes.parquet", "tasks.parquet", "trend.parquet"] {
            let (a, b) = (out.join(as_of).join(name), full_out.join(as_of).join(name));
            assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "{as_of}: {name} of the nightly run differs from --full's");
        }
        std::fs::remove_dir_all(&copy).unwrap();
        out.join(as_of)
    };

    // Night 1: the first run. A youth listed at 17 passes 18 + the grace year on 11-26.
    let turning = made_up_key(1);
    write_csv(
        &police.join("police_incidents_2026-11-24_extra.csv"),
        &[header, &format!("{turning},,{},2007-11-26,1,431102001,PX0001,2025-06-01,S,S01,", made_up_key(2))],
    );
    night("2026-11-24", None);
    let listed = |day: &std::path::Path, who: &str| !parquet_rows(&day.join("risk_list.parquet"), &format!("SELECT 1 FROM t WHERE person_key = '{who}'")).is_empty();
    let signals_of = |who: &str| lake_query(&lake, &format!("SELECT count(*) FROM signals WHERE person_key = '{who}'"));
    assert_eq!(signals_of(&turning), vec![vec!["1".to_string()]]);

    // Night 2: a late record of October, a record of June corrected to July, an identical
    // re-delivery, and a row of September known only by a name hash nobody has yet (it waits in
    // pending). Each changes month ends the nightly run has kept.
    let mut new = with_key[0].clone();
    new[record_id] = "PX0002".into();
    new[on] = "2026-10-15".into();
    let old = with_key.iter().find(|f| f[on].starts_with("2026-06-")).expect("a record of June 2026");
    let mut corrected = old.clone();
    corrected[on] = "2026-07-15".into();
    let waiting_hash = made_up_key(3);
    write_csv(
        &police.join("police_incidents_2026-11-25.csv"),
        &[header, &new.join(","), &corrected.join(","), &format!(",,{waiting_hash},2012-05-05,1,431102001,PX0003,2026-09-20,S,S01,")],
    );
    std::fs::copy(police.join("police_incidents_2026-11-24.csv"), police.join("police_incidents_2026-11-25_resend.csv")).unwrap();
    let second = night("2026-11-25", None);
    let computed = |day: &std::path::Path| {
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(day.join("manifest.json")).unwrap()).unwrap();
        manifest["row_counts"]["trend_month_ends_computed"].as_u64().unwrap()
    };
    assert!(computed(&second) < 11, "the nightly run reuses month ends");
    let pending = lake_query(&lake, "SELECT count(*) FROM pending WHERE record_id = 'PX0003'");
    assert_eq!(pending, vec![vec!["1".to_string()]], "the row waits for its person");

    // Night 3: the waiting row's person arrives with a key; the 18-year-old is purged.
    let linked = made_up_key(4);
    write_csv(&police.join("police_incidents_2026-11-26.csv"), &[header, &format!("{linked},,{waiting_hash},2012-05-05,1,431102001,PX0004,2026-11-26,S,B04,D01")]);
    let third = night("2026-11-26", None);
    assert_eq!(signals_of(&turning), vec![vec!["0".to_string()]], "purged");
    assert_eq!(signals_of(&linked), vec![vec!["2".to_string()]], "the waiting row is linked to its person");
    assert!(computed(&third) < 11, "the nightly run reuses the month ends before September");

    // Night 4: a reviewer rules out the top of the list.
    let top = parquet_rows(&third.join("tasks.parquet"), "SELECT person_key, unit FROM t ORDER BY rank LIMIT 1");
    write_csv(
        &dir.join("inbox/review/decisions_2026-11-27.csv"),
        &["person_key,unit,decision,note,reviewer,decided_on", &format!("{},{},排除,,R001,2026-11-27", top[0][0], top[0][1])],
    );
    let fourth = night("2026-11-27", None);
    assert!(!listed(&fourth, &top[0][0]), "排除 takes them off the list");

    // Night 5: the model changes.
    night("2026-11-28", Some(&model));
}

/// Secondary suppression hid cells of 60 people that printed as "<5": a cell hidden only to
/// protect another is marked "*" with a footnote that says so, and "<5" means fewer than 5.
#[test]
fn a_cell_hidden_to_protect_another_never_reads_below_five() {
    let tmp = tempfile::tempdir().unwrap();
    let out = small_county_run(tmp.path());
    let view: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("leadership.json")).unwrap()).unwrap();
    let months: Vec<String> = view["months"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
    let trend = out.join("trend.parquet");
    let (mut small, mut withheld) = (0, 0);
    for (group, measure) in [("tiers", "tier"), ("categories", "category")] {
        for series in view[group].as_array().unwrap() {
            let key = series["key"].as_str().unwrap();
            for (m, c) in series["cells"].as_array().unwrap().iter().enumerate() {
                let truth = month_counts(&trend, &months[m]).get(&(measure.to_string(), key.to_string())).copied().unwrap_or(0);
                if c == "Suppressed" {
                    assert!((1..5).contains(&truth), "{group} {key} {}: {truth} reads <5", months[m]);
                    small += 1;
                } else if c == "Withheld" {
                    assert!(!(1..5).contains(&truth), "{group} {key} {}: a small cell of {truth} is marked as withheld", months[m]);
                    withheld += 1;
                }
            }
        }
    }
    assert!(small > 0 && withheld > 0, "the small county has both kinds ({small} small, {withheld} withheld)");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("为防止由合计推算出少于5人的数字而一并隐藏"), "the report says what * means");
}
