//! The collision model's default rules (DOMAIN.md, "The collision model" and "Precise
//! semantics"), dbt style: a table of cases, each a person with a few hand-written extract rows
//! and the outcome the spec prescribes (tier or not listed, categories, departments, collision).
//! The cases of one as-of date share one inbox (one person per rule or boundary, distinct
//! person keys and record ids) and one `humiao run`; every person's row of risk_list.parquet is
//! then checked, and a failure names its case.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate};
use crate::common::*;
use humiao::pseudo::DEMO_KEY;

/// Files of the shared inbox (`inbox/<source>/<table>_<anything>.csv`).
const POLICE: &str = "police/police_incidents_2026-11-23.csv";
/// Applied after POLICE (file-name order): its rows correct POLICE's rows of the same record_id.
const POLICE_LATER: &str = "police/police_incidents_2026-11-24.csv";
const ENROLLMENT: &str = "education/education_enrollment_2026-11.csv";
const ATTENDANCE: &str = "education/education_attendance_2026-11.csv";
const CONDUCT: &str = "education/education_conduct_2026-11.csv";
const WELLBEING: &str = "education/education_wellbeing_2026-11.csv";
const CIVIL: &str = "civil/civil_status_2026-11.csv";
const JUSTICE: &str = "justice/justice_correction_2026-11.csv";

/// The as-of date of most cases.
const A: &str = "2026-11-24";
/// An attendance month (2026-09) whose last day is 59 days before it.
const A_MONTH_59: &str = "2026-11-28";
/// An attendance month (2026-09) whose last day is 60 days before it.
const A_MONTH_60: &str = "2026-11-29";

const DEFAULT_BIRTH: &str = "2012-03-15";

const REASONS_CASE: &str = "reasons: two S01 police records name the category, department, count, latest date and code label";

const TABLES: [&str; 7] = [
    "police_incidents",
    "education_enrollment",
    "education_attendance",
    "education_conduct",
    "education_wellbeing",
    "civil_status",
    "justice_correction",
];

/// The table a file of the inbox belongs to.
fn table_of(file: &str) -> &'static str {
    let name = file.rsplit('/').next().unwrap();
    TABLES.iter().copied().find(|t| name.starts_with(t)).unwrap_or_else(|| panic!("{file} is of no table"))
}

/// A person key: 64 lowercase hex digits.
fn pk(n: usize) -> String {
    format!("{n:064x}")
}

fn date(s: &str) -> NaiveDate {
    humiao::session::parse_iso_date(s).unwrap()
}

/// The date `days` before `as_of`, as YYYY-MM-DD.
fn ago(as_of: &str, days: i64) -> String {
    (date(as_of) - Duration::days(days)).format("%Y-%m-%d").to_string()
}

/// The date `days` after `as_of`.
fn after(as_of: &str, days: i64) -> String {
    (date(as_of) + Duration::days(days)).format("%Y-%m-%d").to_string()
}

/// What the spec prescribes for a person.
#[derive(Debug, Clone)]
enum Want {
    NotListed,
    Listed {
        tier: &'static str,
        /// active category ids, sorted, comma-separated
        categories: &'static str,
        /// the departments (Chinese) of the active signals, sorted, comma-separated; a collision
        /// is two or more of them
        departments: &'static str,
        /// the score, when the case pins it
        score: Option<f64>,
    },
}

struct Case {
    name: &'static str,
    as_of: &'static str,
    birth: &'static str,
    /// (file, local record id, the columns after record_id)
    rows: Vec<(&'static str, &'static str, String)>,
    /// local record ids that ingest must quarantine as a future date
    future: Vec<&'static str>,
    want: Want,
}

fn case(name: &'static str, as_of: &'static str) -> Case {
    Case { name, as_of, birth: DEFAULT_BIRTH, rows: Vec::new(), future: Vec::new(), want: Want::NotListed }
}

