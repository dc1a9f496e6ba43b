//! Configuration: the pipeline file (`pipelines/*.toml`), the table contracts
//! (`pipelines/tables/*.toml`), the codebook (`models/codebook.toml`) and the reference folder's
//! townships and schools, read once and resolved into a validated [`Plan`]. Every fact an analyst
//! may change is declared there once: the tiers' labels, titles, colours and cadences and the
//! responsible units' order are the codebook's ([`TierFacts`], [`Codebook::units`]), and no
//! output keeps a copy of them. Nothing here touches the extracts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ingest::reference::{School, Township};

/// `[pipeline]` of a pipeline file. Paths are relative to the pipeline file's folder.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// A short name for logs and the manifest.
    pub name: String,
    /// The inbox: one folder per source (`police/`, `education/`, …).
    pub inbox: PathBuf,
    /// The folder holding `townships.csv`.
    pub reference: PathBuf,
    /// The Delta lake folder.
    pub lake: PathBuf,
    /// Outputs go to `out/<as-of>/`.
    pub out: PathBuf,
    /// The pseudonymisation key file (only its owner may read it).
    pub key_file: PathBuf,
    /// The folder of table contracts. Default `tables` beside the pipeline file.
    #[serde(default = "default_tables")]
    pub tables: PathBuf,
    /// The codebook. Default `../models/codebook.toml`.
    #[serde(default = "default_codebook")]
    pub codebook: PathBuf,
    /// The collision model. Default `../models/collision.toml`.
    #[serde(default = "default_model")]
    pub model: PathBuf,
    /// A pinned as-of date (`YYYY-MM-DD`), for a pipeline whose data is of one fixed day (the
    /// demo's samples). Default: none, every run is as of today in `[run] time_zone`. `--as-of`
    /// overrides it. Pinning is deliberate configuration: the far-date guard of `[run]` does not
    /// apply.
    pub as_of: Option<String>,
}

fn default_tables() -> PathBuf {
    PathBuf::from("tables")
}
fn default_codebook() -> PathBuf {
    PathBuf::from("../models/codebook.toml")
}
fn default_model() -> PathBuf {
    PathBuf::from("../models/collision.toml")
}

/// `[report]` of a pipeline file: what leadership's outputs say and hide.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSection {
    /// The county's name in report titles (default: the pipeline's name).
    pub county: Option<String>,
    /// Counts of people below this are suppressed in everything leadership sees. Default 5.
    #[serde(default = "default_suppress_below")]
    pub suppress_below: u64,
}

impl Default for ReportSection {
    fn default() -> Self {
        ReportSection { county: None, suppress_below: default_suppress_below() }
    }
}

fn default_suppress_below() -> u64 {
    5
}

/// `[retention]` of a pipeline file: how long the lake keeps people past 18.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// Days after a person's 18th birthday until every row about them is deleted. Default 365.
    #[serde(default = "default_grace_days")]
    pub grace_days: u32,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection { grace_days: default_grace_days() }
    }
}

fn default_grace_days() -> u32 {
    365
}

/// `[run]` of a pipeline file: what a run may be asked to do without a second thought.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// A typed `--as-of` more than this many days before or after today (in `time_zone`) is
    /// refused (exit 2, before the lake changes) unless `--allow-as-of-far` is given: a mistyped
    /// date can quarantine a day's files as `future_date` or purge the whole lake. Default 7.
    #[serde(default = "default_as_of_within_days")]
    pub as_of_within_days: u32,
    /// The county's time zone, an IANA name: the time of every log line, and the day a run
    /// without `--as-of` is as of. Default [`DEFAULT_TIME_ZONE`].
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection { as_of_within_days: default_as_of_within_days(), time_zone: default_time_zone() }
    }
}

fn default_as_of_within_days() -> u32 {
    7
}

