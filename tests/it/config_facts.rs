//! Every fact declared once, and only in configuration (issue 11, point 3): a codebook that
//! renames 红色预警, gives it another colour and makes a fifth unit (团委) responsible for one
//! category yields workbooks, tasks, a report and charts that show exactly that, with no code
//! change. The demo's pipeline, table contracts, model and codebook are copied into a temporary
//! folder, the codebook alone is edited, and `humiao run` reads them on a small hand-written inbox.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx};
use crate::common::*;
use humiao::pseudo::DEMO_KEY;


/// The demo configuration (`pipelines/`, `models/`) copied under `dir/conf`, with the codebook's
/// text put through `edit`; returns the pipeline file.
fn configuration(dir: &Path, edit: impl Fn(&str) -> String) -> PathBuf {
    copy_tree(&root().join("pipelines"), &dir.join("conf/pipelines"));
    copy_tree(&root().join("models"), &dir.join("conf/models"));
    let path = dir.join("conf/models/codebook.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = edit(&text);
    std::fs::write(&path, edited).unwrap();
    dir.join("conf/pipelines/demo.toml")
}

/// `text` with `from` replaced by `to`, which must be there exactly once.
fn once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "the codebook has {from:?} once");
    text.replace(from, to)
}

/// 1: red through 严重不良行为 (S01) + 事实无人抚养 (DU); 2: red as a victim (V02); 3: orange
/// through 不良行为 (B01), 监护与生活困境 (LB) and 失学辍学 (E3), the category 团委 now answers for.
fn inbox(dir: &Path) {
    three_person_county(dir, "2143110001");
}

/// A workbook's sheets in order, each as rows of text.
fn workbook(path: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(std::fs::read(path).unwrap())).unwrap();
    let text = |d: &Data| match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        other => other.to_string(),
    };
    book.sheet_names()
        .into_iter()
        .map(|name| {
            let range = book.worksheet_range(&name).unwrap();
            let rows = range.rows().map(|r| r.iter().map(text).collect()).collect();
            (name, rows)
        })
        .collect()
}

/// One part of a workbook (`xl/styles.xml`), as text.
fn workbook_part(path: &Path, part: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(part).unwrap().read_to_string(&mut text).unwrap();
    text
}

fn names(sheets: &[(String, Vec<Vec<String>>)]) -> Vec<&str> {
    sheets.iter().map(|(n, _)| n.as_str()).collect()
}

/// Whether a sheet has a row for person `n` (its key in any cell).
fn has_person(sheets: &[(String, Vec<Vec<String>>)], sheet: &str, n: u32) -> bool {
    let rows = &sheets.iter().find(|(name, _)| name == sheet).unwrap_or_else(|| panic!("no sheet {sheet}")).1;
    rows.iter().any(|r| r.contains(&pk(n)))
}

