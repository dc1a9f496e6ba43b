//! The trend: month-end evaluations agree with `humiao score --as-of <month end>`, and what
//! leadership sees is suppressed on the counts themselves.

mod common;

use std::collections::BTreeMap;

use common::*;
use humiao::pseudo::DEMO_KEY;

/// (measure, key) → people of `month` in a trend.parquet.
fn month_counts(trend: &std::path::Path, month: &str) -> BTreeMap<(String, String), u64> {
    parquet_rows(trend, &format!("SELECT measure, key, people FROM t WHERE month_end = DATE '{month}'"))
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), r[2].parse().unwrap()))
        .collect()
}

#[test]
fn every_month_end_of_the_trend_gives_the_tiers_of_scoring_that_date() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let s = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    let synth = humiao(&["synth", "--youths", "3000", "--seed", "21", "--as-of", "2026-11-24", "--out", &s(dir.to_path_buf())]);
    assert_eq!(synth.code, 0, "{}", synth.stderr);
    let key = key_file(dir, DEMO_KEY);
    let (lake, out) = (dir.join("lake"), dir.join("out"));
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

/// Every count leadership sees, from leadership.json: shown only when 0 or at least 5, and no
/// month's tiers give a hidden one away through the month's total.
#[test]
fn leadership_sees_no_count_below_five_and_no_total_that_reveals_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let s = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    // A small county: many cells are small.
    let synth = humiao(&["synth", "--youths", "800", "--seed", "3", "--as-of", "2026-11-24", "--out", &s(dir.to_path_buf())]);
    assert_eq!(synth.code, 0, "{}", synth.stderr);
    let key = key_file(dir, DEMO_KEY);
    let run = pipeline_at("run", dir, &dir.join("lake"), &dir.join("out"), &key, "2026-11-24", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.join("out/2026-11-24");
    let view: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("leadership.json")).unwrap()).unwrap();
    let mut shown = 0;
    let mut suppressed = 0;
    let mut check = |v: &serde_json::Value, what: &str| {
        if let Some(n) = v.get("Shown") {
            let n = n.as_u64().unwrap();
            assert!(n == 0 || n >= 5, "{what}: {n} is shown");
            shown += 1;
        } else {
            assert_eq!(v, "Suppressed", "{what}");
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
        if t["listed"] == "Suppressed" {
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
        let hidden = tiers.iter().filter(|s| s["cells"][m] == "Suppressed").count();
        let nonzero_hidden_alone = hidden == 1;
        assert!(!nonzero_hidden_alone, "month {m}: one hidden tier could be worked back from the total");
    }
    // The suppressed view is what the report shows: no number below 5 next to a tier name.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("&lt;5"), "the report marks suppressed cells");
}

/// Issue 13, point 1: red at 2–4 people hid orange and yellow too, and the chart drew them at a
/// made-up height. For every month of a synthetic trend the hidden tiers are the fewest people
/// that protect the small ones (against a brute force over the month's table), no hidden cell
/// could be shown again, and the chart draws the hidden tiers as one band of their true total,
/// as leadership.json says.
#[test]
fn the_tier_chart_hides_the_least_and_draws_hidden_tiers_at_their_true_total() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let s = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    let synth = humiao(&["synth", "--youths", "800", "--seed", "3", "--as-of", "2026-11-24", "--out", &s(dir.to_path_buf())]);
    assert_eq!(synth.code, 0, "{}", synth.stderr);
    let key = key_file(dir, DEMO_KEY);
    let run = pipeline_at("run", dir, &dir.join("lake"), &dir.join("out"), &key, "2026-11-24", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.join("out/2026-11-24");
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
        let tier_hidden: Vec<bool> = tiers.iter().map(|t| t["cells"][m] == "Suppressed").collect();
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
