//! The collision model (碰撞模型) as data: `models/collision.toml`, read, checked and turned into
//! SQL. Nothing here touches data; [`crate::score`] runs the SQL.
//!
//! Evaluation is one plan over a table of as-of dates (`model_asof`), so that the list (one date)
//! and the trend (24 month ends) share the same rules and the same code:
//! `active.sql` (every signal active on each date) → `scored.sql` (one row per person and date:
//! facts, tier, intervention, score).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{Codebook, RecordKind, TableContract, TierFacts, sha256_hex};
use crate::error::{Error, Result};
use crate::sql::{Template, lit};

const ACTIVE_SQL: &str = include_str!("active.sql");
const SCORED_SQL: &str = include_str!("scored.sql");

/// The last day of a signal that stays active (a period without an end).
const OPEN_END: i64 = 2_147_483_647;

/// How a rule decides whether a signal is active on the as-of date A.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// The signal's date d lies in the last `days` days: A − days < d ≤ A.
    Within,
    /// The period covers A: from ≤ A and (to empty or to ≥ A).
    Period,
    /// from ≤ A ≤ from + `days`; the period's own end is ignored.
    FixedPeriod,
    /// The person's latest record of its table on or before A (and, with `days`, within them).
    Latest,
}

/// One `[[active]]` rule: which signals it governs and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveRule {
    pub category: String,
    pub kind: Option<RecordKind>,
    pub table: Option<String>,
    pub codes: Option<Vec<String>>,
    pub rule: RuleKind,
    pub days: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    pub name: String,
    /// SQL conditions over the facts; the tier holds when any of them does.
    pub when: Vec<String>,
    /// How the list names each rule of `when`, in Chinese (`{C1}`: a category's label,
    /// `{categories}`: the person's own categories); derived from the rule when absent.
    pub labels: Option<Vec<String>>,
    /// What the codebook's `[tiers]` says of it (set on load).
    #[serde(skip)]
    pub facts: TierFacts,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterventionRule {
    pub name: String,
    pub label: String,
    pub when: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreSpec {
    pub half_life_days: f64,
    pub collision_bonus: f64,
    pub weights: BTreeMap<String, f64>,
}

/// `[trend]`: the month ends evaluated for leadership.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendSpec {
    /// How many month ends on or before the as-of date (default 24).
    pub months: usize,
    /// The tiers that make a 重点青少年.
    pub key_youth_tiers: Vec<String>,
    /// A SQL condition over an active signal: the person is 留守 (for the fairness panel).
    pub left_behind: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    version: String,
    max_age_years: i64,
    collision_min_departments: i64,
    active: Vec<ActiveRule>,
    facts: BTreeMap<String, String>,
    tiers: Vec<TierRule>,
    interventions: Vec<InterventionRule>,
    score: ScoreSpec,
    trend: TrendSpec,
}

/// The model, read from its file and checked against the codebook and the table contracts.
#[derive(Debug, Clone)]
pub struct Model {
    pub path: PathBuf,
    pub version: String,
    pub sha256: String,
    pub max_age_years: i64,
    pub collision_min_departments: i64,
    pub active: Vec<ActiveRule>,
    pub facts: BTreeMap<String, String>,
    pub tiers: Vec<TierRule>,
    pub interventions: Vec<InterventionRule>,
    pub score: ScoreSpec,
    pub trend: TrendSpec,
    /// The categories (C1…C7), from the codebook's `[categories]`.
    pub categories: Vec<String>,
    /// The tables whose `latest` record counts (record kind `state`).
    pub state_tables: Vec<String>,
    /// The departments (sources) of the table contracts, sorted.
    pub sources: Vec<String>,
}

/// Names the facts may not take: the built-in ones and the signal columns.
const BUILT_IN: [&str; 6] = ["n_categories", "n_departments", "collision", "person_key", "as_of", "left_behind"];

