//! The lists people act on, written from batches the model stage has already computed and
//! sorted: `risk_list.xlsx` (a summary, one sheet per tier, what changed, what it all means),
//! `risk_list.csv` (the
//! same list in one file for any spreadsheet: UTF-8 with BOM, CRLF) and `tasks.xlsx` (one sheet
//! per responsible unit, overdue tasks lit red). Rows keep the order they arrive in; nothing here
//! ranks or filters, it only splits rows by tier or unit and tallies them for the summary sheets.
//!
//! Columns are read by name and cast to the type the sheet shows. What each output shows is a
//! table of [`Column`]s ([`RISK_COLUMNS`], [`CHANGE_COLUMNS`], [`TASK_COLUMNS`]), so the XLSX
//! sheets and the CSV cannot drift apart. Data sheets use rust_xlsxwriter's constant-memory mode
//! (rows are written once, in order); the small summary sheets use the standard mode.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use rust_xlsxwriter::{DataValidation, DataValidationRule, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet};

use crate::error::{Error, Result};
use crate::model::Guide;

/// What the list writers need.
pub struct ListTables<'a> {
    pub as_of: NaiveDate,
    pub model_version: &'a str,
    /// The ranked risk list, in rank order.
    pub risk: &'a [RecordBatch],
    /// What changed since the previous scored run.
    pub changes: &'a [RecordBatch],
    /// One row per (listed person, responsible unit), and the earlier tasks still open.
    pub tasks: &'a [RecordBatch],
    /// The tiers (their sheets, labels and colours, in the model's order), what the risk list's
    /// 说明 sheet defines (categories), and whether it names schools.
    pub guide: &'a Guide,
    /// The responsible units in the codebook's order (`[units]`): each has a sheet of tasks.
    pub units: &'a [String],
    /// The decisions a reviewer may record (the codebook's `[review.decision]`), for 决定's
    /// drop-down.
    pub decisions: &'a [String],
}

/// The fill of a lit (亮灯) cell: an overdue task's red light, whatever the tiers' colours.
const LIT_FILL: u32 = 0xE53935;

/// What a source column holds and how a cell shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// Long text: a wide column, wrapped.
    Wrap,
    Int,
    /// A number shown with three decimals.
    Score,
    Date,
    /// A boolean shown as 是/否.
    YesNo,
    /// A tier label, filled with the colour of the tier code in the named column.
    Tier(&'static str),
    /// A task status label, shown as 逾期 when the row is lit.
    Status,
    /// A column a reviewer fills in (no source: written blank).
    Input,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Text | Kind::Wrap | Kind::Tier(_) | Kind::Status | Kind::Input => DataType::Utf8,
            Kind::Int => DataType::Int64,
            Kind::Score => DataType::Float64,
            Kind::Date => DataType::Date32,
            Kind::YesNo => DataType::Boolean,
        }
    }
}

/// One output column: its Chinese header, the source column it shows, and how.
#[derive(Debug, Clone, Copy)]
struct Column {
    header: &'static str,
    source: &'static str,
    kind: Kind,
    /// Filled red when the row is lit (亮灯).
    lights: bool,
}

const fn col(header: &'static str, source: &'static str, kind: Kind) -> Column {
    Column { header, source, kind, lights: false }
}

const fn lit_col(header: &'static str, source: &'static str, kind: Kind) -> Column {
    Column { header, source, kind, lights: true }
}

/// The columns of each tier sheet and of `risk_list.csv` when the reference folder names
/// schools (`schools.csv`); without it, [`RISK_COLUMNS_NO_SCHOOL`].
const RISK_COLUMNS: &[Column] = &RISK_ALL;

const RISK_ALL: [Column; 23] = [
    col("排名", "rank", Kind::Int),
    col("人员编号", "person_key", Kind::Text),
    col("等级", "tier_label", Kind::Tier("tier")),
    col("评分", "score", Kind::Score),
    col("等级规则", "tier_rule_label", Kind::Text),
    col("复核频次", "cadence", Kind::Text),
    col("任务期限", "task_due_on", Kind::Date),
    col("干预级别", "intervention_label", Kind::Text),
    col("风险类别", "category_labels", Kind::Text),
    col("来源部门", "departments", Kind::Text),
    col("碰撞命中", "collision", Kind::YesNo),
    col("包保单位", "units", Kind::Text),
    col("年龄", "age", Kind::Int),
    col("性别", "gender_label", Kind::Text),
    col("乡镇街道", "township_name", Kind::Text),
    col("学校代码", "school_code", Kind::Text),
    col("学校", "school_name", Kind::Text),
    col("预警理由", "reasons", Kind::Wrap),
    col("证据记录", "evidence", Kind::Text),
    col("关联方式", "link_methods", Kind::Text),
    col("变化", "change_label", Kind::Text),
    col("首次列入日期", "first_listed_on", Kind::Date),
    col("列入天数", "days_listed", Kind::Int),
];

/// [`RISK_COLUMNS`] without 学校: a county without `schools.csv` gets the list it always had.
const RISK_COLUMNS_NO_SCHOOL: &[Column] = &without_source::<23, 22>(RISK_ALL, "school_name");

const fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `cols` without the one column of source `source` (a compile error if there is none).
const fn without_source<const N: usize, const M: usize>(cols: [Column; N], source: &str) -> [Column; M] {
    assert!(M + 1 == N);
    let mut out = [cols[0]; M];
    let (mut i, mut j) = (0, 0);
    while i < N {
        if !same_str(cols[i].source, source) {
            assert!(j < M, "no column of that source");
            out[j] = cols[i];
            j += 1;
        }
        i += 1;
    }
    out
}

/// The risk columns a list shows.
fn risk_columns(guide: &Guide) -> &'static [Column] {
    if guide.schools { RISK_COLUMNS } else { RISK_COLUMNS_NO_SCHOOL }
}

/// What each risk column means, for the 说明 sheet (by source column; every one of
/// [`RISK_COLUMNS`] has an entry). `{tiers}` stands for the tiers' labels, in order.
const RISK_COLUMN_NOTES: &[(&str, &str)] = &[
    ("rank", "名单内排序：先按等级（{tiers}），同一等级内按评分从高到低"),
    ("person_key", "假名化的人员编号，同一人在各次名单中相同；不是身份证号，不能反推身份"),
    ("tier_label", "风险等级，由下方“风险等级”所列规则自上而下判定"),
    ("score", "同一等级内的排序依据：各风险类别的严重程度按时间衰减加权求和，碰撞命中另加分"),
    ("tier_rule_label", "使本人列入该等级的那条规则（每个等级列出的规则中第一条成立的）"),
    ("cadence", "该等级的复核、走访频次"),
    ("task_due_on", "本人未办结的包保任务中最早的办结期限（均已办结时为空）；各单位的任务、逾期亮灯和复核决定见 tasks.xlsx"),
    (
        "intervention_label",
        "干预级别：涉罪、严重不良、一般不良为针对行为的三级干预；未见上述行为、因受侵害、监护与生活困境或心理困境列入的为保护救助；其余为无",
    ),
    ("category_labels", "当前有效的风险类别"),
    ("departments", "提供这些信号的部门"),
    ("collision", "是否碰撞命中：信号来自两个及以上部门"),
    ("units", "负责包保的单位（按风险类别确定）"),
    ("age", "基准日的周岁年龄"),
    ("gender_label", "性别"),
    ("township_name", "所在乡镇街道（最近一条记录）"),
    ("school_code", "学校代码（最近一条教育记录）"),
    ("school_name", "学校名称，来自参考数据 schools.csv"),
    (
        "reasons",
        "各类别的理由：部门、记录条数、日期和代码含义；“最近某日”为最近一条记录的日期，“自某日起持续”为基准日仍在持续的状态（如事实无人抚养、留守）的起始日期",
    ),
    ("evidence", "各类别所依据的记录：表名/本部门记录编号。各单位凭本单位的记录编号在本单位系统中查找本人"),
    ("link_methods", "各部门记录与人员编号的关联方式"),
    ("change_label", "与上次评估相比：新增、升级、降级或持续"),
    ("first_listed_on", "首次列入名单的日期"),
    ("days_listed", "自首次列入以来的天数"),
];

