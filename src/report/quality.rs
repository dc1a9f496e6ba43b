//! The data-quality report of an as-of date: `quality.json` for machines and `quality.xlsx`
//! (Chinese) for the analyst. For every file: `rows_read = rows_accepted + rows_quarantined +
//! rows_duplicate`, with a count per quarantine reason.
//!
//! The report is rebuilt from the lake on every ingest ([`QualityReport::from_lake`]): it covers
//! every file ingested for its as-of date, however many runs that took (a rerun after a failure
//! or a second delivery the same day), plus the rejected and unrecognised files of the run that
//! writes it (the lake does not remember those; every run looks at them again).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;
use rust_xlsxwriter::{Format, FormatBorder};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::read::{Encoding, Format as FileFormat};
use crate::ingest::{FileReport, FileStatus};
use crate::report::lists;
use crate::review::DecisionFile;
use crate::sql::Template;

const FILES_SQL: &str = include_str!("quality_files.sql");
const ROWS_SQL: &str = include_str!("quality_rows.sql");

/// A quarantined row as the analyst sees it: where, which column, why. Never a value.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedRow {
    pub file: String,
    pub line: i64,
    pub column: String,
    pub reason: String,
    pub record_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    /// The run that wrote the report (the files may have been ingested by earlier runs of the date).
    pub run_id: String,
    pub as_of: String,
    pub pipeline: String,
    pub files: Vec<FileReport>,
    /// Rows quarantined by an earlier run (unlinkable, ambiguous, or dated after that run's
    /// as-of date) that the runs of this as-of date linked or, their date come, accepted.
    pub relinked_from_earlier_runs: u64,
    /// Rows still waiting in the lake for their person or their date after this run.
    pub pending_after_run: u64,
    pub totals: Totals,
    /// Reviewers' decision files (inbox/review/) read by this run.
    pub decision_files: Vec<crate::review::DecisionFile>,
    #[serde(skip)]
    pub quarantined_rows: Vec<QuarantinedRow>,
    /// The quarantined rows of the decision files (their sheet and column, e.g. `公安!decision`).
    #[serde(skip)]
    pub decision_rows: Vec<QuarantinedRow>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub files_accepted: u64,
    pub files_rejected: u64,
    pub files_duplicate: u64,
    pub files_unrecognised: u64,
    pub files_skipped: u64,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
    pub rows_duplicate: u64,
}

impl Totals {
    /// The totals of `files` (decision files aside).
    pub fn of(files: &[FileReport]) -> Totals {
        let mut t = Totals::default();
        for f in files {
            match f.status {
                FileStatus::Accepted => t.files_accepted += 1,
                FileStatus::Rejected(_) => t.files_rejected += 1,
                FileStatus::DuplicateFile(_) => t.files_duplicate += 1,
                FileStatus::Unrecognised(_) => t.files_unrecognised += 1,
                FileStatus::Skipped(_) => t.files_skipped += 1,
            }
            t.rows_read += f.rows_read;
            t.rows_accepted += f.rows_accepted;
            t.rows_quarantined += f.rows_quarantined;
            t.rows_duplicate += f.rows_duplicate;
        }
        t
    }
}