impl Model {
    pub fn load(path: &Path, codebook: &Codebook, tables: &[TableContract]) -> Result<Model> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Usage(format!("model file {} not found", path.display())),
            _ => Error::io(path, e),
        })?;
        let file: ModelFile = toml::from_str(&text).map_err(|e| Error::config(path, e.to_string()))?;
        let categories: Vec<String> =
            codebook.section("categories").map(|s| s.keys().cloned().collect()).unwrap_or_default();
        let bad = |problem: String| Err(Error::config(path, problem));
        if categories.is_empty() {
            return bad("the codebook has no [categories]".into());
        }
        let state_tables: Vec<String> =
            tables.iter().filter(|t| t.kind == RecordKind::State).map(|t| t.table.clone()).collect();
        for (i, r) in file.active.iter().enumerate() {
            let n = i + 1;
            if !categories.contains(&r.category) {
                return bad(format!("[[active]] rule {n}: unknown category {}", r.category));
            }
            if let Some(t) = &r.table
                && !tables.iter().any(|c| &c.table == t)
            {
                return bad(format!("[[active]] rule {n}: no table contract for {t}"));
            }
            let needs_days = matches!(r.rule, RuleKind::Within | RuleKind::FixedPeriod);
            if needs_days && r.days.is_none() {
                return bad(format!("[[active]] rule {n}: rule {:?} needs `days`", r.rule));
            }
            if r.days.is_some_and(|d| d < 0) {
                return bad(format!("[[active]] rule {n}: `days` must not be negative"));
            }
            if r.rule == RuleKind::Latest {
                let on_state = r.kind == Some(RecordKind::State)
                    || r.table.as_ref().is_some_and(|t| state_tables.contains(t));
                if !on_state {
                    return bad(format!(
                        "[[active]] rule {n}: a `latest` rule must name kind = \"state\" or a table of that kind"
                    ));
                }
            }
        }
        for name in file.facts.keys() {
            let reserved = BUILT_IN.contains(&name.as_str()) || categories.iter().any(|c| c.to_lowercase() == *name);
            if reserved || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return bad(format!("[facts] {name}: not a free lowercase name"));
            }
        }
        if file.tiers.is_empty() {
            return bad("no [[tiers]]".into());
        }
        let mut file = file;
        for t in &mut file.tiers {
            match codebook.tiers.get(&t.name) {
                Some(facts) => t.facts = facts.clone(),
                None => return bad(format!("tier {}: the codebook's [tiers] has no entry for it", t.name)),
            }
            if let Some(labels) = &t.labels
                && labels.len() != t.when.len()
            {
                return bad(format!("tier {}: {} labels for {} rules", t.name, labels.len(), t.when.len()));
            }
            // A placeholder no category fills would reach the list as written.
            for label in t.labels.iter().flatten() {
                let mut rest = label.as_str();
                while let Some(open) = rest.find('{') {
                    let close = rest[open..].find('}').map(|c| open + c);
                    let name = close.map(|c| &rest[open + 1..c]);
                    match name {
                        Some(n) if n == "categories" || categories.iter().any(|c| c == n) => rest = &rest[close.unwrap_or(0) + 1..],
                        _ => return bad(format!("tier {}: label {label:?} has a placeholder that is neither a category nor {{categories}}", t.name)),
                    }
                }
            }
        }
        for c in file.score.weights.keys() {
            if !categories.contains(c) {
                return bad(format!("[score.weights]: unknown category {c}"));
            }
        }
        for t in &file.trend.key_youth_tiers {
            if !file.tiers.iter().any(|x| &x.name == t) {
                return bad(format!("[trend] key_youth_tiers: no tier {t}"));
            }
        }
        if file.trend.months == 0 || file.trend.months > 60 {
            return bad("[trend] months must be between 1 and 60".into());
        }
        if file.score.half_life_days <= 0.0 {
            return bad("[score] half_life_days must be positive".into());
        }
        Ok(Model {
            path: path.to_path_buf(),
            version: file.version,
            sha256: sha256_hex(text.as_bytes()),
            max_age_years: file.max_age_years,
            collision_min_departments: file.collision_min_departments,
            active: file.active,
            facts: file.facts,
            tiers: file.tiers,
            interventions: file.interventions,
            score: file.score,
            trend: file.trend,
            categories,
            state_tables,
            sources: {
                let mut s: Vec<String> = tables.iter().map(|t| t.source.clone()).collect();
                s.sort();
                s.dedup();
                s
            },
        })
    }

    /// The SQL condition that selects the signals rule `r` governs (columns of `c`).
    fn matches(r: &ActiveRule) -> String {
        let mut parts = vec![format!("c.category = {}", lit(&r.category))];
        if let Some(k) = r.kind {
            parts.push(format!("c.record_kind = {}", lit(k.as_str())));
        }
        if let Some(t) = &r.table {
            parts.push(format!("c.table_name = {}", lit(t)));
        }
        if let Some(codes) = &r.codes {
            let list: Vec<String> = codes.iter().map(|c| lit(c)).collect();
            parts.push(format!("c.code IN ({})", list.join(", ")));
        }
        parts.join(" AND ")
    }

    /// `active.sql`: two statements (`signal_spans`, then `active`: one row per signal active on
    /// a date of `model_asof`), separated by a line of `;;`.
    pub fn active_sql(&self) -> Result<String> {
        let mut hi = String::from("CASE");
        let mut ago_zero = String::from("CASE");
        for r in &self.active {
            let when = Self::matches(r);
            let days = r.days.unwrap_or(0);
            // The last day number on which the signal is active (its first is its own date).
            let last = match r.rule {
                RuleKind::Within => format!("c.ev + {}", days - 1),
                RuleKind::Period => format!("coalesce(c.en, {OPEN_END})"),
                RuleKind::FixedPeriod => format!("c.ev + {days}"),
                RuleKind::Latest => match r.days {
                    Some(d) => format!("least(coalesce(c.nx - 1, {OPEN_END}), c.ev + {})", d - 1),
                    None => format!("coalesce(c.nx - 1, {OPEN_END})"),
                },
            };
            let zero = matches!(r.rule, RuleKind::Period | RuleKind::FixedPeriod);
            hi.push_str(&format!("\n    WHEN {when} THEN {last}"));
            ago_zero.push_str(&format!("\n    WHEN {when} THEN {zero}"));
        }
        hi.push_str("\n    END");
        ago_zero.push_str("\n    ELSE false END");
        Template::new("active.sql", ACTIVE_SQL)
            .set("state_tables", self.state_tables_list())
            .set("hi_case", hi)
            .set("ago_zero_case", ago_zero)
            .render()
    }

    fn state_tables_list(&self) -> String {
        if self.state_tables.is_empty() {
            return "''".into();
        }
        self.state_tables.iter().map(|t| lit(t)).collect::<Vec<_>>().join(", ")
    }

    /// `scored.sql`: one row per person and date with facts, tier, intervention and score
    /// (tier NULL: not listed).
    pub fn scored_sql(&self) -> Result<String> {
        let cat_flags: Vec<String> =
            self.categories.iter().map(|c| format!("bool_or(category = {}) AS {}", lit(c), c.to_lowercase())).collect();
        let source_flags: Vec<String> = self
            .sources
            .iter()
            .enumerate()
            .map(|(i, src)| format!("bool_or(source = {}) AS from_source_{i}", lit(src)))
            .collect();
        let n_categories: Vec<String> =
            self.categories.iter().map(|c| format!("CASE WHEN {} THEN 1 ELSE 0 END", c.to_lowercase())).collect();
        let n_departments: Vec<String> =
            (0..self.sources.len()).map(|i| format!("CASE WHEN from_source_{i} THEN 1 ELSE 0 END")).collect();
        let half = self.score.half_life_days;
        let cat_scores: Vec<String> = self
            .categories
            .iter()
            .map(|c| {
                format!(
                    "max(CASE WHEN category = {} THEN CAST(severity AS DOUBLE) * power(0.5, CAST(days_ago AS DOUBLE) / {half:?}) END) AS s_{}",
                    lit(c),
                    c.to_lowercase()
                )
            })
            .collect();
        let facts: Vec<String> = self.facts.iter().map(|(name, expr)| format!("{expr} AS {name}")).collect();
        let tier = {
            let mut s = String::from("CASE");
            for t in &self.tiers {
                let any: Vec<String> = t.when.iter().map(|w| format!("({w})")).collect();
                s.push_str(&format!("\n    WHEN {} THEN {}", any.join(" OR "), lit(&t.name)));
            }
            s.push_str(" END");
            s
        };
        let intervention = {
            let mut s = String::from("CASE");
            for i in &self.interventions {
                s.push_str(&format!("\n    WHEN {} THEN {}", i.when, lit(&i.name)));
            }
            s.push_str(" ELSE 'none' END");
            s
        };
        let mut score_terms: Vec<String> = self
            .categories
            .iter()
            .map(|c| {
                let w = self.score.weights.get(c).copied().unwrap_or(0.0);
                format!("{w:?} * coalesce(s_{}, 0.0)", c.to_lowercase())
            })
            .collect();
        score_terms.push(format!("CASE WHEN collision THEN {:?} ELSE 0.0 END", self.score.collision_bonus));
        Template::new("scored.sql", SCORED_SQL)
            .set("category_flags", cat_flags.join(",\n    "))
            .set("category_scores", cat_scores.join(",\n    "))
            .set("left_behind", &self.trend.left_behind)
            .set("source_flags", if source_flags.is_empty() { "0 AS no_sources".to_string() } else { source_flags.join(",\n    ") })
            .set("n_categories", n_categories.join(" + "))
            .set("n_departments", if n_departments.is_empty() { "0".to_string() } else { n_departments.join(" + ") })
            .set("facts", if facts.is_empty() { String::new() } else { format!(",\n    {}", facts.join(",\n    ")) })
            .set("min_departments", self.collision_min_departments.to_string())
            .set("tier_case", tier)
            .set("intervention_case", intervention)
            .set("score_expr", score_terms.join("\n      + "))
            .set("max_age", self.max_age_years.to_string())
            .render()
    }

    /// The number (1, 2, …, counted over every tier's rules in order) of the first tier rule
    /// that holds, over the columns of `scored`: the rule that made the tier, since the tier is
    /// the first one with a rule that holds. NULL: no tier.
    pub fn tier_rule_case(&self) -> String {
        let mut s = String::from("CASE");
        for (n, (_, when)) in self.tiers.iter().flat_map(|t| t.when.iter().map(move |w| (t, w))).enumerate() {
            s.push_str(&format!("\n    WHEN ({when}) THEN CAST({} AS BIGINT)", n + 1));
        }
        s.push_str(" END");
        s
    }

    /// Every tier rule in the order [`Model::tier_rule_case`] numbers them: (tier, its rule's
    /// number within the tier, its Chinese label). A label's `{C1}` … are the codebook's
    /// category labels; `{categories}` is left for the person's own categories.
    pub fn tier_rules(&self, codebook: &Codebook) -> Vec<(String, usize, String)> {
        let mut out = Vec::new();
        for t in &self.tiers {
            for (i, when) in t.when.iter().enumerate() {
                let label = match t.labels.as_ref().and_then(|l| l.get(i)) {
                    Some(l) => l.clone(),
                    None => derive_rule_label(when, &self.categories),
                };
                out.push((t.name.clone(), i + 1, category_labels(&label, codebook)));
            }
        }
        out
    }

    /// The tiers that make a 重点青少年 (`[trend] key_youth_tiers`), in the model's order.
    pub fn key_youth_tiers(&self) -> impl Iterator<Item = &TierRule> {
        self.tiers.iter().filter(|t| self.trend.key_youth_tiers.contains(&t.name))
    }

    /// Their short labels, joined as the lists and the report name 重点青少年: 红+橙.
    pub fn key_youth_label(&self) -> String {
        self.key_youth_tiers().map(|t| t.facts.label.as_str()).collect::<Vec<_>>().join("+")
    }

    /// What the list's 说明 sheet defines: the tiers (labels, rules, cadence, due days) and the
    /// categories (label, the departments whose records feed them, the responsible units).
    pub fn guide(&self, codebook: &Codebook, tables: &[TableContract]) -> Guide {
        let param = |k: String| codebook.params.get(&k).cloned().unwrap_or_default();
        let rules = self.tier_rules(codebook);
        let tiers = self
            .tiers
            .iter()
            .map(|t| TierGuide {
                name: t.name.clone(),
                rules: rules
                    .iter()
                    .filter(|(tier, _, _)| *tier == t.name)
                    .map(|(_, _, l)| l.replace("（{categories}）", "").replace("{categories}", "所涉类别"))
                    .collect(),
                key_youth: self.trend.key_youth_tiers.contains(&t.name),
                facts: t.facts.clone(),
            })
            .collect();
        let source_label = |s: &str| codebook.section("sources").and_then(|x| x.get(s)).map(|e| e.label.clone()).unwrap_or(s.to_string());
        let categories = self
            .categories
            .iter()
            .map(|c| {
                // sorted as the list's 来源部门 column sorts them
                let departments: std::collections::BTreeSet<String> =
                    tables.iter().filter(|t| table_feeds(t, c, codebook)).map(|t| source_label(&t.source)).collect();
                CategoryGuide {
                    id: c.clone(),
                    label: codebook.section("categories").and_then(|s| s.get(c)).map(|e| e.label.clone()).unwrap_or_default(),
                    departments: departments.into_iter().collect::<Vec<_>>().join("、"),
                    units: param(format!("categories.{c}.unit")),
                }
            })
            .collect();
        Guide { tiers, key_youth_label: self.key_youth_label(), categories, schools: false }
    }

    /// Tier name → rank (1 = the first, most urgent tier).
    pub fn tier_rank_case(&self, column: &str) -> String {
        let mut s = format!("CASE {column}");
        for (i, t) in self.tiers.iter().enumerate() {
            s.push_str(&format!(" WHEN {} THEN {}", lit(&t.name), i + 1));
        }
        s.push_str(" END");
        s
    }
}

