//! Bad input never costs data or leaks an identity (issue 10): each test is one reproducible case
//! of a hostile or careless department, named after the fault it pins.

use std::path::{Path, PathBuf};

use std::sync::LazyLock;

use crate::common::*;
use humiao::pseudo::{DEMO_KEY, Pseudonymiser, id_check_char};

/// A valid 身份证号 for youth `n` (born 2010-01-01, area 431102).
fn id(n: u32) -> String {
    let first17 = format!("43110220100101{:03}", n % 1000);
    format!("{first17}{}", id_check_char(first17.as_bytes()) as char)
}

static POLICE_ID: LazyLock<String> = LazyLock::new(|| header("police_incidents", &["id_number"]));

/// A police row of youth `n` with record id `rid`: a serious misconduct (S01), orange on the list.
fn police_row(n: u32, rid: &str) -> String {
    format!("{},2010-01-01,1,431102001,{rid},2026-10-01,S,S01,D01", id(n))
}

/// A county with a reference table and a key, and an empty inbox.
fn county() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    townships(&dir);
    std::fs::create_dir_all(dir.join("inbox/police")).unwrap();
    let key = key_file(&dir, DEMO_KEY);
    (tmp, key)
}

fn run(dir: &Path, key: &Path) -> Run {
    pipeline_at("run", dir, &dir.join("lake"), &dir.join("out"), key, AS_OF, None)
}

fn run_with_env(dir: &Path, key: &Path, env: &[(&str, &str)]) -> Run {
    let args = pipeline_args("run", &root().join("pipelines/demo.toml"), dir, &dir.join("lake"), &dir.join("out"), key, AS_OF, None);
    humiao_with_env(&args.iter().map(String::as_str).collect::<Vec<_>>(), env)
}

fn police_file(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join("inbox/police").join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn rows(header: &str, body: impl IntoIterator<Item = String>) -> Vec<String> {
    std::iter::once(header.to_string()).chain(body).collect()
}

/// Every byte of every file under `dirs`, and the given process output, as one lossy text.
fn everything(dirs: &[PathBuf], outputs: &[&Run]) -> String {
    let mut all = String::new();
    for d in dirs {
        for f in files_under(d) {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap()));
            if f.extension().is_some_and(|x| x == "xlsx") {
                all.push_str(&xlsx_text(&f));
            }
        }
    }
    for r in outputs {
        all.push_str(&r.stdout);
        all.push_str(&r.stderr);
    }
    all
}

/// Every cell of every sheet of a workbook, as text (the file itself is compressed).
fn xlsx_text(path: &Path) -> String {
    use calamine::{Reader, open_workbook_auto};
    let mut book = open_workbook_auto(path).unwrap();
    let mut out = String::new();
    for name in book.sheet_names() {
        if let Ok(range) = book.worksheet_range(&name) {
            for row in range.rows() {
                for cell in row {
                    out.push_str(&cell.to_string());
                    out.push('\t');
                }
            }
        }
    }
    out
}

fn status_of(dir: &Path, file: &str) -> (String, String) {
    let q = quality(dir);
    let f = file_entry(&q, file);
    (f["status"].as_str().unwrap().to_string(), f["detail"].as_str().unwrap_or("").to_string())
}

#[test]
fn a_field_longer_than_its_contract_is_quarantined_and_every_later_run_still_writes_its_workbooks() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let poison = "R".repeat(40_000);
    police_file(dir, "police_incidents_1.csv", &rows(&POLICE_ID, [police_row(1, "P1"), police_row(2, &poison), police_row(3, "P3")]));
    let first = run(dir, &key);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let q = quality(dir);
    let f = file_entry(&q, "police/police_incidents_1.csv");
    assert_eq!((f["rows_read"].as_u64(), f["rows_accepted"].as_u64()), (Some(3), Some(2)), "{f}");
    assert_eq!(f["quarantined_by_reason"]["too_long"], 1, "{f}");
    let quarantined = lake_query(&dir.join("lake"), "SELECT reason, column_name, record_id FROM quarantine");
    assert_eq!(quarantined, vec![vec!["too_long".to_string(), "record_id".into(), String::new()]], "the value is not kept");
    assert!(dir.join("out").join(AS_OF).join("risk_list.xlsx").exists());
    // The next night runs too (the poison row never entered the lake).
    police_file(dir, "police_incidents_2.csv", &rows(&POLICE_ID, [police_row(4, "P4")]));
    let second = run(dir, &key);
    assert_eq!(second.code, 0, "{}", second.stderr);
}

