//! What a reviewer needs on each row of the risk list (issue 13, points 5–9), read back from the
//! real outputs of `humiao run` on a small hand-written inbox: the rule that made the tier, a
//! status still open read as "自…起持续", 保护救助 rather than 无 for a victim, the tier's review
//! cadence, the 说明 sheet (its tiers as the model file declares them), and the school's name
//! from the reference folder's `schools.csv` when there is one. Each check is made in
//! risk_list.xlsx, and the same values in risk_list.csv and risk_list.parquet.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

use calamine::{Data, Reader, Xlsx};
use crate::common::*;
use humiao::pseudo::DEMO_KEY;

const SCHOOL: &str = "2143110001";

/// The people of the inbox.
/// 1: red through 严重不良行为 (S01) + 事实无人抚养 (DU since 2021-07-14, still open);
/// 2: red as a victim of domestic violence (V02 within 90 days) and nothing else;
/// 3: orange through three categories: 不良行为 (B01), 监护与生活困境 (LB), 失学辍学 (E3 at school
///    2143110001, the latest status).
fn inbox(dir: &Path, schools: bool) {
    if schools {
        write_csv(
            &dir.join("reference/schools.csv"),
            &["school_code,name,township_code", &format!("{SCHOOL},城关镇第一小学,431102001"), "2143110002,城关镇第二小学,431102001"],
        );
    }
    three_person_county(dir, SCHOOL);
}

/// The list's three files of one run, read into memory.
struct Outputs {
    /// sheet name → rows of text ("" for an empty cell)
    sheets: BTreeMap<String, Vec<Vec<String>>>,
    sheet_order: Vec<String>,
    /// the CSV's rows (after the BOM), split into fields
    csv: Vec<Vec<String>>,
    /// risk_list.parquet: person_key → column → value
    parquet: BTreeMap<String, BTreeMap<String, String>>,
}

fn text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn run_list(schools: bool) -> Outputs {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    inbox(dir, schools);
    let key = key_file(dir, DEMO_KEY);
    let run = pipeline_at("run", dir, &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    assert_eq!(run.code, 0, "humiao run\n{}", run.stderr);
    let out = dir.join("out").join(AS_OF);

    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(std::fs::read(out.join("risk_list.xlsx")).unwrap())).unwrap();
    let sheet_order = book.sheet_names();
    let mut sheets = BTreeMap::new();
    for name in &sheet_order {
        let range = book.worksheet_range(name).unwrap();
        sheets.insert(name.clone(), range.rows().map(|r| r.iter().map(text).collect()).collect());
    }

    let bytes = std::fs::read(out.join("risk_list.csv")).unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(&bytes[3..]);
    let csv = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();

    let columns = humiao::score::RISK_COLUMNS;
    let sql = format!("SELECT {} FROM t", columns.iter().map(|c| format!("CAST(\"{c}\" AS VARCHAR)")).collect::<Vec<_>>().join(", "));
    let mut parquet = BTreeMap::new();
    for row in parquet_rows(&out.join("risk_list.parquet"), &sql) {
        let row: BTreeMap<String, String> = columns.iter().map(|c| c.to_string()).zip(row).collect();
        parquet.insert(row["person_key"].clone(), row);
    }
    Outputs { sheets, sheet_order, csv, parquet }
}

fn with_schools() -> &'static Outputs {
    static RUN: OnceLock<Outputs> = OnceLock::new();
    RUN.get_or_init(|| run_list(true))
}

fn without_schools() -> &'static Outputs {
    static RUN: OnceLock<Outputs> = OnceLock::new();
    RUN.get_or_init(|| run_list(false))
}

impl Outputs {
    /// The cell under `header` in the row of person `n` of a tier sheet.
    fn cell(&self, sheet: &str, n: u32, header: &str) -> String {
        let rows = &self.sheets[sheet];
        let c = rows[0].iter().position(|h| h == header).unwrap_or_else(|| panic!("{sheet} has no column {header}: {:?}", rows[0]));
        let row = rows.iter().find(|r| r[1] == pk(n)).unwrap_or_else(|| panic!("person {n} is not on {sheet}"));
        row.get(c).cloned().unwrap_or_default()
    }