/// A tier as the lists show it and their 说明 sheet defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierGuide {
    pub name: String,
    /// Its rules' labels, in order.
    pub rules: Vec<String>,
    /// Whether it makes a 重点青少年 (`[trend] key_youth_tiers`).
    pub key_youth: bool,
    /// Its label, title, colours, cadence, work and due days (the codebook's `[tiers]`).
    pub facts: TierFacts,
}

/// A category as the list's 说明 sheet defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryGuide {
    pub id: String,
    pub label: String,
    /// The departments whose records feed it (公安、教育).
    pub departments: String,
    /// The responsible units (包保单位).
    pub units: String,
}

/// The definitions the lists show: the tiers (their sheets, in the model's order), the
/// categories, the responsible units.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Guide {
    pub tiers: Vec<TierGuide>,
    /// [`Model::key_youth_label`]: 红+橙.
    pub key_youth_label: String,
    pub categories: Vec<CategoryGuide>,
    /// The reference folder names schools (`schools.csv`): the list shows a 学校 column.
    pub schools: bool,
}

/// Whether table `t` may feed category `c`: one of its codes does, or its signal's category
/// expression names it.
fn table_feeds(t: &TableContract, c: &str, codebook: &Codebook) -> bool {
    let quoted = format!("'{c}'");
    let named = t.signal.category.contains(&quoted) || t.signal.also.as_ref().is_some_and(|a| a.category.contains(&quoted));
    let section = t.signal.labels.clone().or_else(|| t.columns.iter().find(|x| x.name == t.signal.code.trim()).and_then(|x| x.codes.clone()));
    let coded = section
        .as_deref()
        .and_then(|s| codebook.section(s))
        .is_some_and(|entries| entries.values().any(|e| e.category.as_deref() == Some(c)));
    named || coded
}