/// How a unit finds the person behind a row, for the 说明 sheet (and the README).
const FINDING_THE_PERSON: [&str; 3] = [
    "本名单不含姓名、身份证号等身份信息：数据湖只保存假名化的人员编号，任何单位都不能凭名单反查身份。",
    "各单位凭“证据记录”列中本单位的记录编号（表名/记录编号，例如 police_incidents/ 后的编号），在本单位自己的业务系统中查到本人，再按“包保单位”分工落实。",
    "学校名称来自参考数据中的 schools.csv（如有）；没有该文件时只列学校代码，由教育部门按代码查找。",
];

/// The columns of the `变化` sheet.
const CHANGE_COLUMNS: &[Column] = &[
    col("人员编号", "person_key", Kind::Text),
    col("变化", "change_label", Kind::Text),
    col("原等级", "tier_before_label", Kind::Tier("tier_before")),
    col("现等级", "tier_now_label", Kind::Tier("tier_now")),
    col("首次列入日期", "first_listed_on", Kind::Date),
    col("列入天数", "days_listed", Kind::Int),
    col("上次评估日期", "previous_as_of", Kind::Date),
];

/// The columns of each unit's task sheet.
const TASK_COLUMNS: &[Column] = &[
    col("人员编号", "person_key", Kind::Text),
    col("排名", "rank", Kind::Int),
    col("等级", "tier_label", Kind::Tier("tier")),
    col("派发时等级", "tier_assigned_label", Kind::Tier("tier_assigned")),
    col("预警理由", "reasons", Kind::Wrap),
    col("乡镇街道", "township_name", Kind::Text),
    col("学校代码", "school_code", Kind::Text),
    col("派发日期", "assigned_on", Kind::Date),
    col("办结期限", "due_on", Kind::Date),
    lit_col("状态", "status_label", Kind::Status),
    lit_col("逾期天数", "days_overdue", Kind::Int),
    col("办结日期", "closed_on", Kind::Date),
    col("情况说明", "note", Kind::Wrap),
    // What a reviewer fills in: the workbook dropped into inbox/review/ is read back as decisions
    // (review.rs, `TASK_INPUTS`).
    col("决定", "", Kind::Input),
    col("核查人", "", Kind::Input),
    col("决定日期", "", Kind::Input),
    col("备注", "", Kind::Input),
];

/// The reviewer's columns of a task sheet and the decision fields they are read back as.
pub const TASK_INPUTS: [(&str, &str); 5] =
    [("人员编号", "person_key"), ("决定", "decision"), ("核查人", "reviewer"), ("决定日期", "decided_on"), ("备注", "note")];

// ---------------------------------------------------------------------------------------------
// Public writers.
// ---------------------------------------------------------------------------------------------

/// Writes `risk_list.xlsx`: `汇总`, one sheet per tier of the model (always every one, named by
/// its title), `变化`, then `说明` (what the tiers, categories and columns mean).
pub fn write_risk_xlsx(path: &Path, t: &ListTables) -> Result<()> {
    let columns = risk_columns(t.guide);
    let risk = View::all(t.risk, "risk", columns)?;
    let changes = View::all(t.changes, "changes", CHANGE_COLUMNS)?;

    // Every row must belong to a tier: a row of no known tier would vanish from the sheets.
    let tiers = &t.guide.tiers;
    let mut tier_of: Vec<Vec<usize>> = Vec::with_capacity(t.risk.len());
    let mut per_tier = vec![0u64; tiers.len()];
    let mut collisions = 0u64;
    for batch in t.risk {
        let tier = column(batch, "risk", "tier", &DataType::Utf8)?;
        let tier = tier.as_string::<i32>();
        let collision = column(batch, "risk", "collision", &DataType::Boolean)?;
        let collision = collision.as_boolean();
        let mut rows = Vec::with_capacity(batch.num_rows());
        for r in 0..batch.num_rows() {
            let code = if tier.is_null(r) { "" } else { tier.value(r) };
            let i = tiers.iter().position(|g| g.name == code)
                .ok_or_else(|| Error::Internal(format!("risk list: row with unknown tier {code:?}")))?;
            per_tier[i] += 1;
            if collision.is_valid(r) && collision.value(r) {
                collisions += 1;
            }
            rows.push(i);
        }
        tier_of.push(rows);
    }
    let mut per_change: HashMap<String, u64> = HashMap::new();
    for batch in t.changes {
        let change = column(batch, "changes", "change", &DataType::Utf8)?;
        for code in change.as_string::<i32>().iter().flatten() {
            *per_change.entry(code.to_string()).or_default() += 1;
        }
    }

    let fmt = Formats::new(t.guide);
    let mut book = new_book(t.as_of)?;

    let sheet = book.add_worksheet().set_name("汇总")?;
    sheet.write_with_format(0, 0, format!("重点青少年风险名单 {}", t.as_of.format("%Y-%m-%d")), &fmt.title)?;
    sheet.write(1, 0, "基准日")?;
    sheet.write_date_with_format(1, 1, excel_date(t.as_of)?, &fmt.date)?;
    sheet.write(2, 0, "模型版本")?;
    sheet.write(2, 1, t.model_version)?;
    sheet.write_with_format(4, 0, "等级", &fmt.head)?;
    sheet.write_with_format(4, 1, "人数", &fmt.head)?;
    for (i, tier) in tiers.iter().enumerate() {
        let r = 5 + i as u32;
        sheet.write_with_format(r, 0, tier.facts.title.as_str(), fmt.tier(&tier.name).unwrap_or(&fmt.body))?;
        sheet.write(r, 1, per_tier[i] as f64)?;
    }
    let r = 5 + tiers.len() as u32;
    let key_youth: u64 = tiers.iter().zip(&per_tier).filter(|(g, _)| g.key_youth).map(|(_, n)| n).sum();
    sheet.write_with_format(r, 0, format!("重点青少年({})", t.guide.key_youth_label), &fmt.bold)?;
    sheet.write_with_format(r, 1, key_youth as f64, &fmt.bold)?;
    sheet.write(r + 1, 0, "名单合计")?;
    sheet.write(r + 1, 1, per_tier.iter().sum::<u64>() as f64)?;
    sheet.write(r + 2, 0, "碰撞命中")?;
    sheet.write(r + 2, 1, collisions as f64)?;
    let r = r + 4;
    sheet.write_with_format(r, 0, "变化(与上次评估相比)", &fmt.head)?;
    sheet.write_with_format(r, 1, "人数", &fmt.head)?;
    for (i, (code, label)) in [("new", "新增"), ("up", "升级"), ("down", "降级"), ("lifted", "解除")].iter().enumerate() {
        let r = r + 1 + i as u32;
        sheet.write(r, 0, *label)?;
        sheet.write(r, 1, per_change.get(*code).copied().unwrap_or(0) as f64)?;
    }
    sheet.set_column_width(0, 24)?;
    sheet.set_column_width(1, 16)?;

    for (i, tier) in tiers.iter().enumerate() {
        let sheet = book.add_worksheet_with_constant_memory()?.set_name(tier.facts.title.as_str())?;
        let mut out = SheetWriter::new(sheet, columns, &fmt)?;
        for (view, rows) in risk.iter().zip(&tier_of) {
            for (r, _) in rows.iter().enumerate().filter(|(_, tier)| **tier == i) {
                out.row(view, r, false)?;
            }
        }
        out.finish()?;
    }

    let sheet = book.add_worksheet_with_constant_memory()?.set_name("变化")?;
    let mut out = SheetWriter::new(sheet, CHANGE_COLUMNS, &fmt)?;
    for view in &changes {
        for r in 0..view.rows {
            out.row(view, r, false)?;
        }
    }
    out.finish()?;

    write_guide_sheet(book.add_worksheet().set_name("说明")?, t.guide, columns, &fmt)?;

    book.save(path).map_err(|e| Error::writing(path, e))?;
    Ok(())
}

