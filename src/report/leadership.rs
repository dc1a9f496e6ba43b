//! Builds what leadership sees ([`LeadershipView`]) from the trend's counts: every number goes
//! through [`suppress`] together with the totals it adds up to, before anything is drawn.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::config::Codebook;
use crate::ingest::reference::Township;
use crate::model::Model;
use crate::report::quality::QualityReport;
use crate::report::suppress::{Group, suppress};
use crate::report::view::*;
use crate::score::trend::Trend;

/// Everything the view is made from.
pub struct ViewInput<'a> {
    pub county: &'a str,
    pub as_of: NaiveDate,
    pub model: &'a Model,
    pub codebook: &'a Codebook,
    pub townships: &'a [Township],
    pub trend: &'a Trend,
    pub quality: Option<&'a QualityReport>,
    pub threshold: u64,
    pub run_hash: String,
    pub task_counts: &'a [crate::score::TaskCount],
    /// The list of the as-of date, counted: the headline cards show these, so they equal the list.
    pub today: &'a Today,
    /// When the report is made, in the county's time zone.
    pub generated_at: String,
}

/// The as-of date's list in numbers (from the scoring's counts).
#[derive(Debug, Clone, Default)]
pub struct Today {
    pub listed: u64,
    /// People per tier, by tier name.
    pub tiers: BTreeMap<String, u64>,
    pub collision: u64,
    /// 新增 and 解除 against the previous scored date (all listed people are new on a first run).
    pub new: u64,
    pub lifted: u64,
    pub previous_as_of: Option<NaiveDate>,
}

impl Today {
    /// From a scoring's counts (`persons_listed`, `listed_<tier>`, `listed_collision`,
    /// `changes_new`, `changes_lifted`).
    pub fn from_counts(counts: &BTreeMap<String, u64>, model: &Model, previous_as_of: Option<NaiveDate>) -> Today {
        let n = |k: &str| counts.get(k).copied().unwrap_or(0);
        Today {
            listed: n("persons_listed"),
            tiers: model.tiers.iter().map(|t| (t.name.clone(), n(&format!("listed_{}", t.name)))).collect(),
            collision: n("listed_collision"),
            new: n("changes_new"),
            lifted: n("changes_lifted"),
            previous_as_of,
        }
    }
}

/// The colour of the 新增 line (the tiers' colours are the codebook's, `[tiers]`).
const NEW_COLOUR: (u8, u8, u8) = (0xFB, 0x8C, 0x00);

/// The categories' colours in charts, C1 first: Tableau 10, a qualitative palette of hues that
/// stay apart, with its red and yellow (the tiers' colours, which a category must not be read
/// as) last. No two share a colour family (blue, purple, brown, teal, green, pink, orange, …).
pub(crate) const CATEGORY_COLOURS: [(u8, u8, u8); 8] = [
    (0x4E, 0x79, 0xA7), // blue
    (0xB0, 0x7A, 0xA1), // purple
    (0x9C, 0x75, 0x5F), // brown
    (0x76, 0xB7, 0xB2), // teal
    (0x59, 0xA1, 0x4F), // green
    (0xFF, 0x9D, 0xA7), // pink
    (0xF2, 0x8E, 0x2B), // orange
    (0xED, 0xC9, 0x48), // yellow
];

/// Counts and the groups they form, suppressed together.
#[derive(Default)]
struct Arena {
    values: Vec<u64>,
    groups: Vec<Group>,
}

impl Arena {
    fn cell(&mut self, v: u64) -> usize {
        self.values.push(v);
        self.values.len() - 1
    }
    fn group(&mut self, members: Vec<usize>, total: Option<usize>) {
        self.groups.push(Group { members, total });
    }
}

/// A view cell before suppression: an index into the arena.
type Ix = usize;

/// Of one date's tier cells (in the model's tier order), those of the 重点青少年 tiers.
fn key_youth_cells(model: &Model, tiers: &[Ix]) -> Vec<Ix> {
    model.tiers.iter().zip(tiers).filter(|(tier, _)| model.trend.key_youth_tiers.contains(&tier.name)).map(|(_, &ix)| ix).collect()
}

/// The as-of date's cells.
struct TodayIx {
    listed: Ix,
    key: Ix,
    tiers: Vec<Ix>,
    collision: Ix,
}