impl QualityReport {
    /// The report of `as_of` from the lake registered in `ctx` (this run committed): every file
    /// that a committed run of `as_of` ingested, with its quarantined rows, plus what `scanned`
    /// (this run's inbox) and `decisions` (this run's reviewers' files) hold that the lake does
    /// not remember: rejected and unrecognised files, and decision files read before.
    pub async fn from_lake(
        ctx: &SessionContext,
        run_id: &str,
        as_of: NaiveDate,
        pipeline: &str,
        scanned: &[FileReport],
        decisions: &[DecisionFile],
        pending_after_run: u64,
    ) -> Result<QualityReport> {
        let day = as_of.format("%Y-%m-%d").to_string();
        let mut files: Vec<FileReport> = Vec::new();
        let mut decision_files: Vec<DecisionFile> = Vec::new();
        let mut last: Option<(String, String)> = None;
        let files_sql = files_sql(&day)?;
        for b in ctx.sql(&files_sql).await?.collect().await? {
            let text = |i: usize| datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8);
            let int = |i: usize| datafusion::arrow::compute::cast(b.column(i), &DataType::Int64);
            let (run, file, table, status, format, encoding, sha, of) = (text(0)?, text(1)?, text(2)?, text(3)?, text(4)?, text(5)?, text(6)?, text(7)?);
            let (size, mtime, read, accepted, quarantined, duplicate) = (int(8)?, int(9)?, int(10)?, int(11)?, int(12)?, int(13)?);
            let (reason, n) = (text(14)?, int(15)?);
            let s = |a: &datafusion::arrow::array::ArrayRef, i: usize| a.is_valid(i).then(|| a.as_string::<i32>().value(i).to_string());
            let u = |a: &datafusion::arrow::array::ArrayRef, i: usize| if a.is_valid(i) { a.as_primitive::<Int64Type>().value(i) } else { 0 };
            for i in 0..b.num_rows() {
                let key = (s(&run, i).unwrap_or_default(), s(&file, i).unwrap_or_default());
                if s(&table, i).as_deref() == Some(crate::review::TABLE) {
                    if last.as_ref() != Some(&key) {
                        decision_files.push(DecisionFile {
                            file: key.1.clone(),
                            status: s(&status, i).unwrap_or_default(),
                            detail: None,
                            rows_read: u(&read, i) as u64,
                            rows_accepted: u(&accepted, i) as u64,
                            rows_quarantined: u(&quarantined, i) as u64,
                        });
                    }
                    last = Some(key);
                    continue;
                }
                if last.as_ref() != Some(&key) {
                    let status = match s(&status, i).as_deref() {
                        Some("duplicate_file") => FileStatus::DuplicateFile(s(&of, i).unwrap_or_default()),
                        _ => FileStatus::Accepted,
                    };
                    files.push(FileReport {
                        file: key.1.clone(),
                        table: s(&table, i),
                        status,
                        format: s(&format, i).and_then(|f| FileFormat::from_name(&f)),
                        encoding: s(&encoding, i).and_then(|e| Encoding::from_name(&e)),
                        sha256: s(&sha, i).filter(|h| !h.is_empty()),
                        rows_read: u(&read, i) as u64,
                        rows_accepted: u(&accepted, i) as u64,
                        rows_quarantined: u(&quarantined, i) as u64,
                        rows_duplicate: u(&duplicate, i) as u64,
                        quarantined_by_reason: BTreeMap::new(),
                        file_order: -1,
                        size: u(&size, i) as u64,
                        mtime: u(&mtime, i),
                    });
                }
                if let (Some(r), Some(f)) = (s(&reason, i), files.last_mut()) {
                    f.quarantined_by_reason.insert(r, u(&n, i) as u64);
                }
                last = Some(key);
            }
        }
        // What this run found that the lake does not remember, in the order of the scan.
        files.extend(scanned.iter().filter(|f| matches!(f.status, FileStatus::Rejected(_) | FileStatus::Unrecognised(_) | FileStatus::Skipped(_))).cloned());
        files.sort_by(|a, b| (&a.table, &a.file).cmp(&(&b.table, &b.file)));
        let remembered: Vec<String> = decision_files.iter().map(|d| d.file.clone()).collect();
        decision_files.extend(
            decisions
                .iter()
                .filter(|d| d.status == "rejected" || (d.status == "duplicate_file" && !remembered.contains(&d.file)))
                .cloned(),
        );
        decision_files.sort_by(|a, b| a.file.cmp(&b.file));

        let relinked = ctx
            .sql(&format!("SELECT CAST(coalesce(sum(rows_relinked), 0) AS BIGINT) FROM runs WHERE as_of = '{day}'"))
            .await?
            .collect()
            .await?;
        let relinked = relinked.first().filter(|b| b.num_rows() > 0).map(|b| b.column(0).as_primitive::<Int64Type>().value(0) as u64).unwrap_or(0);