/// The time zone of `[run] time_zone` when a pipeline names none (and of the log lines written
/// before a pipeline file is read).
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    pipeline: PipelineSection,
    #[serde(default)]
    run: RunSection,
    #[serde(default)]
    report: ReportSection,
    #[serde(default)]
    retention: RetentionSection,
}

/// How a table's records behave in time; the model reads it.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// A dated event (an incident, a conduct record, an absent month).
    Event,
    /// A period with a start and an optional end (civil status, justice).
    Period,
    /// A status whose latest record on or before the as-of date counts (enrollment, screening).
    State,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Event => "event",
            RecordKind::Period => "period",
            RecordKind::State => "state",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Free text (trimmed; empty is missing).
    Text,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM`, read as the month's first day.
    Month,
    /// A non-negative integer.
    Integer,
    /// A code that must be listed in the codebook section named by `codes`.
    Code,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// A row with this column empty is quarantined as `missing_field`.
    #[serde(default)]
    pub required: bool,
    /// For `type = "code"`: the codebook section, e.g. `police.behaviour_code`.
    pub codes: Option<String>,
    /// A column beyond the specification that this county's extracts carry: read when present,
    /// but a file without it is not rejected.
    #[serde(default)]
    pub extra: bool,
    /// The longest value accepted, in characters; a longer one is quarantined as `too_long`.
    /// Default [`DEFAULT_MAX_LENGTH`]; at most [`MAX_CELL_LENGTH`].
    pub max_length: Option<usize>,
}

/// The longest value of a column that names no `max_length`, in characters: ids, codes and
/// dates are far shorter, and a longer value is a fault of the extract (or an attack on it).
pub const DEFAULT_MAX_LENGTH: usize = 64;
/// A workbook cell holds at most this many characters: no accepted value may be longer, or an
/// output could not be written.
pub const MAX_CELL_LENGTH: usize = 32_767;

/// How a valid row becomes a canonical signal: SQL expressions over the typed columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSpec {
    pub event_on: String,
    /// The date checked against the as-of date for `future_date` (default: `event_on`).
    pub future_on: Option<String>,
    pub end_on: Option<String>,
    pub code: String,
    /// The codebook section that labels `code` (default: that of the code column `code` names).
    pub labels: Option<String>,
    pub qualifier: Option<String>,
    pub category: String,
    pub severity: String,
    pub school_code: Option<String>,
    /// A second signal the same record feeds, when `when` holds.
    pub also: Option<AlsoSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlsoSpec {
    pub when: String,
    pub category: String,
    pub severity: String,
}

/// A table-specific rule: rows for which `valid_when` is false are quarantined with `reason`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub reason: String,
    pub column: String,
    pub valid_when: String,
}

/// One table's contract, from `pipelines/tables/<table>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableContract {
    pub table: String,
    pub source: String,
    pub label: String,
    pub kind: RecordKind,
    pub columns: Vec<ColumnSpec>,
    pub signal: SignalSpec,
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// Where the contract was read from (set on load).
    #[serde(skip)]
    pub path: PathBuf,
}

/// The identity and person columns every table has (DOMAIN.md, "Common person columns").
pub const IDENTITY_COLUMNS: [&str; 3] = ["person_key", "id_number", "name_hash"];
/// A raw name may arrive too; it is hashed into `name_hash` at ingest and never kept.
pub const RAW_NAME_COLUMN: &str = "name";
pub const PERSON_COLUMNS: [&str; 3] = ["birth_date", "gender", "township_code"];

impl TableContract {
    /// Every column a file of this table must have in its header (identity aside).
    pub fn header_columns(&self) -> impl Iterator<Item = &str> {
        PERSON_COLUMNS.iter().copied().chain(self.columns.iter().map(|c| c.name.as_str()))
    }

    /// Every header column with the longest value it accepts (the person columns take the
    /// default).
    pub fn header_columns_with_max_length(&self) -> impl Iterator<Item = (&str, usize)> {
        PERSON_COLUMNS
            .iter()
            .map(|c| (*c, DEFAULT_MAX_LENGTH))
            .chain(self.columns.iter().map(|c| (c.name.as_str(), c.max_length.unwrap_or(DEFAULT_MAX_LENGTH))))
    }

