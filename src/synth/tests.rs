//! Tests of the synthetic extract generator: determinism, encodings, and an independent checker
//! that re-derives every row's defects from the rules of DOMAIN.md and compares them with the
//! answer key (bad rows have exactly their one listed defect, every other row has none).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx, open_workbook};
use chrono::{Days, Months, NaiveDate};
use datafusion::arrow::array::{Array, Date32Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{SynthOptions, SynthSummary, synth};
use crate::pseudo::{DEMO_KEY, Pseudonymiser};

const AS_OF: &str = "2026-11-24";

fn as_of() -> NaiveDate {
    NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap()
}

fn run(out: &Path, youths: usize, seed: u64, dirty: f64) -> SynthSummary {
    synth(&SynthOptions {
        youths,
        seed,
        as_of: as_of(),
        out: out.to_path_buf(),
        dirty,
        key: DEMO_KEY.as_bytes().to_vec(),
    })
    .unwrap()
}

fn all_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn same_options_give_the_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let sa = run(a.path(), 3000, 7, 0.005);
    let sb = run(b.path(), 3000, 7, 0.005);
    assert_eq!(sa.injected, sb.injected);
    let fa = all_files(a.path());
    let fb = all_files(b.path());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(v == &fb[k], "{} differs between runs", k.display());
    }
    assert_eq!(fa.len(), 15, "{:?}", fa.keys().collect::<Vec<_>>());
    // Another seed gives other data.
    let c = tempfile::tempdir().unwrap();
    run(c.path(), 3000, 8, 0.005);
    let fc = all_files(c.path());
    assert_ne!(
        fa[Path::new("inbox/police/police_incidents_2026-11-23.csv")],
        fc[Path::new("inbox/police/police_incidents_2026-11-23.csv")]
    );
}

#[test]
fn encodings_are_as_delivered() {
    let d = tempfile::tempdir().unwrap();
    run(d.path(), 3000, 7, 0.005);
    let inbox = d.path().join("inbox");
    let civil = std::fs::read(inbox.join("civil/civil_status.csv")).unwrap();
    assert!(std::str::from_utf8(&civil).is_err(), "the GB18030 file must not be valid UTF-8");
    let (text, _, had_errors) = encoding_rs::GB18030.decode(&civil);
    assert!(!had_errors);
    assert!(text.starts_with(&format!("{}\r\n", rule("civil_status").header.join(","))), "{}", &text[..200]);
    assert!(text.contains("民政办") || text.contains("社会事务办"));
    let enrol = std::fs::read(inbox.join("education/education_enrollment.csv")).unwrap();
    assert_eq!(&enrol[..3], b"\xEF\xBB\xBF");
    assert!(std::str::from_utf8(&enrol).is_ok());
    for f in [
        "police/police_incidents_2026-11-23.csv",
        "police/police_incidents_2026-11-24.csv",
        "police/police_incidents_2026-11-24_correction.csv",
        "education/education_attendance_part1.csv",
        "education/education_attendance_part2.csv",
        "justice/justice_correction.csv",
    ] {
        let bytes = std::fs::read(inbox.join(f)).unwrap();
        assert!(std::str::from_utf8(&bytes).is_ok(), "{f}");
        assert_ne!(&bytes[..3], b"\xEF\xBB\xBF", "{f}");
    }
    assert_eq!(
        std::fs::read(inbox.join("justice/justice_correction.csv")).unwrap(),
        std::fs::read(inbox.join("justice/justice_correction_resend.csv")).unwrap()
    );
    // The parquet file has typed columns.
    let file = std::fs::File::open(inbox.join("education/education_conduct.parquet")).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = builder.schema().clone();
    let conduct = rule("education_conduct");
    assert_eq!(schema.field_with_name(&conduct.event).unwrap().data_type(), &DataType::Date32);
    assert_eq!(schema.field_with_name(&conduct.contract.signal.code).unwrap().data_type(), &DataType::Utf8);
    // The XLSX dates are real dates and levels numbers.
    let mut wb: Xlsx<_> = open_workbook(inbox.join("education/education_wellbeing.xlsx")).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    let row = range.rows().nth(1).unwrap();
    let wellbeing = rule("education_wellbeing");
    let at = |name: &str| wellbeing.header.iter().position(|h| h == name).unwrap();
    let (screened, level) = (at(&wellbeing.event), at(&wellbeing.contract.signal.code));
    assert!(matches!(row[screened], Data::DateTime(_)), "{:?}", row[screened]);
    assert!(matches!(row[level], Data::Float(_)), "{:?}", row[level]);
}