        let mut report = QualityReport {
            run_id: run_id.to_string(),
            as_of: day.clone(),
            pipeline: pipeline.to_string(),
            files,
            relinked_from_earlier_runs: relinked,
            pending_after_run,
            totals: Totals::default(),
            decision_files,
            quarantined_rows: quarantined_rows(ctx, &day, false).await?,
            decision_rows: quarantined_rows(ctx, &day, true).await?,
        };
        report.compute_totals();
        report.totals.files_rejected += report.decision_files.iter().filter(|f| f.status == "rejected").count() as u64;
        Ok(report)
    }

    pub fn compute_totals(&mut self) {
        self.totals = Totals::of(&self.files);
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        let path = dir.join("quality.json");
        std::fs::write(&path, json).map_err(|e| crate::error::Error::io(&path, e))?;
        self.write_xlsx(&dir.join("quality.xlsx"))
    }

    fn write_xlsx(&self, path: &Path) -> Result<()> {
        // The lists' workbook: fixed document properties, and every sheet's print setup.
        let mut book = lists::new_book(NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"))?;
        let head = Format::new().set_bold().set_background_color(0xD9E1F2).set_border(FormatBorder::Thin);
        let bad = Format::new().set_font_color(0xC00000);
        let wrap = Format::new().set_text_wrap();
        const DETAIL_WIDTH: f64 = 40.0;
        let reasons: Vec<&str> = crate::ingest::validate::REASONS.to_vec();

        let sheet = book.add_worksheet().set_name("文件核对")?;
        let mut headers: Vec<String> = ["文件", "数据表", "状态", "说明", "格式", "编码", "读取行数", "接收", "隔离", "重复"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        headers.extend(reasons.iter().map(|r| format!("隔离:{}", reason_label(r))));
        for (c, h) in headers.iter().enumerate() {
            sheet.write_with_format(0, c as u16, h, &head)?;
        }
        for (i, f) in self.files.iter().enumerate() {
            let r = (i + 1) as u32;
            let (status, detail) = status_label(&f.status);
            sheet.write(r, 0, &f.file)?;
            sheet.write(r, 1, f.table.as_deref().unwrap_or(""))?;
            if matches!(f.status, FileStatus::Rejected(_)) {
                sheet.write_with_format(r, 2, status, &bad)?;
            } else {
                sheet.write(r, 2, status)?;
            }
            sheet.write_with_format(r, 3, detail.as_str(), &wrap)?;
            if let Some(height) = lists::wrapped_row_height(lists::wrapped_lines(&detail, DETAIL_WIDTH)) {
                sheet.set_row_height(r, height)?;
            }
            sheet.write(r, 4, f.format.map(|x| format!("{x:?}").to_uppercase()).unwrap_or_default())?;
            sheet.write(r, 5, f.encoding.map(encoding_label).unwrap_or(""))?;
            for (c, n) in [f.rows_read, f.rows_accepted, f.rows_quarantined, f.rows_duplicate].iter().enumerate() {
                sheet.write(r, 6 + c as u16, *n as f64)?;
            }
            for (c, reason) in reasons.iter().enumerate() {
                let n = f.quarantined_by_reason.get(*reason).copied().unwrap_or(0);
                sheet.write(r, 10 + c as u16, n as f64)?;
            }
        }
        let total_row = (self.files.len() + 1) as u32;
        sheet.write_with_format(total_row, 0, "合计", &head)?;
        let t = &self.totals;
        for (c, n) in [t.rows_read, t.rows_accepted, t.rows_quarantined, t.rows_duplicate].iter().enumerate() {
            sheet.write_with_format(total_row, 6 + c as u16, *n as f64, &head)?;
        }
        sheet.set_freeze_panes(1, 1)?;
        sheet.set_repeat_rows(0, 0)?;
        sheet.set_column_width(0, 46)?;
        sheet.set_column_width(1, 22)?;
        sheet.set_column_width(3, DETAIL_WIDTH)?;
        sheet.set_column_width(5, 14)?;
        sheet.write(total_row + 2, 0, format!(
            "基准日 {},运行编号 {}。每个文件:读取行数 = 接收 + 隔离 + 重复。上次隔离、本次关联成功 {} 行;仍待关联 {} 行。",
            self.as_of, self.run_id, self.relinked_from_earlier_runs, self.pending_after_run
        ))?;

        // Reviewers' decision files (inbox/review/): rows read = accepted + quarantined.
        let decisions = book.add_worksheet().set_name("复核决定文件")?;
        for (c, h) in ["文件", "状态", "说明", "读取行数", "接收", "隔离"].iter().enumerate() {
            decisions.write_with_format(0, c as u16, *h, &head)?;
        }
        for (i, d) in self.decision_files.iter().enumerate() {
            let r = (i + 1) as u32;
            let status = match d.status.as_str() {
                "accepted" => "已接收",
                "duplicate_file" => "重复文件（已读过）",
                _ => "已拒收",
            };
            let detail = d.detail.as_deref().map(file_reason_label).unwrap_or_default();
            decisions.write(r, 0, &d.file)?;
            if d.status == "rejected" {
                decisions.write_with_format(r, 1, status, &bad)?;
            } else {
                decisions.write(r, 1, status)?;
            }
            decisions.write_with_format(r, 2, detail.as_str(), &wrap)?;
            for (c, n) in [d.rows_read, d.rows_accepted, d.rows_quarantined].iter().enumerate() {
                decisions.write(r, 3 + c as u16, *n as f64)?;
            }
        }
        let note_row = (self.decision_files.len() + 2) as u32;
        decisions.write(note_row, 0, if self.decision_files.is_empty() {
            "本日没有复核决定文件。"
        } else {
            "每个文件：读取行数 = 接收 + 隔离。被隔离的行如下（字段前为任务表的工作表名）。"
        })?;
        let first = note_row + 2;
        if !self.decision_rows.is_empty() {
            for (c, h) in ["文件", "行号", "字段", "原因", "原因代码"].iter().enumerate() {
                decisions.write_with_format(first, c as u16, *h, &head)?;
            }
        }
        for (i, q) in self.decision_rows.iter().enumerate() {
            let r = first + 1 + i as u32;
            decisions.write(r, 0, &q.file)?;
            decisions.write(r, 1, q.line as f64)?;
            decisions.write(r, 2, &q.column)?;
            decisions.write(r, 3, reason_label(&q.reason))?;
            decisions.write(r, 4, &q.reason)?;
        }
        decisions.set_freeze_panes(1, 0)?;
        decisions.set_repeat_rows(0, 0)?;
        decisions.set_column_width(0, 46)?;
        decisions.set_column_width(1, 18)?;
        decisions.set_column_width(2, DETAIL_WIDTH)?;

        let rows = book.add_worksheet().set_name("隔离明细")?;
        for (c, h) in ["文件", "行号", "字段", "原因", "原因代码", "记录编号"].iter().enumerate() {
            rows.write_with_format(0, c as u16, *h, &head)?;
        }
        const MAX_ROWS: usize = 200_000;
        for (i, q) in self.quarantined_rows.iter().take(MAX_ROWS).enumerate() {
            let r = (i + 1) as u32;
            rows.write(r, 0, &q.file)?;
            rows.write(r, 1, q.line as f64)?;
            rows.write(r, 2, &q.column)?;
            rows.write(r, 3, reason_label(&q.reason))?;
            rows.write(r, 4, &q.reason)?;
            rows.write(r, 5, q.record_id.as_deref().unwrap_or(""))?;
        }
        if self.quarantined_rows.len() > MAX_ROWS {
            rows.write((MAX_ROWS + 2) as u32, 0, format!("仅列出前 {MAX_ROWS} 行;完整清单见湖表 quarantine。"))?;
        }
        rows.set_freeze_panes(1, 0)?;
        rows.set_repeat_rows(0, 0)?;
        rows.set_column_width(0, 46)?;
        rows.set_column_width(2, 18)?;
        rows.set_column_width(3, 22)?;
        rows.set_column_width(4, 20)?;
        rows.set_column_width(5, 16)?;
        book.save(path).map_err(|e| Error::writing(path, e))?;
        Ok(())
    }
}

/// `quality_files.sql` filled in for `day` (YYYY-MM-DD; reads `runs`, `files`, `quarantine`).
pub fn files_sql(day: &str) -> Result<String> {
    Template::new("quality_files.sql", FILES_SQL).set("as_of", day).render()
}

/// `quality_rows.sql` filled in for `day`, for the reviewers' decision files or the data files
/// (reads `runs`, `quarantine`).
pub fn rows_sql(day: &str, of_decisions: bool) -> Result<String> {
    Template::new("quality_rows.sql", ROWS_SQL)
        .set("as_of", day)
        .set("decisions", crate::review::TABLE)
        .set("of_decisions", of_decisions.to_string())
        .render()
}

/// Every row quarantined from the files ingested for `day` (`quality_rows.sql`).
async fn quarantined_rows(ctx: &SessionContext, day: &str, of_decisions: bool) -> Result<Vec<QuarantinedRow>> {
    let sql = rows_sql(day, of_decisions)?;
    let mut out = Vec::new();
    for b in ctx.sql(&sql).await?.collect().await? {
        let text = |i: usize| datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8);
        let (file, column, reason, rid) = (text(0)?, text(2)?, text(3)?, text(4)?);
        let line = datafusion::arrow::compute::cast(b.column(1), &DataType::Int64)?;
        let line = line.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.push(QuarantinedRow {
                file: file.as_string::<i32>().value(i).to_string(),
                line: line.value(i),
                column: column.as_string::<i32>().value(i).to_string(),
                reason: reason.as_string::<i32>().value(i).to_string(),
                record_id: rid.is_valid(i).then(|| rid.as_string::<i32>().value(i).to_string()),
            });
        }
    }
    Ok(out)
}