/// The `说明` sheet: the tiers (rules, cadence, due days), the categories (departments,
/// responsible units), every column of the tier sheets, and how a unit finds the person.
fn write_guide_sheet(sheet: &mut Worksheet, guide: &Guide, columns: &[Column], fmt: &Formats) -> Result<()> {
    sheet.write_with_format(0, 0, "说明", &fmt.title)?;
    let mut r = 2u32;
    let heads = |sheet: &mut Worksheet, r: u32, heads: &[&str]| -> Result<()> {
        for (c, h) in heads.iter().enumerate() {
            sheet.write_with_format(r, c as u16, *h, &fmt.head)?;
        }
        Ok(())
    };
    sheet.write_with_format(r, 0, "风险等级（自上而下，第一个有规则成立的等级即本人的等级）", &fmt.bold)?;
    r += 1;
    heads(sheet, r, &["等级", "判定规则（任一条成立即可）", "复核频次", "工作要求", "办结期限（天）"])?;
    for tier in &guide.tiers {
        r += 1;
        let fill = fmt.tier(&tier.name).unwrap_or(&fmt.body);
        sheet.write_with_format(r, 0, tier.facts.label.as_str(), fill)?;
        let rules = tier.rules.join("；");
        sheet.write_with_format(r, 1, rules.as_str(), &fmt.wrap)?;
        sheet.set_row_height(r, wrapped_height(&rules))?;
        sheet.write_with_format(r, 2, tier.facts.cadence.as_str(), &fmt.body)?;
        sheet.write_with_format(r, 3, tier.facts.action.as_str(), &fmt.wrap)?;
        sheet.write_number_with_format(r, 4, tier.facts.due_days as f64, &fmt.body)?;
    }
    r += 2;
    sheet.write_with_format(r, 0, "风险类别", &fmt.bold)?;
    r += 1;
    heads(sheet, r, &["类别", "名称", "来源部门", "包保单位"])?;
    for c in &guide.categories {
        r += 1;
        for (i, v) in [&c.id, &c.label, &c.departments, &c.units].iter().enumerate() {
            sheet.write_with_format(r, i as u16, v.as_str(), &fmt.body)?;
        }
    }
    r += 2;
    let titles: Vec<&str> = guide.tiers.iter().map(|t| t.facts.title.as_str()).collect();
    sheet.write_with_format(r, 0, format!("名单各列（{}各表）", titles.join("、")), &fmt.bold)?;
    r += 1;
    heads(sheet, r, &["列名", "含义"])?;
    let labels: Vec<&str> = guide.tiers.iter().map(|t| t.facts.label.as_str()).collect();
    for c in columns {
        r += 1;
        let note = RISK_COLUMN_NOTES.iter().find(|(source, _)| *source == c.source).map(|(_, n)| *n);
        let note = note.ok_or_else(|| Error::Internal(format!("risk column {} has no note", c.source)))?;
        let note = note.replace("{tiers}", &labels.join("、"));
        sheet.write_with_format(r, 0, c.header, &fmt.body)?;
        sheet.write_with_format(r, 1, note.as_str(), &fmt.wrap)?;
        sheet.set_row_height(r, wrapped_height(&note))?;
    }
    r += 2;
    sheet.write_with_format(r, 0, "如何找到本人", &fmt.bold)?;
    for (i, line) in FINDING_THE_PERSON.iter().enumerate() {
        r += 1;
        sheet.write_with_format(r, 0, format!("{}.", i + 1), &fmt.body)?;
        sheet.write_with_format(r, 1, *line, &fmt.wrap)?;
        sheet.set_row_height(r, wrapped_height(line))?;
    }
    sheet.set_column_width(0, 16)?;
    sheet.set_column_width(1, WRAP_WIDTH)?;
    sheet.set_column_width(2, 16)?;
    sheet.set_column_width(3, 26)?;
    sheet.set_column_width(4, 16)?;
    // One page wide when printed; a wrapped cell's row is as tall as its lines (LibreOffice and
    // WPS do not grow a row for wrapped text on their own).
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}

/// The height (points) of a row whose one wrapped cell, in a column [`WRAP_WIDTH`] wide, holds
/// `text`.
fn wrapped_height(text: &str) -> f64 {
    let per_line = WRAP_WIDTH as usize - 2;
    let lines = display_width(text).div_ceil(per_line).max(1);
    15.0 * lines as f64 + 2.0
}

/// Writes `risk_list.csv`: the columns of the tier sheets, every tier in the given order, UTF-8
/// with a BOM and CRLF line ends (so Excel and WPS open it as Chinese text), dates as
/// YYYY-MM-DD, booleans as 是/否. The same input gives the same bytes.
pub fn write_risk_csv(path: &Path, t: &ListTables) -> Result<()> {
    let columns = risk_columns(t.guide);
    let risk = View::all(t.risk, "risk", columns)?;
    let io = |e: std::io::Error| Error::io(path, e);
    let mut file = std::fs::File::create(path).map_err(io)?;
    file.write_all(b"\xEF\xBB\xBF").map_err(io)?;
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(file);
    let csv_err = |e: csv::Error| Error::io(path, e.into());
    out.write_record(columns.iter().map(|c| c.header)).map_err(csv_err)?;
    let mut record = csv::StringRecord::with_capacity(1024, columns.len());
    for view in &risk {
        for r in 0..view.rows {
            record.clear();
            for (i, c) in columns.iter().enumerate() {
                match view.value(i, c.kind, r) {
                    Value::Text(t) => record.push_field(&csv_text(t)),
                    value => record.push_field(&value.text()),
                }
            }
            out.write_record(&record).map_err(csv_err)?;
        }
    }
    out.flush().map_err(io)?;
    Ok(())
}