    /// The header columns a file must have: all but the `extra` ones.
    pub fn required_header_columns(&self) -> impl Iterator<Item = &str> {
        PERSON_COLUMNS.iter().copied().chain(self.columns.iter().filter(|c| !c.extra).map(|c| c.name.as_str()))
    }
}

/// One codebook entry: a label and, for codes that feed a category, the category and severity.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeEntry {
    pub label: String,
    pub category: Option<String>,
    pub severity: Option<i64>,
}

/// An RGB colour of the codebook, written `"#E53935"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Colour(pub u8, pub u8, pub u8);

impl Colour {
    /// `#RRGGBB` (or `RRGGBB`), case-insensitive.
    pub fn parse(text: &str) -> Option<Colour> {
        let hex = text.trim().strip_prefix('#').unwrap_or(text.trim());
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let n = u32::from_str_radix(hex, 16).ok()?;
        Some(Colour((n >> 16) as u8, (n >> 8) as u8, n as u8))
    }

    /// As `0xRRGGBB`.
    pub fn hex(self) -> u32 {
        (self.0 as u32) << 16 | (self.1 as u32) << 8 | self.2 as u32
    }

    pub fn rgb(self) -> (u8, u8, u8) {
        (self.0, self.1, self.2)
    }
}

/// A tier as the codebook's `[tiers]` declares it: everything an output shows of it. The model
/// file gives the tiers' order and rules; this gives the rest, and nothing else does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TierFacts {
    /// The short label of the list's 等级 column and of the tasks (`label`, 红).
    pub label: String,
    /// Its full name (`title`, 红色预警): the list's sheet, the report's legend and card.
    pub title: String,
    /// The fill of its cells and its colour in charts (`colour`).
    pub colour: Colour,
    /// The colour of text on that fill (`text_colour`); none: the sheet's own (black).
    pub text_colour: Option<Colour>,
    /// A task of the tier is due this many days after the person entered it (`due_days`).
    pub due_days: i64,
    /// How often the responsible units review the person (`cadence`, 每周).
    pub cadence: String,
    /// What that review is (`action`), for the list's 说明 sheet.
    pub action: String,
}

/// The codebook: code sections (`police.behaviour_code` → code → entry) and numeric parameters
/// (`education.attendance.threshold_days` → "5"), with the tiers and units resolved.
#[derive(Debug, Clone, Default)]
pub struct Codebook {
    pub sections: BTreeMap<String, BTreeMap<String, CodeEntry>>,
    pub params: BTreeMap<String, String>,
    /// `[tiers]`, by tier name.
    pub tiers: BTreeMap<String, TierFacts>,
    /// The responsible units (包保单位) in the order tasks and the report list them: `[units]
    /// order`, or without it, the order in which `[categories]` first name them.
    pub units: Vec<String>,
    /// Each category's responsible units (`unit = "公安、民政"` in `[categories]`), in the order
    /// written.
    pub category_units: BTreeMap<String, Vec<String>>,
    pub version: String,
    pub sha256: String,
}

