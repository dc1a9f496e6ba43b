//! What people print and read, on a real run of the demo samples (which hold a rejected file
//! and a file of no declared table): every sheet of every workbook has its print setup, rows
//! with wrapped text are as tall as their lines (LibreOffice and WPS do not fit them on opening),
//! the report carries its print rules and its marking, no chart gives two series one colour
//! family, and why a file was rejected reads in Chinese in quality.xlsx and in the report.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use calamine::{Data, Reader, open_workbook_auto};
use crate::common::*;

/// The demo run, made once for all the tests of this file: its output folder.
fn demo() -> &'static Path {
    static DEMO: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DEMO
        .get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            let key = demo_samples(dir);
            // A second rejected file, of another reason: UTF-16 text.
            let mut utf16 = vec![0xFF, 0xFE];
            utf16.extend(POLICE.encode_utf16().flat_map(|u| u.to_le_bytes()));
            std::fs::write(dir.join("inbox/police/police_incidents_utf16.csv"), utf16).unwrap();
            let run = strict("run", dir, &key, AS_OF, &["--allow-as-of-far"]);
            assert_eq!(run.code, 3, "the demo has a rejected file (exit code 3)\n{}", run.stderr);
            let out = dir.join("out").join(AS_OF);
            (tmp, out)
        })
        .1
}

/// The parts of an XLSX file, by name.
fn parts(xlsx: &Path) -> BTreeMap<String, String> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(xlsx).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().map(|n| n.to_string()).unwrap();
        if name.ends_with(".xml") {
            let mut text = String::new();
            f.read_to_string(&mut text).unwrap();
            out.insert(name, text);
        }
    }
    out
}

/// The sheets of a workbook in order: (name, the XML of its worksheet part).
fn sheets(parts: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let book = &parts["xl/workbook.xml"];
    book.split("<sheet ")
        .skip(1)
        .enumerate()
        .map(|(i, s)| {
            let name = attr(s, "name").unwrap();
            let xml = parts.get(&format!("xl/worksheets/sheet{}.xml", i + 1)).unwrap_or_else(|| panic!("no part for sheet {name}"));
            (name, xml.clone())
        })
        .collect()
}

/// The value of attribute `name` in the start of an XML element.
fn attr(element: &str, name: &str) -> Option<String> {
    let head = &element[..element.find('>').unwrap_or(element.len())];
    let at = head.find(&format!(" {name}=\"")).or_else(|| head.starts_with(&format!("{name}=\"")).then_some(0))?;
    let rest = &head[at..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    Some(rest[start..end].replace("&amp;", "&"))
}

const WORKBOOKS: [&str; 3] = ["risk_list.xlsx", "tasks.xlsx", "quality.xlsx"];

/// Sheets without a header row to repeat: the summaries and the explanations.
const NO_HEADER_ROW: [&str; 2] = ["汇总", "说明"];

#[test]
fn every_sheet_of_every_workbook_prints_on_a4_landscape_one_page_wide_with_its_header_on_every_page() {
    let out = demo();
    for book in WORKBOOKS {
        let parts = parts(&out.join(book));
        let sheets = sheets(&parts);
        assert!(sheets.len() >= 2, "{book} has its sheets");
        let workbook = &parts["xl/workbook.xml"];
        for (i, (name, xml)) in sheets.iter().enumerate() {
            let setup = xml.split("<pageSetup").nth(1).unwrap_or_else(|| panic!("{book} {name}: no <pageSetup>"));
            assert_eq!(attr(setup, "orientation").as_deref(), Some("landscape"), "{book} {name}");
            assert_eq!(attr(setup, "paperSize").as_deref(), Some("9"), "{book} {name}: A4");
            // fitToWidth is 1 unless the element says otherwise (ECMA-376 §18.3.1.63).
            assert_eq!(attr(setup, "fitToWidth").as_deref().unwrap_or("1"), "1", "{book} {name}: one page wide");
            assert_eq!(attr(setup, "fitToHeight").as_deref(), Some("0"), "{book} {name}: as many pages high as it takes");
            assert!(xml.contains("<pageSetUpPr fitToPage=\"1\"/>"), "{book} {name}: fit to page is on");
            let header = xml.split("<oddHeader>").nth(1).and_then(|h| h.split("</oddHeader>").next()).unwrap_or_default();
            assert!(header.contains("内部资料 注意保密") && header.contains("&amp;A"), "{book} {name}: header {header:?}");
            let footer = xml.split("<oddFooter>").nth(1).and_then(|h| h.split("</oddFooter>").next()).unwrap_or_default();
            assert!(footer.contains("第 &amp;P 页 共 &amp;N 页"), "{book} {name}: footer {footer:?}");
            if !NO_HEADER_ROW.contains(&name.as_str()) {
                let titles = format!("<definedName name=\"_xlnm.Print_Titles\" localSheetId=\"{i}\">");
                let defined = workbook.split(&titles).nth(1).and_then(|d| d.split("</definedName>").next());
                assert!(
                    defined.is_some_and(|d| d.ends_with("!$1:$1")),
                    "{book} {name}: its header row is not repeated on every printed page ({defined:?})"
                );
            }
        }
    }
}

/// How many lines at least a text needs in a column `width` characters wide, a CJK character
/// being two: its display width over the width, rounded up.
fn lines_at_least(text: &str, width: usize) -> usize {
    let w: usize = text.chars().map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 }).sum();
    w.div_ceil(width).max(1)
}