#[test]
fn a_quote_opened_and_never_closed_rejects_its_file_naming_the_line() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let mut lines = rows(&POLICE_ID, (1..=9).map(|n| police_row(n, &format!("P{n}"))));
    lines[3] = lines[3].replace(",P3,", ",\"P3,");
    police_file(dir, "police_incidents_1.csv", &lines);
    let out = run(dir, &key);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let (status, detail) = status_of(dir, "police/police_incidents_1.csv");
    assert_eq!(status, "rejected");
    assert!(detail.contains("line 4") && detail.contains("quote"), "{detail}");
    assert_eq!(lake_query(&dir.join("lake"), "SELECT count(*) FROM signals")[0][0], "0");
}

#[test]
fn a_file_with_cr_only_line_ends_is_read_whole() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let lines = rows(&POLICE_ID, (1..=9).map(|n| police_row(n, &format!("P{n}"))));
    std::fs::write(dir.join("inbox/police/police_incidents_1.csv"), lines.join("\r") + "\r").unwrap();
    let out = run(dir, &key);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let q = quality(dir);
    let f = file_entry(&q, "police/police_incidents_1.csv");
    assert_eq!((f["rows_read"].as_u64(), f["rows_accepted"].as_u64()), (Some(9), Some(9)), "{f}");
    let lines = lake_query(&dir.join("lake"), "SELECT min(line), max(line) FROM signals");
    assert_eq!(lines, vec![vec!["2".to_string(), "10".into()]], "each row keeps its line");
}

#[test]
fn dangling_links_fifos_and_subfolders_are_listed_as_skipped() {
    let (tmp, key) = county();
    let dir = tmp.path();
    police_file(dir, "police_incidents_1.csv", &rows(&POLICE_ID, [police_row(1, "P1")]));
    let police = dir.join("inbox/police");
    std::os::unix::fs::symlink(dir.join("gone.csv"), police.join("police_incidents_link.csv")).unwrap();
    let fifo = std::ffi::CString::new(police.join("police_incidents_pipe.csv").to_string_lossy().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::fs::create_dir_all(police.join("old")).unwrap();
    std::fs::write(police.join(".police_incidents_3.csv.part"), "x").unwrap();
    let out = run(dir, &key);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for (file, why) in [
        ("police/police_incidents_link.csv", "symbolic link"),
        ("police/police_incidents_pipe.csv", "FIFO"),
        ("police/old", "folder"),
        ("police/.police_incidents_3.csv.part", "hidden"),
    ] {
        let (status, detail) = status_of(dir, file);
        assert_eq!(status, "skipped", "{file}");
        assert!(detail.contains(why), "{file}: {detail}");
        assert!(out.stderr.contains(&format!("skipped {file}")), "{}", out.stderr);
    }
    assert_eq!(quality(dir)["totals"]["files_skipped"], 4);
}

#[test]
fn a_file_without_a_header_row_is_rejected_without_quoting_its_first_line() {
    let (tmp, key) = county();
    let dir = tmp.path();
    // The first line is data: a raw 身份证号 where a column name should be, twice.
    let twice = format!("{},{},2010-01-01,1,431102001,P1,2026-10-01,S,S01,D01", id(7), id(7));
    police_file(dir, "police_incidents_1.csv", &[twice, police_row(8, "P2")]);
    police_file(dir, "police_incidents_2.csv", &[police_row(9, "P3"), police_row(8, "P4")]);
    let out = run(dir, &key);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let (_, detail) = status_of(dir, "police/police_incidents_2.csv");
    assert!(detail.contains("no header row"), "{detail}");
    let all = everything(&[dir.join("lake"), dir.join("out")], &[&out]);
    for n in [7, 8, 9] {
        assert!(!all.contains(&id(n)), "the id of youth {n} is in an output, a log or the lake");
    }
}

#[test]
fn a_quoted_field_that_runs_over_lines_puts_no_id_number_in_the_quarantine() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let mut lines = rows(&POLICE_ID, (1..=6).map(|n| police_row(n, &format!("P{n}"))));
    // A quote opens in line 3's record id and closes in line 5's: the ids between would become
    // one record id.
    lines[2] = lines[2].replace(",P2,", ",\"P2,");
    lines[4] = lines[4].replace(",P4,", ",P4\",");
    police_file(dir, "police_incidents_1.csv", &lines);
    let out = run(dir, &key);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(status_of(dir, "police/police_incidents_1.csv").1.contains("line 3"));
    let all = everything(&[dir.join("lake"), dir.join("out")], &[&out]);
    for n in 1..=6 {
        assert!(!all.contains(&id(n)), "the id of youth {n} leaked");
    }
}