impl Codebook {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut value: toml::Table =
            toml::from_str(&text).map_err(|e| Error::config(path, e.to_string()))?;
        let units = value.remove("units");
        let mut book = Codebook {
            sha256: sha256_hex(text.as_bytes()),
            version: text
                .lines()
                .find_map(|l| l.split("version ").nth(1))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_else(|| "unversioned".into()),
            ..Default::default()
        };
        book.walk(path, "", &value)?;
        book.resolve_units(path, units)?;
        book.resolve_tiers(path)?;
        Ok(book)
    }

    /// `[categories]`' units and `[units] order`: every unit a category names is declared there
    /// once, in the order the outputs list them.
    fn resolve_units(&mut self, path: &Path, units: Option<toml::Value>) -> Result<()> {
        let bad = |problem: String| Err(Error::config(path, problem));
        for c in self.section("categories").map(|s| s.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            let named = self.params.get(&format!("categories.{c}.unit")).map(String::as_str).unwrap_or("");
            let list: Vec<String> = named.split(['、', ',', '，']).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            self.category_units.insert(c, list);
        }
        let Some(units) = units else {
            for u in self.category_units.values().flatten() {
                if !self.units.contains(u) {
                    self.units.push(u.clone());
                }
            }
            return Ok(());
        };
        let order = units.as_table().filter(|t| t.len() == 1).and_then(|t| t.get("order")).and_then(|o| o.as_array());
        let Some(order) = order else {
            return bad("[units] holds one key, `order`: the responsible units in the order the outputs list them, e.g. order = [\"教育\", \"公安\"]".into());
        };
        for u in order {
            match u.as_str().map(str::trim) {
                Some(u) if !u.is_empty() && !self.units.iter().any(|x| x == u) => self.units.push(u.to_string()),
                Some(u) if !u.is_empty() => return bad(format!("[units] order names {u} twice")),
                _ => return bad("[units] order: every unit is a non-empty text".into()),
            }
        }
        for (c, units) in &self.category_units {
            if let Some(u) = units.iter().find(|u| !self.units.contains(u)) {
                return bad(format!("[categories] {c}: unit {u} is not in [units] order ({})", self.units.join("、")));
            }
        }
        Ok(())
    }

    /// `[tiers]`: each tier's label, title, colours, due days, cadence and work.
    fn resolve_tiers(&mut self, path: &Path) -> Result<()> {
        let names: Vec<(String, String)> =
            self.section("tiers").map(|s| s.iter().map(|(k, e)| (k.clone(), e.label.clone())).collect()).unwrap_or_default();
        for (name, label) in names {
            let param = |field: &str| self.params.get(&format!("tiers.{name}.{field}")).cloned();
            let need = |field: &str, what: &str| {
                param(field).filter(|v| !v.trim().is_empty()).ok_or_else(|| Error::config(path, format!("[tiers] {name}: needs `{field}` ({what})")))
            };
            let colour = |field: &str, text: String| {
                Colour::parse(&text).ok_or_else(|| Error::config(path, format!("[tiers] {name}: {field} = {text:?} is not a colour as \"#RRGGBB\"")))
            };
            let title = need("title", "its full name, e.g. \"红色预警\": the list's sheet and the report's legend")?;
            if title.chars().count() > 31 || title.contains(['[', ']', ':', '*', '?', '/', '\\']) || ["汇总", "变化", "说明"].contains(&title.as_str()) {
                return Err(Error::config(path, format!("[tiers] {name}: title {title:?} cannot name a sheet (at most 31 characters, none of []:*?/\\, not 汇总, 变化 or 说明)")));
            }
            let due = need("due_days", "the days a task of the tier has")?;
            let due_days = due.parse::<i64>().ok().filter(|d| *d >= 0).ok_or_else(|| Error::config(path, format!("[tiers] {name}: due_days = {due} is not a whole number of days")))?;
            let facts = TierFacts {
                label,
                colour: colour("colour", need("colour", "its fill and chart colour, e.g. \"#E53935\"")?)?,
                text_colour: param("text_colour").map(|t| colour("text_colour", t)).transpose()?,
                due_days,
                cadence: param("cadence").unwrap_or_default(),
                action: param("action").unwrap_or_default(),
                title,
            };
            if self.tiers.values().any(|t| t.title == facts.title) {
                return Err(Error::config(path, format!("[tiers] {name}: another tier has the title {}", facts.title)));
            }
            self.tiers.insert(name, facts);
        }
        Ok(())
    }

    fn walk(&mut self, path: &Path, prefix: &str, table: &toml::Table) -> Result<()> {
        for (key, value) in table {
            let here = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match value {
                toml::Value::String(label) => {
                    self.entry(prefix, key, CodeEntry { label: label.clone(), category: None, severity: None });
                }
                toml::Value::Integer(n) => {
                    self.params.insert(here, n.to_string());
                }
                toml::Value::Float(x) => {
                    self.params.insert(here, x.to_string());
                }
                toml::Value::Table(t) if t.contains_key("label") => {
                    let label = t["label"].as_str().unwrap_or_default().to_string();
                    let category = t.get("category").and_then(|v| v.as_str()).map(str::to_string);
                    let severity = t.get("severity").and_then(|v| v.as_integer());
                    if category.is_some() != severity.is_some() {
                        return Err(Error::config(
                            path,
                            format!("code {here} needs both a category and a severity, or neither"),
                        ));
                    }
                    // Other fields of a labelled entry (a tier's `due_days`, a category's
                    // `unit`) are parameters: `tiers.red.due_days`.
                    for (field, v) in t {
                        if matches!(field.as_str(), "label" | "category" | "severity") {
                            continue;
                        }
                        let name = format!("{here}.{field}");
                        match v {
                            toml::Value::String(s) => self.params.insert(name, s.clone()),
                            toml::Value::Integer(n) => self.params.insert(name, n.to_string()),
                            toml::Value::Float(x) => self.params.insert(name, x.to_string()),
                            _ => return Err(Error::config(path, format!("{name}: unsupported value"))),
                        };
                    }
                    self.entry(prefix, key, CodeEntry { label, category, severity });
                }
                toml::Value::Table(t) => self.walk(path, &here, t)?,
                _ => return Err(Error::config(path, format!("{here}: unsupported value"))),
            }
        }
        Ok(())
    }

    fn entry(&mut self, section: &str, code: &str, entry: CodeEntry) {
        self.sections.entry(section.to_string()).or_default().insert(code.to_string(), entry);
    }

    pub fn section(&self, name: &str) -> Option<&BTreeMap<String, CodeEntry>> {
        self.sections.get(name)
    }
}