/// The height (points) given to each row of a worksheet part that has one, by 1-based row.
fn row_heights(xml: &str) -> BTreeMap<u32, f64> {
    xml.split("<row ")
        .skip(1)
        .filter_map(|r| {
            let row = attr(r, "r")?.parse().ok()?;
            let ht = attr(r, "ht")?.parse().ok()?;
            Some((row, ht))
        })
        .collect()
}

/// The width of each column of a worksheet part (0-based), from its `<col>` elements.
fn col_widths(xml: &str) -> BTreeMap<usize, f64> {
    let mut out = BTreeMap::new();
    for c in xml.split("<col ").skip(1) {
        let (min, max): (usize, usize) = (attr(c, "min").unwrap().parse().unwrap(), attr(c, "max").unwrap().parse().unwrap());
        let width: f64 = attr(c, "width").unwrap().parse().unwrap();
        for k in min..=max {
            out.insert(k - 1, width);
        }
    }
    out
}

#[test]
fn a_row_with_wrapped_text_is_as_tall_as_its_lines() {
    let out = demo();
    let parts = parts(&out.join("risk_list.xlsx"));
    let mut book = open_workbook_auto(out.join("risk_list.xlsx")).unwrap();
    let (mut tall, mut short) = (0, 0);
    for (name, xml) in sheets(&parts) {
        if !name.ends_with("预警") && !name.ends_with("关注") {
            continue;
        }
        let heights = row_heights(&xml);
        let widths = col_widths(&xml);
        let range = book.worksheet_range(&name).unwrap();
        let mut rows = range.rows();
        let header = rows.next().unwrap();
        let reasons = header.iter().position(|h| *h == Data::String("预警理由".into())).expect("a 预警理由 column");
        assert!(widths[&reasons] >= 40.0, "{name}: 预警理由 is a wide column");
        for (k, row) in rows.enumerate() {
            // The lines the row's tallest cell needs in its column, and (a little narrower) the
            // lines that would be too near a full line to tell.
            let need_in = |narrower: f64| {
                row.iter()
                    .enumerate()
                    .map(|(c, d)| lines_at_least(&d.to_string(), (widths.get(&c).copied().unwrap_or(8.43) - narrower).floor() as usize))
                    .max()
                    .unwrap_or(1)
            };
            let (need, clearly_one) = (need_in(0.0), need_in(4.0) == 1);
            let ht = heights.get(&(k as u32 + 2)).copied();
            if need > 1 {
                tall += 1;
                let ht = ht.unwrap_or_else(|| panic!("{name} row {}: {need} lines at the default height", k + 2));
                assert!(ht >= 15.0 * need as f64, "{name} row {}: {need} lines need {} points, the row has {ht}", k + 2, 15 * need);
            } else if clearly_one {
                short += 1;
                assert!(ht.is_none_or(|h| h <= 20.0), "{name} row {}: a one-line row is {ht:?} points tall", k + 2);
            }
        }
    }
    assert!(tall > 10, "the demo list has rows of long text ({tall})");
    let _ = short;
    // The widest reasons (the columns are 60 wide) are not cut: the row holds every line.
    let wrap = parts["xl/styles.xml"].contains("wrapText=\"1\"");
    assert!(wrap, "the reasons are wrapped");

    // quality.xlsx: the rejected files' long explanations.
    let parts = self::parts(&out.join("quality.xlsx"));
    let (_, xml) = sheets(&parts).into_iter().find(|(n, _)| n == "文件核对").unwrap();
    let heights = row_heights(&xml);
    let mut book = open_workbook_auto(out.join("quality.xlsx")).unwrap();
    let range = book.worksheet_range("文件核对").unwrap();
    let mut checked = 0;
    for (k, row) in range.rows().enumerate().skip(1) {
        let detail = row.get(3).map(|d| d.to_string()).unwrap_or_default();
        let need = lines_at_least(&detail, 40);
        if need > 1 {
            checked += 1;
            let ht = heights.get(&(k as u32 + 1)).copied().unwrap_or(0.0);
            assert!(ht >= 15.0 * need as f64, "文件核对 row {}: {need} lines of 说明 in a row {ht} points tall", k + 1);
        }
    }
    assert!(checked > 0, "the demo's quality report has a long explanation");
}

