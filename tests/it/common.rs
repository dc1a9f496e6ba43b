//! Helpers shared by the integration tests: run the binary, read the lake, read outputs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use datafusion::arrow::util::display::array_value_to_string;

/// The as-of date of the tests (and of the demo samples). Tests run on any later day, so every
/// run they make passes `--allow-as-of-far` ([`pipeline_args`]).
pub const AS_OF: &str = "2026-11-24";

/// The header of an extract of the demo pipeline's `table` as its contract
/// (`pipelines/tables/<table>.toml`) declares it: the identity columns `identity` (e.g.
/// `&["person_key"]`), the person columns, then the contract's own columns in its order, but the
/// `extra` ones, which a file may leave out. A column renamed or moved in a contract is renamed or
/// moved here; the tests' rows give their values in this order.
pub fn header(table: &str, identity: &[&str]) -> String {
    let contract = contract(table);
    identity.iter().copied().chain(contract.required_header_columns()).collect::<Vec<_>>().join(",")
}

/// [`header`] with the contract's `extra` columns.
pub fn header_with_extra(table: &str, identity: &[&str]) -> String {
    let contract = contract(table);
    identity.iter().copied().chain(contract.header_columns()).collect::<Vec<_>>().join(",")
}

/// The demo pipeline's contract of `table`.
pub fn contract(table: &str) -> humiao::config::TableContract {
    let path = root().join("pipelines/tables").join(format!("{table}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Headers of extracts whose only identity column is `person_key` ([`header`]).
pub static POLICE: LazyLock<String> = LazyLock::new(|| header("police_incidents", &["person_key"]));
pub static CIVIL: LazyLock<String> = LazyLock::new(|| header("civil_status", &["person_key"]));
pub static CONDUCT: LazyLock<String> = LazyLock::new(|| header("education_conduct", &["person_key"]));
pub static ENROLLMENT: LazyLock<String> = LazyLock::new(|| header("education_enrollment", &["person_key"]));

/// A made-up person key: `n` as 64 hex digits.
pub fn pk(n: u32) -> String {
    format!("{n:064x}")
}

/// The repository root (where Cargo.toml is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A county for hand-written extracts under `dir`: its townships and the demo key; returns the
/// key file, the lake and the output folder.
pub fn hand_made_county(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    townships(dir);
    (key_file(dir, humiao::pseudo::DEMO_KEY), dir.join("lake"), dir.join("out"))
}

/// A key file only its owner can read, holding `key`.
pub fn key_file(dir: &Path, key: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("county.key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the humiao binary with `args`.
pub fn humiao(args: &[&str]) -> Run {
    humiao_with_env(args, &[])
}

/// Runs the humiao binary with `args` and extra environment variables. `code` is -1 when the
/// process was ended by a signal.
pub fn humiao_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_humiao"))
        .args(args)
        .env("HUMIAO_LOG", "warn,humiao=info,deltalake_core=error,delta_kernel=error")
        .envs(env.iter().copied())
        .output()
        .expect("humiao runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `humiao ingest` of the demo pipeline's tables on `dir/inbox`, `dir/reference`, into
/// `dir/lake` and `dir/out`.
pub fn ingest(dir: &Path, key: &Path) -> Run {
    ingest_with(dir, key, &root().join("pipelines/demo.toml"))
}

pub fn ingest_with(dir: &Path, key: &Path, pipeline: &Path) -> Run {
    let args = pipeline_args("ingest", pipeline, dir, &dir.join("lake"), &dir.join("out"), key, AS_OF, None);
    humiao(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Rows of a query over the lake, every value as text ("" for NULL).
pub fn lake_query(lake: &Path, sql: &str) -> Vec<Vec<String>> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let ctx = humiao::session::new_session(None).unwrap();
        humiao::lake::Lake::new(lake).unwrap().register_all(&ctx).await.unwrap();
        batch_rows(&ctx.sql(sql).await.unwrap().collect().await.unwrap())
    })
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out.sort();
    out
}

pub fn quality(dir: &Path) -> serde_json::Value {
    let path = dir.join("out").join(AS_OF).join("quality.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The file entry of the quality report for `file` (relative to the inbox).
pub fn file_entry<'a>(q: &'a serde_json::Value, file: &str) -> &'a serde_json::Value {
    q["files"].as_array().unwrap().iter().find(|f| f["file"] == file).unwrap_or_else(|| panic!("{file} not in the quality report"))
}

/// Copies the folder `from` to `to`, recursively.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The demo samples (`data-samples/`: inbox and reference, a county of 3,000 youths as of
/// [`AS_OF`]) copied under `dir`, with a key file holding the demo key. Returns the key file.
pub fn demo_samples(dir: &Path) -> PathBuf {
    copy_tree(&root().join("data-samples/inbox"), &dir.join("inbox"));
    copy_tree(&root().join("data-samples/reference"), &dir.join("reference"));
    key_file(dir, humiao::pseudo::DEMO_KEY)
}

/// `humiao <command>` of the demo pipeline on `dir` (inbox, reference, lake, out under it) as
/// of `as_of`, with `extra` flags, and without `--allow-as-of-far` unless `extra` has it.
pub fn strict(command: &str, dir: &Path, key: &Path, as_of: &str, extra: &[&str]) -> Run {
    let mut args = pipeline_args(command, &root().join("pipelines/demo.toml"), dir, &dir.join("lake"), &dir.join("out"), key, as_of, None);
    args.retain(|a| a != "--allow-as-of-far");
    args.extend(extra.iter().map(|a| a.to_string()));
    humiao(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Today in China, `days` days on (negative: before), as YYYY-MM-DD.
pub fn china_today_plus(days: i64) -> String {
    ((chrono::Utc::now() + chrono::Duration::hours(8)).date_naive() + chrono::Duration::days(days)).to_string()
}

/// Writes a CSV file (UTF-8) with the given lines.
pub fn write_csv(path: &Path, lines: &[&str]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

pub fn townships(dir: &Path) {
    write_csv(
        &dir.join("reference/townships.csv"),
        &["township_code,name,minors_population", "431102001,城关镇,1000", "431102002,东城街道,800"],
    );
}

/// Every value of `batches` as text ("" for NULL), row by row.
pub fn batch_rows(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| if c.is_null(r) { String::new() } else { array_value_to_string(c, r).unwrap() })
                    .collect(),
            );
        }
    }
    rows
}

/// Rows of a query over one Parquet file, registered as table `t`, every value as text ("" for
/// NULL).
pub fn parquet_rows(path: &Path, sql: &str) -> Vec<Vec<String>> {
    assert!(path.exists(), "{} does not exist", path.display());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let ctx = humiao::session::new_session(None).unwrap();
        ctx.register_parquet("t", path.to_string_lossy().as_ref(), Default::default()).await.unwrap();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        batch_rows(&batches)
    })
}

/// `humiao <command>` (`run` or `score`) of the demo pipeline with every location given: the
/// inbox and reference under `dir`, the lake `lake`, outputs under `out/<as_of>/`, and
/// optionally `--model`.
pub fn pipeline_at(command: &str, dir: &Path, lake: &Path, out: &Path, key: &Path, as_of: &str, model: Option<&Path>) -> Run {
    let args = pipeline_args(command, &root().join("pipelines/demo.toml"), dir, lake, out, key, as_of, model);
    humiao(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The flags of `humiao <command>` with the pipeline file `pipeline` and every location given,
/// and `--allow-as-of-far` (the tests' dates are fixed, the day they run is not).
#[allow(clippy::too_many_arguments)]
pub fn pipeline_args(
    command: &str,
    pipeline: &Path,
    dir: &Path,
    lake: &Path,
    out: &Path,
    key: &Path,
    as_of: &str,
    model: Option<&Path>,
) -> Vec<String> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut args: Vec<String> = vec![
        command.into(),
        "--pipeline".into(),
        s(pipeline),
        "--inbox".into(),
        s(&dir.join("inbox")),
        "--reference".into(),
        s(&dir.join("reference")),
        "--lake".into(),
        s(lake),
        "--out".into(),
        s(out),
        "--key-file".into(),
        s(key),
        "--as-of".into(),
        as_of.into(),
        "--allow-as-of-far".into(),
    ];
    if let Some(m) = model {
        args.push("--model".into());
        args.push(s(m));
    }
    args
}

/// Every raw 身份证号 in `dir/inbox` (CSV in UTF-8 or GB18030, and XLSX), trimmed.
pub fn raw_id_numbers(dir: &Path) -> std::collections::BTreeSet<String> {
    let mut ids = std::collections::BTreeSet::new();
    for path in files_under(&dir.join("inbox")) {
        let name = path.to_string_lossy().to_string();
        if name.ends_with(".csv") {
            let bytes = std::fs::read(&path).unwrap();
            let text = encoding_rs::GB18030.decode(&bytes).0.into_owned();
            let text = if std::str::from_utf8(&bytes).is_ok() { String::from_utf8(bytes).unwrap() } else { text };
            let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
            let headers = reader.headers().unwrap().clone();
            if let Some(i) = headers.iter().position(|h| h == "id_number") {
                for r in reader.records() {
                    let v = r.unwrap()[i].trim().to_string();
                    if !v.is_empty() {
                        ids.insert(v);
                    }
                }
            }
        } else if name.ends_with(".xlsx") {
            use calamine::{Reader, Xlsx};
            let mut book: Xlsx<_> = calamine::open_workbook(&path).unwrap();
            let sheet = book.sheet_names()[0].clone();
            let range = book.worksheet_range(&sheet).unwrap();
            let mut rows = range.rows();
            let header: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
            if let Some(i) = header.iter().position(|h| h == "id_number") {
                for r in rows {
                    let v = r[i].to_string();
                    if !v.trim().is_empty() {
                        ids.insert(v.trim().to_string());
                    }
                }
            }
        }
    }
    ids
}

/// Every 18-character run of 17 digits and a digit or X/x in `bytes` (upper-cased).
pub fn id_shaped(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..=bytes.len() {
        let digit = i < bytes.len() && bytes[i].is_ascii_digit();
        if !digit {
            let run = i - start;
            if run >= 18 {
                for s in start..=i - 18 {
                    out.push(String::from_utf8_lossy(&bytes[s..s + 18]).into_owned());
                }
            }
            if run >= 17 && matches!(bytes.get(i), Some(b'X') | Some(b'x')) {
                out.push(String::from_utf8_lossy(&bytes[i - 17..=i]).to_uppercase());
            }
            start = i + 1;
        }
    }
    out
}

/// The raw-id leak scans (`ingest::no_raw_id_number_is_written_anywhere`,
/// `model_e2e`'s outputs) pass only if `id_shaped` finds nothing they look for, so first this shows
/// it does find a 身份证号 planted in bytes like theirs: UTF-8 text, CSV, GB18030 (whose digits are
/// the same single bytes as in UTF-8), a longer run of digits, a lower-case check letter; and
/// flags nothing in ordinary text without an 18-character run. The scans read raw bytes and
/// decoded Parquet and XLSX values, all UTF-8; humiao writes nothing in UTF-16, which
/// `id_shaped` would not see (its digits are two bytes each).
#[test]
fn id_shaped_finds_a_planted_id_number() {
    let id = "110105201001011232"; // a valid one: its check digit matches the first 17
    let x_id = "11010520100101103X";
    let found = |bytes: &[u8], want: &str| {
        let candidates = id_shaped(bytes);
        assert!(candidates.iter().any(|c| c == want), "id_shaped misses the planted id in {:?}: {candidates:?}", String::from_utf8_lossy(bytes));
    };
    found(id.as_bytes(), id);
    found(format!("身份证号{id}，住址城关镇").as_bytes(), id);
    found(format!("record_id,id_number,occurred_on\nP01,{id},2026-11-24\n").as_bytes(), id);
    found(format!("\u{feff}{id}\r\n").as_bytes(), id);
    found(format!("序号9{id}7").as_bytes(), id);
    found(format!("证件{}号", x_id.to_lowercase()).as_bytes(), x_id);
    found(format!("证件{x_id}").as_bytes(), x_id);
    let gb = encoding_rs::GB18030.encode(&format!("姓名：张三，身份证号：{id}。")).0.into_owned();
    assert!(std::str::from_utf8(&gb).is_err(), "the GB18030 bytes are not also UTF-8");
    found(&gb, id);
    let gb = encoding_rs::GB18030.encode(&format!("身份证号{}", x_id.to_lowercase())).0.into_owned();
    found(&gb, x_id);

    let ordinary = "数据截至 2026-11-24 08:00，红色预警 12 人，电话 13800138000，时间 20261124080000，\
                    编号 12345678901234567 与 12345678901234567Y，合计 1234567890123456 条";
    assert_eq!(id_shaped(ordinary.as_bytes()), Vec::<String>::new(), "id_shaped flags ordinary text");
    let gb = encoding_rs::GB18030.encode(ordinary).0.into_owned();
    assert_eq!(id_shaped(&gb), Vec::<String>::new(), "id_shaped flags ordinary text in GB18030");
}

/// Three people under `dir/inbox` (and the townships): 1 is red through 严重不良行为 (S01) +
/// 事实无人抚养 (DU since 2021-07-14, still open); 2 is red as a victim of domestic violence (V02
/// within 90 days) and nothing else; 3 is orange through three categories: 不良行为 (B01),
/// 监护与生活困境 (LB) and 失学辍学 (E3 at `school`, the latest status).
pub fn three_person_county(dir: &std::path::Path, school: &str) {
    townships(dir);
    let person = |n: u32| format!("{},2012-03-15,1,431102001", pk(n));
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-24.csv"),
        &[
            &POLICE,
            &format!("{},P-101,2026-10-01,S,S01,", person(1)),
            &format!("{},P-201,2026-11-01,V,V02,", person(2)),
            &format!("{},P-301,2026-11-01,S,B01,", person(3)),
        ],
    );
    write_csv(
        &dir.join("inbox/civil/civil_status_2026-11.csv"),
        &[&CIVIL, &format!("{},C-101,DU,2021-07-14,", person(1)), &format!("{},C-301,LB,2020-01-01,", person(3))],
    );
    write_csv(
        &dir.join("inbox/education/education_enrollment_2026-11.csv"),
        &[&ENROLLMENT, &format!("{},E-301,{school},E3,2026-09-01", person(3))],
    );
}