    /// The CSV field under `header` in the row of person `n`.
    fn csv_field(&self, n: u32, header: &str) -> String {
        let c = self.csv[0].iter().position(|h| h == header).unwrap_or_else(|| panic!("the CSV has no column {header}"));
        self.csv.iter().find(|r| r[1] == pk(n)).unwrap_or_else(|| panic!("person {n} is not in the CSV"))[c].clone()
    }

    fn parquet(&self, n: u32, column: &str) -> &str {
        &self.parquet[&pk(n)][column]
    }
}

#[test]
fn a_red_row_names_the_tier_rule_that_made_it() {
    let o = with_schools();
    let want = "红：严重不良行为 + 事实无人抚养或孤儿";
    assert_eq!(o.cell("红色预警", 1, "等级规则"), want);
    assert_eq!(o.csv_field(1, "等级规则"), want);
    assert_eq!(o.parquet(1, "tier_rule_label"), want);
    assert_eq!(o.parquet(1, "tier_rule"), "4", "the fourth red rule of models/collision.toml");
    // A rule over a count of categories names the person's own.
    assert_eq!(o.cell("橙色预警", 3, "等级规则"), "橙：3类及以上风险（不良行为、失学辍学与闲散、监护与生活困境）");
    assert_eq!(o.cell("红色预警", 2, "等级规则"), "红：90天内遭受严重侵害（受侵害）");
}

#[test]
fn an_open_status_reads_since_when_it_lasts_not_its_latest_date() {
    let o = with_schools();
    let reasons = o.cell("红色预警", 1, "预警理由");
    assert!(reasons.contains("监护与生活困境:民政记录1次,自2021-07-14起持续(事实无人抚养儿童)"), "{reasons}");
    assert!(!reasons.contains("最近2021-07-14"), "{reasons}");
    // An event keeps its latest date.
    assert!(reasons.contains("严重不良行为:公安记录1次,最近2026-10-01("), "{reasons}");
    // The latest enrollment status is a status too.
    let reasons = o.cell("橙色预警", 3, "预警理由");
    assert!(reasons.contains("失学辍学与闲散:教育记录1次,自2026-09-01起持续(辍学)"), "{reasons}");
    assert_eq!(o.csv_field(1, "预警理由"), o.cell("红色预警", 1, "预警理由"));
    assert_eq!(o.parquet(1, "reasons"), o.cell("红色预警", 1, "预警理由"));
}

#[test]
fn a_red_victim_of_domestic_violence_reads_protection_not_none() {
    let o = with_schools();
    assert_eq!(o.cell("红色预警", 2, "干预级别"), "保护救助");
    assert_eq!(o.csv_field(2, "干预级别"), "保护救助");
    assert_eq!(o.parquet(2, "intervention"), "protection");
    assert_eq!(o.parquet(2, "intervention_label"), "保护救助");
    // The behaviour ladder still applies to those who show the behaviour.
    assert_eq!(o.cell("红色预警", 1, "干预级别"), "严重不良");
    assert_eq!(o.cell("橙色预警", 3, "干预级别"), "一般不良");
}

#[test]
fn each_row_shows_its_tiers_review_cadence() {
    let o = with_schools();
    assert_eq!(o.cell("红色预警", 1, "复核频次"), "立即");
    assert_eq!(o.cell("橙色预警", 3, "复核频次"), "每周");
    assert_eq!(o.csv_field(3, "复核频次"), "每周");
    assert_eq!(o.parquet(3, "cadence"), "每周");
}

/// The model file's tiers, read from the TOML itself: (tier, rule labels with the codebook's
/// category labels put in, the person's categories left out).
fn model_tiers() -> Vec<(String, Vec<String>)> {
    let model: toml::Table = toml::from_str(&std::fs::read_to_string(root().join("models/collision.toml")).unwrap()).unwrap();
    let book: toml::Table = toml::from_str(&std::fs::read_to_string(root().join("models/codebook.toml")).unwrap()).unwrap();
    let cats = book["categories"].as_table().unwrap();
    model["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let labels = t["labels"].as_array().expect("every default tier labels its rules");
            let labels = labels
                .iter()
                .map(|l| {
                    let mut l = l.as_str().unwrap().replace("（{categories}）", "");
                    for (id, c) in cats {
                        l = l.replace(&format!("{{{id}}}"), c["label"].as_str().unwrap());
                    }
                    l
                })
                .collect();
            (t["name"].as_str().unwrap().to_string(), labels)
        })
        .collect()
}