#[test]
fn a_name_hash_that_is_not_64_hex_is_quarantined_and_never_stored_or_logged() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let header = header("police_incidents", &["name_hash"]);
    let name_hash = Pseudonymiser::new(DEMO_KEY.as_bytes()).name_hash("张小明");
    police_file(
        dir,
        "police_incidents_1.csv",
        &rows(
            &header,
            [
                "张小明,2010-01-01,1,431102001,P1,2026-10-01,S,S01,D01".to_string(),
                format!("{},2010-01-01,1,431102001,P2,2026-10-01,S,S01,D01", id(5)),
                format!("{},2010-01-01,1,431102001,P3,2026-10-01,S,S01,D01", name_hash.to_uppercase()),
            ],
        ),
    );
    let out = run_with_env(dir, &key, &[("HUMIAO_LOG", "info,humiao=debug")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let q = quality(dir);
    let f = file_entry(&q, "police/police_incidents_1.csv");
    assert_eq!(f["quarantined_by_reason"]["bad_name_hash"], 2, "{f}");
    assert_eq!(f["quarantined_by_reason"]["unlinkable"], 1, "a well-formed hash in capitals is a hash: {f}");
    let all = everything(&[dir.join("lake"), dir.join("out")], &[&out]);
    assert!(!all.contains("张小明") && !all.contains(&id(5)));
}

#[test]
fn an_id_number_with_a_wrong_check_character_or_stored_as_a_number_is_quarantined() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let mut wrong = id(1);
    wrong.replace_range(17.., if wrong.ends_with('0') { "1" } else { "0" });
    police_file(dir, "police_incidents_1.csv", &rows(&POLICE_ID, [format!("{wrong},2010-01-01,1,431102001,P1,2026-10-01,S,S01,D01")]));
    // Two ids that differ only past a spreadsheet number's 15–16 significant digits, as numbers.
    let path = dir.join("inbox/police/police_incidents_2.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in POLICE_ID.split(',').enumerate() {
        sheet.write(0, c as u16, h).unwrap();
    }
    for (r, n) in [(1u32, 10u32), (2, 11)] {
        let digits: String = id(n).chars().take(17).collect::<String>() + "1";
        sheet.write(r, 0, digits.parse::<f64>().unwrap()).unwrap();
        for (c, v) in ["2010-01-01", "1", "431102001", &format!("X{n}"), "2026-10-01", "S", "S01", "D01"].iter().enumerate() {
            sheet.write(r, c as u16 + 1, *v).unwrap();
        }
    }
    book.save(&path).unwrap();
    let out = run(dir, &key);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let q = quality(dir);
    assert_eq!(file_entry(&q, "police/police_incidents_1.csv")["quarantined_by_reason"]["bad_id_number"], 1);
    assert_eq!(file_entry(&q, "police/police_incidents_2.xlsx")["quarantined_by_reason"]["id_number_not_text"], 2);
    assert_eq!(lake_query(&dir.join("lake"), "SELECT count(*) FROM persons")[0][0], "0", "no person made of a rounded id");
}

#[test]
fn a_gb18030_file_whose_first_mebibyte_is_ascii_is_read_as_gb18030() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let header = header("police_incidents", &["id_number", "name"]);
    let mut text = header + "\n";
    let mut n = 0;
    while text.len() < (1 << 20) + 1000 {
        n += 1;
        text.push_str(&format!("{},,2010-01-01,1,431102001,P{n},2026-10-01,S,B01,D01\n", id(n)));
    }
    text.push_str(&format!("{},张小明,2010-01-01,1,431102001,PLAST,2026-10-01,S,B01,D01\n", id(999)));
    std::fs::write(dir.join("inbox/police/police_incidents_1.csv"), encoding_rs::GB18030.encode(&text).0).unwrap();
    // The same in UTF-8 but with a byte that is neither, late in the file.
    let mut bad = text.replace("张小明", "").into_bytes();
    let at = bad.len() - 20;
    bad[at] = 0xFF;
    std::fs::write(dir.join("inbox/police/police_incidents_2.csv"), &bad).unwrap();
    let out = run(dir, &key);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let q = quality(dir);
    let good = file_entry(&q, "police/police_incidents_1.csv");
    assert_eq!(good["encoding"], "GB18030");
    assert_eq!(good["rows_accepted"].as_u64(), Some(n as u64 + 1));
    let hash = Pseudonymiser::new(DEMO_KEY.as_bytes()).name_hash("张小明");
    let stored = lake_query(&dir.join("lake"), "SELECT name_hash FROM signals WHERE record_id = 'PLAST'");
    assert_eq!(stored, vec![vec![hash]], "the name was decoded exactly");
    let (status, detail) = status_of(dir, "police/police_incidents_2.csv");
    assert_eq!(status, "rejected");
    assert!(detail.contains(&format!("line {}", n + 2)), "{detail}");
}