pub fn build_view(input: &ViewInput) -> LeadershipView {
    let t = input.trend;
    let model = input.model;
    let months = t.months.clone();
    let latest = *months.last().expect("the trend has months");
    let mut a = Arena::default();

    // Per month: tiers add up to the listed total; the key-youth tiers to 重点青少年; new and
    // lifted are hidden together.
    let mut listed_ix = Vec::new();
    let mut key_ix = Vec::new();
    let mut tier_ix: Vec<Vec<Ix>> = vec![Vec::new(); model.tiers.len()];
    let mut category_ix: Vec<Vec<Ix>> = vec![Vec::new(); model.categories.len()];
    let (mut collision_ix, mut new_ix, mut lifted_ix) = (Vec::new(), Vec::new(), Vec::new());
    for &m in &months {
        let listed = a.cell(t.get(m, "listed", "all"));
        let key = a.cell(t.get(m, "key_youth", "all"));
        let tiers: Vec<Ix> = model.tiers.iter().map(|tier| a.cell(t.get(m, "tier", &tier.name))).collect();
        a.group(tiers.clone(), Some(listed));
        a.group(key_youth_cells(model, &tiers), Some(key));
        for (i, ix) in tiers.into_iter().enumerate() {
            tier_ix[i].push(ix);
        }
        for (i, c) in model.categories.iter().enumerate() {
            category_ix[i].push(a.cell(t.get(m, "category", c)));
        }
        collision_ix.push(a.cell(t.get(m, "collision", "all")));
        let (n, l) = (a.cell(t.get(m, "new", "all")), a.cell(t.get(m, "lifted", "all")));
        a.group(vec![n, l], None);
        new_ix.push(n);
        lifted_ix.push(l);
        listed_ix.push(listed);
        key_ix.push(key);
    }
    let listed_latest = *listed_ix.last().expect("months");
    let key_latest = *key_ix.last().expect("months");

    // Townships of the latest month: they add up to the listed and 重点 totals.
    let towns: Vec<(&Township, Ix, Ix)> = input
        .townships
        .iter()
        .map(|tw| (tw, a.cell(t.get(latest, "township", &tw.code)), a.cell(t.get(latest, "township_key_youth", &tw.code))))
        .collect();
    a.group(towns.iter().map(|x| x.1).collect(), Some(listed_latest));
    a.group(towns.iter().map(|x| x.2).collect(), Some(key_latest));

    // The co-occurrence matrix of the latest month.
    let cats = &model.categories;
    let mut pair_ix: BTreeMap<(usize, usize), Ix> = BTreeMap::new();
    for i in 0..cats.len() {
        for j in i..cats.len() {
            let v = if i == j {
                t.get(latest, "category", &cats[i])
            } else {
                t.get(latest, "pair", &format!("{}+{}", cats[i], cats[j]))
            };
            pair_ix.insert((i, j), a.cell(v));
        }
    }

    // Fairness: 重点青少年 (red + orange) by gender and by 留守, against the minors known to the
    // lake (every 留守 child is listed by the default rules, so the listed rate would say nothing).
    let genders: Vec<(String, String)> = input
        .codebook
        .section("person.gender")
        .map(|s| s.iter().map(|(k, e)| (k.clone(), e.label.clone())).collect())
        .unwrap_or_default();
    let gender_cells: Vec<(String, Ix, Ix)> = genders
        .iter()
        .map(|(code, label)| {
            (label.clone(), a.cell(t.get(latest, "population_gender", code)), a.cell(t.get(latest, "gender_key_youth", code)))
        })
        .collect();
    a.group(gender_cells.iter().map(|g| g.2).collect(), Some(key_latest));
    let population_total: u64 = genders.iter().map(|(c, _)| t.get(latest, "population_gender", c)).sum();
    let pop_total = a.cell(population_total);
    a.group(gender_cells.iter().map(|g| g.1).collect(), Some(pop_total));
    let lb_key = t.get(latest, "left_behind_key_youth", "yes");
    let lb_pop = t.get(latest, "population_left_behind", "yes");
    let key_now = t.get(latest, "key_youth", "all");
    let lb = [
        ("留守".to_string(), a.cell(lb_pop), a.cell(lb_key)),
        ("非留守".to_string(), a.cell(population_total.saturating_sub(lb_pop)), a.cell(key_now.saturating_sub(lb_key))),
    ];
    a.group(vec![lb[0].2, lb[1].2], Some(key_latest));
    a.group(vec![lb[0].1, lb[1].1], Some(pop_total));

    // Tasks per unit: closed, overdue and the rest add up to the unit's tasks.
    let task_ix: Vec<(String, Ix, Ix, Ix)> = input
        .task_counts
        .iter()
        .map(|t| {
            let all = a.cell(t.tasks);
            let closed = a.cell(t.closed);
            let overdue = a.cell(t.overdue);
            let rest = a.cell(t.tasks.saturating_sub(t.closed + t.overdue));
            a.group(vec![closed, overdue, rest], Some(all));
            (t.unit.clone(), all, closed, overdue)
        })
        .collect();

    // The as-of date's list: its tiers add up to its total, its key-youth tiers to its 重点青少年;
    // its 新增 and 解除 are hidden together.
    let today = input.today;
    let today_tiers: Vec<Ix> = model.tiers.iter().map(|tier| a.cell(today.tiers.get(&tier.name).copied().unwrap_or(0))).collect();
    let today_listed = a.cell(today.listed);
    a.group(today_tiers.clone(), Some(today_listed));
    let key_tiers = key_youth_cells(model, &today_tiers);
    let today_key = a.cell(key_tiers.iter().map(|&ix| a.values[ix]).sum());
    a.group(key_tiers, Some(today_key));
    let today_collision = a.cell(today.collision);
    let (today_new, today_lifted) = (a.cell(today.new), a.cell(today.lifted));
    a.group(vec![today_new, today_lifted], None);
    let today_cells =
        (TodayIx { listed: today_listed, key: today_key, tiers: today_tiers, collision: today_collision }, today_new, today_lifted);

    let hidden = suppress(&a.values, &a.groups, input.threshold);
    let small = |v: u64| v > 0 && v < input.threshold;
    let cell = |ix: Ix| match (hidden[ix], small(a.values[ix])) {
        (false, _) => Cell::Shown(a.values[ix]),
        (true, true) => Cell::Suppressed,
        (true, false) => Cell::Withheld,
    };
    let cells = |v: &[Ix]| v.iter().map(|&ix| cell(ix)).collect::<Vec<_>>();
    let rate = |count: Ix, population: u64| match (cell(count), population) {
        (Cell::Shown(n), p) if p > 0 => Some(n as f64 * 1000.0 / p as f64),
        _ => None,
    };

    let tiers_hidden_total: Vec<Option<u64>> = (0..months.len())
        .map(|m| {
            let hidden_tiers = tier_ix.iter().filter(|ix| hidden[ix[m]]).count();
            let shown: u64 = tier_ix.iter().filter(|ix| !hidden[ix[m]]).map(|ix| a.values[ix[m]]).sum();
            (hidden_tiers > 0 && !hidden[listed_ix[m]]).then(|| a.values[listed_ix[m]] - shown)
        })
        .collect();
    let tiers: Vec<Series> = model
        .tiers
        .iter()
        .zip(&tier_ix)
        .map(|(tier, ix)| Series {
            key: tier.name.clone(),
            label: tier.facts.title.clone(),
            short: tier.facts.label.clone(),
            colour: tier.facts.colour.rgb(),
            cells: cells(ix),
        })
        .collect();
    // 重点青少年 in the key-youth tiers' labels (红+橙), drawn in the first one's colour.
    let key_youth_label = model.key_youth_label();
    let key_youth_colour = model.key_youth_tiers().next().map(|t| t.facts.colour.rgb()).unwrap_or(NEW_COLOUR);
    let category_labels: Vec<(String, String)> = cats
        .iter()
        .map(|c| {
            let label = input.codebook.section("categories").and_then(|s| s.get(c)).map(|e| e.label.clone()).unwrap_or_else(|| c.clone());
            (c.clone(), label)
        })
        .collect();
    let categories: Vec<Series> = category_labels
        .iter()
        .zip(&category_ix)
        .enumerate()
        .map(|(i, ((c, label), ix))| Series {
            key: c.clone(),
            label: label.clone(),
            short: String::new(),
            colour: CATEGORY_COLOURS[i % CATEGORY_COLOURS.len()],
            cells: cells(ix),
        })
        .collect();
    let collisions_and_key_youth = vec![
        Series { key: "key_youth".into(), label: "重点青少年".into(), short: String::new(), colour: key_youth_colour, cells: cells(&key_ix) },
        Series { key: "collision".into(), label: "碰撞命中".into(), short: String::new(), colour: (0x37, 0x47, 0x4F), cells: cells(&collision_ix) },
    ];
    let new_and_lifted = vec![
        Series { key: "new".into(), label: "新增".into(), short: String::new(), colour: NEW_COLOUR, cells: cells(&new_ix) },
        Series { key: "lifted".into(), label: "解除".into(), short: String::new(), colour: (0x43, 0xA0, 0x47), cells: cells(&lifted_ix) },
    ];
    // The cards: the as-of date's list, each against the latest month end before it; then the
    // list's 新增 and 解除 against the previous scored date.
    let (today_ix, today_new, today_lifted) = today_cells;
    let base = months.iter().rposition(|m| *m < input.as_of);
    let base_note = base.map(|b| format!("较{}月末", months[b].format("%Y年%-m"))).unwrap_or_default();
    let headline = |label: &str, now: Ix, series: &[Ix]| {
        let change = match (cell(now), base.map(|b| cell(series[b]))) {
            (Cell::Shown(x), Some(Cell::Shown(y))) => Some(x as i64 - y as i64),
            _ => None,
        };
        Headline { label: label.to_string(), now: cell(now), change, note: base_note.clone(), compared: base.is_some() }
    };
    let mut headlines =
        vec![headline("列入名单人数", today_ix.listed, &listed_ix), headline(&format!("重点青少年（{key_youth_label}）"), today_ix.key, &key_ix)];
    // The most urgent tier's own card.
    if let Some(first) = model.tiers.first() {
        headlines.push(headline(&first.facts.title, today_ix.tiers[0], &tier_ix[0]));
    }
    headlines.push(headline("碰撞命中", today_ix.collision, &collision_ix));
    let (new_note, lifted_note) = match input.today.previous_as_of {
        Some(d) => (format!("较上次运行（{d}）"), format!("较上次运行（{d}）")),
        None => ("首次运行：名单上的人都是新增".to_string(), "首次运行：没有上次的名单".to_string()),
    };
    headlines.push(Headline { label: "新增".into(), now: cell(today_new), change: None, note: new_note, compared: false });
    headlines.push(Headline { label: "解除".into(), now: cell(today_lifted), change: None, note: lifted_note, compared: false });

    let mut townships: Vec<TownshipRow> = towns
        .iter()
        .map(|(tw, listed, key)| TownshipRow {
            code: tw.code.clone(),
            name: tw.name.clone(),
            minors_population: tw.minors_population,
            listed: cell(*listed),
            key_youth: cell(*key),
            rate_per_1000: rate(*listed, tw.minors_population),
        })
        .collect();
    townships.sort_by(|x, y| match (x.rate_per_1000, y.rate_per_1000) {
        (Some(a), Some(b)) => b.total_cmp(&a).then_with(|| x.code.cmp(&y.code)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => x.code.cmp(&y.code),
    });
    let mut pairs = Vec::new();
    for i in 0..cats.len() {
        for j in 0..cats.len() {
            let ix = pair_ix[&(i.min(j), i.max(j))];
            pairs.push(PairCell { row: cats[i].clone(), col: cats[j].clone(), people: cell(ix) });
        }
    }
    let mut fairness = Vec::new();
    for (label, pop, listed) in &gender_cells {
        fairness.push(FairnessRow {
            dimension: "性别".into(),
            group: label.clone(),
            population: cell(*pop),
            listed: cell(*listed),
            rate_per_1000: rate(*listed, a.values[*pop]).filter(|_| !hidden[*pop]),
        });
    }
    for row in &townships {
        fairness.push(FairnessRow {
            dimension: "乡镇街道".into(),
            group: row.name.clone(),
            population: Cell::Shown(row.minors_population),
            listed: row.key_youth,
            rate_per_1000: match row.key_youth {
                Cell::Shown(n) if row.minors_population > 0 => Some(n as f64 * 1000.0 / row.minors_population as f64),
                _ => None,
            },
        });
    }
    for (label, pop, listed) in &lb {
        fairness.push(FairnessRow {
            dimension: "留守状态".into(),
            group: label.clone(),
            population: cell(*pop),
            listed: cell(*listed),
            rate_per_1000: rate(*listed, a.values[*pop]).filter(|_| !hidden[*pop]),
        });
    }
    let tasks = task_ix
        .iter()
        .map(|(unit, all, closed, overdue)| TaskRow { unit: unit.clone(), tasks: cell(*all), closed: cell(*closed), overdue: cell(*overdue) })
        .collect();
    let quality = input.quality.map(quality_summary).unwrap_or_default();
    LeadershipView {
        county: input.county.to_string(),
        as_of: input.as_of,
        model_version: model.version.clone(),
        threshold: input.threshold,
        months,
        tiers,
        key_youth_label,
        tiers_hidden_total,
        categories,
        collisions_and_key_youth,
        new_and_lifted,
        headlines,
        townships,
        pairs,
        category_labels,
        fairness,
        tasks,
        quality,
        run_hash: input.run_hash.clone(),
        generated_at: input.generated_at.clone(),
    }
}

fn quality_summary(q: &QualityReport) -> QualitySummary {
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut rejected = Vec::new();
    for f in &q.files {
        for (r, n) in &f.quarantined_by_reason {
            *reasons.entry(r.clone()).or_default() += n;
        }
        if let crate::ingest::FileStatus::Rejected(why) = &f.status {
            rejected.push((f.file.clone(), why.clone()));
        }
    }
    let mut by_reason: Vec<(String, u64)> = reasons.into_iter().collect();
    by_reason.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    QualitySummary {
        files_accepted: q.totals.files_accepted,
        files_rejected: q.totals.files_rejected,
        files_unrecognised: q.totals.files_unrecognised,
        rows_read: q.totals.rows_read,
        rows_accepted: q.totals.rows_accepted,
        rows_quarantined: q.totals.rows_quarantined,
        rows_duplicate: q.totals.rows_duplicate,
        quarantined_by_reason: by_reason,
        rejected_files: rejected,
    }
}