#[test]
fn the_report_prints_on_a4_without_splitting_tables_and_is_marked_and_dated() {
    let html = std::fs::read_to_string(demo().join("report.html")).unwrap();
    let css = &html[html.find("<style>").unwrap()..html.find("</style>").unwrap()];
    assert!(css.contains("@page { size: A4;"), "the page is A4");
    let print = &css[css.find("@media print").expect("print rules")..];
    let avoid = print.lines().find(|l| l.contains("break-inside: avoid")).expect("a break-inside: avoid rule in print");
    for what in ["table", "figure", ".panel", ".card"] {
        assert!(avoid.split('{').next().unwrap().split(',').any(|s| s.trim() == what), "{what} is kept whole in print: {avoid}");
    }
    assert!(print.contains("thead { display: table-header-group; }"), "a table's header repeats on a new page");
    let narrow = &css[css.find("@media (max-width:").expect("narrow-screen rules")..];
    assert!(narrow.contains("grid-template-columns: 1fr;"), "panels stack on a phone");
    assert!(narrow.contains("table.data th, table.data td { white-space: nowrap; }"), "a table scrolls rather than squeezing its names into a column of single characters");
    assert!(css.contains(".scroll { overflow-x: auto; }"), "wide tables scroll in their own box");
    let tables = html.matches("<table").count();
    assert!(tables >= 3);
    assert_eq!(html.matches("<div class=\"scroll\">\n<table").count(), tables, "every table is in a scroll box");

    let body = &html[html.find("<body>").unwrap()..];
    assert!(body.contains("<p class=\"classified\">内部资料 注意保密</p>"), "the marking is on top of the page");
    let at = body.split("生成时间 ").nth(1).expect("the report says when it was made");
    let made = chrono::NaiveDate::parse_from_str(&at[..10], "%Y-%m-%d").expect("a date");
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    assert!((today - made).num_days().abs() <= 1 && at[..40].contains("Asia/Shanghai"), "made today, in the county's time: {}", &at[..40]);
}

/// A colour's family: its hue band, brown (dark orange), pink (pale red) or grey.
fn family((r, g, b): (u8, u8, u8)) -> &'static str {
    let (r, g, b) = (r as f64 / 255.0, g as f64 / 255.0, b as f64 / 255.0);
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    if max - min < 0.12 {
        return "grey";
    }
    let d = max - min;
    let h = if max == r {
        60.0 * (((g - b) / d).rem_euclid(6.0))
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    let light = (max + min) / 2.0;
    match h {
        h if !(15.0..345.0).contains(&h) => {
            if light > 0.7 {
                "pink"
            } else {
                "red"
            }
        }
        h if h < 45.0 => {
            if max < 0.7 {
                "brown"
            } else {
                "orange"
            }
        }
        h if h < 70.0 => "yellow",
        h if h < 165.0 => "green",
        h if h < 195.0 => "teal",
        h if h < 255.0 => "blue",
        h if h < 290.0 => "violet",
        _ => "purple",
    }
}