#[test]
fn the_guide_sheet_defines_tiers_as_the_model_file_does_and_every_column() {
    let o = with_schools();
    assert_eq!(o.sheet_order.last().map(String::as_str), Some("说明"), "{:?}", o.sheet_order);
    let guide = &o.sheets["说明"];
    let book: toml::Table = toml::from_str(&std::fs::read_to_string(root().join("models/codebook.toml")).unwrap()).unwrap();
    let head = guide.iter().position(|r| r[0] == "等级").expect("a table of tiers");
    assert_eq!(guide[head][..5], ["等级", "判定规则（任一条成立即可）", "复核频次", "工作要求", "办结期限（天）"]);
    let tiers = model_tiers();
    assert_eq!(tiers.len(), 4);
    for (i, (name, rules)) in tiers.iter().enumerate() {
        let row = &guide[head + 1 + i];
        let entry = &book["tiers"][name.as_str()];
        assert_eq!(row[0], entry["label"].as_str().unwrap());
        assert_eq!(row[1], rules.join("；"), "tier {name}");
        assert_eq!(row[2], entry["cadence"].as_str().unwrap());
        assert_eq!(row[4], entry["due_days"].as_integer().unwrap().to_string());
    }
    // The categories with their responsible units, from the codebook.
    let c4 = guide.iter().find(|r| r[0] == "C4").expect("a row for C4");
    assert_eq!(c4[1..4], ["受侵害", "公安、教育", "公安、民政"]);
    // Every column of the tier sheets is explained.
    let headers = &o.sheets["红色预警"][0];
    let cols = guide.iter().position(|r| r[0] == "列名").expect("a table of columns");
    let explained: Vec<&str> = guide[cols + 1..cols + 1 + headers.len()].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(explained, headers.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(guide[cols + 1..cols + 1 + headers.len()].iter().all(|r| !r[1].is_empty()));
    // How a unit finds the child: the lake holds no identity; by its own record ids in 证据记录.
    let how = guide.iter().position(|r| r[0] == "如何找到本人").expect("a part on finding the person");
    let how: String = guide[how + 1..].iter().map(|r| r[1].clone()).collect::<Vec<_>>().join("\n");
    assert!(how.contains("不含姓名、身份证号") && how.contains("证据记录") && how.contains("本单位的记录编号"), "{how}");
}

#[test]
fn a_school_name_comes_from_schools_csv_and_without_it_the_list_is_unchanged() {
    let o = with_schools();
    assert_eq!(o.cell("橙色预警", 3, "学校代码"), SCHOOL);
    assert_eq!(o.cell("橙色预警", 3, "学校"), "城关镇第一小学");
    assert_eq!(o.csv_field(3, "学校"), "城关镇第一小学");
    assert_eq!(o.parquet(3, "school_name"), "城关镇第一小学");
    assert_eq!(o.cell("红色预警", 2, "学校"), "", "no school record, no name");

    let bare = without_schools();
    for sheet in ["红色预警", "橙色预警", "黄色预警", "蓝色关注"] {
        assert!(!bare.sheets[sheet][0].iter().any(|h| h == "学校"), "{sheet}: {:?}", bare.sheets[sheet][0]);
    }
    assert!(!bare.csv[0].iter().any(|h| h == "学校"), "{:?}", bare.csv[0]);
    assert_eq!(bare.cell("橙色预警", 3, "学校代码"), SCHOOL);
    assert_eq!(bare.parquet(3, "school_name"), "");
    // Apart from the one column, the same list.
    let c = o.csv[0].iter().position(|h| h == "学校").unwrap();
    let dropped: Vec<Vec<String>> =
        o.csv.iter().map(|r| r.iter().enumerate().filter(|(i, _)| *i != c).map(|(_, v)| v.clone()).collect()).collect();
    assert_eq!(dropped, bare.csv);
}