#[test]
fn the_extracts_have_the_contracts_columns() {
    use super::tables::{C_BIRTH, C_GENDER, C_ID_NUMBER, C_NAME_HASH, C_PERSON_KEY, C_TOWNSHIP, Tables};
    let t = Tables::get().unwrap();
    for spec in [&t.police, &t.enrollment, &t.attendance, &t.conduct, &t.wellbeing, &t.civil, &t.justice] {
        assert_eq!(spec.cols, rule(&spec.table).header, "{}", spec.table);
        let common = [C_PERSON_KEY, C_ID_NUMBER, C_NAME_HASH, C_BIRTH, C_GENDER, C_TOWNSHIP].map(|i| spec.cols[i].as_str());
        assert_eq!(common, ["person_key", "id_number", "name_hash", "birth_date", "gender", "township_code"]);
    }
}

/// The generator finds a column by the part it plays in the contract: renamed and moved there,
/// its values follow it; a column the generator knows nothing of is an error naming it.
#[test]
fn a_renamed_or_moved_column_takes_its_values_with_it() {
    use super::tables::{POLICE_ROLES, TableSpec};
    let text = include_str!("../../pipelines/tables/police_incidents.toml");
    let mut contract: crate::config::TableContract = toml::from_str(text).unwrap();
    let code = contract.columns.iter().position(|c| c.name == "behaviour_code").unwrap();
    let mut moved = contract.columns.remove(code);
    moved.name = "behavior".into();
    contract.columns.insert(1, moved);
    contract.signal.code = "behavior".into();
    let spec = TableSpec::new(&contract, POLICE_ROLES, ("P", 9), Some("B99")).unwrap();
    let header = spec.header();
    assert_eq!(header[6..], ["record_id", "behavior", "occurred_on", "role", "disposition"]);
    let person = vec![String::new(); 6];
    let row = spec.row(person, ["P1", "2026-10-01", "S", "S01", "D01"].map(String::from));
    assert_eq!(row[6..], ["P1", "S01", "2026-10-01", "S", "D01"]);

    contract.columns.push(crate::config::ColumnSpec {
        name: "officer".into(),
        kind: crate::config::ColumnType::Text,
        required: false,
        codes: None,
        extra: false,
        max_length: None,
    });
    let err = TableSpec::new(&contract, POLICE_ROLES, ("P", 9), None).err().unwrap();
    assert!(err.to_string().contains("officer"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Reading the files back

type Rows = Vec<(usize, Vec<String>)>;

fn read_csv(path: &Path) -> (Vec<String>, Rows) {
    let bytes = std::fs::read(path).unwrap();
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t.trim_start_matches('\u{feff}').to_string(),
        Err(_) => encoding_rs::GB18030.decode(&bytes).0.into_owned(),
    };
    // Physical lines: no field of these files holds a line break, so each line is one record.
    let parse = |line: &str| -> Vec<String> {
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
        r.records().next().unwrap().unwrap().iter().map(String::from).collect()
    };
    assert!(text.ends_with('\n'));
    let mut lines = text[..text.len() - 1].split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let header = parse(lines.next().unwrap());
    let rows = lines.enumerate().map(|(i, l)| (i + 2, parse(l))).collect();
    (header, rows)
}

fn excel_date(serial: f64) -> String {
    let d = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap() + Days::new(serial as u64);
    d.format("%Y-%m-%d").to_string()
}

fn read_xlsx(path: &Path) -> (Vec<String>, Rows) {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    let width = range.width();
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for (i, row) in range.rows().enumerate() {
        let mut cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Data::Empty => String::new(),
                Data::String(s) => s.clone(),
                Data::Float(f) => format!("{}", *f as i64),
                Data::Int(n) => n.to_string(),
                Data::DateTime(dt) => excel_date(dt.as_f64()),
                other => panic!("unexpected cell {other:?}"),
            })
            .collect();
        cells.resize(width, String::new());
        if i == 0 {
            header = cells;
        } else {
            rows.push((i + 1, cells));
        }
    }
    (header, rows)
}

