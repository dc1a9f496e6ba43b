//! `report.html`: the one-page leadership report. It reads only the suppressed
//! [`LeadershipView`] and the chart PNGs drawn from it, and writes one self-contained file in
//! Chinese: the headline numbers, the trend charts, the township table, the fairness panel and the
//! data-quality summary. The charts are embedded as PNG data URIs and the bundled font with
//! `@font-face`, so the page opens offline and looks the same on every machine. It prints on A4
//! (no table, figure or panel split across pages; the marking and page numbers in the margins)
//! and reflows on a phone (one column; a wide table scrolls in its own box, the page never
//! sideways). It is marked 内部资料 注意保密 and dated by its as-of date. It has no script and
//! nothing that depends on when it was written: the same view and charts give the same bytes.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::{Error, Result};
use crate::report::fonts::{FONT_FAMILY, FONT_TTF};
use crate::report::quality::file_reason_label;
use crate::report::view::{Cell, FairnessRow, LeadershipView};
#[cfg(test)]
use crate::report::view::TaskRow;

/// The charts the report shows, in reading order, by file stem under the charts folder.
const CHARTS: [&str; 5] = ["tiers", "collisions", "categories", "townships", "cooccurrence"];

/// The marking of a document for internal use only, on top of the page and on every printed page.
const CLASSIFIED: &str = "内部资料 注意保密";

/// How many quarantine reasons and rejected files the quality panel lists before "另有 n 项".
const QUALITY_LIST_MAX: usize = 8;

/// Writes the self-contained report: charts read from `charts_dir` (PNG files, embedded as base64
/// data URIs), the font embedded with @font-face (base64 of FONT_TTF), no external resource of any
/// kind. A missing or unreadable chart is an error: the charts are written before the report.
pub fn write_report(path: &Path, view: &LeadershipView, charts_dir: &Path) -> Result<()> {
    let mut charts = Vec::with_capacity(CHARTS.len());
    for stem in CHARTS {
        charts.push(Chart::read(&charts_dir.join(format!("{stem}.png")))?);
    }
    let mut html = String::with_capacity(FONT_TTF.len() * 4 / 3 + charts.iter().map(|c| c.base64.len()).sum::<usize>() + 64 * 1024);
    render(&mut html, view, &charts).map_err(|_| Error::Internal("formatting the HTML report failed".into()))?;
    std::fs::write(path, html).map_err(|e| Error::io(path, e))
}

/// A chart PNG, checked and encoded.
struct Chart {
    base64: String,
    width: u32,
    height: u32,
}

impl Chart {
    fn read(path: &Path) -> Result<Chart> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Internal(format!("the report needs the chart {}, which was not written", path.display())));
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        // The signature, then the IHDR chunk: length, "IHDR", width, height (big-endian).
        const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.len() < 24 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
            return Err(Error::Internal(format!("the chart {} is not a PNG file", path.display())));
        }
        let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        let height = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        Ok(Chart { base64: BASE64.encode(&bytes), width, height })
    }
}

fn render(out: &mut String, view: &LeadershipView, charts: &[Chart]) -> std::fmt::Result {
    let title = format!("{}重点青少年风险态势月报", view.county);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"humiao {}\">\n<title>{}</title>\n<style>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&title)
    )?;
    writeln!(
        out,
        "@font-face {{ font-family: \"{}\"; src: url(data:font/ttf;base64,{}) format(\"truetype\"); font-display: block; }}",
        css_string(FONT_FAMILY),
        BASE64.encode(FONT_TTF)
    )?;
    write!(out, ":root {{ --font: \"{}\", sans-serif; }}\n{CSS}</style>\n</head>\n<body>\n<main class=\"page\">\n", css_string(FONT_FAMILY))?;

    header(out, view, &title)?;
    headlines(out, view)?;
    chart_section(out, view, charts)?;
    township_table(out, view)?;
    task_table(out, view)?;
    fairness(out, view)?;
    quality(out, view)?;
    footer(out, view)?;

    out.push_str("</main>\n</body>\n</html>\n");
    Ok(())
}

fn header(out: &mut String, view: &LeadershipView, title: &str) -> std::fmt::Result {
    write!(
        out,
        "<header class=\"masthead\">\n<p class=\"classified\">{CLASSIFIED}</p>\n<h1>{}</h1>\n<p class=\"subtitle\">数据截至 {}",
        esc(title),
        view.as_of
    )?;
    if let (Some(first), Some(last)) = (view.months.first(), view.months.last()) {
        write!(out, "<span class=\"sep\">·</span>趋势区间 {}至{}（{}个月末）", month(*first), month(*last), view.months.len())?;
    }
    // The date the report was made is the as-of date: a run writes the report of its as-of date
    // (today, for the nightly run), and a rerun with the same data must give the same bytes, so
    // the wall clock is not printed.
    write!(out, "<span class=\"sep\">·</span>生成时间 {}</p>\n</header>\n", esc(&view.generated_at))?;
    Ok(())
}