#[test]
fn a_codebook_that_renames_a_tier_and_adds_a_unit_changes_every_output_and_no_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pipeline = configuration(dir, |text| {
        let text = once(text, "title = \"红色预警\", colour = \"#E53935\"", "title = \"红色重点\", colour = \"#C62828\"");
        let text = once(&text, "order = [\"教育\", \"公安\", \"司法\", \"民政\"]", "order = [\"教育\", \"公安\", \"司法\", \"民政\", \"团委\"]");
        once(&text, "C5 = { label = \"失学辍学与闲散\", unit = \"教育\" }", "C5 = { label = \"失学辍学与闲散\", unit = \"团委\" }")
    });
    inbox(dir);
    let key = key_file(dir, DEMO_KEY);
    let args = pipeline_args("run", &pipeline, dir, &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    let run = humiao(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 0, "humiao run\n{}", run.stderr);
    let out = dir.join("out").join(AS_OF);

    // The risk list: the renamed tier's sheet, summary row and 说明 line, in its new colour.
    let list = workbook(&out.join("risk_list.xlsx"));
    assert_eq!(names(&list), ["汇总", "红色重点", "橙色预警", "黄色预警", "蓝色关注", "变化", "说明"]);
    assert!(has_person(&list, "红色重点", 1) && has_person(&list, "红色重点", 2), "the red people are on the renamed sheet");
    let summary = &list[0].1;
    assert!(summary.iter().any(|r| r[0] == "红色重点" && r[1] == "2"), "{summary:?}");
    let guide = &list.last().unwrap().1;
    assert!(guide.iter().any(|r| r[0] == "名单各列（红色重点、橙色预警、黄色预警、蓝色关注各表）"), "{guide:?}");
    let styles = workbook_part(&out.join("risk_list.xlsx"), "xl/styles.xml");
    assert!(styles.contains("FFC62828") && !styles.contains("FFE53935"), "the tier cells take the codebook's colour: {styles}");

    // The tasks: a sheet for every declared unit, in the declared order; 团委's holds person 3.
    let tasks = workbook(&out.join("tasks.xlsx"));
    assert_eq!(names(&tasks), ["汇总", "教育", "公安", "司法", "民政", "团委"]);
    assert!(has_person(&tasks, "团委", 3), "失学辍学 is 团委's now");
    assert!(tasks[0].1.iter().any(|r| r[0] == "团委" && r[1] == "1"), "the summary counts 团委's task: {:?}", tasks[0].1);
    let parquet = parquet_rows(&out.join("tasks.parquet"), "SELECT DISTINCT unit FROM t ORDER BY unit");
    assert!(parquet.contains(&vec!["团委".to_string()]), "{parquet:?}");

    // What leadership sees: the new title and colour, and 团委's tasks.
    let view: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("leadership.json")).unwrap()).unwrap();
    assert_eq!(view["tiers"][0]["label"], "红色重点");
    assert_eq!(view["tiers"][0]["colour"], serde_json::json!([0xC6, 0x28, 0x28]));
    let cards: Vec<&str> = view["headlines"].as_array().unwrap().iter().map(|h| h["label"].as_str().unwrap()).collect();
    assert!(cards.contains(&"红色重点"), "{cards:?}");
    let units: Vec<&str> = view["tasks"].as_array().unwrap().iter().map(|t| t["unit"].as_str().unwrap()).collect();
    assert_eq!(units, ["教育", "公安", "司法", "民政", "团委"]);

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<td>团委</td>"), "the report's task table has 团委");
    let tier_chart = std::fs::read_to_string(out.join("charts/tiers.svg")).unwrap();
    assert!(tier_chart.to_uppercase().contains("#C62828"), "the tier chart draws the codebook's colour");
    assert!(!tier_chart.to_uppercase().contains("#E53935"), "and not the old one");

    // The old name is nowhere.
    let json = serde_json::to_string(&view).unwrap();
    let everything = [json, html, tier_chart, format!("{list:?}"), format!("{tasks:?}")];
    for (what, text) in ["leadership.json", "report.html", "charts/tiers.svg", "risk_list.xlsx", "tasks.xlsx"].iter().zip(&everything) {
        assert!(!text.contains("红色预警"), "{what} still says 红色预警");
    }
    assert!(everything[0].contains("红色重点") && everything[1].contains("红色重点"));
}

#[test]
fn a_category_unit_the_units_order_does_not_declare_is_a_configuration_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pipeline = configuration(dir, |text| once(text, "C5 = { label = \"失学辍学与闲散\", unit = \"教育\" }", "C5 = { label = \"失学辍学与闲散\", unit = \"团委\" }"));
    inbox(dir);
    let key = key_file(dir, DEMO_KEY);
    let args = pipeline_args("run", &pipeline, dir, &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    let run = humiao(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("C5: unit 团委 is not in [units] order"), "{}", run.stderr);
    assert!(!dir.join("lake").exists(), "nothing is written");
}