impl Case {
    fn born(mut self, birth: &'static str) -> Self {
        self.birth = birth;
        self
    }
    fn row(mut self, file: &'static str, id: &'static str, rest: impl Into<String>) -> Self {
        self.rows.push((file, id, rest.into()));
        self
    }
    /// A row dated after the as-of date: quarantined as future_date at ingest.
    fn future_row(mut self, file: &'static str, id: &'static str, rest: impl Into<String>) -> Self {
        self.future.push(id);
        self.row(file, id, rest)
    }
    fn listed(mut self, tier: &'static str, categories: &'static str, departments: &'static str) -> Self {
        self.want = Want::Listed { tier, categories, departments, score: None };
        self
    }
    fn not_listed(mut self) -> Self {
        self.want = Want::NotListed;
        self
    }
    fn score(mut self, s: f64) -> Self {
        match &mut self.want {
            Want::Listed { score, .. } => *score = Some(s),
            Want::NotListed => panic!("a score for an unlisted case"),
        }
        self
    }
}

/// The score formula of models/collision.toml: weight × severity × 0.5^(days_ago / 180).
fn decayed(weight: f64, severity: f64, days_ago: f64) -> f64 {
    weight * severity * 0.5f64.powf(days_ago / 180.0)
}

fn cases() -> Vec<Case> {
    let d = |n: i64| ago(A, n);
    let f = |n: i64| after(A, n);
    vec![
        // ---- activity windows: A − N < d ≤ A ----
        case("C1: a police B01 179 days old is active", A)
            .row(POLICE, "a", format!("{},S,B01,", d(179)))
            .listed("blue", "C1", "公安")
            .score(decayed(1.0, 1.0, 179.0)),
        case("C1: a police B01 180 days old is not active", A).row(POLICE, "a", format!("{},S,B01,", d(180))).not_listed(),
        case("C1: a school K1 179 days old is active", A).row(CONDUCT, "a", format!("SC01,{},K1", d(179))).listed("blue", "C1", "教育"),
        case("C1: a school K1 180 days old is not active", A).row(CONDUCT, "a", format!("SC01,{},K1", d(180))).not_listed(),
        case("C2: a police S01 364 days old is active", A).row(POLICE, "a", format!("{},S,S01,D04", d(364))).listed("orange", "C2", "公安"),
        case("C2: a police S01 365 days old is not active", A).row(POLICE, "a", format!("{},S,S01,D04", d(365))).not_listed(),
        case("C4: a police V04 364 days old is active", A).row(POLICE, "a", format!("{},V,V04,", d(364))).listed("blue", "C4", "公安"),
        case("C4: a police V04 365 days old is not active", A).row(POLICE, "a", format!("{},V,V04,", d(365))).not_listed(),
        case("C5: an attendance month whose last day is 59 days before A is active", A_MONTH_59)
            .row(ATTENDANCE, "a", "SC01,2026-09,6,21")
            .listed("yellow", "C5", "教育"),
        case("control: a civil LB period (as of 2026-11-28)", A_MONTH_59).row(CIVIL, "a", "LB,2026-01-01,").listed("blue", "C6", "民政"),
        case("C5: an attendance month whose last day is 60 days before A is not active", A_MONTH_60)
            .row(ATTENDANCE, "a", "SC01,2026-09,6,21")
            .not_listed(),
        case("control: a civil LB period (as of 2026-11-29)", A_MONTH_60).row(CIVIL, "a", "LB,2026-01-01,").listed("blue", "C6", "民政"),
        case("C5: an attendance month with 5 unexcused days (the threshold) is active", A)
            .row(ATTENDANCE, "a", "SC01,2026-10,5,21")
            .listed("yellow", "C5", "教育"),
        case("C5: an attendance month with 4 unexcused days is not a signal", A).row(ATTENDANCE, "a", "SC01,2026-10,4,21").not_listed(),
        // ---- red, through each of its four rules ----
        case("red: police role S, offence C01, disposition D05", A).row(POLICE, "a", format!("{},S,C01,D05", d(30))).listed("red", "C3", "公安"),
        case("red: a justice CC period covering A", A).row(JUSTICE, "a", format!("CC,{},{}", d(100), f(100))).listed("red", "C3", "司法"),
        case("red: C4 V01 (severity 3) 89 days old", A).row(POLICE, "a", format!("{},V,V01,", d(89))).listed("red", "C4", "公安"),
        case("not red: C4 V01 (severity 3) 90 days old, one category, is blue", A).row(POLICE, "a", format!("{},V,V01,", d(90))).listed("blue", "C4", "公安"),
        case("red: a C7 level-3 screening 89 days old", A).row(WELLBEING, "a", format!("{},3", d(89))).listed("red", "C7", "教育"),
        case("not red: a C7 level-3 screening 90 days old, alone, is blue", A).row(WELLBEING, "a", format!("{},3", d(90))).listed("blue", "C7", "教育"),
        case("red: C2 together with civil DU", A)
            .row(POLICE, "a", format!("{},S,S01,D01", d(30)))
            .row(CIVIL, "b", format!("DU,{},", d(400)))
            .listed("red", "C2,C6", "公安,民政")
            .score(decayed(2.0, 2.0, 30.0) + decayed(1.5, 3.0, 0.0) + 2.0),
        case("red: C2 (school K3) together with civil OR", A)
            .row(CONDUCT, "a", format!("SC01,{},K3", d(30)))
            .row(CIVIL, "b", format!("OR,{},", d(400)))
            .listed("red", "C2,C6", "教育,民政"),
        case("not red: C2 together with civil LB is orange", A)
            .row(POLICE, "a", format!("{},S,S01,D01", d(30)))
            .row(CIVIL, "b", format!("LB,{},", d(400)))
            .listed("orange", "C2,C6", "公安,民政"),
        // ---- orange, through each of its four rules ----
        case("orange: C2 alone (school K3)", A).row(CONDUCT, "a", format!("SC01,{},K3", d(30))).listed("orange", "C2", "教育"),
        case("orange: C3 alone via police role S, offence C01, disposition D04", A)
            .row(POLICE, "a", format!("{},S,C01,D04", d(30)))
            .listed("orange", "C3", "公安"),
        case("orange: three light categories C1 + C5 + C6", A)
            .row(POLICE, "a", format!("{},P,B01,", d(20)))
            .row(ATTENDANCE, "b", "SC01,2026-10,6,21")
            .row(CIVIL, "c", format!("LB,{},", d(300)))
            .listed("orange", "C1,C5,C6", "公安,教育,民政"),
        case("orange: C7 level 2 together with C6 LB", A)
            .row(WELLBEING, "a", format!("{},2", d(30)))
            .row(CIVIL, "b", format!("LB,{},", d(300)))
            .listed("orange", "C6,C7", "教育,民政"),
        case("not orange: C7 level 1 together with C6 LB is yellow", A)
            .row(WELLBEING, "a", format!("{},1", d(30)))
            .row(CIVIL, "b", format!("LB,{},", d(300)))
            .listed("yellow", "C6,C7", "教育,民政"),
        case("orange: a justice RL started 365 days ago is active", A).row(JUSTICE, "a", format!("RL,{},", d(365))).listed("orange", "C3", "司法"),
        case("RL: a justice RL started 366 days ago is not active", A).row(JUSTICE, "a", format!("RL,{},", d(366))).not_listed(),
        case("orange: RL ignores end_on (started 100 days ago, ended 50 days ago)", A)
            .row(JUSTICE, "a", format!("RL,{},{}", d(100), d(50)))
            .listed("orange", "C3", "司法"),
        case("CC: a justice CC period that ended the day before A is not active", A)
            .row(JUSTICE, "a", format!("CC,{},{}", d(200), d(1)))
            .not_listed(),
        // ---- yellow ----
        case("yellow: exactly two categories C1 + C6", A)
            .row(POLICE, "a", format!("{},S,B01,", d(10)))
            .row(CIVIL, "b", format!("LB,{},", d(300)))
            .listed("yellow", "C1,C6", "公安,民政"),
        case("yellow: two C1 records (distinct record ids) within 180 days", A)
            .row(POLICE, "a", format!("{},S,B01,", d(10)))
            .row(POLICE, "b", format!("{},S,B06,", d(100)))
            .listed("yellow", "C1", "公安"),
        case("not yellow: two C1 records, one of them 180 days old, is blue", A)
            .row(POLICE, "a", format!("{},S,B01,", d(10)))
            .row(POLICE, "b", format!("{},S,B06,", d(180)))
            .listed("blue", "C1", "公安"),
        case("yellow: C5 alone via enrollment E3", A).row(ENROLLMENT, "a", format!("SC01,E3,{}", d(30))).listed("yellow", "C5", "教育"),
        // ---- blue ----
        case("blue: one category, a civil LB period with empty valid_to", A)
            .row(CIVIL, "a", format!("LB,{},", d(500)))
            .listed("blue", "C6", "民政")
            .score(decayed(1.5, 1.0, 0.0)),
        // ---- periods: from ≤ A and (to empty or to ≥ A) ----
        case("period: valid_to exactly A covers A", A).row(CIVIL, "a", format!("LB,{},{}", d(200), A)).listed("blue", "C6", "民政"),
        case("period: valid_to A − 1 does not cover A", A).row(CIVIL, "a", format!("LB,{},{}", d(200), d(1))).not_listed(),
        case("period: valid_from exactly A covers A", A).row(CIVIL, "a", format!("LB,{A},")).listed("blue", "C6", "民政"),
        case("period: valid_from A + 1 is a future date, quarantined at ingest", A).future_row(CIVIL, "a", format!("LB,{},", f(1))).not_listed(),
        // ---- C5 from enrollment: the latest status on or before A, no window ----
        case("C5: E3 then a later E1 before A clears it", A)
            .row(ENROLLMENT, "a", format!("SC01,E3,{}", d(100)))
            .row(ENROLLMENT, "b", format!("SC01,E1,{}", d(10)))
            .not_listed(),
        case("C5: E3 then a later E1 dated exactly A clears it", A)
            .row(ENROLLMENT, "a", format!("SC01,E3,{}", d(100)))
            .row(ENROLLMENT, "b", format!("SC01,E1,{A}"))
            .not_listed(),
        case("C5: E3 then an E1 dated after A (quarantined) is still C5", A)
            .row(ENROLLMENT, "a", format!("SC01,E3,{}", d(100)))
            .future_row(ENROLLMENT, "b", format!("SC01,E1,{}", f(5)))
            .listed("yellow", "C5", "教育"),
        case("C5: E3 dated long ago (no window) is still active", A).row(ENROLLMENT, "a", format!("SC01,E3,{}", d(1500))).listed("yellow", "C5", "教育"),
        // ---- C7: the latest screening on or before A, within 180 days ----
        case("C7: a level-3 screening then a later level-0 screening clears C7", A)
            .row(WELLBEING, "a", format!("{},3", d(60)))
            .row(WELLBEING, "b", format!("{},0", d(10)))
            .not_listed(),
        case("C7: a level-3 screening then a later level-1 one: the latest counts, blue not red", A)
            .row(WELLBEING, "a", format!("{},3", d(60)))
            .row(WELLBEING, "b", format!("{},1", d(10)))
            .listed("blue", "C7", "教育"),
        case("C7: a level-2 screening 179 days old is active", A).row(WELLBEING, "a", format!("{},2", d(179))).listed("blue", "C7", "教育"),
        case("C7: a level-2 screening 180 days old is not active", A).row(WELLBEING, "a", format!("{},2", d(180))).not_listed(),
        // ---- age: birth date + 18 years > A ----
        case("age: the 18th birthday exactly on A is not listed", A).born("2008-11-24").row(CIVIL, "a", format!("LB,{},", d(300))).not_listed(),
        case("age: the 18th birthday on A + 1 is listed", A).born("2008-11-25").row(CIVIL, "a", format!("LB,{},", d(300))).listed("blue", "C6", "民政"),
        case("age: born 2008-12 (YYYY-MM, read as 2008-12-01) is listed", A)
            .born("2008-12")
            .row(CIVIL, "a", format!("LB,{},", d(300)))
            .listed("blue", "C6", "民政"),
        case("age: born 2008-11 (YYYY-MM, read as 2008-11-01) is not listed", A).born("2008-11").row(CIVIL, "a", format!("LB,{},", d(300))).not_listed(),
        // ---- police roles and C3 ----
        case("role P never feeds C3: P, S01, D05 is C2 only, orange", A).row(POLICE, "a", format!("{},P,S01,D05", d(30))).listed("orange", "C2", "公安"),
        case("role S with a B code and D06 feeds C1 and C3, red", A).row(POLICE, "a", format!("{},S,B03,D06", d(30))).listed("red", "C1,C3", "公安"),
        // ---- collision: active signals from two departments ----
        case("collision: a school K1 and a police B01, one category from two departments", A)
            .row(CONDUCT, "a", format!("SC01,{},K1", d(20)))
            .row(POLICE, "b", format!("{},S,B01,", d(30)))
            // two distinct C1 records within 180 days: yellow, though one category
            .listed("yellow", "C1", "公安,教育"),
        case("collision: a police V04 and a school BV, one category, blue", A)
            .row(POLICE, "a", format!("{},V,V04,", d(100)))
            .row(CONDUCT, "b", format!("SC01,{},BV", d(120)))
            .listed("blue", "C4", "公安,教育")
            .score(decayed(2.5, 2.0, 100.0) + 2.0),
        case("no collision: C1 from police only", A).row(POLICE, "a", format!("{},S,B01,", d(30))).listed("blue", "C1", "公安"),
        // ---- a correction: the same record id in a later file replaces the earlier row ----
        case("correction: S01 re-sent as B01 in a later file is C1, blue, not C2", A)
            .row(POLICE, "a", format!("{},S,S01,D04", d(40)))
            .row(POLICE_LATER, "a", format!("{},S,B01,D04", d(40)))
            .listed("blue", "C1", "公安"),
        // ---- reasons and evidence ----
        case(REASONS_CASE, A)
            .row(POLICE, "a", format!("{},S,S01,D04", d(10)))
            .row(POLICE, "b", format!("{},S,S01,D04", d(40)))
            .listed("orange", "C2", "公安"),
    ]
}

