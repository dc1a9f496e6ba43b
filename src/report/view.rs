//! What leadership sees: the trend and the latest month, as numbers already suppressed (every
//! count below the threshold hidden, and a second cell hidden where a total would give it away).
//! Charts and the report draw only from this; they never see an unsuppressed count.

use chrono::NaiveDate;
use serde::Serialize;

/// A count as leadership may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Cell {
    /// Shown as is.
    Shown(u64),
    /// Hidden because it is small (1 to threshold − 1): shown as "<5", drawn as a hatched or empty
    /// bar, with a footnote.
    Suppressed,
    /// Hidden although it is not small, so that no total gives a small one away (secondary
    /// suppression): shown as "*", with a footnote saying so — never as "<5".
    Withheld,
}

impl Cell {
    /// The number to draw, or None when hidden.
    pub fn value(self) -> Option<u64> {
        match self {
            Cell::Shown(n) => Some(n),
            Cell::Suppressed | Cell::Withheld => None,
        }
    }

    /// Whether the cell is hidden, for either reason.
    pub fn is_hidden(self) -> bool {
        !matches!(self, Cell::Shown(_))
    }

    /// The text to print: the number, "<5" for threshold 5, or "*".
    pub fn text(self, threshold: u64) -> String {
        match self {
            Cell::Shown(n) => n.to_string(),
            Cell::Suppressed => format!("<{threshold}"),
            Cell::Withheld => WITHHELD_MARK.to_string(),
        }
    }
}

/// How a withheld cell prints.
pub const WITHHELD_MARK: &str = "*";

/// The footnote of a withheld cell, in Chinese.
pub fn withheld_note(threshold: u64) -> String {
    format!("“{WITHHELD_MARK}”为不少于{threshold}人（或为0）的数字，为防止由合计推算出少于{threshold}人的数字而一并隐藏")
}

/// One line (or stacked band) of a chart over the months.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// A stable key: a tier (`red`), a category (`C2`), `collision`, `key_youth`, `new`, `lifted`.
    pub key: String,
    /// The Chinese label drawn in the legend (红色预警, 严重不良行为, 碰撞命中, 重点青少年 …).
    pub label: String,
    /// A tier's short label (红), which names it in a merged band (红+橙); empty for others.
    #[serde(skip)]
    pub short: String,
    /// An RGB colour for the series (tiers use their own colours, the codebook's).
    pub colour: (u8, u8, u8),
    /// One cell per month of [`LeadershipView::months`].
    pub cells: Vec<Cell>,
}

/// A township in the latest month.
#[derive(Debug, Clone, Serialize)]
pub struct TownshipRow {
    pub code: String,
    pub name: String,
    pub minors_population: u64,
    /// Listed people (all tiers) in this township.
    pub listed: Cell,
    /// 重点青少年 (red + orange) in this township.
    pub key_youth: Cell,
    /// Listed people per 1,000 minors; None when `listed` is suppressed or the population is 0.
    pub rate_per_1000: Option<f64>,
}

/// One cell of the category co-occurrence matrix (latest month): people with both categories
/// active (on the diagonal: people with that category).
#[derive(Debug, Clone, Serialize)]
pub struct PairCell {
    pub row: String,
    pub col: String,
    pub people: Cell,
}

/// One group of the fairness panel: how often people of this group are 重点青少年 (red + orange).
#[derive(Debug, Clone, Serialize)]
pub struct FairnessRow {
    /// The grouping: 性别, 乡镇街道, 留守状态.
    pub dimension: String,
    /// The group: 男, 女, a township name, 留守, 非留守.
    pub group: String,
    /// Minors of this group known to the lake on the as-of date (the denominator).
    pub population: Cell,
    /// 重点青少年 (red + orange) of this group.
    pub listed: Cell,
    /// 重点青少年 per 1,000 of the group; None when a count is suppressed.
    pub rate_per_1000: Option<f64>,
}