/// Writes `tasks.xlsx`: `汇总`, then one sheet per unit (every unit of [`ListTables::units`]
/// always, in that order, then any other unit of the rows alphabetically: an open task of a unit
/// the codebook no longer names). An open task past its due date is lit: its 状态 reads 逾期 and
/// its 状态 and 逾期天数 cells are red.
pub fn write_tasks_xlsx(path: &Path, t: &ListTables) -> Result<()> {
    let tasks = View::all(t.tasks, "tasks", TASK_COLUMNS)?;
    let mut unit_arrays = Vec::with_capacity(t.tasks.len());
    let mut states: Vec<Vec<TaskState>> = Vec::with_capacity(t.tasks.len());
    for batch in t.tasks {
        unit_arrays.push(column(batch, "tasks", "unit", &DataType::Utf8)?);
        let status = column(batch, "tasks", "status", &DataType::Utf8)?;
        let status = status.as_string::<i32>();
        let overdue = column(batch, "tasks", "days_overdue", &DataType::Int64)?;
        let overdue = overdue.as_primitive::<Int64Type>();
        let mut rows = Vec::with_capacity(batch.num_rows());
        for r in 0..batch.num_rows() {
            let days = if overdue.is_null(r) { 0 } else { overdue.value(r) };
            rows.push(match (status.is_valid(r).then(|| status.value(r)), days > 0) {
                (Some("closed"), _) => TaskState::Closed,
                (Some("open"), true) => TaskState::Overdue,
                (Some("open"), false) => TaskState::Open,
                (other, _) => return Err(Error::Internal(format!("tasks: unknown status {other:?}"))),
            });
        }
        states.push(rows);
    }

    // The units in sheet order, and each row's unit as an index into them.
    let mut others = BTreeSet::new();
    for units in &unit_arrays {
        for (r, unit) in units.as_string::<i32>().iter().enumerate() {
            match unit {
                Some(u) if !u.is_empty() => {
                    if !t.units.iter().any(|x| x == u) {
                        others.insert(u);
                    }
                }
                _ => return Err(Error::Internal(format!("tasks: row {r} has no unit"))),
            }
        }
    }
    let units: Vec<&str> = t.units.iter().map(String::as_str).chain(others).collect();
    let index: HashMap<&str, usize> = units.iter().enumerate().map(|(i, u)| (*u, i)).collect();
    let unit_of: Vec<Vec<usize>> = unit_arrays
        .iter()
        .map(|a| a.as_string::<i32>().iter().map(|u| index[u.unwrap_or_default()]).collect())
        .collect();

    // Per unit: tasks, open (not overdue), overdue, closed. Tasks = open + overdue + closed.
    let mut tally = vec![[0u64; 4]; units.len()];
    for (rows, states) in unit_of.iter().zip(&states) {
        for (u, state) in rows.iter().zip(states) {
            tally[*u][0] += 1;
            tally[*u][1 + *state as usize] += 1;
        }
    }

    let fmt = Formats::new(t.guide);
    let mut book = new_book(t.as_of)?;

    let sheet = book.add_worksheet().set_name("汇总")?;
    sheet.write_with_format(0, 0, format!("包保任务 {}", t.as_of.format("%Y-%m-%d")), &fmt.title)?;
    sheet.write(1, 0, "模型版本")?;
    sheet.write(1, 1, t.model_version)?;
    for (c, h) in ["包保单位", "任务数", "待处理", "逾期", "已办结"].iter().enumerate() {
        sheet.write_with_format(3, c as u16, *h, &fmt.head)?;
    }
    let mut total = [0u64; 4];
    for (i, (unit, n)) in units.iter().zip(&tally).enumerate() {
        let r = 4 + i as u32;
        sheet.write(r, 0, *unit)?;
        for (c, v) in n.iter().enumerate() {
            total[c] += v;
            if c == 2 && *v > 0 {
                sheet.write_with_format(r, 1 + c as u16, *v as f64, &fmt.lit)?;
            } else {
                sheet.write(r, 1 + c as u16, *v as f64)?;
            }
        }
    }
    let r = 4 + units.len() as u32;
    sheet.write_with_format(r, 0, "合计", &fmt.head)?;
    for (c, v) in total.iter().enumerate() {
        sheet.write_with_format(r, 1 + c as u16, *v as f64, &fmt.head)?;
    }
    sheet.write(r + 2, 0, "任务数 = 待处理 + 逾期 + 已办结。逾期(亮灯):未办结且已过办结期限的任务。")?;
    sheet.set_column_width(0, 16)?;
    for c in 1..=4 {
        sheet.set_column_width(c, 10)?;
    }

    for (u, unit) in units.iter().enumerate() {
        let sheet = book.add_worksheet_with_constant_memory()?.set_name(sheet_name(unit))?;
        let mut out = SheetWriter::new(sheet, TASK_COLUMNS, &fmt)?;
        for ((view, rows), states) in tasks.iter().zip(&unit_of).zip(&states) {
            for (r, state) in states.iter().enumerate() {
                if rows[r] == u {
                    out.row(view, r, *state == TaskState::Overdue)?;
                }
            }
        }
        let rows = out.next_row;
        out.finish()?;
        // 决定 is chosen from the codebook's decisions; the dates are dates.
        let decision = TASK_COLUMNS.iter().position(|c| c.header == "决定").expect("the tasks have a 决定 column") as u16;
        let last = rows.max(2) - 1;
        if !t.decisions.is_empty() {
            let choose = DataValidation::new()
                .allow_list_strings(t.decisions)?
                .set_error_title("决定")?
                .set_error_message(&format!("请从下拉列表中选择：{}", t.decisions.join("、")))?;
            sheet.add_data_validation(1, decision, last, decision, &choose)?;
        }
        let date = decision + 2;
        let on_or_before = DataValidation::new()
            .allow_date(DataValidationRule::LessThanOrEqualTo(ExcelDateTime::from_ymd(2100, 12, 31)?))
            .set_error_title("决定日期")?
            .set_error_message("请填写日期，例如 2026-12-01")?;
        sheet.add_data_validation(1, date, last, date, &on_or_before)?;
    }

    book.save(path).map_err(|e| Error::writing(path, e))?;
    Ok(())
}

/// A task as the tally counts it; the discriminant is its tally column after 任务数.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskState {
    Open = 0,
    Overdue = 1,
    Closed = 2,
}

// ---------------------------------------------------------------------------------------------
// Reading batches by column name.
// ---------------------------------------------------------------------------------------------

/// The named column of a batch, cast to `ty` when it arrives as another type (say Utf8View).
fn column(batch: &RecordBatch, table: &str, name: &str, ty: &DataType) -> Result<ArrayRef> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| Error::Internal(format!("{table}: the batch has no column {name}")))?;
    if array.data_type() == ty { Ok(array.clone()) } else { Ok(cast(array, ty)?) }
}

/// One batch with the columns of an output resolved by name, in the output's order.
struct View {
    values: Vec<ArrayRef>,
    /// For [`Kind::Tier`] columns, the tier codes that choose the fill.
    tier_codes: Vec<Option<ArrayRef>>,
    rows: usize,
}

impl View {
    fn new(batch: &RecordBatch, table: &str, columns: &[Column]) -> Result<View> {
        let mut values = Vec::with_capacity(columns.len());
        let mut tier_codes = Vec::with_capacity(columns.len());
        for c in columns {
            values.push(match c.kind {
                Kind::Input => datafusion::arrow::array::new_null_array(&DataType::Utf8, batch.num_rows()),
                _ => column(batch, table, c.source, &c.kind.data_type())?,
            });
            tier_codes.push(match c.kind {
                Kind::Tier(code) => Some(column(batch, table, code, &DataType::Utf8)?),
                _ => None,
            });
        }
        Ok(View { values, tier_codes, rows: batch.num_rows() })
    }

    fn all(batches: &[RecordBatch], table: &str, columns: &[Column]) -> Result<Vec<View>> {
        batches.iter().map(|b| View::new(b, table, columns)).collect()
    }

    fn value(&self, col: usize, kind: Kind, row: usize) -> Value<'_> {
        let a = &self.values[col];
        if a.is_null(row) {
            return Value::Null;
        }
        match kind {
            Kind::Text | Kind::Wrap | Kind::Tier(_) | Kind::Status | Kind::Input => Value::Text(a.as_string::<i32>().value(row)),
            Kind::Int => Value::Int(a.as_primitive::<Int64Type>().value(row)),
            Kind::Score => match a.as_primitive::<Float64Type>().value(row) {
                x if x.is_finite() => Value::Num(x),
                _ => Value::Null,
            },
            Kind::Date => a.as_primitive::<Date32Type>().value_as_date(row).map_or(Value::Null, Value::Date),
            Kind::YesNo => Value::Bool(a.as_boolean().value(row)),
        }
    }

    /// The tier (its name) that fills a [`Kind::Tier`] cell, if any.
    fn tier(&self, col: usize, row: usize) -> Option<&str> {
        let codes = self.tier_codes[col].as_ref()?.as_string::<i32>();
        if codes.is_null(row) { None } else { Some(codes.value(row)) }
    }
}