pub fn reason_label(reason: &str) -> &'static str {
    match reason {
        "too_long" => "字段超长",
        "control_character" => "含控制字符",
        "bad_id_number" => "身份证号无效",
        "id_number_not_text" => "身份证号未以文本存储",
        "bad_name_hash" => "姓名哈希格式错误",
        "missing_field" => "缺少必填字段",
        "bad_date" => "日期格式无效",
        "bad_number" => "数值无效",
        "bad_person_key" => "人员编号格式错误",
        "unknown_code" => "代码不在代码表中",
        "unknown_township" => "乡镇代码不在参考表中",
        "future_date" => "日期晚于基准日",
        "birth_after_event" => "出生日期晚于事件日期",
        "role_code_mismatch" => "涉案身份与行为代码不符",
        "unlinkable" => "无法关联到人员",
        "ambiguous_link" => "可关联到多名人员",
        _ => "其他",
    }
}

/// A file's status and why, in Chinese, for quality.xlsx (quality.json keeps the English).
fn status_label(s: &FileStatus) -> (&'static str, String) {
    match s {
        FileStatus::Accepted => ("已接收", String::new()),
        FileStatus::Rejected(why) => ("已拒收", file_reason_label(why)),
        FileStatus::DuplicateFile(of) => ("重复文件", format!("与已接收的 {of} 内容相同")),
        FileStatus::Unrecognised(why) => ("无法识别", file_reason_label(why)),
        FileStatus::Skipped(why) => ("已跳过", file_reason_label(why)),
    }
}