/// The person key, record-id prefix, township and gender of the case at `index`.
fn person_of(index: usize) -> (String, String, &'static str, &'static str) {
    let n = index + 1;
    (pk(n), format!("R{n:03}"), if n % 2 == 0 { "431102002" } else { "431102001" }, if n % 2 == 0 { "2" } else { "1" })
}

fn township_name(code: &str) -> &'static str {
    match code {
        "431102001" => "城关镇",
        "431102002" => "东城街道",
        other => panic!("no township {other}"),
    }
}

/// The intervention level the spec derives from the active categories (issue 13, point 7: one
/// who shows none of the three levels' behaviours but is a victim, in care or in distress
/// needs protection).
fn intervention(categories: &str) -> &'static str {
    let has = |c: &str| categories.split(',').any(|x| x == c);
    if has("C3") {
        "offending"
    } else if has("C2") {
        "serious"
    } else if has("C1") {
        "general"
    } else if has("C4") || has("C6") || has("C7") {
        "protection"
    } else {
        "none"
    }
}

/// Age in whole years on `as_of` (a YYYY-MM birth date is that month's 1st).
fn age(birth: &str, as_of: &str) -> i64 {
    let b = humiao::session::parse_birth(birth).unwrap();
    let a = date(as_of);
    let mut years = (a.year() - b.year()) as i64;
    if (a.month(), a.day()) < (b.month(), b.day()) {
        years -= 1;
    }
    years
}