fn read_parquet(path: &Path) -> (Vec<String>, Rows) {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        header = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        for r in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(r) {
                        String::new()
                    } else if let Some(s) = c.as_any().downcast_ref::<StringArray>() {
                        s.value(r).to_string()
                    } else {
                        let d = c.as_any().downcast_ref::<Date32Array>().unwrap();
                        (NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + Days::new(d.value(r) as u64))
                            .format("%Y-%m-%d")
                            .to_string()
                    }
                })
                .collect();
            rows.push((rows.len() + 2, cells));
        }
    }
    (header, rows)
}

// ---------------------------------------------------------------------------------------------
// An independent checker of DOMAIN.md's row rules

/// A table's rules as far as its contract (`pipelines/tables/<table>.toml`) names the columns:
/// the checker reads the contract, not the generator's view of it.
struct TableRule {
    contract: crate::config::TableContract,
    /// The identity columns, the person columns, then the contract's own, in its order.
    header: Vec<String>,
    /// The date checked against the as-of date (`future_on`, else `event_on`).
    event: String,
    month: bool,
    /// Each code column checked against a list of DOMAIN.md (police's behaviour code aside).
    codes: Vec<(String, &'static [&'static str])>,
    end: Option<String>,
}

impl TableRule {
    /// The code column of a codebook section.
    fn coded(&self, section: &str) -> &str {
        self.contract.columns.iter().find(|c| c.codes.as_deref() == Some(section)).map(|c| c.name.as_str()).unwrap()
    }
}

const B: &[&str] = &["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09"];
const S: &[&str] = &["S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09"];
const C: &[&str] = &["C01", "C02", "C03", "C04", "C05", "C06", "C09"];
const V: &[&str] = &["V01", "V02", "V03", "V04", "V05", "V06", "V09"];

/// DOMAIN.md's codes, by codebook section.
const CODES: &[(&str, &[&str])] = &[
    ("police.role", &["S", "V", "P"]),
    ("education.status", &["E1", "E2", "E3", "E4", "E5", "E6"]),
    ("education.conduct_code", &["K1", "K2", "K3", "K4", "K5", "BP", "BV"]),
    ("education.wellbeing_level", &["0", "1", "2", "3"]),
    ("civil.status_code", &["LB", "DU", "OR", "DS", "MA", "SP", "DI", "PI", "PD", "SD"]),
    ("justice.kind", &["CC", "CN", "RL"]),
];

fn rule(table: &str) -> TableRule {
    use crate::config::{ColumnType, IDENTITY_COLUMNS, TableContract};
    let path = format!("pipelines/tables/{table}.toml");
    let contract: TableContract = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let header = IDENTITY_COLUMNS.iter().copied().chain(contract.header_columns()).map(String::from).collect();
    let event = contract.signal.future_on.clone().unwrap_or_else(|| contract.signal.event_on.clone());
    let month = contract.columns.iter().find(|c| c.name == event).unwrap().kind == ColumnType::Month;
    let codes = contract
        .columns
        .iter()
        .filter_map(|c| {
            let list = CODES.iter().find(|(section, _)| c.codes.as_deref() == Some(*section))?.1;
            Some((c.name.clone(), list))
        })
        .collect();
    let end = contract.signal.end_on.clone();
    TableRule { contract, header, event, month, codes, end }
}

fn table_of(file: &str) -> &'static str {
    let name = file.rsplit('/').next().unwrap();
    for t in [
        "police_incidents",
        "education_enrollment",
        "education_attendance",
        "education_conduct",
        "education_wellbeing",
        "civil_status",
        "justice_correction",
    ] {
        if name.starts_with(t) {
            return t;
        }
    }
    panic!("{file} belongs to no table")
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn parse_month(s: &str) -> Option<NaiveDate> {
    if s.len() != 7 {
        return None;
    }
    NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok()
}

fn parse_birth(s: &str) -> Option<NaiveDate> {
    parse_date(s).or_else(|| parse_month(s))
}