/// `{C1}` … in a rule label replaced by the codebook's category labels.
fn category_labels(label: &str, codebook: &Codebook) -> String {
    let mut out = label.to_string();
    if let Some(cats) = codebook.section("categories") {
        for (id, e) in cats {
            out = out.replace(&format!("{{{id}}}"), &e.label);
        }
    }
    out
}

/// A rule's label when the model gives none: its AND-ed parts joined by " + ", a category flag
/// (`c2`) as `{C2}`, a count of categories as "N类风险" with the person's categories; any other
/// part as written.
fn derive_rule_label(when: &str, categories: &[String]) -> String {
    let parts: Vec<String> = when
        .split(" AND ")
        .flat_map(|p| p.split(" and "))
        .map(|part| {
            let p = part.trim().trim_start_matches('(').trim_end_matches(')').trim();
            if let Some(c) = categories.iter().find(|c| c.to_lowercase() == p) {
                return format!("{{{c}}}");
            }
            let count = p.strip_prefix("n_categories").map(str::trim);
            let parse = |rest: &str| rest.trim().parse::<i64>().ok();
            match count {
                Some(rest) if rest.starts_with(">=") => match parse(&rest[2..]) {
                    Some(k) => format!("{k}类及以上风险（{{categories}}）"),
                    None => p.to_string(),
                },
                Some(rest) if rest.starts_with('>') => match parse(&rest[1..]) {
                    Some(k) => format!("{}类及以上风险（{{categories}}）", k + 1),
                    None => p.to_string(),
                },
                Some(rest) if rest.starts_with('=') => match parse(&rest[1..]) {
                    Some(k) => format!("{k}类风险（{{categories}}）"),
                    None => p.to_string(),
                },
                _ => p.to_string(),
            }
        })
        .collect();
    parts.join(" + ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, Plan};

    fn plan() -> Plan {
        Plan::load(Path::new("pipelines/demo.toml"), Overrides::default()).unwrap()
    }

    #[test]
    fn the_default_model_loads_and_generates_its_sql() {
        let plan = plan();
        let m = Model::load(Path::new("models/collision.toml"), &plan.codebook, &plan.tables).unwrap();
        assert_eq!(m.tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["red", "orange", "yellow", "blue"]);
        assert_eq!(m.categories.len(), 7);
        let active = m.active_sql().unwrap();
        assert!(active.contains("WHEN c.category = 'C1' THEN c.ev + 179"), "{active}");
        assert!(active.contains("c.code IN ('RL') THEN c.ev + 365"), "{active}");
        assert!(active.contains("WHEN c.category = 'C7' AND c.record_kind = 'state' THEN least(coalesce(c.nx - 1, 2147483647), c.ev + 179)"), "{active}");
        let scored = m.scored_sql().unwrap();
        assert!(scored.contains("c3_custodial"), "{scored}");
        assert!(!scored.contains('{'), "a placeholder was left: {scored}");
    }

    #[test]
    fn a_tier_rule_without_a_label_is_named_from_its_conditions() {
        let cats: Vec<String> = (1..=7).map(|i| format!("C{i}")).collect();
        assert_eq!(derive_rule_label("c2 AND c6_no_carer", &cats), "{C2} + c6_no_carer");
        assert_eq!(derive_rule_label("n_categories >= 3", &cats), "3类及以上风险（{categories}）");
        assert_eq!(derive_rule_label("n_categories = 1", &cats), "1类风险（{categories}）");
        let plan = plan();
        let m = Model::load(Path::new("models/collision.toml"), &plan.codebook, &plan.tables).unwrap();
        let rules = m.tier_rules(&plan.codebook);
        assert_eq!(rules.len(), m.tiers.iter().map(|t| t.when.len()).sum::<usize>());
        assert_eq!(rules[3], ("red".to_string(), 4, "严重不良行为 + 事实无人抚养或孤儿".to_string()));
        let guide = m.guide(&plan.codebook, &plan.tables);
        let c4 = guide.categories.iter().find(|c| c.id == "C4").unwrap();
        assert_eq!((c4.label.as_str(), c4.departments.as_str(), c4.units.as_str()), ("受侵害", "公安、教育", "公安、民政"));
        assert_eq!((guide.tiers[1].facts.cadence.as_str(), guide.tiers[1].facts.title.as_str()), ("每周", "橙色预警"));
        assert_eq!(guide.tiers.iter().map(|t| t.key_youth).collect::<Vec<_>>(), [true, true, false, false]);
    }

    #[test]
    fn a_tier_label_with_an_unknown_placeholder_is_refused() {
        let plan = plan();
        let text = std::fs::read_to_string("models/collision.toml").unwrap().replace("labels = [\"{C2}\", \"{C3}\"", "labels = [\"{C9}\", \"{C3}\"");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).unwrap();
        let err = Model::load(&path, &plan.codebook, &plan.tables).unwrap_err().to_string();
        assert!(err.contains("tier orange: label \"{C9}\" has a placeholder"), "{err}");
    }

    #[test]
    fn a_latest_rule_on_event_records_is_refused() {
        let plan = plan();
        let text = std::fs::read_to_string("models/collision.toml")
            .unwrap()
            .replace("category = \"C7\"\nkind = \"state\"\nrule = \"latest\"", "category = \"C7\"\nrule = \"latest\"");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).unwrap();
        let err = Model::load(&path, &plan.codebook, &plan.tables).unwrap_err().to_string();
        assert!(err.contains("a `latest` rule must name"), "{err}");
    }
}