/// A headline number of the as-of date's list (it equals what the list says), with what it is
/// compared with.
#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    pub label: String,
    pub now: Cell,
    /// The change from the month end named in `note`; None when there is none, when either cell
    /// is suppressed, or for a count that is itself a change (新增, 解除).
    pub change: Option<i64>,
    /// In Chinese, what the number is compared with or counted since ("较2026年11月末",
    /// "较上次运行（2026-12-01）").
    pub note: String,
    /// Whether the card is compared with a month end (else `note` says what it counts since).
    pub compared: bool,
}

/// One responsible unit's tasks (people), for the report: how many, closed by a reviewer's
/// decision, overdue (亮灯).
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    pub unit: String,
    pub tasks: Cell,
    pub closed: Cell,
    pub overdue: Cell,
}

/// This run's data quality, for the report's footer panel (file counts are not about people and
/// are not suppressed).
#[derive(Debug, Clone, Default, Serialize)]
pub struct QualitySummary {
    pub files_accepted: u64,
    pub files_rejected: u64,
    pub files_unrecognised: u64,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
    pub rows_duplicate: u64,
    /// (reason, rows), most frequent first.
    pub quarantined_by_reason: Vec<(String, u64)>,
    /// (file, why) of each rejected file.
    pub rejected_files: Vec<(String, String)>,
}

/// Everything the charts and the report draw.
#[derive(Debug, Clone, Serialize)]
pub struct LeadershipView {
    pub county: String,
    pub as_of: NaiveDate,
    pub model_version: String,
    /// Counts below this are suppressed (default 5).
    pub threshold: u64,
    /// The month ends, oldest first (24 by default); the last is the latest month.
    pub months: Vec<NaiveDate>,
    /// People per tier, in the model's order (the most urgent first).
    pub tiers: Vec<Series>,
    /// The tiers that make a 重点青少年, by their short labels: 红+橙.
    #[serde(skip)]
    pub key_youth_label: String,
    /// Per month, the people of the hidden tiers together (the listed total less the shown
    /// tiers: a reader can work it out already), drawn as one merged band such as 红+橙; None
    /// when the month has no hidden tier or its listed total is hidden too.
    pub tiers_hidden_total: Vec<Option<u64>>,
    /// People per category, C1 first.
    pub categories: Vec<Series>,
    /// 碰撞命中 and 重点青少年 (red + orange).
    pub collisions_and_key_youth: Vec<Series>,
    /// 新增 and 解除 per month (against the month before).
    pub new_and_lifted: Vec<Series>,
    pub headlines: Vec<Headline>,
    /// Townships of the latest month, highest rate first (suppressed rates last, by name).
    pub townships: Vec<TownshipRow>,
    /// The co-occurrence matrix of the latest month, row-major over `category_labels`.
    pub pairs: Vec<PairCell>,
    /// (category id, Chinese label), C1 first.
    pub category_labels: Vec<(String, String)>,
    pub fairness: Vec<FairnessRow>,
    /// Tasks per responsible unit on the as-of date.
    pub tasks: Vec<TaskRow>,
    pub quality: QualitySummary,
    /// The run's manifest hash (SHA-256 of the manifest without its output list).
    pub run_hash: String,
    /// When the report was made, in the county's time zone ("2026-12-02 08:36 Asia/Shanghai").
    pub generated_at: String,
}

impl LeadershipView {
    /// Whether any cell leadership sees is withheld (hidden only to protect another).
    pub fn any_withheld(&self) -> bool {
        let series = [&self.tiers, &self.categories, &self.collisions_and_key_youth, &self.new_and_lifted];
        series.iter().flat_map(|s| s.iter()).flat_map(|s| s.cells.iter()).chain(self.headlines.iter().map(|h| &h.now))
            .chain(self.townships.iter().flat_map(|t| [&t.listed, &t.key_youth]))
            .chain(self.pairs.iter().map(|p| &p.people))
            .chain(self.fairness.iter().flat_map(|f| [&f.population, &f.listed]))
            .chain(self.tasks.iter().flat_map(|t| [&t.tasks, &t.closed, &t.overdue]))
            .any(|c| *c == Cell::Withheld)
    }
}