fn valid_id(id: &str) -> bool {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let id = id.to_uppercase();
    if id.len() != 18 || !id[..17].bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = id[..17].bytes().zip(W).map(|(b, w)| (b - b'0') as u32 * w).sum();
    id.as_bytes()[17] == b"10X98765432"[(sum % 11) as usize]
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

struct Dataset {
    /// file (relative to the inbox) → (header, rows)
    files: BTreeMap<String, (Vec<String>, Rows)>,
    towns: HashSet<String>,
}

fn load(dir: &Path) -> Dataset {
    let inbox = dir.join("inbox");
    let mut files = BTreeMap::new();
    for (rel, _) in all_files(&inbox) {
        let rel = rel.to_string_lossy().to_string();
        if rel.ends_with("school_list.csv") || rel.ends_with("_broken.csv") {
            continue;
        }
        let p = inbox.join(&rel);
        let data = if rel.ends_with(".xlsx") {
            read_xlsx(&p)
        } else if rel.ends_with(".parquet") {
            read_parquet(&p)
        } else {
            read_csv(&p)
        };
        files.insert(rel, data);
    }
    let (_, towns) = read_csv(&dir.join("reference/townships.csv"));
    Dataset { files, towns: towns.into_iter().map(|(_, r)| r[0].clone()).collect() }
}

type LinkIndex = HashMap<(String, String, String), BTreeSet<String>>;

fn link_index(ds: &Dataset, pseudo: &Pseudonymiser) -> LinkIndex {
    let mut index: LinkIndex = HashMap::new();
    for (header, rows) in ds.files.values() {
        let col = |n: &str| header.iter().position(|h| h == n).unwrap();
        let (pk, id, nh, bd, g) =
            (col("person_key"), col("id_number"), col("name_hash"), col("birth_date"), col("gender"));
        for (_, r) in rows {
            if r[nh].is_empty() {
                continue;
            }
            let key = if !r[pk].is_empty() {
                r[pk].clone()
            } else if !r[id].is_empty() {
                pseudo.person_key(&r[id])
            } else {
                continue;
            };
            index.entry((r[nh].clone(), r[bd].clone(), r[g].clone())).or_default().insert(key);
        }
    }
    index
}

/// Every (reason, column) a row violates.
fn defects(
    file: &str,
    header: &[String],
    r: &[String],
    towns: &HashSet<String>,
    index: &LinkIndex,
) -> Vec<(String, String)> {
    let table = table_of(file);
    let rule = rule(table);
    let a = as_of();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |reason: &str, column: &str| out.push((reason.to_string(), column.to_string()));
    assert_eq!(header, rule.header.as_slice(), "{file} header");
    let get = |n: &str| -> &str { &r[header.iter().position(|h| h == n).unwrap()] };

    for n in ["record_id", "birth_date", "gender", "township_code", rule.event.as_str()] {
        if get(n).is_empty() {
            add("missing_field", n);
        }
    }
    for (n, _) in &rule.codes {
        if get(n).is_empty() {
            add("missing_field", n);
        }
    }
    if get("person_key").is_empty() && get("id_number").is_empty() && get("name_hash").is_empty() {
        add("missing_field", "person_key");
    }
    if !get("person_key").is_empty() && !is_hex64(get("person_key")) {
        add("bad_person_key", "person_key");
    }
    if !get("name_hash").is_empty() && !is_hex64(get("name_hash")) {
        add("bad_name_hash", "name_hash");
    }
    if !get("id_number").is_empty() && !valid_id(get("id_number")) {
        add("bad_id_number", "id_number");
    }
    if !get("gender").is_empty() && !["1", "2", "9"].contains(&get("gender")) {
        add("unknown_code", "gender");
    }
    if !get("township_code").is_empty() && !towns.contains(get("township_code")) {
        add("unknown_township", "township_code");
    }
    let birth = parse_birth(get("birth_date"));
    if !get("birth_date").is_empty() && birth.is_none() {
        add("bad_date", "birth_date");
    }
    // The event date (a month counts from its first day for "future", its last for birth).
    let ev = get(&rule.event);
    let (ev_first, ev_last) = if rule.month {
        let m = parse_month(ev);
        (m, m.map(|m| m + Months::new(1) - Days::new(1)))
    } else {
        let d = parse_date(ev);
        (d, d)
    };
    if !ev.is_empty() && ev_first.is_none() {
        add("bad_date", &rule.event);
    }
    if let Some(d) = ev_first
        && d > a
    {
        add("future_date", &rule.event);
    }
    if let (Some(b), Some(e)) = (birth, ev_last)
        && b > e
    {
        add("birth_after_event", "birth_date");
    }
    if let Some(end) = rule.end.as_deref() {
        let v = get(end);
        if !v.is_empty() {
            match (parse_date(v), ev_first) {
                (None, _) => add("bad_date", end),
                (Some(t), Some(f)) if t < f => add("end_before_start", end),
                _ => {}
            }
        }
    }
    for (n, codes) in &rule.codes {
        let v = get(n);
        if !v.is_empty() && !codes.contains(&v) {
            add("unknown_code", n);
        }
    }
    match table {
        "police_incidents" => {
            let (role_column, code_column, disposition_column) =
                (rule.coded("police.role"), rule.contract.signal.code.as_str(), rule.coded("police.disposition"));
            let (role, code, disp) = (get(role_column), get(code_column), get(disposition_column));
            let known = B.contains(&code) || S.contains(&code) || C.contains(&code) || V.contains(&code);
            if code.is_empty() {
                add("missing_field", code_column);
            } else if !known {
                add("unknown_code", code_column);
            }
            if !disp.is_empty() && !["D01", "D02", "D03", "D04", "D05", "D06", "D07"].contains(&disp) {
                add("unknown_code", disposition_column);
            }
            if matches!(disp, "D05" | "D06") && role != "S" {
                add("d05_without_s", disposition_column);
            }
            let first = code.chars().next().unwrap_or(' ');
            let ok = match role {
                "S" => "BSC".contains(first),
                "V" => first == 'V',
                "P" => "BS".contains(first),
                _ => true,
            };
            if !ok && !code.is_empty() {
                add("role_code_mismatch", role_column);
            }
        }
        "education_attendance" => {
            let days: Option<u32> = get("days_absent_unexcused").parse().ok();
            let session: Option<u32> = get("days_in_session").parse().ok();
            match (days, session) {
                (Some(d), Some(s)) if (1..=s).contains(&d) && (18..=23).contains(&s) => {}
                _ => add("bad_number", "days_absent_unexcused"),
            }
        }
        _ => {}
    }
    if get("person_key").is_empty() && get("id_number").is_empty() && !get("name_hash").is_empty() {
        let k = (get("name_hash").to_string(), get("birth_date").to_string(), get("gender").to_string());
        match index.get(&k).map(|s| s.len()).unwrap_or(0) {
            0 => add("unlinkable", "name_hash"),
            1 => {}
            _ => add("ambiguous_link", "name_hash"),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The re-delivered justice file is a byte-identical copy of the main one: its bad rows are
/// those listed for the main file.
fn listed_as(file: &str) -> String {
    file.replace("justice_correction_resend.csv", "justice_correction.csv")
}

fn answer_key(dir: &Path) -> BTreeMap<(String, usize), (String, String)> {
    let (header, rows) = read_csv(&dir.join("expected/injected.csv"));
    assert_eq!(header, ["file", "line", "reason", "column"]);
    rows.into_iter().map(|(_, r)| ((r[0].clone(), r[1].parse().unwrap()), (r[2].clone(), r[3].clone()))).collect()
}

fn check_dataset(dir: &Path) -> BTreeMap<String, usize> {
    let ds = load(dir);
    let pseudo = Pseudonymiser::new(DEMO_KEY.as_bytes());
    let index = link_index(&ds, &pseudo);
    let key = answer_key(dir);
    let mut seen_reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut found = 0;
    for (file, (header, rows)) in &ds.files {
        let mut ids = HashSet::new();
        for (line, r) in rows {
            let d = defects(file, header, r, &ds.towns, &index);
            match key.get(&(listed_as(file), *line)) {
                Some((reason, column)) => {
                    found += 1;
                    assert_eq!(
                        d,
                        vec![(reason.clone(), column.clone())],
                        "{file}:{line} is listed as {reason}/{column}: {r:?}"
                    );
                    if !file.ends_with("_resend.csv") {
                        *seen_reasons.entry(reason.clone()).or_default() += 1;
                    }
                }
                None => assert!(d.is_empty(), "{file}:{line} has unlisted defects {d:?}: {r:?}"),
            }
            // record_ids are unique within a file (the correction and re-send files repeat
            // earlier files' ids on purpose).
            let rid = &r[header.iter().position(|h| h == "record_id").unwrap()];
            if !rid.is_empty() {
                assert!(ids.insert(rid.clone()), "{file}:{line} repeats record_id {rid}");
            }
        }
    }
    let resent = key.keys().filter(|(f, _)| f == "justice/justice_correction.csv").count();
    assert_eq!(found, key.len() + resent, "every answer-key line points at a row");
    seen_reasons
}

#[test]
fn answer_key_points_at_rows_with_exactly_that_defect() {
    let d = tempfile::tempdir().unwrap();
    let s = run(d.path(), 3000, 7, 0.005);
    let reasons = check_dataset(d.path());
    assert_eq!(
        reasons.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "ambiguous_link",
            "bad_date",
            "birth_after_event",
            "future_date",
            "missing_field",
            "role_code_mismatch",
            "unknown_code",
            "unknown_township",
            "unlinkable"
        ]
    );
    assert_eq!(reasons.values().sum::<usize>(), s.injected);
    // A higher rate on another seed.
    let d2 = tempfile::tempdir().unwrap();
    let s2 = run(d2.path(), 2000, 11, 0.03);
    let r2 = check_dataset(d2.path());
    assert_eq!(r2.len(), 9);
    assert_eq!(r2.values().sum::<usize>(), s2.injected);
    // The extra files of a dirty run.
    let inbox = d.path().join("inbox/education");
    let (h, rows) = read_csv(&inbox.join("education_conduct_broken.csv"));
    assert!(!h.iter().any(|c| c == "conduct_code") && !rows.is_empty());
    let (h, _) = read_csv(&inbox.join("school_list.csv"));
    assert_eq!(h, ["school_code", "school_name", "township_code"]);
}

#[test]
fn a_clean_run_is_clean() {
    let d = tempfile::tempdir().unwrap();
    // A dirty run first into the same directory: its extra files must go.
    run(d.path(), 500, 3, 0.05);
    let s = run(d.path(), 3000, 5, 0.0);
    assert_eq!(s.injected, 0);
    assert!(answer_key(d.path()).is_empty());
    assert!(!d.path().join("inbox/education/school_list.csv").exists());
    assert!(!d.path().join("inbox/education/education_conduct_broken.csv").exists());
    check_dataset(d.path());
}

#[test]
fn dirty_rows_are_inserted_not_replacing() {
    let clean = tempfile::tempdir().unwrap();
    let dirty = tempfile::tempdir().unwrap();
    run(clean.path(), 3000, 7, 0.0);
    run(dirty.path(), 3000, 7, 0.01);
    let key = answer_key(dirty.path());
    let c = load(clean.path());
    let d = load(dirty.path());
    for (file, (_, rows)) in &d.files {
        let kept: Vec<&Vec<String>> =
            rows.iter().filter(|(line, _)| !key.contains_key(&(listed_as(file), *line))).map(|(_, r)| r).collect();
        let clean_rows: Vec<&Vec<String>> = c.files[file].1.iter().map(|(_, r)| r).collect();
        assert!(kept == clean_rows, "{file}: good rows differ from the clean run");
    }
}

#[test]
fn the_data_look_like_a_county() {
    let d = tempfile::tempdir().unwrap();
    let s = run(d.path(), 20_000, 1, 0.0);
    let rows: HashMap<String, usize> =
        s.files.iter().map(|(p, n)| (p.file_name().unwrap().to_string_lossy().to_string(), *n)).collect();
    let total: usize = s
        .files
        .iter()
        .filter(|(p, _)| !p.ends_with("townships.csv") && !p.ends_with("injected.csv"))
        .map(|(_, n)| n)
        .sum();
    assert!((55_000..90_000).contains(&total), "{total} rows for 20,000 youths");
    assert!(rows["education_enrollment.csv"] > 20_000);
    assert!(rows["education_wellbeing.xlsx"] > 15_000);
    let ds = load(d.path());
    let pseudo = Pseudonymiser::new(DEMO_KEY.as_bytes());
    // Identity mix of the education tables and police.
    let mix = |file: &str| {
        let (h, rows) = &ds.files[file];
        let col = |n: &str| h.iter().position(|x| x == n).unwrap();
        let (pk, id, nh) = (col("person_key"), col("id_number"), col("name_hash"));
        let n = rows.len() as f64;
        let share = |f: &dyn Fn(&Vec<String>) -> bool| rows.iter().filter(|(_, r)| f(r)).count() as f64 / n;
        (
            share(&|r| !r[pk].is_empty() && !r[nh].is_empty()),
            share(&|r| r[pk].is_empty() && r[id].is_empty()),
            share(&|r| !r[id].is_empty()),
        )
    };
    let (key_name, name_only, id) = mix("education/education_attendance_part2.csv");
    assert!(
        (0.90..0.96).contains(&key_name) && (0.025..0.055).contains(&name_only) && (0.015..0.045).contains(&id),
        "{key_name} {name_only} {id}"
    );
    let (_, _, id) = mix("police/police_incidents_2026-11-23.csv");
    assert!((0.24..0.36).contains(&id), "{id}");
    // Wellbeing levels.
    let (h, rows) = &ds.files["education/education_wellbeing.xlsx"];
    let level = rule("education_wellbeing").contract.signal.code;
    let lv = h.iter().position(|x| *x == level).unwrap();
    let n = rows.len() as f64;
    let share = |l: &str| rows.iter().filter(|(_, r)| r[lv] == l).count() as f64 / n;
    assert!((0.87..0.93).contains(&share("0")), "{}", share("0"));
    assert!((0.05..0.09).contains(&share("1")), "{}", share("1"));
    // Every id_number is a valid 身份证号 and links to the person_key of the same youth
    // elsewhere; and nothing that looks like one appears outside the id_number column.
    let mut keys = HashSet::new();
    for (h, rows) in ds.files.values() {
        let pk = h.iter().position(|x| x == "person_key").unwrap();
        for (_, r) in rows {
            keys.insert(r[pk].clone());
        }
    }
    let mut linked = 0;
    let mut ids = 0;
    for (file, (h, rows)) in &ds.files {
        let id = h.iter().position(|x| x == "id_number").unwrap();
        for (_, r) in rows {
            for (c, v) in r.iter().enumerate() {
                if c != id && v.len() == 18 && v.is_ascii() && v[..17].bytes().all(|b| b.is_ascii_digit()) {
                    panic!("{file}: an id-like value outside id_number");
                }
            }
            if !r[id].is_empty() {
                assert!(valid_id(&r[id]), "{}", r[id]);
                ids += 1;
                if keys.contains(&pseudo.person_key(&r[id])) {
                    linked += 1;
                }
            }
        }
    }
    assert!(linked as f64 / ids as f64 > 0.8, "{linked} of {ids}");
    // minors_population adds up to the youths under 18.
    let (_, towns) = read_csv(&d.path().join("reference/townships.csv"));
    let minors: usize = towns.iter().map(|(_, r)| r[2].parse::<usize>().unwrap()).sum();
    assert!((18_500..19_500).contains(&minors), "{minors}");
    assert_eq!(towns.len(), 18);
}

/// `cargo test --release -- --ignored synth::tests::million` — the full-size run, timed.
#[test]
#[ignore]
fn million() {
    let d = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let s = run(d.path(), 1_000_000, 7, 0.01);
    let secs = t.elapsed().as_secs_f64();
    let mut total = 0;
    for (p, n) in &s.files {
        println!("{n:>9}  {}", p.strip_prefix(d.path()).unwrap().display());
        total += n;
    }
    println!("total {total} rows, {} injected, {secs:.1}s", s.injected);
    assert!(secs < 60.0);
}

/// `cargo test --release -- --ignored synth::tests::checker_at_scale` — the row checker on 200,000 youths.
#[test]
#[ignore]
fn checker_at_scale() {
    let d = tempfile::tempdir().unwrap();
    let s = run(d.path(), 200_000, 42, 0.01);
    let reasons = check_dataset(d.path());
    println!("{reasons:?}");
    assert_eq!(reasons.len(), 9);
    assert_eq!(reasons.values().sum::<usize>(), s.injected);
}