/// The model version named in models/collision.toml.
fn model_version() -> String {
    let text = std::fs::read_to_string(root().join("models/collision.toml")).unwrap();
    let line = text.lines().find(|l| l.trim_start().starts_with("version")).expect("a version line");
    line.split('=').nth(1).unwrap().trim().trim_matches('"').to_string()
}

const COLUMNS: [&str; 20] = [
    "rank",
    "person_key",
    "tier",
    "score",
    "intervention",
    "categories",
    "n_categories",
    "departments",
    "collision",
    "age",
    "township_code",
    "township_name",
    "reasons",
    "evidence",
    "link_methods",
    "change",
    "first_listed_on",
    "as_of",
    "model_version",
    "units",
];

type Row = BTreeMap<&'static str, String>;

/// Writes the inbox of the cases, runs `humiao run` as of `as_of`, checks every case, and
/// returns the risk list's rows in file order (with the temp dir kept alive).
fn run_group(as_of: &'static str) -> (tempfile::TempDir, Vec<Row>, Vec<(usize, Case)>) {
    let all: Vec<(usize, Case)> = cases().into_iter().enumerate().filter(|(_, c)| c.as_of == as_of).collect();
    assert!(!all.is_empty(), "no case as of {as_of}");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    townships(dir);

    // The inbox: one file per table (two for the police correction), rows in case order.
    let mut files: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut future: BTreeSet<(String, String)> = BTreeSet::new();
    for (i, c) in &all {
        let (key, prefix, township, gender) = person_of(*i);
        for (file, id, rest) in &c.rows {
            let lines = files
                .entry(file)
                .or_insert_with(|| vec![header(table_of(file), &["person_key"])]);
            lines.push(format!("{key},{},{gender},{township},{prefix}{id},{rest}", c.birth));
        }
        for id in &c.future {
            let table = c.rows.iter().find(|(_, i2, _)| i2 == id).map(|(f, _, _)| table_of(f)).unwrap();
            future.insert((table.to_string(), format!("{prefix}{id}")));
        }
    }
    for (file, lines) in &files {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        write_csv(&dir.join("inbox").join(file), &refs);
    }
    let key = key_file(dir, DEMO_KEY);
    let run = pipeline_at("run", dir, &dir.join("lake"), &dir.join("out"), &key, as_of, None);
    assert_eq!(run.code, 0, "humiao run as of {as_of}\n{}", run.stderr);

    // The fixtures are valid: the only quarantined rows are the intended future dates.
    let quarantined: BTreeSet<(String, String)> = lake_query(&dir.join("lake"), "SELECT table_name, record_id, reason FROM quarantine")
        .into_iter()
        .map(|r| {
            assert_eq!(r[2], "future_date", "fixture row {}/{} is quarantined: {}", r[0], r[1], r[2]);
            (r[0].clone(), r[1].clone())
        })
        .collect();
    assert_eq!(quarantined, future, "the quarantined rows as of {as_of}");

    let path = dir.join("out").join(as_of).join("risk_list.parquet");
    let sql = format!("SELECT {} FROM t", COLUMNS.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", "));
    let rows: Vec<Row> = parquet_rows(&path, &sql).into_iter().map(|r| COLUMNS.iter().copied().zip(r).collect()).collect();
    check_cases(as_of, &all, &rows);
    (tmp, rows, all)
}