fn headlines(out: &mut String, view: &LeadershipView) -> std::fmt::Result {
    if view.headlines.is_empty() {
        return Ok(());
    }
    // One row of cards up to six, else two rows.
    let n = view.headlines.len();
    let columns = if n <= 6 { n } else { n.div_ceil(2) };
    writeln!(out, "<section class=\"cards\" style=\"grid-template-columns: repeat({columns}, 1fr)\" aria-label=\"截至当日的主要数字\">")?;
    for h in &view.headlines {
        let (class, change) = match h.change {
            None => ("flat", "—".to_string()),
            Some(0) => ("flat", "持平".to_string()),
            Some(c) if c > 0 => ("up", format!("▲ {}", thousands(c.unsigned_abs()))),
            Some(c) => ("down", format!("▼ {}", thousands(c.unsigned_abs()))),
        };
        let change = if h.compared { format!("{} <b>{}</b>", esc(&h.note), esc(&change)) } else { esc(&h.note) };
        write!(
            out,
            "<div class=\"card\">\n<div class=\"card-label\">{}</div>\n<div class=\"card-value\">{}</div>\n\
             <div class=\"card-change {class}\">{change}</div>\n</div>\n",
            esc(&h.label),
            esc(&count(h.now, view.threshold)),
        )?;
    }
    out.push_str("</section>\n");
    Ok(())
}

fn chart_section(out: &mut String, view: &LeadershipView, charts: &[Chart]) -> std::fmt::Result {
    let span = format!("近{}个月，每月月末", view.months.len());
    let latest = view.months.last().map(|m| month(*m)).unwrap_or_default();
    let captions = [
        format!("各预警等级人数（{span}）"),
        format!("碰撞命中人数与重点青少年（{}）人数（{span}）", view.key_youth_label),
        format!("各类关键数据涉及人数（{span}）"),
        format!("各乡镇街道每千名未成年人中的列入人数（{latest}）"),
        format!("类别共现：同时涉及两类情形的人数（{latest}，对角线为该类人数）"),
    ];
    out.push_str("<section>\n<h2>趋势图</h2>\n<div class=\"charts\">\n");
    for (i, ((chart, caption), stem)) in charts.iter().zip(&captions).zip(CHARTS).enumerate() {
        write!(
            out,
            "<figure class=\"chart chart-{stem}\">\n<img src=\"data:image/png;base64,{}\" width=\"{}\" height=\"{}\" alt=\"{}\">\n\
             <figcaption><span class=\"fig\">图{}</span>{}</figcaption>\n</figure>\n",
            chart.base64,
            chart.width,
            chart.height,
            esc(caption),
            i + 1,
            esc(caption)
        )?;
    }
    out.push_str("</div>\n</section>\n");
    Ok(())
}

fn township_table(out: &mut String, view: &LeadershipView) -> std::fmt::Result {
    let latest = view.months.last().map(|m| month(*m)).unwrap_or_default();
    write!(out, "<section>\n<h2>各乡镇街道情况<small>{}</small></h2>\n", esc(&latest))?;
    if view.townships.is_empty() {
        out.push_str("<p class=\"muted\">本期无乡镇街道数据。</p>\n</section>\n");
        return Ok(());
    }
    let max_rate = view.townships.iter().filter_map(|t| t.rate_per_1000).fold(0.0_f64, f64::max);
    out.push_str(
        "<div class=\"scroll\">\n<table class=\"data townships\">\n<thead><tr><th>乡镇街道</th><th class=\"num\">未成年人口</th>\
         <th class=\"num\">列入人数</th><th class=\"num\">其中重点</th><th class=\"rate\">每千人比率</th></tr></thead>\n<tbody>\n",
    );
    for t in &view.townships {
        writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"rate\">{}</td></tr>",
            esc(&t.name),
            thousands(t.minors_population),
            esc(&count(t.listed, view.threshold)),
            esc(&count(t.key_youth, view.threshold)),
            rate_with_bar(t.rate_per_1000, max_rate)
        )?;
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
    Ok(())
}

/// Tasks per responsible unit: how many, closed by a reviewer's decision, overdue (亮灯, red).
fn task_table(out: &mut String, view: &LeadershipView) -> std::fmt::Result {
    out.push_str("<section>\n<h2>包保任务办理<small>逾期未办结的任务亮红灯</small></h2>\n");
    out.push_str(
        "<div class=\"scroll\">\n<table class=\"data tasks\">\n<thead><tr><th>责任单位</th><th class=\"num\">任务数</th>\
         <th class=\"num\">已办结</th><th class=\"num\">逾期（亮灯）</th></tr></thead>\n<tbody>\n",
    );
    for t in &view.tasks {
        let lit = matches!(t.overdue, Cell::Shown(n) if n > 0) || t.overdue.is_hidden();
        writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num{}\">{}</td></tr>",
            esc(&t.unit),
            esc(&count(t.tasks, view.threshold)),
            esc(&count(t.closed, view.threshold)),
            if lit { " overdue" } else { "" },
            esc(&count(t.overdue, view.threshold)),
        )?;
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
    Ok(())
}