/// One cell's value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value<'a> {
    Null,
    Text(&'a str),
    Int(i64),
    Num(f64),
    Date(NaiveDate),
    Bool(bool),
}

/// A text value as a CSV cell: one that a spreadsheet would take for a formula (it starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'` (OWASP's rule against CSV
/// injection), so that opening the file never runs anything.
fn csv_text(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { Cow::Owned(format!("'{s}")) } else { Cow::Borrowed(s) }
}

/// A text value as a workbook cell: a cell holds at most 32,767 characters, so a longer value
/// (several evidence lists joined) is cut there with a mark rather than failing the workbook.
pub fn excel_text(s: &str) -> Cow<'_, str> {
    const MARK: &str = "…(截断)";
    let max = crate::config::MAX_CELL_LENGTH;
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let keep = max - MARK.chars().count();
            let end = s.char_indices().nth(keep).map(|(i, _)| i).unwrap_or(s.len());
            Cow::Owned(format!("{}{MARK}", &s[..end]))
        }
    }
}

impl Value<'_> {
    /// The value as text: what the CSV holds and what sizes a column.
    fn text(&self) -> Cow<'_, str> {
        match self {
            Value::Null => Cow::Borrowed(""),
            Value::Text(s) => Cow::Borrowed(s),
            Value::Int(n) => Cow::Owned(n.to_string()),
            Value::Num(x) => Cow::Owned(format!("{x:.3}")),
            Value::Date(d) => Cow::Owned(d.format("%Y-%m-%d").to_string()),
            Value::Bool(b) => Cow::Borrowed(if *b { "是" } else { "否" }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing sheets.
// ---------------------------------------------------------------------------------------------

/// A workbook whose document properties do not change from run to run, and whose every sheet
/// prints well (see [`Book::save`]).
pub(crate) fn new_book(as_of: NaiveDate) -> Result<Book> {
    let mut book = Workbook::new();
    book.set_properties(&DocProperties::new().set_creation_datetime(&excel_date(as_of)?));
    Ok(Book(book))
}

/// A workbook that, when saved, gives every sheet the print setup of [`print_setup`]: the sheets
/// a writer adds (a summary, a 说明 sheet) cannot be left out by forgetting a call. Everything
/// else is the [`Workbook`]'s.
pub(crate) struct Book(Workbook);

impl std::ops::Deref for Book {
    type Target = Workbook;
    fn deref(&self) -> &Workbook {
        &self.0
    }
}

impl std::ops::DerefMut for Book {
    fn deref_mut(&mut self) -> &mut Workbook {
        &mut self.0
    }
}

impl Book {
    pub(crate) fn save(&mut self, path: &Path) -> std::result::Result<(), rust_xlsxwriter::XlsxError> {
        for sheet in self.0.worksheets_mut() {
            print_setup(sheet);
        }
        self.0.save(path)
    }
}

/// How every sheet prints: A4 landscape, all columns on one page wide (as many pages high as it
/// takes), the confidentiality marking and the sheet's name above, page numbers below. The rows
/// repeated on every page are the data sheets' own ([`SheetWriter`]): only they know their header.
pub(crate) fn print_setup(sheet: &mut Worksheet) {
    const A4: u8 = 9;
    sheet
        .set_landscape()
        .set_paper_size(A4)
        .set_print_fit_to_pages(1, 0)
        // Narrow margins (inches): the lists are wide, and every bit of width is a bigger print.
        .set_margins(0.3, 0.3, 0.55, 0.5, 0.25, 0.25)
        .set_header("&L内部资料 注意保密&C&A&R&D")
        .set_footer("&L由护苗 humiao 生成&C第 &P 页 共 &N 页");
}

/// The height (points) of a row whose wrapped cells need `lines` lines; None for one line (the
/// default height). LibreOffice and WPS do not fit a row to wrapped text on opening as Excel
/// does, so a row left at the default shows only its first line there. A line is taken as
/// 16 points: Calibri's 15 plus the taller line of the CJK fallback font.
pub(crate) fn wrapped_row_height(lines: usize) -> Option<f64> {
    const LINE: f64 = 16.0;
    const MAX: f64 = 409.0; // Excel's tallest row
    (lines > 1).then(|| (lines as f64 * LINE + 3.0).min(MAX))
}

/// How many lines `text` takes wrapped in a column `width` characters wide: each line of the
/// text filled character by character, a CJK character counting two. A cell's padding and the
/// wider glyphs of some fonts take about a character of the width, so that is left free.
pub(crate) fn wrapped_lines(text: &str, width: f64) -> usize {
    let room = ((width - 1.5).floor() as usize).max(2);
    text.split('\n')
        .map(|line| {
            let (mut lines, mut used) = (1, 0);
            for c in line.chars() {
                let w = if is_wide(c) { 2 } else { 1 };
                if used + w > room {
                    lines += 1;
                    used = 0;
                }
                used += w;
            }
            lines
        })
        .sum()
}

fn excel_date(d: NaiveDate) -> Result<ExcelDateTime> {
    let year = u16::try_from(d.year()).map_err(|_| Error::Internal(format!("date {d} out of Excel's range")))?;
    Ok(ExcelDateTime::from_ymd(year, d.month() as u8, d.day() as u8)?)
}

/// A unit's name made into a valid sheet name (at most 31 characters, none of `[]:*?/\`).
pub(crate) fn sheet_name(unit: &str) -> String {
    let name: String = unit
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take(31)
        .collect();
    let name = name.trim_matches('\'');
    if name.is_empty() { "未命名单位".to_string() } else { name.to_string() }
}

struct Formats {
    title: Format,
    head: Format,
    bold: Format,
    body: Format,
    wrap: Format,
    date: Format,
    score: Format,
    lit: Format,
    /// Each tier's cells, by tier name: its fill and text colour.
    tiers: Vec<(String, Format)>,
}

impl Formats {
    fn new(guide: &Guide) -> Formats {
        let body = Format::new().set_align(FormatAlign::VerticalCenter);
        let tier = |t: &crate::model::TierGuide| {
            let f = body.clone().set_background_color(t.facts.colour.hex()).set_align(FormatAlign::Center);
            let f = match t.facts.text_colour {
                Some(c) => f.set_font_color(c.hex()),
                None => f,
            };
            (t.name.clone(), f)
        };
        Formats {
            title: Format::new().set_bold().set_font_size(14),
            head: Format::new().set_bold().set_background_color(0xD9E1F2).set_border(FormatBorder::Thin),
            bold: Format::new().set_bold(),
            wrap: body.clone().set_text_wrap(),
            date: body.clone().set_num_format("yyyy-mm-dd"),
            score: body.clone().set_num_format("0.000"),
            lit: body.clone().set_background_color(LIT_FILL).set_font_color(0xFFFFFF).set_bold(),
            tiers: guide.tiers.iter().map(tier).collect(),
            body,
        }
    }

    /// The format of a cell of tier `name`, if the model has that tier.
    fn tier(&self, name: &str) -> Option<&Format> {
        self.tiers.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

/// The width of a wrapped column.
const WRAP_WIDTH: f64 = 60.0;
/// The widest an unwrapped column grows.
const MAX_WIDTH: usize = 50;
/// The widest a column grows for text of one word (a person key), which wraps only beyond it:
/// broken, it would make every row two lines tall.
const MAX_WORD_WIDTH: usize = 70;

/// Writes the rows of one data sheet in order (constant-memory sheets only go forward) and
/// tracks the width each column needs, giving a row with wrapped text the height its lines need;
/// `finish` sets the widths, the frozen header and the autofilter. The header row repeats on
/// every printed page.
struct SheetWriter<'s> {
    sheet: &'s mut Worksheet,
    columns: &'static [Column],
    fmt: &'s Formats,
    widths: Vec<usize>,
    /// The width each column needs for its one-word texts, up to [`MAX_WORD_WIDTH`].
    word_widths: Vec<usize>,
    next_row: u32,
}

impl<'s> SheetWriter<'s> {
    fn new(sheet: &'s mut Worksheet, columns: &'static [Column], fmt: &'s Formats) -> Result<Self> {
        for (c, col) in columns.iter().enumerate() {
            sheet.write_with_format(0, c as u16, col.header, &fmt.head)?;
        }
        // The header row on top of every printed page.
        sheet.set_repeat_rows(0, 0)?;
        // Room for the header and its filter button.
        let widths = columns.iter().map(|c| display_width(c.header) + 3).collect();
        Ok(SheetWriter { sheet, columns, fmt, widths, word_widths: vec![0; columns.len()], next_row: 1 })
    }

    fn row(&mut self, view: &View, row: usize, lit: bool) -> Result<()> {
        let r = self.next_row;
        let mut lines = 1;
        for (i, col) in self.columns.iter().enumerate() {
            let c = i as u16;
            let mut value = view.value(i, col.kind, row);
            if lit && col.kind == Kind::Status {
                value = Value::Text("逾期");
            }
            let special = if lit && col.lights {
                Some(&self.fmt.lit)
            } else if let Kind::Tier(_) = col.kind {
                view.tier(i, row).and_then(|t| self.fmt.tier(t))
            } else {
                None
            };
            // A text wider than the widest column (a long evidence list, a person key) wraps
            // rather than being cut off at the column's edge.
            let text_width = display_width(&excel_text(&value.text()));
            let one_word = !value.text().contains(char::is_whitespace);
            let limit = if one_word { MAX_WORD_WIDTH } else { MAX_WIDTH };
            let overflows = col.kind == Kind::Text && text_width + 2 > limit;
            let format = special.unwrap_or(match col.kind {
                Kind::Wrap => &self.fmt.wrap,
                Kind::Text if overflows => &self.fmt.wrap,
                Kind::Date => &self.fmt.date,
                Kind::Score => &self.fmt.score,
                _ => &self.fmt.body,
            });
            match value {
                Value::Null => {
                    if special.is_some() {
                        self.sheet.write_blank(r, c, format)?;
                    }
                }
                Value::Text(s) => {
                    self.sheet.write_string_with_format(r, c, excel_text(s), format)?;
                }
                Value::Int(n) => {
                    self.sheet.write_number_with_format(r, c, n as f64, format)?;
                }
                Value::Num(x) => {
                    self.sheet.write_number_with_format(r, c, x, format)?;
                }
                Value::Date(d) => {
                    self.sheet.write_date_with_format(r, c, excel_date(d)?, format)?;
                }
                Value::Bool(_) => {
                    self.sheet.write_string_with_format(r, c, value.text(), format)?;
                }
            }
            self.widths[i] = self.widths[i].max(text_width + 2);
            if one_word {
                self.word_widths[i] = self.word_widths[i].max((text_width + 2).min(MAX_WORD_WIDTH));
            }
            if col.kind == Kind::Wrap {
                lines = lines.max(wrapped_lines(&excel_text(&value.text()), WRAP_WIDTH));
            } else if overflows {
                lines = lines.max(wrapped_lines(&excel_text(&value.text()), MAX_WIDTH as f64));
            }
        }
        // Constant-memory sheets write a row out when the next begins: its height is set now.
        if let Some(height) = wrapped_row_height(lines) {
            self.sheet.set_row_height(r, height)?;
        }
        self.next_row += 1;
        Ok(())
    }

    fn finish(self) -> Result<()> {
        for (i, (col, w)) in self.columns.iter().zip(&self.widths).enumerate() {
            let width = if col.kind == Kind::Wrap { WRAP_WIDTH } else { (*w).min(MAX_WIDTH).max(self.word_widths[i]) as f64 };
            self.sheet.set_column_width(i as u16, width)?;
        }
        self.sheet.set_freeze_panes(1, 0)?;
        let last_col = (self.columns.len() - 1) as u16;
        self.sheet.autofilter(0, 0, self.next_row - 1, last_col)?;
        Ok(())
    }
}

/// The width of text in Excel's character units, a CJK (or other full-width) character counting
/// as two.
fn display_width(s: &str) -> usize {
    s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F        // Hangul Jamo
        | 0x2E80..=0xA4CF      // CJK radicals, punctuation, kana, unified ideographs, Yi
        | 0xAC00..=0xD7A3      // Hangul syllables
        | 0xF900..=0xFAFF      // CJK compatibility ideographs
        | 0xFE30..=0xFE4F      // CJK compatibility forms
        | 0xFF00..=0xFF60      // full-width forms
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)   // CJK extensions
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use calamine::{Data, DataType as _, Reader, open_workbook_auto};
    use datafusion::arrow::array::{BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};

    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_formula_in_a_csv_cell_is_neutralised_and_a_long_text_fits_a_workbook_cell() {
        for formula in ["=HYPERLINK(\"x\")", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(csv_text(formula), format!("'{formula}"));
        }
        assert_eq!(csv_text("P0001;P0002"), "P0001;P0002");
        let long = "证".repeat(40_000);
        let cut = excel_text(&long);
        assert_eq!(cut.chars().count(), crate::config::MAX_CELL_LENGTH);
        assert!(cut.ends_with("…(截断)"));
        assert_eq!(excel_text("短"), "短");
    }

    fn days(d: &[Option<&str>]) -> ArrayRef {
        let epoch = day("1970-01-01");
        Arc::new(Date32Array::from(
            d.iter().map(|s| s.map(|s| (day(s) - epoch).num_days() as i32)).collect::<Vec<_>>(),
        ))
    }

    fn strs(v: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    fn ints(v: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(v.to_vec()))
    }

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    /// Three people: red (no school), orange, blue; no yellow.
    fn risk() -> RecordBatch {
        let n3 = |v: &str| strs(&[Some(v), Some(v), Some(v)]);
        batch(vec![
            ("rank", ints(&[Some(1), Some(2), Some(3)])),
            ("person_key", strs(&[Some("p-aaa"), Some("p-bbb"), Some("p-ccc")])),
            ("tier", strs(&[Some("red"), Some("orange"), Some("blue")])),
            ("tier_label", strs(&[Some("红"), Some("橙"), Some("蓝")])),
            ("score", Arc::new(Float64Array::from(vec![Some(9.87654), Some(5.5), None]))),
            ("intervention", strs(&[Some("serious"), Some("serious"), None])),
            ("intervention_label", strs(&[Some("严重不良"), Some("严重不良"), Some("无")])),
            ("tier_rule_label", strs(&[Some("红：严重不良行为 + 事实无人抚养或孤儿"), Some("橙：严重不良行为"), Some("蓝：1类风险（不良行为）")])),
            ("cadence", strs(&[Some("立即"), Some("每周"), Some("每季度")])),
            ("task_due_on", days(&[Some("2026-11-24"), None, Some("2027-01-10")])),
            ("categories", strs(&[Some("C2,C6"), Some("C2"), Some("C1")])),
            ("category_labels", strs(&[Some("严重不良行为,监护与生活困境"), Some("严重不良行为"), Some("一般不良行为")])),
            ("n_categories", ints(&[Some(2), Some(1), Some(1)])),
            ("departments", strs(&[Some("公安,民政"), Some("公安"), Some("教育")])),
            ("collision", Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]))),
            ("units", strs(&[Some("公安,民政"), Some("公安"), Some("教育")])),
            ("age", ints(&[Some(15), Some(16), Some(12)])),
            ("gender", strs(&[Some("1"), Some("2"), Some("9")])),
            ("gender_label", strs(&[Some("男"), Some("女"), Some("未说明")])),
            ("township_code", n3("330101001")),
            ("township_name", n3("城关镇")),
            ("school_code", strs(&[None, Some("S01"), Some("S02")])),
            ("school_name", strs(&[None, Some("第一中学"), None])),
            (
                "reasons",
                strs(&[
                    Some("严重不良行为:公安 2 条记录,最近 2026-11-20；监护与生活困境:民政 1 条记录"),
                    Some("严重不良行为:公安 1 条记录"),
                    Some("一般不良行为:教育 1 条记录"),
                ]),
            ),
            (
                "evidence",
                strs(&[
                    Some("C2: police_incidents/P01, police_incidents/P07; C6: civil_status/CS9"),
                    Some("C2: police_incidents/P02"),
                    Some("C1: education_attendance/A1"),
                ]),
            ),
            ("link_methods", strs(&[Some("身份证号转换,姓名哈希关联"), Some("身份证号转换"), Some("人员编号")])),
            ("change", strs(&[Some("new"), Some("up"), Some("same")])),
            ("change_label", strs(&[Some("新增"), Some("升级"), Some("持续")])),
            ("first_listed_on", days(&[Some("2026-11-23"), Some("2026-10-01"), Some("2026-01-15")])),
            ("days_listed", ints(&[Some(0), Some(53), Some(312)])),
            ("as_of", days(&[Some("2026-11-23"); 3])),
            ("model_version", n3("collision-v1")),
        ])
    }

    fn changes() -> RecordBatch {
        batch(vec![
            ("person_key", strs(&[Some("p-aaa"), Some("p-bbb"), Some("p-zzz")])),
            ("change", strs(&[Some("new"), Some("up"), Some("lifted")])),
            ("change_label", strs(&[Some("新增"), Some("升级"), Some("解除")])),
            ("tier_before", strs(&[None, Some("yellow"), Some("blue")])),
            ("tier_before_label", strs(&[None, Some("黄"), Some("蓝")])),
            ("tier_now", strs(&[Some("red"), Some("orange"), None])),
            ("tier_now_label", strs(&[Some("红"), Some("橙"), None])),
            ("first_listed_on", days(&[Some("2026-11-23"), Some("2026-10-01"), Some("2026-03-01")])),
            ("days_listed", ints(&[Some(0), Some(53), Some(260)])),
            ("previous_as_of", days(&[Some("2026-11-22"); 3])),
            ("as_of", days(&[Some("2026-11-23"); 3])),
        ])
    }

    /// Four tasks: an overdue one and an open one for 教育, a closed one for 公安, one for a
    /// unit outside the four.
    fn tasks() -> RecordBatch {
        batch(vec![
            ("unit", strs(&[Some("教育"), Some("公安"), Some("团委"), Some("教育")])),
            ("person_key", strs(&[Some("p-ccc"), Some("p-aaa"), Some("p-bbb"), Some("p-ddd")])),
            ("rank", ints(&[Some(3), Some(1), Some(2), Some(4)])),
            ("tier", strs(&[Some("blue"), Some("red"), Some("orange"), Some("blue")])),
            ("tier_label", strs(&[Some("蓝"), Some("红"), Some("橙"), Some("蓝")])),
            ("reasons", strs(&[Some("一般不良行为:教育 1 条记录"), Some("严重不良行为"), Some("x"), Some("y")])),
            ("township_name", strs(&[Some("城关镇"); 4])),
            ("school_code", strs(&[Some("S02"), None, Some("S01"), None])),
            ("assigned_on", days(&[Some("2026-08-01"), Some("2026-11-22"), Some("2026-11-20"), Some("2026-11-23")])),
            ("due_on", days(&[Some("2026-10-30"), Some("2026-11-23"), Some("2026-11-27"), Some("2027-02-21")])),
            ("status", strs(&[Some("open"), Some("closed"), Some("open"), Some("open")])),
            ("status_label", strs(&[Some("待处理"), Some("已办结"), Some("待处理"), Some("待处理")])),
            ("days_overdue", ints(&[Some(24), Some(0), Some(0), Some(0)])),
            ("tier_assigned", strs(&[Some("red"), Some("red"), Some("orange"), Some("blue")])),
            ("tier_assigned_label", strs(&[Some("红"), Some("红"), Some("橙"), Some("蓝")])),
            ("closed_on", days(&[None, Some("2026-11-23"), None, None])),
            ("note", strs(&[Some("派发时为红色，自2026-09-01起为蓝色"), None, None, None])),
        ])
    }

    /// The demo's tiers and units, as the pipeline gives them to the writers.
    fn demo() -> (Guide, Vec<String>) {
        let plan = crate::config::Plan::load(Path::new("pipelines/demo.toml"), Default::default()).unwrap();
        let model = crate::model::Model::load(&plan.model, &plan.codebook, &plan.tables).unwrap();
        (model.guide(&plan.codebook, &plan.tables), plan.codebook.units.clone())
    }

    fn write_all(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
        let (risk, changes, tasks) = ([risk()], [changes()], [tasks()]);
        let (guide, units) = demo();
        let t = ListTables {
            as_of: day("2026-11-23"),
            model_version: "collision-v1",
            risk: &risk,
            changes: &changes,
            tasks: &tasks,
            guide: &guide,
            units: &units,
            decisions: &[],
        };
        let paths = (dir.join("risk_list.xlsx"), dir.join("risk_list.csv"), dir.join("tasks.xlsx"));
        write_risk_xlsx(&paths.0, &t).unwrap();
        write_risk_csv(&paths.1, &t).unwrap();
        write_tasks_xlsx(&paths.2, &t).unwrap();
        paths
    }

    fn row(range: &calamine::Range<Data>, r: usize) -> Vec<Data> {
        range.rows().nth(r).map(|row| row.to_vec()).unwrap_or_default()
    }

    fn s(v: &str) -> Data {
        Data::String(v.to_string())
    }

    #[test]
    fn risk_xlsx_has_summary_tier_sheets_and_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (xlsx, _, _) = write_all(dir.path());
        let mut book = open_workbook_auto(&xlsx).unwrap();
        assert_eq!(book.sheet_names(), ["汇总", "红色预警", "橙色预警", "黄色预警", "蓝色关注", "变化", "说明"]);

        let summary = book.worksheet_range("汇总").unwrap();
        assert_eq!(row(&summary, 0)[0], s("重点青少年风险名单 2026-11-23"));
        assert_eq!(row(&summary, 2)[..2], [s("模型版本"), s("collision-v1")]);
        let count = |label: &str| {
            summary.rows().find(|r| r[0] == s(label)).map(|r| r[1].as_f64().unwrap()).unwrap()
        };
        assert_eq!(count("红色预警"), 1.0);
        assert_eq!(count("黄色预警"), 0.0);
        assert_eq!(count("重点青少年(红+橙)"), 2.0);
        assert_eq!(count("碰撞命中"), 1.0);
        assert_eq!(count("新增"), 1.0);
        assert_eq!(count("解除"), 1.0);

        let red = book.worksheet_range("红色预警").unwrap();
        let headers: Vec<Data> = RISK_COLUMNS_NO_SCHOOL.iter().map(|c| s(c.header)).collect();
        assert_eq!(row(&red, 0), headers);
        assert_eq!(red.height(), 2);
        let first = row(&red, 1);
        assert_eq!(first[0].as_f64(), Some(1.0));
        assert_eq!(first[1], s("p-aaa"));
        assert_eq!(first[2], s("红"));
        assert_eq!(first[3].as_f64(), Some(9.87654));
        assert_eq!(first[4], s("红：严重不良行为 + 事实无人抚养或孤儿"));
        assert_eq!(first[5], s("立即"));
        assert_eq!(first[6].as_date(), Some(day("2026-11-24")), "the earliest due date of the open tasks");
        assert_eq!(first[10], s("是"));
        assert_eq!(first[15], Data::Empty, "a NULL school code is an empty cell");
        assert!(first[16].as_string().unwrap().contains("监护与生活困境"));
        assert_eq!(first[20].as_date(), Some(day("2026-11-23")), "dates are Excel dates");

        let yellow = book.worksheet_range("黄色预警").unwrap();
        assert_eq!(yellow.height(), 1, "an empty tier has just its header");
        assert_eq!(row(&yellow, 0), headers);

        let blue = book.worksheet_range("蓝色关注").unwrap();
        assert_eq!(row(&blue, 1)[1], s("p-ccc"));

        let changed = book.worksheet_range("变化").unwrap();
        assert_eq!(
            row(&changed, 0),
            ["人员编号", "变化", "原等级", "现等级", "首次列入日期", "列入天数", "上次评估日期"].map(s)
        );
        assert_eq!(changed.height(), 4);
        assert_eq!(row(&changed, 3)[..2], [s("p-zzz"), s("解除")]);
        assert_eq!(row(&changed, 3)[6].as_date(), Some(day("2026-11-22")));
    }

    #[test]
    fn risk_csv_is_bom_crlf_chinese_and_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (_, csv_path, _) = write_all(dir.path());
        let bytes = std::fs::read(&csv_path).unwrap();
        assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        let header = RISK_COLUMNS_NO_SCHOOL.iter().map(|c| c.header).collect::<Vec<_>>().join(",");
        assert!(text.starts_with(&format!("{header}\r\n")));
        assert_eq!(text.matches('\n').count(), 4, "a header and three rows");
        assert_eq!(text.matches("\r\n").count(), 4, "every line ends in CRLF");
        let first = text.split("\r\n").nth(1).unwrap();
        assert!(first.starts_with("1,p-aaa,红,9.877,红：严重不良行为 + 事实无人抚养或孤儿,立即,2026-11-24,严重不良,"), "{first}");
        assert!(first.contains(",是,"));
        assert!(first.contains(",城关镇,,\"严重不良行为"), "a NULL school code is an empty field: {first}");
        assert!(first.contains("\"C2: police_incidents/P01, police_incidents/P07; C6: civil_status/CS9\""));
        assert!(first.ends_with(",新增,2026-11-23,0"));
        let third = text.split("\r\n").nth(3).unwrap();
        assert!(third.starts_with("3,p-ccc,蓝,,蓝：1类风险（不良行为）,每季度,2027-01-10,无,"), "a NULL score is an empty field: {third}");

        let again = dir.path().join("again.csv");
        let (risk, changes, tasks) = ([risk()], [changes()], [tasks()]);
        let (guide, units) = demo();
        let t = ListTables { as_of: day("2026-11-23"), model_version: "collision-v1", risk: &risk, changes: &changes, tasks: &tasks, guide: &guide, units: &units, decisions: &[] };
        write_risk_csv(&again, &t).unwrap();
        assert_eq!(std::fs::read(&again).unwrap(), bytes);
    }

    #[test]
    fn tasks_xlsx_has_a_sheet_per_unit_and_lights_overdue_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, xlsx) = write_all(dir.path());
        let mut book = open_workbook_auto(&xlsx).unwrap();
        assert_eq!(book.sheet_names(), ["汇总", "教育", "公安", "司法", "民政", "团委"]);

        let summary = book.worksheet_range("汇总").unwrap();
        let tally = |unit: &str| -> Vec<f64> {
            let r = summary.rows().find(|r| r[0] == s(unit)).unwrap();
            r[1..5].iter().map(|d| d.as_f64().unwrap()).collect()
        };
        assert_eq!(tally("教育"), [2.0, 1.0, 1.0, 0.0]);
        assert_eq!(tally("公安"), [1.0, 0.0, 0.0, 1.0]);
        assert_eq!(tally("司法"), [0.0; 4]);
        assert_eq!(tally("合计"), [4.0, 2.0, 1.0, 1.0]);

        let headers: Vec<Data> = TASK_COLUMNS.iter().map(|c| s(c.header)).collect();
        let edu = book.worksheet_range("教育").unwrap();
        assert_eq!(row(&edu, 0), headers);
        assert_eq!(edu.height(), 3);
        let lit = row(&edu, 1);
        assert_eq!(lit[0], s("p-ccc"));
        assert_eq!(lit[3], s("红"), "the tier the task was assigned at");
        assert_eq!(lit[7].as_date(), Some(day("2026-08-01")));
        assert_eq!(lit[9], s("逾期"));
        assert_eq!(lit[10].as_f64(), Some(24.0));
        assert_eq!(lit[12], s("派发时为红色，自2026-09-01起为蓝色"));
        let open = row(&edu, 2);
        assert_eq!(open[6], Data::Empty);
        assert_eq!(open[9], s("待处理"));

        let justice = book.worksheet_range("司法").unwrap();
        assert_eq!(justice.height(), 1);
        assert_eq!(row(&justice, 0), headers);
        let police = row(&book.worksheet_range("公安").unwrap(), 1);
        assert_eq!(police[9], s("已办结"));
        assert_eq!(police[11].as_date(), Some(day("2026-11-23")));
    }

    #[test]
    fn risk_row_of_unknown_tier_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = risk();
        let tier = bad.schema().index_of("tier").unwrap();
        let mut cols = bad.columns().to_vec();
        cols[tier] = strs(&[Some("red"), Some("purple"), Some("blue")]);
        let bad = RecordBatch::try_new(bad.schema(), cols).unwrap();
        let (guide, units) = demo();
        let t = ListTables { as_of: day("2026-11-23"), model_version: "v", risk: &[bad], changes: &[], tasks: &[], guide: &guide, units: &units, decisions: &[] };
        let err = write_risk_xlsx(&dir.path().join("r.xlsx"), &t).unwrap_err();
        assert!(err.to_string().contains("purple"), "{err}");
    }

    #[test]
    fn every_risk_column_has_a_note_and_no_school_drops_only_the_school_name() {
        for c in RISK_COLUMNS {
            assert!(RISK_COLUMN_NOTES.iter().any(|(source, _)| *source == c.source), "{} has no note", c.source);
        }
        let sources = |cols: &[Column]| cols.iter().map(|c| c.source).collect::<Vec<_>>();
        let mut want = sources(RISK_COLUMNS);
        want.retain(|s| *s != "school_name");
        assert_eq!(sources(RISK_COLUMNS_NO_SCHOOL), want);
    }

    #[test]
    fn display_width_counts_cjk_as_two() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("红色预警"), 8);
        assert_eq!(display_width("C2；C6"), 6);
    }
}