fn check_cases(as_of: &str, all: &[(usize, Case)], rows: &[Row]) {
    let mut by_key: BTreeMap<String, &Row> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    for r in rows {
        if by_key.insert(r["person_key"].clone(), r).is_some() {
            failures.push(format!("person {} is listed twice", r["person_key"]));
        }
    }
    let version = model_version();
    let mut known = BTreeSet::new();
    for (i, c) in all {
        let (key, _, township, _) = person_of(*i);
        known.insert(key.clone());
        let got = by_key.get(&key);
        let mut fail = |what: &str, want: &str, got: &str| failures.push(format!("case `{}`: {what}: want {want:?}, got {got:?}", c.name));
        match (&c.want, got) {
            (Want::NotListed, None) => {}
            (Want::NotListed, Some(r)) => fail("listed", "not listed", &format!("{} {}", r["tier"], r["categories"])),
            (Want::Listed { tier, .. }, None) => fail("listed", tier, "not listed"),
            (Want::Listed { tier, categories, departments, score }, Some(r)) => {
                let collision = if departments.contains(',') { "true" } else { "false" };
                let n = categories.split(',').count().to_string();
                let checks: Vec<(&str, String)> = vec![
                    ("tier", tier.to_string()),
                    ("categories", categories.to_string()),
                    ("n_categories", n),
                    ("departments", departments.to_string()),
                    ("collision", collision.to_string()),
                    ("intervention", intervention(categories).to_string()),
                    ("age", age(c.birth, as_of).to_string()),
                    ("township_code", township.to_string()),
                    ("township_name", township_name(township).to_string()),
                    ("change", "new".to_string()),
                    ("first_listed_on", as_of.to_string()),
                    ("as_of", as_of.to_string()),
                    ("model_version", version.clone()),
                ];
                for (col, want) in checks {
                    if r[col] != want {
                        fail(col, &want, &r[col]);
                    }
                }
                if let Some(s) = score {
                    let want = (s * 1000.0).round() / 1000.0;
                    match r["score"].parse::<f64>() {
                        Ok(g) if (g - want).abs() < 0.0006 => {}
                        _ => fail("score", &format!("{want:.3}"), &r["score"]),
                    }
                }
                for col in ["reasons", "evidence", "units"] {
                    if r[col].is_empty() {
                        fail(col, "not empty", "");
                    }
                }
            }
        }
    }
    for r in rows {
        if !known.contains(&r["person_key"]) {
            failures.push(format!("an unknown person is listed: {:?}", r));
        }
    }
    assert!(failures.is_empty(), "as of {as_of}, {} failure(s):\n{}", failures.len(), failures.join("\n"));
}