/// Everything a run needs, resolved and checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub pipeline_path: PathBuf,
    pub pipeline_sha256: String,
    pub inbox: PathBuf,
    pub reference: PathBuf,
    pub lake: PathBuf,
    pub out: PathBuf,
    pub key_file: PathBuf,
    pub as_of: NaiveDate,
    /// `--allow-as-of-far`: an as-of date far from today is meant, and so is a purge on a run
    /// dated before the latest run of the lake.
    pub allow_as_of_far: bool,
    pub tables: Vec<TableContract>,
    pub codebook: Codebook,
    /// The collision model file (read by the scoring stage).
    pub model: PathBuf,
    /// The reference folder's `townships.csv`, read once for ingest, scoring and the report.
    pub townships: Vec<Township>,
    /// Its `schools.csv`, if there is one (the list then names schools).
    pub schools: Option<Vec<School>>,
    pub report: ReportSection,
    pub retention: RetentionSection,
    /// `[run] time_zone`, resolved.
    pub time_zone: chrono_tz::Tz,
    pub recompute: Recompute,
}

/// Flags that override the pipeline file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub inbox: Option<PathBuf>,
    pub reference: Option<PathBuf>,
    pub lake: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub as_of: Option<NaiveDate>,
    /// `--allow-as-of-far`.
    pub allow_as_of_far: bool,
    pub model: Option<PathBuf>,
    /// `--full`.
    pub full: bool,
}

/// What a run may take from the lake instead of computing it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recompute {
    /// Reuse what the lake kept whose inputs are unchanged (the nightly run).
    #[default]
    Changed,
    /// Compute everything again but the sealed history (`--full`).
    All,
}