/// The rate with a bar scaled to the largest rate of the table ("—" and no bar when None).
fn rate_with_bar(rate: Option<f64>, max: f64) -> String {
    match rate {
        None => "<span class=\"bar\"></span><span class=\"rate-value\">—</span>".into(),
        Some(r) => {
            let pct = if max > 0.0 { (r / max * 100.0).clamp(0.0, 100.0) } else { 0.0 };
            format!("<span class=\"bar\"><span style=\"width:{pct:.1}%\"></span></span><span class=\"rate-value\">{r:.1}</span>")
        }
    }
}

fn fairness(out: &mut String, view: &LeadershipView) -> std::fmt::Result {
    write!(out, "<section>\n<h2>公平性检查<small>各群体重点青少年（{}）比率</small></h2>\n", esc(&view.key_youth_label))?;
    // The dimensions in the order the view gives them (性别, 乡镇街道, 留守状态), each with its rows.
    let mut groups: Vec<(&str, Vec<&FairnessRow>)> = Vec::new();
    for r in &view.fairness {
        match groups.iter_mut().find(|(d, _)| *d == r.dimension) {
            Some((_, rows)) => rows.push(r),
            None => groups.push((&r.dimension, vec![r])),
        }
    }
    if groups.is_empty() {
        out.push_str("<p class=\"muted\">本期无分组数据。</p>\n");
    }
    // Two columns: the longest table (the townships) on the right, the short ones stacked on the
    // left, so that no panel stands beside a long empty space.
    let longest = groups.iter().enumerate().max_by_key(|(i, (_, rows))| (rows.len(), std::cmp::Reverse(*i))).map(|(i, _)| i);
    out.push_str("<div class=\"fairness\">\n<div class=\"column\">\n");
    for (i, (dim, rows)) in groups.iter().enumerate() {
        if Some(i) != longest || groups.len() == 1 {
            fairness_panel(out, view, dim, rows)?;
        }
    }
    out.push_str("</div>\n");
    if let Some(i) = longest.filter(|_| groups.len() > 1) {
        out.push_str("<div class=\"column\">\n");
        fairness_panel(out, view, groups[i].0, &groups[i].1)?;
        out.push_str("</div>\n");
    }
    out.push_str(
        "</div>\n<p class=\"note\">各群体比率的差异只是提示核查数据来源和工作实践（例如某些群体是否被更多地排查、记录）的信号，\
         不是该群体风险更高的证据。</p>\n</section>\n",
    );
    Ok(())
}

fn fairness_panel(out: &mut String, view: &LeadershipView, dim: &str, rows: &[&FairnessRow]) -> std::fmt::Result {
    write!(
        out,
        "<div class=\"panel\">\n<h3>{}</h3>\n<div class=\"scroll\">\n<table class=\"data compact\">\n<thead><tr><th>分组</th><th class=\"num\">人口</th>\
         <th class=\"num\">重点</th><th class=\"num\">每千人</th></tr></thead>\n<tbody>\n",
        esc(dim)
    )?;
    for r in rows {
        writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&r.group),
            esc(&count(r.population, view.threshold)),
            esc(&count(r.listed, view.threshold)),
            rate(r.rate_per_1000)
        )?;
    }
    let (ratio, zeros) = disparity(rows);
    let note = if zeros > 0 { format!("<span class=\"muted\">（比率为0的{zeros}组不计）</span>") } else { String::new() };
    write!(out, "</tbody>\n</table>\n</div>\n<p class=\"ratio\">最高/最低 = <b>{ratio}</b>{note}</p>\n</div>\n")
}

/// The ratio of the highest to the lowest rate among the groups with a rate above 0, one
/// decimal ("—" when fewer than two), and how many groups were left out for a rate of 0 (against
/// which any ratio is infinite).
fn disparity(rows: &[&FairnessRow]) -> (String, usize) {
    let rates: Vec<f64> = rows.iter().filter_map(|r| r.rate_per_1000).collect();
    let zeros = rates.iter().filter(|&&r| r <= 0.0).count();
    let positive: Vec<f64> = rates.into_iter().filter(|&r| r > 0.0).collect();
    if positive.len() < 2 {
        return ("—".into(), zeros);
    }
    let max = positive.iter().copied().fold(f64::MIN, f64::max);
    let min = positive.iter().copied().fold(f64::MAX, f64::min);
    (format!("{:.1}", max / min), zeros)
}