/// Why ingest rejected, skipped or did not recognise a file, as its English message has it
/// (`src/ingest/`, `src/review.rs`), and the same in Chinese. In a shape, `{}` is a part taken
/// over as `{0}`, `{1}` … (a line number, a column's name, an encoding) and `{_}` a part left out
/// (the words of an operating-system or library error, which are English). The first shape that
/// matches wins, so a longer shape comes before a shorter one it starts with.
const FILE_REASONS: &[(&str, &str)] = &[
    // src/ingest/mod.rs: files the scan skips or cannot place.
    ("a symbolic link whose target does not exist", "符号链接指向的文件不存在"),
    ("cannot be examined: {_}", "无法读取文件信息"),
    ("a folder inside a source folder: files must lie directly in inbox/<source>/", "来源文件夹中的子文件夹：文件须直接放在 inbox/<来源>/ 下"),
    ("a FIFO (named pipe), not a file", "命名管道，不是普通文件"),
    ("a socket or device, not a file", "套接字或设备，不是普通文件"),
    ("a hidden file (an upload in progress?); rename it to have it read", "隐藏文件（可能仍在上传）；改名后才会读取"),
    ("not in a source folder (inbox/<source>/)", "不在来源文件夹（inbox/<来源>/）中"),
    ("its name starts with no declared table of its source folder", "文件名开头不是所在来源文件夹已登记的数据表名"),
    ("reader failed: {_}", "读取程序出错"),
    ("validation query failed: {_}", "校验查询出错"),
    // src/ingest/read.rs and csv_records.rs: what the readers find.
    ("is UTF-16 encoded; save it as UTF-8 or GB18030", "文件为 UTF-16 编码；请另存为 UTF-8 或 GB18030 编码"),
    ("starts with a UTF-8 byte-order mark, but line {} is not valid UTF-8", "文件以 UTF-8 字节顺序标记开头，但第 {0} 行不是有效的 UTF-8 文本"),
    (
        "is neither valid UTF-8 nor valid GB18030 text: read as {}, line {} has bytes that are not valid",
        "既不是有效的 UTF-8 文本，也不是有效的 GB18030 文本：按 {0} 读取时，第 {1} 行含有无效字节",
    ),
    ("cannot start a reader thread: {_}", "无法启动读取线程"),
    ("the reader stopped before reading the header", "读取在表头之前中止"),
    ("is an empty file (its first sheet has no cells)", "空文件（第一个工作表没有单元格）"),
    ("is an empty file", "空文件"),
    ("has no header row: its first line names none of the table's columns", "没有表头行：第一行不含该数据表的任何列名"),
    ("the header names column `{}` twice", "表头中列 {0} 出现了两次"),
    ("the header names column {} (its name is not shown) twice", "表头中第 {0} 列的列名出现了两次（列名不显示）"),
    ("the header lacks the required column `{}`", "表头缺少必需列 {0}"),
    ("the header lacks an identity column: one of `person_key`, `id_number`, `name_hash`", "表头缺少身份列（person_key、id_number、name_hash 须有其一）"),
    ("cannot be opened: {_}", "无法打开文件"),
    ("cannot be read from line {} on: {_}", "从第 {0} 行起无法读取"),
    ("cannot be read from row {} on: {_}", "从第 {0} 行起无法读取"),
    ("cannot be read as XLSX: {_}", "无法作为 XLSX 文件读取"),
    ("cannot be read: {_}", "无法读取文件"),
    ("line {}: a quote opened on this line is never closed", "第 {0} 行：该行开始的引号没有闭合"),
    ("has a header that is not valid text", "表头不是有效的文本"),
    ("line {} has text that is not valid {}", "第 {0} 行含有不是有效 {1} 编码的文本"),
    (
        "line {} has {} fields, more than the {} columns of its header{_}",
        "第 {0} 行有 {1} 个字段，多于表头的 {2} 列（行尾多了逗号，或未加引号的值中含有逗号？）",
    ),
    ("has {} lines, but only {} could be read as CSV records", "共 {0} 行，但只有 {1} 行能读作 CSV 记录"),
    ("is not a readable Parquet file: {_}", "不是可读取的 Parquet 文件"),
    ("is not a readable XLSX file: {_}", "不是可读取的 XLSX 文件"),
    ("cannot read its first sheet: {_}", "无法读取第一个工作表"),
    ("is not valid CSV: {_}", "不是有效的 CSV 文件"),
];