impl Plan {
    pub fn load(pipeline: &Path, overrides: Overrides) -> Result<Plan> {
        let text = std::fs::read_to_string(pipeline).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Usage(format!("pipeline file {} not found", pipeline.display())),
            _ => Error::io(pipeline, e),
        })?;
        let file: PipelineFile =
            toml::from_str(&text).map_err(|e| Error::config(pipeline, e.to_string()))?;
        let base = pipeline.parent().unwrap_or(Path::new("."));
        let rel = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        let p = file.pipeline;
        let pinned = match &p.as_of {
            Some(text) => Some(crate::session::parse_iso_date(text).ok_or_else(|| {
                Error::config(pipeline, format!("[pipeline] as_of = {text:?} is not a date as YYYY-MM-DD"))
            })?),
            None => None,
        };
        let time_zone: chrono_tz::Tz = file.run.time_zone.parse().map_err(|_| {
            Error::config(pipeline, format!("[run] time_zone = {:?} is not a time zone (give an IANA name such as Asia/Shanghai)", file.run.time_zone))
        })?;
        let today = crate::ops::schedule::today_in(time_zone);
        if let Some(typed) = overrides.as_of {
            if !overrides.allow_as_of_far {
                check_as_of(typed, today, time_zone, file.run.as_of_within_days, pipeline)?;
            }
        }
        let codebook = Codebook::load(&rel(&p.codebook))?;
        let tables = load_contracts(&rel(&p.tables), &codebook)?;
        let reference = overrides.reference.unwrap_or_else(|| rel(&p.reference));
        let townships = crate::ingest::reference::load_townships(&reference)?;
        let schools = crate::ingest::reference::load_schools(&reference)?;
        Ok(Plan {
            name: p.name,
            pipeline_path: pipeline.to_path_buf(),
            pipeline_sha256: sha256_hex(text.as_bytes()),
            inbox: overrides.inbox.unwrap_or_else(|| rel(&p.inbox)),
            reference,
            lake: overrides.lake.unwrap_or_else(|| rel(&p.lake)),
            out: overrides.out.unwrap_or_else(|| rel(&p.out)),
            key_file: overrides.key_file.unwrap_or_else(|| rel(&p.key_file)),
            as_of: overrides.as_of.or(pinned).unwrap_or(today),
            allow_as_of_far: overrides.allow_as_of_far,
            model: overrides.model.unwrap_or_else(|| rel(&p.model)),
            townships,
            schools,
            report: file.report,
            retention: file.retention,
            time_zone,
            recompute: if overrides.full { Recompute::All } else { Recompute::Changed },
            tables,
            codebook,
        })
    }

    /// The table a file belongs to: the longest table name that starts its file name.
    pub fn table_for_file(&self, file_name: &str) -> Option<&TableContract> {
        self.tables
            .iter()
            .filter(|t| file_name.starts_with(&t.table))
            .max_by_key(|t| t.table.len())
    }
}

/// Refuses a typed as-of date more than `within_days` from `today`: a run as of 2100-01-01
/// would purge every person, one as of 2024-01-01 would quarantine nearly every row of the day's
/// files as `future_date`.
fn check_as_of(typed: NaiveDate, today: NaiveDate, zone: chrono_tz::Tz, within_days: u32, pipeline: &Path) -> Result<()> {
    let days = (typed - today).num_days();
    if days.unsigned_abs() <= within_days as u64 {
        return Ok(());
    }
    let side = if days > 0 { "after" } else { "before" };
    Err(Error::Usage(format!(
        "--as-of {typed} is {} days {side} today ({today} in {zone}), more than the {within_days} that \
         `[run] as_of_within_days` of {} allows: a far date can quarantine a day's files or purge the \
         lake. Check the date, or give --allow-as-of-far if it is meant",
        days.unsigned_abs(),
        pipeline.display()
    )))
}