fn quality(out: &mut String, view: &LeadershipView) -> std::fmt::Result {
    let q = &view.quality;
    out.push_str("<section class=\"keep\">\n<h2>数据质量<small>本次运行</small></h2>\n<div class=\"quality\">\n");
    write!(
        out,
        "<div class=\"panel\">\n<h3>文件</h3>\n<dl class=\"stats\">\
         <div><dt>已接收</dt><dd>{}</dd></div><div><dt>已拒收</dt><dd>{}</dd></div><div><dt>无法识别</dt><dd>{}</dd></div></dl>\n</div>\n",
        thousands(q.files_accepted),
        thousands(q.files_rejected),
        thousands(q.files_unrecognised)
    )?;
    write!(
        out,
        "<div class=\"panel\">\n<h3>数据行</h3>\n<dl class=\"stats\">\
         <div><dt>读取</dt><dd>{}</dd></div><div><dt>接收</dt><dd>{}</dd></div><div><dt>隔离</dt><dd>{}</dd></div><div><dt>重复</dt><dd>{}</dd></div></dl>\n</div>\n",
        thousands(q.rows_read),
        thousands(q.rows_accepted),
        thousands(q.rows_quarantined),
        thousands(q.rows_duplicate)
    )?;
    out.push_str("</div>\n<div class=\"quality\">\n<div class=\"panel\">\n<h3>主要隔离原因</h3>\n");
    if q.quarantined_by_reason.is_empty() {
        out.push_str("<p class=\"muted\">无隔离数据行。</p>\n");
    } else {
        out.push_str("<div class=\"scroll\">\n<table class=\"data compact\">\n<tbody>\n");
        for (reason, rows) in q.quarantined_by_reason.iter().take(QUALITY_LIST_MAX) {
            writeln!(out, "<tr><td>{}</td><td class=\"num\">{} 行</td></tr>", esc(reason_label(reason)), thousands(*rows))?;
        }
        let rest = &q.quarantined_by_reason[q.quarantined_by_reason.len().min(QUALITY_LIST_MAX)..];
        if !rest.is_empty() {
            let rows: u64 = rest.iter().map(|(_, n)| n).sum();
            writeln!(out, "<tr><td>另有 {} 项原因</td><td class=\"num\">{} 行</td></tr>", rest.len(), thousands(rows))?;
        }
        out.push_str("</tbody>\n</table>\n</div>\n");
    }
    out.push_str("</div>\n<div class=\"panel\">\n<h3>拒收文件</h3>\n");
    if q.rejected_files.is_empty() {
        out.push_str("<p class=\"muted\">无拒收文件。</p>\n");
    } else {
        out.push_str("<ul class=\"rejected\">\n");
        for (file, why) in q.rejected_files.iter().take(QUALITY_LIST_MAX) {
            writeln!(out, "<li><code>{}</code><span>{}</span></li>", esc(file), esc(&file_reason_label(why)))?;
        }
        if q.rejected_files.len() > QUALITY_LIST_MAX {
            writeln!(out, "<li>另有 {} 个文件，详见数据质量报告。</li>", q.rejected_files.len() - QUALITY_LIST_MAX)?;
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</div>\n</div>\n</section>\n");
    Ok(())
}

/// The Chinese name of a quarantine reason code (the quality report's), or the code itself.
fn reason_label(reason: &str) -> &str {
    match crate::report::quality::reason_label(reason) {
        "其他" => reason,
        label => label,
    }
}

fn footer(out: &mut String, view: &LeadershipView) -> std::fmt::Result {
    let t = view.threshold;
    write!(
        out,
        "<div class=\"endnotes\">\n<p class=\"footnote\">注：少于{t}人的数据不予显示（“&lt;{t}”），以防识别到个人。{}</p>\n\
         <footer>{CLASSIFIED} · 模型版本 {} · 运行清单哈希 <code>{}</code> · 由护苗 humiao 于 {} 生成；同一数据重新生成，名单逐字节相同</footer>\n</div>\n",
        if view.any_withheld() { esc(&crate::report::view::withheld_note(t)) } else { String::new() },
        esc(&view.model_version),
        esc(&view.run_hash),
        esc(&view.generated_at)
    )
}

/// A count as printed: the number with thousands separators, or "<5" when suppressed.
fn count(cell: Cell, threshold: u64) -> String {
    match cell {
        Cell::Shown(n) => thousands(n),
        Cell::Suppressed | Cell::Withheld => cell.text(threshold),
    }
}

fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.1}")).unwrap_or_else(|| "—".into())
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

fn month(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!("{}年{}月", d.year(), d.month())
}

/// Text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a double-quoted CSS string, in a `<style>` element.
fn css_string(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' | '\\' | '<' | '>' | '&' => format!("\\{:x} ", c as u32).chars().collect::<Vec<_>>(),
            c => vec![c],
        })
        .collect()
}