/// The Chinese of why a file was rejected, skipped or not recognised (see [`FILE_REASONS`]). A
/// text that is already Chinese is kept; an English one of no known shape reads "其他原因", its
/// words being in quality.json.
pub fn file_reason_label(why: &str) -> String {
    if let Some(rest) = why.strip_prefix("has the same content as ") {
        // "has the same content as {of}, which was rejected: {why}", where {of} is a file name
        // (which has no ", which").
        if let Some((of, inner)) = rest.split_once(", which was rejected: ") {
            return format!("与已拒收的 {of} 内容相同：{}", file_reason_label(inner));
        }
    }
    for (shape, chinese) in FILE_REASONS {
        if let Some(parts) = match_shape(shape, why) {
            let mut out = chinese.to_string();
            for (i, part) in parts.iter().enumerate() {
                // An encoding comes as the reader's enum name (`{encoding:?}`).
                let part = match *part {
                    "Utf8" | "Utf8Bom" => "UTF-8",
                    "Gb18030" => "GB18030",
                    part => part,
                };
                out = out.replace(&format!("{{{i}}}"), part);
            }
            return out;
        }
    }
    if why.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c)) {
        return why.to_string();
    }
    "其他原因（英文原文见 quality.json）".to_string()
}

/// The parts of `text` that fill the `{}` of `shape`, if `text` has that shape (see
/// [`FILE_REASONS`]).
fn match_shape<'t>(shape: &str, text: &'t str) -> Option<Vec<&'t str>> {
    // Literal pieces, each followed by what fills the hole after it (None after the last).
    let mut pieces: Vec<(&str, Option<bool>)> = Vec::new();
    let mut rest = shape;
    while let Some(at) = rest.find('{') {
        let keep = rest[at..].starts_with("{}");
        let skip = rest[at..].starts_with("{_}");
        if !keep && !skip {
            break;
        }
        pieces.push((&rest[..at], Some(keep)));
        rest = &rest[at + if keep { 2 } else { 3 }..];
    }
    pieces.push((rest, None));
    let mut parts = Vec::new();
    let mut text = text;
    let mut hole: Option<bool> = None;
    for (literal, next) in pieces {
        match hole {
            None => text = text.strip_prefix(literal)?,
            Some(keep) => {
                let at = if literal.is_empty() && next.is_none() {
                    text.len()
                } else if next.is_none() {
                    // The last literal ends the text.
                    text.len().checked_sub(literal.len()).filter(|&at| text[at..] == *literal)?
                } else {
                    text.find(literal).filter(|_| !literal.is_empty())?
                };
                let filled = text.get(..at)?;
                if filled.is_empty() {
                    return None;
                }
                if keep {
                    parts.push(filled);
                }
                text = &text[at + literal.len()..];
            }
        }
        hole = next;
    }
    text.is_empty().then_some(parts)
}