#[test]
fn a_formula_in_a_school_code_reaches_the_csv_neutralised_and_the_workbook_as_text() {
    let (tmp, key) = county();
    let dir = tmp.path();
    write_csv(
        &dir.join("inbox/education/education_conduct_1.csv"),
        &[&CONDUCT, &format!("{},2010-01-01,1,431102001,C1,=1+2,2026-10-01,K3", pk(1))],
    );
    police_file(dir, "police_incidents_1.csv", &rows(&POLICE_ID, [police_row(2, "P\u{0}2"), police_row(3, "P\t3")]));
    let out = run(dir, &key);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let q = quality(dir);
    let f = file_entry(&q, "police/police_incidents_1.csv");
    assert_eq!(f["quarantined_by_reason"]["control_character"], 2, "{f}");
    let csv = String::from_utf8(std::fs::read(dir.join("out").join(AS_OF).join("risk_list.csv")).unwrap()).unwrap();
    assert!(csv.contains(",'=1+2,"), "{csv}");
    assert!(!csv.contains(",=1+2,"), "{csv}");
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook(dir.join("out").join(AS_OF).join("risk_list.xlsx")).unwrap();
    let mut as_text = 0;
    for sheet in book.sheet_names() {
        let cells = book.worksheet_range(&sheet).unwrap();
        as_text += cells.used_cells().filter(|(_, _, c)| *c == &Data::String("=1+2".into())).count();
        let formulas = book.worksheet_formula(&sheet).unwrap();
        assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "sheet {sheet} holds no formula");
    }
    assert!(as_text > 0, "the school code is a text cell");
}

#[test]
fn empty_files_and_sheets_are_rejected_as_empty() {
    let (tmp, key) = county();
    let dir = tmp.path();
    police_file(dir, "police_incidents_0.csv", &[]);
    std::fs::write(dir.join("inbox/police/police_incidents_0.csv"), b"").unwrap();
    std::fs::write(dir.join("inbox/police/police_incidents_0.parquet"), b"").unwrap();
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet();
    book.save(dir.join("inbox/police/police_incidents_0.xlsx")).unwrap();
    let out = run(dir, &key);
    assert_eq!(out.code, 3, "{}", out.stderr);
    for file in ["police/police_incidents_0.csv", "police/police_incidents_0.parquet", "police/police_incidents_0.xlsx"] {
        let (status, detail) = status_of(dir, file);
        assert_eq!(status, "rejected", "{file}");
        assert!(detail.contains("is an empty file"), "{file}: {detail}");
    }
}

#[test]
fn a_trailing_comma_and_a_bad_gb18030_byte_are_named_at_their_lines() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let mut lines = rows(&POLICE_ID, (1..=6).map(|n| police_row(n, &format!("P{n}"))));
    lines[4].push(',');
    police_file(dir, "police_incidents_1.csv", &lines);
    let header = header("police_incidents", &["id_number", "name"]);
    let mut gb = encoding_rs::GB18030.encode(&format!("{header}\n{},城关,2010-01-01,1,431102001,G1,2026-10-01,S,B01,D01\n", id(1))).0.into_owned();
    gb.extend_from_slice(format!("{},", id(2)).as_bytes());
    gb.extend_from_slice(&[0xB3, 0x0A]);
    std::fs::write(dir.join("inbox/police/police_incidents_2.csv"), gb).unwrap();
    let out = run(dir, &key);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let (_, comma) = status_of(dir, "police/police_incidents_1.csv");
    assert!(comma.contains("line 5 has 10 fields"), "{comma}");
    let (_, byte) = status_of(dir, "police/police_incidents_2.csv");
    assert!(byte.contains("line 3"), "{byte}");
}

#[test]
fn a_full_output_disk_names_the_path_and_leaves_no_temporary_folder() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let (tmp, key) = county();
    let dir = tmp.path();
    police_file(dir, "police_incidents_1.csv", &rows(&POLICE_ID, (1..=30).map(|n| police_row(n, &format!("P{n}")))));
    let out_dir = dir.join("small-disk");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&out_dir)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a 256 KiB tmpfs");
    let args = pipeline_args("run", &root().join("pipelines/demo.toml"), dir, &dir.join("lake"), &out_dir, &key, AS_OF, None);
    let out = humiao(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let left: Vec<String> = std::fs::read_dir(&out_dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let _ = std::process::Command::new("umount").arg(&out_dir).status();
    assert_eq!(out.code, 4, "a full disk is the machine's: {}", out.stderr);
    assert!(out.stderr.contains(&out_dir.display().to_string()), "the message names the path: {}", out.stderr);
    assert!(out.stderr.to_lowercase().contains("no space left"), "{}", out.stderr);
    assert!(left.is_empty(), "no temporary output folder is left: {left:?}");
}