const CSS: &str = r#"
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #eef1f5; color: #1d2733; font-family: var(--font); font-size: 14px; line-height: 1.55; }
.page { max-width: 1000px; margin: 24px auto; padding: 36px 44px 28px; background: #fff; box-shadow: 0 1px 4px rgba(20, 40, 70, .12); }
.masthead { position: relative; border-bottom: 3px solid #1f4e79; padding-bottom: 12px; margin-bottom: 20px; }
.classified { position: absolute; top: -4px; right: 0; margin: 0; padding: 2px 8px; border: 1.5px solid #c62828; border-radius: 3px; color: #c62828; font-size: 13px; font-weight: bold; letter-spacing: 2px; }
h1 { margin: 0; padding-right: 150px; font-size: 28px; font-weight: bold; letter-spacing: 1px; color: #143a5c; }
.subtitle { margin: 6px 0 0; color: #566474; font-size: 14px; }
.subtitle .sep { margin: 0 10px; color: #a0aab5; }
h2 { margin: 26px 0 12px; padding-left: 10px; border-left: 4px solid #1f4e79; font-size: 18px; color: #143a5c; }
h2 small { margin-left: 10px; font-size: 13px; font-weight: normal; color: #7a8694; }
h3 { margin: 0 0 8px; font-size: 14px; color: #34475b; }
.cards { display: grid; gap: 12px; }
.card { border: 1px solid #d8dee6; border-top: 3px solid #1f4e79; border-radius: 4px; padding: 12px 12px 10px; background: #fafbfd; display: flex; flex-direction: column; }
.card-label { flex: 1; font-size: 13px; color: #566474; }
.card-value { margin: 2px 0; font-size: 32px; font-weight: bold; line-height: 1.2; color: #143a5c; font-variant-numeric: tabular-nums; }
.card-change { font-size: 12px; color: #7a8694; }
.card-change b { font-weight: bold; color: #34475b; }
.card-change.flat b { color: #7a8694; }
.charts { display: flex; flex-direction: column; gap: 22px; }
.chart { margin: 0; break-inside: avoid; page-break-inside: avoid; }
.chart img { display: block; width: 100%; height: auto; border: 1px solid #e3e7ec; }
.chart-cooccurrence { width: 80%; margin: 0 auto; }
figcaption { margin-top: 6px; font-size: 13px; color: #34475b; }
figcaption .fig { margin-right: 6px; font-weight: bold; color: #1f4e79; }
.scroll { overflow-x: auto; }
table.data { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.data th, table.data td { padding: 5px 8px; border-bottom: 1px solid #e3e7ec; text-align: left; }
table.data thead th { background: #eef2f7; color: #34475b; font-weight: bold; border-bottom: 1px solid #c9d2dc; }
table.data tbody tr:nth-child(even) td { background: #fafbfd; }
table.data .num { text-align: right; white-space: nowrap; }
table.data.compact th, table.data.compact td { padding: 3px 6px; font-size: 13px; }
td.rate, th.rate { width: 230px; white-space: nowrap; }
.bar { display: inline-block; width: 150px; height: 9px; margin-right: 10px; background: #eef2f7; border-radius: 2px; vertical-align: middle; overflow: hidden; }
.bar span { display: block; height: 100%; background: #4a7fb0; }
.rate-value { display: inline-block; min-width: 44px; text-align: right; }
td.overdue { color: #fff; background: #E53935; font-weight: 600; }
.fairness, .quality { display: grid; grid-template-columns: 1fr 1fr; gap: 14px 20px; align-items: start; }
.fairness .column { display: flex; flex-direction: column; gap: 14px; }
.quality + .quality { margin-top: 14px; }
.panel { border: 1px solid #e3e7ec; border-radius: 4px; padding: 10px 12px; break-inside: avoid; page-break-inside: avoid; }
.ratio { margin: 8px 0 0; font-size: 13px; color: #34475b; }
.ratio .muted { margin-left: 6px; font-size: 12px; }
.note { margin: 10px 0 0; font-size: 13px; color: #566474; }
.muted { margin: 0; color: #7a8694; font-size: 13px; }
dl.stats { display: flex; flex-wrap: wrap; gap: 8px; margin: 0; }
dl.stats div { flex: 1; padding: 6px 8px; background: #f4f6f9; border-radius: 3px; }
dl.stats dt { font-size: 12px; color: #566474; }
dl.stats dd { margin: 0; font-size: 20px; font-weight: bold; color: #143a5c; font-variant-numeric: tabular-nums; }
ul.rejected { margin: 0; padding: 0; list-style: none; font-size: 13px; }
ul.rejected li { padding: 3px 0; border-bottom: 1px solid #eef1f5; }
ul.rejected code { display: block; color: #34475b; word-break: break-all; }
ul.rejected span { color: #7a8694; }
code { font-family: var(--font); }
.footnote { margin: 26px 0 8px; padding-top: 10px; border-top: 1px solid #d8dee6; font-size: 12px; color: #566474; }
footer { font-size: 12px; color: #7a8694; }
footer code { word-break: break-all; }
/* A phone: one column, cards two abreast, wide tables scroll inside their own box. */
@media (max-width: 700px) {
  body { font-size: 13px; }
  .page { margin: 0; padding: 16px 12px 14px; box-shadow: none; }
  h1 { padding-right: 0; font-size: 21px; }
  .classified { position: static; display: inline-block; margin-bottom: 6px; font-size: 12px; }
  .subtitle .sep { margin: 0 5px; }
  .cards { grid-template-columns: repeat(2, 1fr) !important; gap: 8px; }
  .card-value { font-size: 26px; }
  .fairness, .quality { grid-template-columns: 1fr; }
  .chart-cooccurrence { width: 100%; }
  table.data th, table.data td { white-space: nowrap; }
  td.rate, th.rate { width: auto; }
  .bar { width: 70px; margin-right: 6px; }
}
@page { size: A4; margin: 14mm 12mm; @top-left { content: "内部资料 注意保密"; font-size: 9pt; color: #c62828; } @bottom-center { content: "第 " counter(page) " 页 共 " counter(pages) " 页"; font-size: 9pt; color: #7a8694; } }
@media print {
  body { background: #fff; font-size: 12px; }
  .page { max-width: none; margin: 0; padding: 0; box-shadow: none; }
  .scroll { overflow: visible; }
  .keep, h2, tr, table, figure, .card, .panel, .endnotes { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .fairness .panel { break-inside: auto; page-break-inside: auto; }
  .chart { width: 80%; margin: 0 auto; }
  .chart-cooccurrence { width: 70%; }
}
"#;

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::report::view::{FairnessRow, Headline, PairCell, QualitySummary, Series, TownshipRow};

    fn month_ends(last: NaiveDate, n: usize) -> Vec<NaiveDate> {
        use chrono::Datelike;
        let mut out = Vec::with_capacity(n);
        let (mut y, mut m) = (last.year(), last.month());
        for _ in 0..n {
            let first_of_next = if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1) } else { NaiveDate::from_ymd_opt(y, m + 1, 1) };
            out.push(first_of_next.unwrap().pred_opt().unwrap());
            (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        }
        out.reverse();
        out
    }

    fn series(key: &str, label: &str, colour: (u8, u8, u8), base: u64, months: usize) -> Series {
        let cells = (0..months as u64)
            .map(|i| {
                let n = base + (i * 7 + base) % 13;
                if n < 5 { Cell::Suppressed } else { Cell::Shown(n) }
            })
            .collect();
        Series { key: key.into(), label: label.into(), short: label.chars().next().map(String::from).unwrap_or_default(), colour, cells }
    }

    /// A county of three townships, with suppressed cells and a name that needs escaping.
    fn sample_view() -> LeadershipView {
        let months = month_ends(NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(), 24);
        let n = months.len();
        let category_labels: Vec<(String, String)> = [
            ("C1", "一般不良行为"),
            ("C2", "严重不良行为"),
            ("C3", "涉罪行为"),
            ("C4", "困境未成年人"),
            ("C5", "留守未成年人"),
            ("C6", "辍学"),
            ("C7", "家庭监护缺失"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let pairs = category_labels
            .iter()
            .enumerate()
            .flat_map(|(i, (r, _))| {
                category_labels.iter().enumerate().map(move |(j, (c, _))| PairCell {
                    row: r.clone(),
                    col: c.clone(),
                    people: if (i + j) % 3 == 0 { Cell::Suppressed } else { Cell::Shown(5 + (i * j) as u64) },
                })
            })
            .collect();
        let fair = |dimension: &str, group: &str, population: Cell, listed: Cell, rate: Option<f64>| FairnessRow {
            dimension: dimension.into(),
            group: group.into(),
            population,
            listed,
            rate_per_1000: rate,
        };
        LeadershipView {
            county: "示范县".into(),
            as_of: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            model_version: "2026.11-demo".into(),
            threshold: 5,
            months,
            key_youth_label: "红+橙".into(),
            tiers_hidden_total: Vec::new(),
            tiers: vec![
                series("red", "红色预警", (200, 40, 40), 6, n),
                series("orange", "橙色预警", (240, 140, 30), 12, n),
                series("yellow", "黄色预警", (230, 200, 40), 30, n),
                series("blue", "蓝色关注", (50, 110, 200), 60, n),
            ],
            categories: category_labels
                .iter()
                .enumerate()
                .map(|(i, (id, label))| series(id, label, (40 * i as u8, 100, 150), 3 + 4 * i as u64, n))
                .collect(),
            collisions_and_key_youth: vec![
                series("collision", "碰撞命中", (120, 60, 160), 20, n),
                series("key_youth", "重点青少年", (200, 40, 40), 14, n),
            ],
            new_and_lifted: vec![series("new", "新增", (40, 120, 60), 4, n), series("lifted", "解除", (120, 120, 120), 3, n)],
            headlines: vec![
                Headline { label: "重点青少年".into(), now: Cell::Shown(16), change: Some(3), note: "较2026年10月末".into(), compared: true },
                Headline { label: "红色预警".into(), now: Cell::Suppressed, change: None, note: "较2026年10月末".into(), compared: true },
                Headline { label: "碰撞命中".into(), now: Cell::Shown(40), change: Some(-12), note: "较2026年10月末".into(), compared: true },
                Headline { label: "列入名单人数".into(), now: Cell::Shown(90), change: Some(0), note: "较2026年10月末".into(), compared: true },
                Headline { label: "新增".into(), now: Cell::Shown(1234), change: None, note: "较上次运行（2026-11-03）".into(), compared: false },
                Headline { label: "解除".into(), now: Cell::Shown(9), change: None, note: "较上次运行（2026-11-03）".into(), compared: false },
            ],
            townships: vec![
                TownshipRow {
                    code: "431102001".into(),
                    name: "城关镇".into(),
                    minors_population: 12345,
                    listed: Cell::Shown(40),
                    key_youth: Cell::Shown(7),
                    rate_per_1000: Some(3.24),
                },
                TownshipRow {
                    code: "431102002".into(),
                    name: "东城街道".into(),
                    minors_population: 8000,
                    listed: Cell::Shown(12),
                    key_youth: Cell::Suppressed,
                    rate_per_1000: Some(1.5),
                },
                TownshipRow {
                    code: "431102003".into(),
                    name: "石门<乡>".into(),
                    minors_population: 900,
                    listed: Cell::Suppressed,
                    key_youth: Cell::Suppressed,
                    rate_per_1000: None,
                },
            ],
            pairs,
            category_labels,
            fairness: vec![
                fair("性别", "男", Cell::Shown(11000), Cell::Shown(36), Some(3.27)),
                fair("性别", "女", Cell::Shown(10245), Cell::Shown(16), Some(1.56)),
                fair("性别", "未说明", Cell::Shown(9), Cell::Shown(0), Some(0.0)),
                fair("乡镇街道", "城关镇", Cell::Shown(12345), Cell::Shown(40), Some(3.24)),
                fair("乡镇街道", "东城街道", Cell::Shown(8000), Cell::Shown(12), Some(1.5)),
                fair("乡镇街道", "石门<乡>", Cell::Shown(900), Cell::Suppressed, None),
                fair("留守状态", "留守", Cell::Shown(3000), Cell::Shown(20), Some(6.67)),
                fair("留守状态", "非留守", Cell::Shown(18245), Cell::Suppressed, None),
            ],
            tasks: vec![
                TaskRow { unit: "教育".into(), tasks: Cell::Shown(40), closed: Cell::Shown(12), overdue: Cell::Shown(7) },
                TaskRow { unit: "司法".into(), tasks: Cell::Shown(6), closed: Cell::Suppressed, overdue: Cell::Suppressed },
            ],
            quality: QualitySummary {
                files_accepted: 9,
                files_rejected: 1,
                files_unrecognised: 1,
                rows_read: 52000,
                rows_accepted: 51800,
                rows_quarantined: 150,
                rows_duplicate: 50,
                quarantined_by_reason: vec![("bad_date".into(), 90), ("unknown_township".into(), 40), ("unlinkable".into(), 20)],
                rejected_files: vec![("education/2026-11-24.csv".into(), "缺少必需列 student_id".into())],
            },
            run_hash: "3f5a0c9e1b7d2468ace0f13579bdf02468ace13579bdf02468ace13579bdf024".into(),
            generated_at: "2026-11-24 02:31 Asia/Shanghai".into(),
        }
    }

    /// A small PNG per chart, a different colour each, with a band so it is not flat.
    fn write_charts(dir: &Path) {
        for (i, stem) in CHARTS.iter().enumerate() {
            let (w, h) = (480u32, 280u32);
            let base = [[31u8, 78, 121], [200, 40, 40], [40, 120, 60], [240, 140, 30], [120, 60, 160]][i];
            let mut data = Vec::with_capacity((w * h * 3) as usize);
            for y in 0..h {
                for x in 0..w {
                    let inside = x > 40 && x < w - 20 && y > 20 && y < h - 40 && (x / 30) % 2 == 0 && y > h - 40 - (x % 200);
                    data.extend_from_slice(if inside { &base } else { &[255, 255, 255] });
                }
            }
            let file = std::fs::File::create(dir.join(format!("{stem}.png"))).unwrap();
            let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.write_header().unwrap().write_image_data(&data).unwrap();
        }
    }

    #[test]
    fn the_report_is_self_contained_escaped_and_deterministic() {
        let tmp = tempfile::tempdir().unwrap();
        let charts = tmp.path().join("charts");
        std::fs::create_dir_all(&charts).unwrap();
        write_charts(&charts);
        let view = sample_view();
        let (a, b) = (tmp.path().join("a.html"), tmp.path().join("b.html"));
        write_report(&a, &view, &charts).unwrap();
        write_report(&b, &view, &charts).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert!(bytes == std::fs::read(&b).unwrap(), "two writes of the same view differ");
        if let Some(keep) = std::env::var_os("HUMIAO_KEEP_REPORT") {
            // For a look in a browser, the sample report with its real charts:
            // HUMIAO_KEEP_REPORT=/some/dir cargo test --lib report::html
            let keep = Path::new(&keep);
            crate::report::charts::write_charts(&keep.join("charts"), &view).unwrap();
            write_report(&keep.join("report.html"), &view, &keep.join("charts")).unwrap();
        }
        let html = String::from_utf8(bytes).unwrap();

        for external in ["http://", "https://", "src=\"/", "url(/", "src='/", "href=", "<script", "//fonts."] {
            assert!(!html.contains(external), "the report refers to something outside itself: {external}");
        }
        let srcs = html.matches("src=\"").count();
        assert_eq!(srcs, CHARTS.len(), "one image per chart");
        assert_eq!(html.matches("src=\"data:image/png;base64,").count(), CHARTS.len(), "every image is a data URI");
        assert_eq!(html.matches("url(").count(), 1, "the only url() is the font");
        assert!(html.contains("@font-face") && html.contains("url(data:font/ttf;base64,"), "the font is embedded");
        assert!(html.contains(&format!("font-family: \"{FONT_FAMILY}\"")));

        assert!(html.contains("<title>示范县重点青少年风险态势月报</title>"));
        assert!(html.contains("数据截至 2026-11-24"));
        assert!(html.contains("&lt;5") && !html.contains("<5"), "suppressed cells print as an escaped <5");
        assert!(html.contains("石门&lt;乡&gt;") && !html.contains("石门<乡>"), "names are escaped");
        for label in ["重点青少年", "红色预警", "新增", "解除", "较上次运行（2026-11-03）", "城关镇", "东城街道"] {
            assert!(html.contains(label), "{label} is on the page");
        }
        assert!(html.contains("▲ 3") && html.contains("▼ 12") && html.contains("持平"), "changes from last month");
        assert!(html.contains("1,234") && html.contains("12,345"), "numbers have thousands separators");
        assert!(html.contains(">3.2</span>") && html.contains(">1.5</span>"), "rates have one decimal");
        // 性别 3.27/1.56 = 2.1 (未说明's 0 left out); 乡镇街道 3.24/1.5 = 2.2; 留守状态 has one rate.
        assert!(html.contains("最高/最低 = <b>2.1</b><span class=\"muted\">（比率为0的1组不计）</span>"), "性别");
        assert!(html.contains("最高/最低 = <b>2.2</b></p>") && html.contains("最高/最低 = <b>—</b></p>"));
        assert!(html.contains("日期格式无效") && html.contains("乡镇代码不在参考表中") && html.contains("无法关联到人员"), "reasons in Chinese");
        assert!(html.contains("缺少必需列 student_id"), "rejected files say why");
        assert!(html.contains("少于5人的数据不予显示（“&lt;5”），以防识别到个人。"));
        assert!(html.contains(&format!("运行清单哈希 <code>{}</code>", view.run_hash)));
        assert!(html.contains("模型版本 2026.11-demo"));
        for caption in ["图1", "图2", "图3", "图4", "图5"] {
            assert!(html.contains(caption), "{caption} has a caption");
        }
    }

    /// The page's visible text: the body without its tags; entities and data URIs sit inside tags
    /// or decode to ASCII.
    fn visible_text(html: &str) -> String {
        let body = &html[html.find("<body>").unwrap()..];
        let mut text = String::new();
        let mut in_tag = false;
        for c in body.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text
    }

    #[test]
    fn the_bundled_font_draws_every_character_of_the_page() {
        let tmp = tempfile::tempdir().unwrap();
        write_charts(tmp.path());
        let path = tmp.path().join("r.html");
        write_report(&path, &sample_view(), tmp.path()).unwrap();
        let text = visible_text(&std::fs::read_to_string(&path).unwrap());
        assert!(text.contains("重点青少年") && text.contains("▲"), "{text}");
        let missing = crate::report::fonts::missing_chars(&text);
        assert!(missing.is_empty(), "the font has no glyph for {missing:?}");
    }

    #[test]
    fn a_missing_chart_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        write_charts(tmp.path());
        std::fs::remove_file(tmp.path().join("townships.png")).unwrap();
        let err = write_report(&tmp.path().join("r.html"), &sample_view(), tmp.path()).unwrap_err();
        assert!(err.to_string().contains("townships.png"), "{err}");
        assert!(!tmp.path().join("r.html").exists(), "no report without its charts");
    }

    #[test]
    fn a_chart_that_is_not_a_png_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        write_charts(tmp.path());
        std::fs::write(tmp.path().join("tiers.png"), b"<svg/>").unwrap();
        let err = write_report(&tmp.path().join("r.html"), &sample_view(), tmp.path()).unwrap_err();
        assert!(err.to_string().contains("not a PNG"), "{err}");
    }

    #[test]
    fn numbers_group_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