/// Ranked by tier (red first), then score descending, then person_key; rank is 1..n.
fn check_ranking(rows: &[Row]) {
    let tier_order = |t: &str| ["red", "orange", "yellow", "blue"].iter().position(|x| *x == t).unwrap_or_else(|| panic!("tier {t}"));
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["rank"], (i + 1).to_string(), "rank of row {i}: {r:?}");
    }
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let key = |r: &Row| (tier_order(&r["tier"]), -r["score"].parse::<f64>().unwrap(), r["person_key"].clone());
        assert!(key(a) < key(b), "rows out of order:\n{a:?}\n{b:?}");
    }
    let tiers: BTreeSet<&str> = rows.iter().map(|r| r["tier"].as_str()).collect();
    assert_eq!(tiers.len(), 4, "the cases cover every tier: {tiers:?}");
}

/// Full-width punctuation read as its ASCII form, for comparing Chinese text.
fn ascii_punct(s: &str) -> String {
    s.replace('：', ":").replace('，', ",").replace('；', ";")
}

#[test]
fn the_case_table_is_well_formed() {
    let all = cases();
    let names: BTreeSet<&str> = all.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), all.len(), "case names are unique");
    let dates: BTreeSet<&str> = all.iter().map(|c| c.as_of).collect();
    assert_eq!(dates, [A, A_MONTH_59, A_MONTH_60].into_iter().collect(), "each as-of date has its test");
    for c in &all {
        if let Want::Listed { categories, departments, .. } = &c.want {
            let cats: Vec<&str> = categories.split(',').collect();
            let mut sorted = cats.clone();
            sorted.sort();
            assert_eq!(cats, sorted, "case `{}`: categories sorted", c.name);
            let deps: Vec<&str> = departments.split(',').collect();
            let mut sorted = deps.clone();
            sorted.sort();
            assert_eq!(deps, sorted, "case `{}`: departments sorted", c.name);
        }
        let ids: BTreeSet<(&str, &str)> = c.rows.iter().map(|(f, id, _)| (table_of(f), *id)).collect();
        let corrections = c.rows.iter().filter(|(f, _, _)| *f == POLICE_LATER).count();
        assert_eq!(ids.len() + corrections, c.rows.len(), "case `{}`: record ids are distinct per table", c.name);
    }
    // The date helpers agree with the spec's examples.
    assert_eq!(ago(A, 180), "2026-05-28");
    assert_eq!(ago(A_MONTH_59, 59), "2026-09-30");
    assert_eq!(ago(A_MONTH_60, 60), "2026-09-30");
}