fn encoding_label(e: crate::ingest::read::Encoding) -> &'static str {
    match e {
        crate::ingest::read::Encoding::Utf8 => "UTF-8",
        crate::ingest::read::Encoding::Utf8Bom => "UTF-8 (BOM)",
        crate::ingest::read::Encoding::Gb18030 => "GB18030",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn why_a_file_was_rejected_is_said_in_chinese() {
        let utf16 = crate::ingest::read::detect_encoding(&mut std::io::Cursor::new(b"\xFF\xFEa\x00".to_vec())).unwrap_err();
        for (english, chinese) in [
            (utf16.as_str(), "文件为 UTF-16 编码；请另存为 UTF-8 或 GB18030 编码"),
            ("the header lacks the required column `conduct_code`", "表头缺少必需列 conduct_code"),
            ("the header names column `record_id` twice", "表头中列 record_id 出现了两次"),
            ("the header names column 4 (its name is not shown) twice", "表头中第 4 列的列名出现了两次（列名不显示）"),
            (
                "line 3 has 9 fields, more than the 8 columns of its header (a trailing comma, or a comma inside an unquoted value?)",
                "第 3 行有 9 个字段，多于表头的 8 列（行尾多了逗号，或未加引号的值中含有逗号？）",
            ),
            ("line 12 has text that is not valid Gb18030", "第 12 行含有不是有效 GB18030 编码的文本"),
            ("cannot be read from line 7 on: stream did not contain valid UTF-8", "从第 7 行起无法读取"),
            ("is an empty file (its first sheet has no cells)", "空文件（第一个工作表没有单元格）"),
            ("is an empty file", "空文件"),
            ("its name starts with no declared table of its source folder", "文件名开头不是所在来源文件夹已登记的数据表名"),
            (
                "has the same content as police/a.csv, which was rejected: is an empty file",
                "与已拒收的 police/a.csv 内容相同：空文件",
            ),
            ("缺少必需列 student_id", "缺少必需列 student_id"),
            ("a message of some other shape", "其他原因（英文原文见 quality.json）"),
        ] {
            assert_eq!(file_reason_label(english), chinese, "{english}");
        }
    }

    #[test]
    fn a_shape_matches_only_the_whole_text() {
        assert_eq!(match_shape("line {} has {} fields{_}", "line 3 has 9 fields, more"), Some(vec!["3", "9"]));
        assert_eq!(match_shape("is an empty file", "is an empty file (its first sheet has no cells)"), None);
        assert_eq!(match_shape("cannot be read: {_}", "cannot be read: "), None, "a hole is never empty");
        assert_eq!(match_shape("line {}: a quote", "line 3: a quote opened"), None);
    }
}