fn load_contracts(dir: &Path, codebook: &Codebook) -> Result<Vec<TableContract>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::config(dir, format!("cannot read the table contracts folder: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut tables = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut contract: TableContract =
            toml::from_str(&text).map_err(|e| Error::config(&path, e.to_string()))?;
        contract.path = path.clone();
        check_contract(&contract, codebook)?;
        tables.push(contract);
    }
    if tables.is_empty() {
        return Err(Error::config(dir, "no table contracts (*.toml) found"));
    }
    Ok(tables)
}

fn check_contract(c: &TableContract, codebook: &Codebook) -> Result<()> {
    let bad = |problem: String| Err(Error::config(&c.path, problem));
    if !is_identifier(&c.table) || !is_identifier(&c.source) {
        return bad("`table` and `source` must be lowercase identifiers".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for col in &c.columns {
        if !is_identifier(&col.name) {
            return bad(format!("column name {:?} must be a lowercase identifier", col.name));
        }
        if IDENTITY_COLUMNS.contains(&col.name.as_str()) || PERSON_COLUMNS.contains(&col.name.as_str()) || col.name == RAW_NAME_COLUMN {
            return bad(format!("column {} is a common person column; do not declare it", col.name));
        }
        if !seen.insert(col.name.clone()) {
            return bad(format!("column {} is declared twice", col.name));
        }
        if col.max_length.is_some_and(|n| n == 0 || n > MAX_CELL_LENGTH) {
            return bad(format!("column {}: max_length must be between 1 and {MAX_CELL_LENGTH}", col.name));
        }
        match (&col.kind, &col.codes) {
            (ColumnType::Code, Some(section)) if codebook.section(section).is_none() => {
                return bad(format!("column {}: codebook has no section [{section}]", col.name));
            }
            (ColumnType::Code, None) => return bad(format!("column {}: a code column needs `codes`", col.name)),
            (ColumnType::Code, Some(_)) => {}
            (_, Some(_)) => return bad(format!("column {}: only a code column takes `codes`", col.name)),
            _ => {}
        }
    }
    if !seen.contains("record_id") {
        return bad("every table needs a `record_id` column".into());
    }
    Ok(())
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codebook_reads_sections_and_parameters() {
        let book = Codebook::load(Path::new("models/codebook.toml")).unwrap();
        let b = &book.section("police.behaviour_code").unwrap()["S01"];
        assert_eq!((b.category.as_deref(), b.severity), (Some("C2"), Some(2)));
        assert_eq!(book.section("police.role").unwrap()["V"].label, "被害人");
        assert_eq!(book.section("education.wellbeing_level").unwrap()["0"].category, None);
        assert_eq!(book.params["education.attendance.threshold_days"], "5");
        assert_eq!(book.section("person.gender").unwrap().len(), 3);
        assert_eq!(book.params["tiers.red.due_days"], "1");
        assert_eq!(book.params["categories.C4.unit"], "公安、民政");
        assert_eq!(book.units, ["教育", "公安", "司法", "民政"]);
        assert_eq!(book.category_units["C4"], ["公安", "民政"]);
        let red = &book.tiers["red"];
        assert_eq!((red.label.as_str(), red.title.as_str(), red.due_days, red.cadence.as_str()), ("红", "红色预警", 1, "立即"));
        assert_eq!((red.colour.hex(), red.text_colour.map(Colour::hex)), (0xE53935, Some(0xFFFFFF)));
        assert_eq!(book.tiers["yellow"].text_colour, None, "black text is the sheet's own");
    }

    /// The demo codebook with `edit` applied to its text, loaded.
    fn edited_codebook(edit: impl Fn(String) -> String) -> Result<Codebook> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codebook.toml");
        std::fs::write(&path, edit(std::fs::read_to_string("models/codebook.toml").unwrap())).unwrap();
        Codebook::load(&path)
    }

    #[test]
    fn every_unit_of_a_category_is_declared_in_the_units_order() {
        let book = edited_codebook(|t| t.replace("\"民政\"]", "\"民政\", \"团委\"]").replace("unit = \"教育\" }\nC6", "unit = \"团委\" }\nC6")).unwrap();
        assert_eq!(book.units, ["教育", "公安", "司法", "民政", "团委"]);
        assert_eq!(book.category_units["C5"], ["团委"]);
        let e = edited_codebook(|t| t.replace("unit = \"民政\" }", "unit = \"妇联\" }")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("C6: unit 妇联 is not in [units] order"), "{e}");
        let e = edited_codebook(|t| t.replace("\"司法\", \"民政\"]", "\"司法\", \"公安\"]")).unwrap_err();
        assert!(e.to_string().contains("公安 twice"), "{e}");
        let book = edited_codebook(|t| t.replace("[units]\n", "").replace("order = [\"教育\", \"公安\", \"司法\", \"民政\"]", "")).unwrap();
        assert_eq!(book.units, ["教育", "公安", "司法", "民政"], "without an order, as the categories first name them");
    }

    #[test]
    fn a_tier_needs_a_title_and_a_colour_that_can_be_drawn() {
        let e = edited_codebook(|t| t.replace("title = \"红色预警\", ", "")).unwrap_err();
        assert!(e.to_string().contains("red: needs `title`"), "{e}");
        let e = edited_codebook(|t| t.replace("\"#FB8C00\"", "\"orange\"")).unwrap_err();
        assert!(e.to_string().contains("orange: colour = \"orange\" is not a colour"), "{e}");
        let e = edited_codebook(|t| t.replace("\"黄色预警\"", "\"黄色/预警\"")).unwrap_err();
        assert!(e.to_string().contains("cannot name a sheet"), "{e}");
        let e = edited_codebook(|t| t.replace("\"蓝色关注\"", "\"红色预警\"")).unwrap_err();
        assert!(e.to_string().contains("another tier has the title 红色预警"), "{e}");
        assert_eq!(Colour::parse("#1e88e5"), Some(Colour(0x1E, 0x88, 0xE5)));
    }

    #[test]
    fn the_demo_pipeline_resolves() {
        let plan = Plan::load(Path::new("pipelines/demo.toml"), Overrides::default()).unwrap();
        assert_eq!(plan.as_of.to_string(), "2026-11-24", "the demo pins the samples' date");
        assert_eq!(plan.tables.len(), 7);
        assert_eq!(plan.table_for_file("police_incidents_2026-11-23.csv").unwrap().table, "police_incidents");
        assert!(plan.table_for_file("school_list.csv").is_none());
    }

    #[test]
    fn an_as_of_date_far_from_today_is_refused_naming_it_today_and_the_flag() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let today = d("2026-12-01");
        let pipeline = Path::new("pipelines/demo.toml");
        for ok in ["2026-11-24", "2026-12-08", "2026-12-01"] {
            assert!(check_as_of(d(ok), today, chrono_tz::Asia::Shanghai, 7, pipeline).is_ok(), "{ok}");
        }
        for far in ["2026-11-23", "2100-01-01", "2024-01-01"] {
            let e = check_as_of(d(far), today, chrono_tz::Asia::Shanghai, 7, pipeline).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let text = e.to_string();
            assert!(text.contains(far) && text.contains("2026-12-01") && text.contains("--allow-as-of-far"), "{text}");
        }
        assert!(check_as_of(d("2024-01-01"), today, chrono_tz::Asia::Shanghai, 2000, pipeline).is_ok(), "the window is configurable");
    }

    #[test]
    fn a_typed_far_date_is_refused_but_a_pinned_one_and_the_flag_are_not() {
        let pipeline = Path::new("pipelines/demo.toml");
        let far = Some(NaiveDate::from_ymd_opt(2100, 1, 1).unwrap());
        let e = Plan::load(pipeline, Overrides { as_of: far, ..Default::default() }).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        let plan = Plan::load(pipeline, Overrides { as_of: far, allow_as_of_far: true, ..Default::default() }).unwrap();
        assert_eq!(plan.as_of, far.unwrap());
        assert!(plan.allow_as_of_far);
    }
}