#[test]
fn rules_as_of_2026_11_24() {
    let (_tmp, rows, all) = run_group(A);
    check_ranking(&rows);

    // reasons and evidence of the person with two S01 police records
    let (i, _) = all.iter().find(|(_, c)| c.name == REASONS_CASE).unwrap();
    let (key, prefix, _, _) = person_of(*i);
    let r = rows.iter().find(|r| r["person_key"] == key).expect("the reasons case is listed");
    let reasons = ascii_punct(&r["reasons"]);
    let want = format!("严重不良行为:公安记录2次,最近{}", ago(A, 10));
    assert!(reasons.contains(&want), "reasons {:?} lack {want:?}", r["reasons"]);
    assert!(r["reasons"].contains("结伙斗殴、寻衅滋事"), "reasons {:?} lack the code label", r["reasons"]);
    for id in ["a", "b"] {
        let rec = format!("police_incidents/{prefix}{id}");
        assert!(r["evidence"].contains(&rec), "evidence {:?} lacks {rec}", r["evidence"]);
    }
    assert!(r["evidence"].starts_with("C2:"), "evidence {:?} is grouped by category", r["evidence"]);
}

#[test]
fn attendance_month_59_days_before_as_of_2026_11_28() {
    run_group(A_MONTH_59);
}

#[test]
fn attendance_month_60_days_before_as_of_2026_11_29() {
    run_group(A_MONTH_60);
}
