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