#[test]
fn no_two_series_of_a_chart_share_a_colour_family() {
    assert_eq!(family((0xE5, 0x39, 0x35)), "red");
    assert_eq!(family((0x1E, 0x88, 0xE5)), family((0x5C, 0x6B, 0xC0)), "two blues are one family");
    let view: serde_json::Value = serde_json::from_slice(&std::fs::read(demo().join("leadership.json")).unwrap()).unwrap();
    for chart in ["tiers", "categories", "collisions_and_key_youth"] {
        let series = view[chart].as_array().unwrap();
        assert!(series.len() >= 2, "{chart}");
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        for s in series {
            let c = &s["colour"];
            let colour = (c[0].as_u64().unwrap() as u8, c[1].as_u64().unwrap() as u8, c[2].as_u64().unwrap() as u8);
            let label = s["label"].as_str().unwrap().to_string();
            if let Some(other) = seen.insert(family(colour), label.clone()) {
                panic!("{chart}: {label} and {other} are both {}", family(colour));
            }
        }
    }
}

/// English words that would mean a message was left untranslated.
const ENGLISH: [&str; 16] =
    ["the", "is", "has", "an", "of", "not", "file", "header", "lacks", "required", "column", "line", "cannot", "read", "encoded", "save"];

fn assert_chinese(what: &str, text: &str) {
    assert!(text.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c)), "{what} is not Chinese: {text:?}");
    let words: Vec<&str> = text.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| ENGLISH.contains(&w.to_ascii_lowercase().as_str())).collect();
    assert!(words.is_empty(), "{what} has English words {words:?}: {text:?}");
}

#[test]
fn why_a_file_was_rejected_reads_in_chinese_in_quality_xlsx_and_the_report() {
    let out = demo();
    // quality.json keeps the machine-readable English.
    let q: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("quality.json")).unwrap()).unwrap();
    let english: BTreeMap<String, String> = q["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "rejected" || f["status"] == "unrecognised")
        .map(|f| (f["file"].as_str().unwrap().to_string(), f["detail"].as_str().unwrap().to_string()))
        .collect();
    assert!(english.len() >= 3, "the demo has rejected and unrecognised files: {english:?}");
    assert!(english["education/education_conduct_broken.csv"].contains("lacks the required column"));
    assert!(english["police/police_incidents_utf16.csv"].contains("UTF-16"));

    let mut book = open_workbook_auto(out.join("quality.xlsx")).unwrap();
    let range = book.worksheet_range("文件核对").unwrap();
    let mut seen = 0;
    for row in range.rows().skip(1) {
        let file = row[0].to_string();
        let status = row[2].to_string();
        if status == "已拒收" || status == "无法识别" {
            seen += 1;
            assert!(english.contains_key(&file), "{file}");
            assert_chinese(&format!("quality.xlsx 说明 of {file}"), &row[3].to_string());
        }
    }
    assert_eq!(seen, english.len(), "every rejected and unrecognised file is in quality.xlsx");
    let broken = range.rows().find(|r| r[0].to_string() == "education/education_conduct_broken.csv").unwrap();
    assert!(broken[3].to_string().starts_with("表头缺少必需列 "), "{}", broken[3]);

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let panel = html.split("<ul class=\"rejected\">").nth(1).and_then(|p| p.split("</ul>").next()).expect("the report lists rejected files");
    let mut items = 0;
    for li in panel.split("<li>").skip(1) {
        if let Some(why) = li.split("<span>").nth(1).and_then(|s| s.split("</span>").next()) {
            items += 1;
            assert_chinese("the report's reason for a rejected file", why);
        }
    }
    assert_eq!(items, 2, "the report lists both rejected files: {panel}");
}
