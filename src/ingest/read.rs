//! Reading one inbox file as a stream of Arrow batches of text columns.
//!
//! Each file is read on its own thread: the thread detects the format and encoding, reads the
//! header, checks it against the table's contract, then streams batches of at most
//! [`BATCH_ROWS`] rows through a bounded channel. Before a batch leaves the thread its raw
//! identifiers (`id_number`, `name`) are replaced by their HMAC-SM3 pseudonyms: no raw 身份证号 or
//! name ever reaches a DataFusion plan, a spill file, a log line or an error message.
//!
//! Every batch has the contract's columns (as text, NULL where the file lacks an optional
//! column), the person columns, `person_key`, `name_hash`, `link_method`, `identity_problem`
//! (`reason:column` when an identity value is malformed: its value is dropped here, never
//! passed on) and `_line` (the row's physical line in a CSV file or its row number in a
//! worksheet; the header is line 1).
//!
//! No message of this module quotes a cell value: problems name lines and columns, and a header
//! cell that does not look like a column name is named by its position only.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio::sync::mpsc;

use crate::config::{IDENTITY_COLUMNS, RAW_NAME_COLUMN, TableContract};
use crate::pseudo::{Pseudonymiser, is_id_number, is_pseudonym};

use super::csv_records::{Record, Records};

pub const BATCH_ROWS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Xlsx,
    Parquet,
}

impl Format {
    /// The name the quality report and the lake's `files` table give the format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Parquet => "parquet",
        }
    }

    /// The format of a [`Format::name`].
    pub fn from_name(name: &str) -> Option<Format> {
        [Format::Csv, Format::Xlsx, Format::Parquet].into_iter().find(|f| f.name() == name)
    }

    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Encoding {
    #[serde(rename = "UTF-8")]
    Utf8,
    #[serde(rename = "UTF-8 with BOM")]
    Utf8Bom,
    #[serde(rename = "GB18030")]
    Gb18030,
}

impl Encoding {
    /// The name the quality report and the lake's `files` table give the encoding.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 with BOM",
            Encoding::Gb18030 => "GB18030",
        }
    }

    /// The encoding of an [`Encoding::name`].
    pub fn from_name(name: &str) -> Option<Encoding> {
        [Encoding::Utf8, Encoding::Utf8Bom, Encoding::Gb18030].into_iter().find(|e| e.name() == name)
    }
}

/// Reads a CSV file once, whole, to tell its text encoding: a UTF-8 BOM (the rest must then be
/// valid UTF-8), else valid UTF-8 throughout, else valid GB18030 throughout. A file that is
/// neither is refused, naming the line of the first undecodable byte (of the encoding that got
/// further). Also returns the file's physical line count, which the parser's must match.
pub fn detect_encoding(file: &mut (impl Read + Seek)) -> Result<(Encoding, u64), String> {
    let read_err = |e: std::io::Error| format!("cannot be read: {e}");
    let mut head = [0u8; 3];
    let n = read_up_to(file, &mut head).map_err(read_err)?;
    let head = &head[..n];
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err("is UTF-16 encoded; save it as UTF-8 or GB18030".into());
    }
    let bom = head.starts_with(&[0xEF, 0xBB, 0xBF]);
    file.seek(SeekFrom::Start(if bom { 3 } else { 0 })).map_err(read_err)?;
    let utf8 = scan_utf8(file).map_err(read_err)?;
    match (utf8, bom) {
        (Scan::Valid(lines), true) => return Ok((Encoding::Utf8Bom, lines)),
        (Scan::Valid(lines), false) => return Ok((Encoding::Utf8, lines)),
        (Scan::Invalid(line), true) => {
            return Err(format!("starts with a UTF-8 byte-order mark, but line {line} is not valid UTF-8"));
        }
        (Scan::Invalid(_), false) => {}
    }
    let Scan::Invalid(utf8_line) = utf8 else { unreachable!() };
    file.seek(SeekFrom::Start(0)).map_err(read_err)?;
    match scan_gb18030(file).map_err(read_err)? {
        Scan::Valid(lines) => Ok((Encoding::Gb18030, lines)),
        Scan::Invalid(gb_line) => {
            let (line, as_what) = if gb_line >= utf8_line { (gb_line, "GB18030") } else { (utf8_line, "UTF-8") };
            Err(format!(
                "is neither valid UTF-8 nor valid GB18030 text: read as {as_what}, line {line} has bytes that are not valid"
            ))
        }
    }
}

/// A small text file (a reference table, a reviewers' decision file) decoded whole, by the same
/// rules as the extracts: UTF-8 (a BOM dropped) or GB18030, strictly.
pub fn decode_text(bytes: &[u8]) -> Result<String, String> {
    let (encoding, _) = detect_encoding(&mut std::io::Cursor::new(bytes))?;
    Ok(match encoding {
        Encoding::Gb18030 => encoding_rs::GB18030.decode_without_bom_handling(bytes).0.into_owned(),
        Encoding::Utf8Bom => String::from_utf8_lossy(&bytes[3..]).into_owned(),
        Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
    })
}

/// What a whole-file encoding scan found: the file's physical line count, or the line of the
/// first invalid byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Valid(u64),
    Invalid(u64),
}

/// Counts line breaks (`\n`, `\r\n` and a lone `\r` each count once) across chunks.
#[derive(Default)]
struct LineCount {
    breaks: u64,
    last_was_cr: bool,
    any_byte_after_break: bool,
}

impl LineCount {
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\r' => {
                    self.breaks += 1;
                    self.last_was_cr = true;
                    self.any_byte_after_break = false;
                    continue;
                }
                b'\n' if !self.last_was_cr => {
                    self.breaks += 1;
                    self.any_byte_after_break = false;
                }
                b'\n' => {}
                _ => self.any_byte_after_break = true,
            }
            self.last_was_cr = false;
        }
    }

    /// The line the next byte is on (1-based).
    fn current(&self) -> u64 {
        self.breaks + 1
    }

    /// Physical lines: every line break, and a last line without one.
    fn total(&self) -> u64 {
        self.breaks + u64::from(self.any_byte_after_break)
    }
}

const SCAN_CHUNK: usize = 1 << 20;

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn scan_utf8(r: &mut impl Read) -> std::io::Result<Scan> {
    let mut buf = vec![0u8; SCAN_CHUNK + 4];
    let mut carry = 0;
    let mut lines = LineCount::default();
    loop {
        let n = read_up_to(r, &mut buf[carry..SCAN_CHUNK + carry])?;
        let len = carry + n;
        match std::str::from_utf8(&buf[..len]) {
            Ok(_) => {
                lines.add(&buf[..len]);
                carry = 0;
            }
            // A character cut by the chunk's end: its first bytes start the next chunk.
            Err(e) if e.error_len().is_none() && n > 0 => {
                let valid = e.valid_up_to();
                lines.add(&buf[..valid]);
                buf.copy_within(valid..len, 0);
                carry = len - valid;
            }
            Err(e) => {
                lines.add(&buf[..e.valid_up_to()]);
                return Ok(Scan::Invalid(lines.current()));
            }
        }
        if n == 0 {
            return Ok(Scan::Valid(lines.total()));
        }
    }
}

fn scan_gb18030(r: &mut impl Read) -> std::io::Result<Scan> {
    let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut buf = vec![0u8; SCAN_CHUNK];
    let mut out = vec![0u8; 4 * SCAN_CHUNK];
    let mut lines = LineCount::default();
    loop {
        let n = read_up_to(r, &mut buf)?;
        let last = n == 0;
        let mut src = &buf[..n];
        loop {
            let (result, read, _) = decoder.decode_to_utf8_without_replacement(src, &mut out, last);
            match result {
                encoding_rs::DecoderResult::InputEmpty => {
                    lines.add(&src[..read]);
                    break;
                }
                encoding_rs::DecoderResult::OutputFull => {
                    lines.add(&src[..read]);
                    src = &src[read..];
                }
                // `after` bytes past the malformed sequence were consumed too: not counted.
                encoding_rs::DecoderResult::Malformed(_, after) => {
                    lines.add(&src[..read - after as usize]);
                    return Ok(Scan::Invalid(lines.current()));
                }
            }
        }
        if last {
            return Ok(Scan::Valid(lines.total()));
        }
    }
}

/// What the reader thread found out about a file before streaming it.
#[derive(Debug, Clone)]
pub struct FileHeader {
    pub format: Format,
    pub encoding: Option<Encoding>,
    pub columns: Vec<String>,
}

/// A file being read: its header, and the receiving end of its batches.
pub struct OpenedFile {
    pub header: FileHeader,
    pub schema: SchemaRef,
    pub batches: mpsc::Receiver<Result<RecordBatch, String>>,
}

/// The schema of the batches a table's files are read into.
pub fn batch_schema(contract: &TableContract) -> SchemaRef {
    let mut fields: Vec<Field> = contract
        .header_columns()
        .map(|name| Field::new(name, DataType::Utf8, true))
        .collect();
    for name in ["person_key", "name_hash", "link_method", "identity_problem"] {
        fields.push(Field::new(name, DataType::Utf8, true));
    }
    fields.push(Field::new("_line", DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

/// Opens `path` as a file of `contract` on a reader thread. Returns once the header has been
/// read and checked: an `Err` is the reason the whole file is rejected (e.g. a missing column).
pub fn open(path: PathBuf, contract: &TableContract, pseudo: Pseudonymiser) -> Result<OpenedFile, String> {
    let format = Format::of(&path).ok_or("is not a CSV, XLSX or Parquet file")?;
    let schema = batch_schema(contract);
    let wanted: Vec<String> = contract.header_columns().map(str::to_string).collect();
    let required: Vec<String> = contract.required_header_columns().map(str::to_string).collect();
    let (header_tx, header_rx) = std::sync::mpsc::sync_channel(1);
    let (batch_tx, batch_rx) = mpsc::channel(2);
    let out_schema = schema.clone();
    std::thread::Builder::new()
        .name("humiao-read".into())
        .spawn(move || {
            let mut sink = BatchSink {
                schema: out_schema,
                wanted,
                required,
                pseudo,
                header_tx: Some(header_tx),
                batch_tx,
                layout: None,
            };
            let result = match format {
                Format::Csv => read_csv(&path, &mut sink),
                Format::Xlsx => read_xlsx(&path, &mut sink),
                Format::Parquet => read_parquet(&path, &mut sink),
            };
            if let Err(problem) = result {
                sink.fail(problem);
            }
        })
        .map_err(|e| format!("cannot start a reader thread: {e}"))?;
    let header = header_rx
        .recv()
        .map_err(|_| "the reader stopped before reading the header".to_string())??;
    Ok(OpenedFile { header, schema, batches: batch_rx })
}

/// Where the file's columns sit in the raw batches.
struct Layout {
    /// For each wanted column, its index in the file (None: the file lacks it).
    wanted: Vec<Option<usize>>,
    person_key: Option<usize>,
    id_number: Option<usize>,
    name_hash: Option<usize>,
    name: Option<usize>,
}

/// The reader thread's side: checks the header, then pseudonymises and sends batches.
struct BatchSink {
    schema: SchemaRef,
    wanted: Vec<String>,
    required: Vec<String>,
    pseudo: Pseudonymiser,
    header_tx: Option<std::sync::mpsc::SyncSender<Result<FileHeader, String>>>,
    batch_tx: mpsc::Sender<Result<RecordBatch, String>>,
    layout: Option<Layout>,
}

impl BatchSink {
    /// Checks the header; on success the file will be streamed.
    fn header(&mut self, format: Format, encoding: Option<Encoding>, raw: Vec<String>) -> Result<(), String> {
        let columns: Vec<String> = raw.iter().map(|c| c.trim().to_ascii_lowercase()).collect();
        if columns.iter().all(|c| c.is_empty()) {
            return Err(EMPTY_FILE.into());
        }
        let find = |name: &str| columns.iter().position(|c| c == name);
        let known =
            |c: &String| self.wanted.contains(c) || IDENTITY_COLUMNS.contains(&c.as_str()) || c == RAW_NAME_COLUMN;
        if !columns.iter().any(known) {
            return Err("has no header row: its first line names none of the table's columns".into());
        }
        for (i, c) in columns.iter().enumerate() {
            if !c.is_empty() && columns[..i].contains(c) {
                return Err(format!("the header names {} twice", header_cell(i, c)));
            }
        }
        if let Some(missing) = self.required.iter().find(|c| find(c).is_none()) {
            return Err(format!("the header lacks the required column `{missing}`"));
        }
        if IDENTITY_COLUMNS.iter().all(|c| find(c).is_none()) && find(RAW_NAME_COLUMN).is_none() {
            return Err("the header lacks an identity column: one of `person_key`, `id_number`, `name_hash`".into());
        }
        self.layout = Some(Layout {
            wanted: self.wanted.iter().map(|w| find(w)).collect(),
            person_key: find("person_key"),
            id_number: find("id_number"),
            name_hash: find("name_hash"),
            name: find(RAW_NAME_COLUMN),
        });
        if let Some(tx) = self.header_tx.take() {
            let _ = tx.send(Ok(FileHeader { format, encoding, columns }));
        }
        Ok(())
    }

    /// The file's column index of `id_number` (once the header is read).
    fn id_number_column(&self) -> Option<usize> {
        self.layout.as_ref().and_then(|l| l.id_number)
    }

    fn fail(&mut self, problem: String) {
        match self.header_tx.take() {
            Some(tx) => {
                let _ = tx.send(Err(problem));
            }
            None => {
                let _ = self.batch_tx.blocking_send(Err(problem));
            }
        }
    }

    /// Sends one batch of raw text columns (`columns[i]` is the file's i-th column) whose rows
    /// are on `lines`. `id_not_text[r]` says that row r's `id_number` was not stored as text (a
    /// spreadsheet number). Returns false when the consumer has gone away.
    fn send(&mut self, columns: &[ArrayRef], lines: Vec<i64>, id_not_text: Option<&[bool]>) -> Result<bool, String> {
        let rows = lines.len();
        let layout = self.layout.as_ref().expect("header read first");
        let text = |i: Option<usize>| -> Option<&StringArray> {
            i.and_then(|i| columns.get(i)).and_then(|a| a.as_any().downcast_ref::<StringArray>())
        };
        let mut out: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for idx in &layout.wanted {
            match idx.and_then(|i| columns.get(i)) {
                Some(array) => out.push(array.clone()),
                None => out.push(datafusion::arrow::array::new_null_array(&DataType::Utf8, rows)),
            }
        }
        let identity = pseudonymise(
            &self.pseudo,
            rows,
            Given {
                person_key: text(layout.person_key),
                id_number: text(layout.id_number),
                id_not_text,
                name_hash: text(layout.name_hash),
                name: text(layout.name),
            },
        );
        out.extend(identity.map(|a| Arc::new(a) as ArrayRef));
        out.push(Arc::new(Int64Array::from(lines)));
        let batch = RecordBatch::try_new(self.schema.clone(), out).map_err(|e| e.to_string())?;
        Ok(self.batch_tx.blocking_send(Ok(batch)).is_ok())
    }
}

/// Says that a file holds nothing to read.
const EMPTY_FILE: &str = "is an empty file";

/// A header cell as a message may show it: its name when it looks like a column name, else its
/// position only (a file without a header row has data, perhaps a 身份证号, in its first line).
fn header_cell(index: usize, cell: &str) -> String {
    let plain = cell.len() <= 40
        && cell.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && cell.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain { format!("column `{cell}`") } else { format!("column {} (its name is not shown)", index + 1) }
}

fn non_empty(array: Option<&StringArray>, row: usize) -> Option<&str> {
    let array = array?;
    if array.is_null(row) {
        return None;
    }
    let v = array.value(row).trim();
    (!v.is_empty()).then_some(v)
}

/// The identity columns of a batch, as the file gave them.
struct Given<'a> {
    person_key: Option<&'a StringArray>,
    id_number: Option<&'a StringArray>,
    /// Per row: the `id_number` cell was a number, not text.
    id_not_text: Option<&'a [bool]>,
    name_hash: Option<&'a StringArray>,
    name: Option<&'a StringArray>,
}

/// Resolves each row's identity: a given `person_key` wins, else the pseudonym of `id_number`;
/// `name_hash` is given or made from a raw `name`. A malformed value (a `person_key` or
/// `name_hash` that is not 64 hex characters, an `id_number` that is not a 身份证号 with a valid
/// check character, or one stored as a number) is dropped and named in `identity_problem`, so
/// the row is quarantined without its value ever leaving this thread. Raw values are dropped
/// here. Returns `[person_key, name_hash, link_method, identity_problem]`.
fn pseudonymise(pseudo: &Pseudonymiser, rows: usize, given: Given) -> [StringArray; 4] {
    let mut keys = StringBuilder::with_capacity(rows, rows * 64);
    let mut hashes = StringBuilder::with_capacity(rows, rows * 64);
    let mut methods = StringBuilder::with_capacity(rows, rows * 10);
    let mut problems = StringBuilder::with_capacity(rows, 0);
    for row in 0..rows {
        let mut problem: Option<&str> = None;
        let mut key: Option<(String, &str)> = None;
        if let Some(v) = non_empty(given.person_key, row) {
            let v = v.to_ascii_lowercase();
            if is_pseudonym(&v) {
                key = Some((v, "person_key"));
            } else {
                problem = Some("bad_person_key:person_key");
            }
        }
        if let Some(v) = non_empty(given.id_number, row) {
            let id = v.to_uppercase();
            if given.id_not_text.is_some_and(|flags| flags[row]) {
                problem = problem.or(Some("id_number_not_text:id_number"));
            } else if !is_id_number(&id) {
                problem = problem.or(Some("bad_id_number:id_number"));
            } else if key.is_none() && problem.is_none() {
                key = Some((pseudo.person_key(&id), "id_number"));
            }
        }
        let mut hash = None;
        if let Some(v) = non_empty(given.name_hash, row) {
            let v = v.to_ascii_lowercase();
            if is_pseudonym(&v) {
                hash = Some(v);
            } else {
                problem = problem.or(Some("bad_name_hash:name_hash"));
            }
        } else if let Some(raw) = non_empty(given.name, row) {
            hash = Some(pseudo.name_hash(raw));
        }
        if problem.is_some() {
            key = None;
            hash = None;
        }
        match key {
            Some((k, method)) => {
                keys.append_value(k);
                methods.append_value(method);
            }
            None => {
                keys.append_null();
                methods.append_null();
            }
        }
        hashes.append_option(hash);
        problems.append_option(problem);
    }
    [keys.finish(), hashes.finish(), methods.finish(), problems.finish()]
}

fn open_file(path: &Path) -> Result<File, String> {
    File::open(path).map_err(|e| format!("cannot be opened: {e}"))
}

fn read_csv(path: &Path, sink: &mut BatchSink) -> Result<(), String> {
    let mut file = open_file(path)?;
    let (encoding, physical_lines) = detect_encoding(&mut file)?;
    let skip = if encoding == Encoding::Utf8Bom { 3 } else { 0 };
    file.seek(SeekFrom::Start(skip)).map_err(|e| format!("cannot be read: {e}"))?;
    let text: Box<dyn Read + Send> = match encoding {
        // Checked above to decode without a single error: nothing is replaced here.
        Encoding::Gb18030 => Box::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding_rs::GB18030))
                .bom_override(false)
                .build(file),
        ),
        _ => Box::new(file),
    };
    let mut records = Records::new(BufReader::with_capacity(1 << 20, text));
    let mut rec = Record::default();
    if !records.next_record(&mut rec)? {
        return Err(EMPTY_FILE.into());
    }
    let header: Vec<String> = (0..rec.len())
        .map(|i| std::str::from_utf8(rec.field(i)).map(str::to_string))
        .collect::<Result<_, _>>()
        .map_err(|_| "has a header that is not valid text".to_string())?;
    sink.header(Format::Csv, Some(encoding), header.clone())?;
    let width = header.len();
    let mut builders: Vec<StringBuilder> =
        (0..width).map(|_| StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 12)).collect();
    let mut lines: Vec<i64> = Vec::with_capacity(BATCH_ROWS);
    let finish = |builders: &mut Vec<StringBuilder>| -> Vec<ArrayRef> {
        builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect()
    };
    while records.next_record(&mut rec)? {
        if rec.len() > width {
            return Err(format!(
                "line {} has {} fields, more than the {width} columns of its header (a trailing comma, or a comma inside an unquoted value?)",
                rec.line,
                rec.len()
            ));
        }
        for (i, b) in builders.iter_mut().enumerate() {
            if i < rec.len() {
                let value = std::str::from_utf8(rec.field(i))
                    .map_err(|_| format!("line {} has text that is not valid {encoding:?}", rec.line))?;
                b.append_value(value);
            } else {
                b.append_null();
            }
        }
        lines.push(rec.line as i64);
        if lines.len() == BATCH_ROWS && !sink.send(&finish(&mut builders), std::mem::take(&mut lines), None)? {
            return Ok(());
        }
    }
    if records.lines() != physical_lines {
        return Err(format!("has {physical_lines} lines, but only {} could be read as CSV records", records.lines()));
    }
    if !lines.is_empty() {
        sink.send(&finish(&mut builders), lines, None)?;
    }
    Ok(())
}

fn read_parquet(path: &Path, sink: &mut BatchSink) -> Result<(), String> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return Err(EMPTY_FILE.into());
    }
    let file = open_file(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("is not a readable Parquet file: {e}"))?
        .with_batch_size(BATCH_ROWS);
    let header: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    sink.header(Format::Parquet, None, header)?;
    let id_column = sink.id_number_column();
    let reader = builder.build().map_err(|e| e.to_string())?;
    let mut line = 2i64;
    for batch in reader {
        let batch = batch.map_err(|e| format!("cannot be read from row {} on: {e}", line - 1))?;
        let rows = batch.num_rows();
        let columns = batch.columns().iter().map(as_text).collect::<Result<Vec<_>, _>>()?;
        // A floating-point column cannot hold an 18-digit number exactly; an integer column
        // holds it exactly only when it has all 18 digits (no check character X, no lost zero).
        let id_not_text: Option<Vec<bool>> = id_column.map(|i| {
            let typed = batch.column(i).data_type();
            let ids = columns[i].as_any().downcast_ref::<StringArray>().expect("as text");
            (0..rows)
                .map(|r| match typed {
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => false,
                    t if t.is_integer() || matches!(t, DataType::Decimal128(_, 0) | DataType::Decimal256(_, 0)) => {
                        ids.is_valid(r) && ids.value(r).len() != 18
                    }
                    _ => ids.is_valid(r),
                })
                .collect()
        });
        let lines: Vec<i64> = (line..line + rows as i64).collect();
        if !sink.send(&columns, lines, id_not_text.as_deref())? {
            return Ok(());
        }
        line += rows as i64;
    }
    Ok(())
}

/// A typed Parquet column as text: dates as `YYYY-MM-DD`, whole floats as integers.
fn as_text(array: &ArrayRef) -> Result<ArrayRef, String> {
    let err = |e: datafusion::arrow::error::ArrowError| e.to_string();
    match array.data_type() {
        DataType::Utf8 => Ok(array.clone()),
        DataType::Date64 | DataType::Timestamp(_, _) => {
            cast(&cast(array, &DataType::Date32).map_err(err)?, &DataType::Utf8).map_err(err)
        }
        DataType::Float32 | DataType::Float64 => {
            let floats = cast(array, &DataType::Float64).map_err(err)?;
            let floats = floats.as_any().downcast_ref::<datafusion::arrow::array::Float64Array>().expect("cast");
            Ok(Arc::new(floats.iter().map(|v| v.map(number_text)).collect::<StringArray>()))
        }
        _ => cast(array, &DataType::Utf8).map_err(err),
    }
}

fn number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { x.to_string() }
}

/// Reads the first worksheet, streamed cell by cell: the first non-empty row is the header, and
/// every later row with a cell is a data row, numbered by its row in the sheet.
fn read_xlsx(path: &Path, sink: &mut BatchSink) -> Result<(), String> {
    use calamine::{DataRef, Reader, Xlsx};
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return Err(EMPTY_FILE.into());
    }
    let mut book: Xlsx<_> = calamine::open_workbook(path).map_err(|e| format!("is not a readable XLSX file: {e}"))?;
    let sheet = book.sheet_names().first().cloned().ok_or("has no worksheet")?;
    let mut cells = book.worksheet_cells_reader(&sheet).map_err(|e| format!("cannot read its first sheet: {e}"))?;
    let mut header: Vec<String> = Vec::new();
    let mut header_row: Option<u32> = None;
    let mut builders: Vec<StringBuilder> = Vec::new();
    let mut filled: Vec<bool> = Vec::new();
    let mut id_column: Option<usize> = None;
    // The data row being read, and whether its id_number cell was a number.
    let mut current: Option<(u32, bool)> = None;
    let mut lines: Vec<i64> = Vec::with_capacity(BATCH_ROWS);
    let mut id_flags: Vec<bool> = Vec::with_capacity(BATCH_ROWS);
    let flush = |sink: &mut BatchSink, builders: &mut Vec<StringBuilder>, lines: &mut Vec<i64>, flags: &mut Vec<bool>| {
        let columns: Vec<ArrayRef> = builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
        let sent = sink.send(&columns, std::mem::take(lines), Some(flags));
        flags.clear();
        sent
    };
    while let Some(cell) = cells.next_cell().map_err(|e| format!("cannot read its first sheet: {e}"))? {
        let (row, col) = cell.get_position();
        let value = cell.get_value();
        let text = match value {
            DataRef::Empty | DataRef::Error(_) => None,
            DataRef::String(s) => Some(s.trim().to_string()),
            DataRef::SharedString(s) => Some(s.trim().to_string()),
            DataRef::Int(i) => Some(i.to_string()),
            DataRef::Float(x) => Some(number_text(*x)),
            DataRef::Bool(b) => Some(b.to_string()),
            DataRef::DateTime(dt) => dt.as_datetime().map(|d| d.date().format("%Y-%m-%d").to_string()),
            DataRef::DateTimeIso(s) => Some(s.chars().take(10).collect()),
            DataRef::DurationIso(s) => Some(s.clone()),
        };
        if header_row.is_none_or(|h| h == row) {
            // Everything on the first row with a value is the header.
            if let Some(t) = text {
                header_row = Some(row);
                if header.len() <= col as usize {
                    header.resize(col as usize + 1, String::new());
                }
                header[col as usize] = t;
            }
            continue;
        }
        if builders.is_empty() {
            sink.header(Format::Xlsx, None, header.clone())?;
            id_column = sink.id_number_column();
            builders = (0..header.len()).map(|_| StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8)).collect();
            filled = vec![false; header.len()];
        }
        if current.is_none_or(|(r, _)| r != row) {
            if let Some((r, id_not_text)) = current.take() {
                finish_row(&mut builders, &mut filled);
                lines.push(r as i64 + 1);
                id_flags.push(id_not_text);
                if lines.len() == BATCH_ROWS && !flush(sink, &mut builders, &mut lines, &mut id_flags)? {
                    return Ok(());
                }
            }
            current = Some((row, false));
        }
        let Some(t) = text else { continue };
        if let Some(builder) = builders.get_mut(col as usize) {
            if !filled[col as usize] {
                builder.append_value(t);
                filled[col as usize] = true;
                if id_column == Some(col as usize) && matches!(value, DataRef::Int(_) | DataRef::Float(_)) {
                    // A numeric cell holds 15–16 significant digits: the 身份证号 may be rounded.
                    current = current.map(|(r, _)| (r, true));
                }
            }
        }
    }
    if header_row.is_none() {
        return Err(format!("{EMPTY_FILE} (its first sheet has no cells)"));
    }
    if builders.is_empty() {
        // A header and no data rows.
        return sink.header(Format::Xlsx, None, header);
    }
    if let Some((r, id_not_text)) = current {
        finish_row(&mut builders, &mut filled);
        lines.push(r as i64 + 1);
        id_flags.push(id_not_text);
    }
    if !lines.is_empty() {
        flush(sink, &mut builders, &mut lines, &mut id_flags)?;
    }
    Ok(())
}

/// Ends a worksheet row: columns without a cell get NULL.
fn finish_row(builders: &mut [StringBuilder], filled: &mut [bool]) {
    for (b, f) in builders.iter_mut().zip(filled.iter_mut()) {
        if !*f {
            b.append_null();
        }
        *f = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(bytes: &[u8]) -> Result<(Encoding, u64), String> {
        detect_encoding(&mut std::io::Cursor::new(bytes))
    }

    #[test]
    fn format_and_encoding_names_are_those_of_the_quality_report_and_read_back() {
        for f in [Format::Csv, Format::Xlsx, Format::Parquet] {
            assert_eq!(serde_json::to_value(f).unwrap(), f.name());
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
        for e in [Encoding::Utf8, Encoding::Utf8Bom, Encoding::Gb18030] {
            assert_eq!(serde_json::to_value(e).unwrap(), e.name());
            assert_eq!(Encoding::from_name(e.name()), Some(e));
        }
    }

    #[test]
    fn encodings_are_told_apart() {
        assert_eq!(detect(b"\xEF\xBB\xBFa,b\n"), Ok((Encoding::Utf8Bom, 1)));
        assert_eq!(detect("a,城关镇\n".as_bytes()), Ok((Encoding::Utf8, 1)));
        let (gb, _, _) = encoding_rs::GB18030.encode("a,城关镇民政办\nb\n");
        assert_eq!(detect(&gb), Ok((Encoding::Gb18030, 2)));
        assert!(detect(b"\xFF\xFEa\x00").is_err());
        assert!(detect(b"ok,\x80\xFF\xFF\xFF").is_err());
    }

    #[test]
    fn the_whole_file_decides_its_encoding_not_its_first_mebibyte() {
        // GB18030 text after 2 MiB of ASCII is GB18030, and its lines are all counted.
        let ascii_line = "a,b,c,d,e,f,g,h\n";
        let mut bytes = ascii_line.repeat((2 << 20) / ascii_line.len()).into_bytes();
        let lines = (bytes.len() / ascii_line.len()) as u64;
        bytes.extend_from_slice(&encoding_rs::GB18030.encode("城关镇,民政办\n").0);
        assert_eq!(detect(&bytes), Ok((Encoding::Gb18030, lines + 1)));
        // A byte that is neither UTF-8 nor GB18030 late in the file is refused, naming its line.
        let mut bad = ascii_line.repeat((2 << 20) / ascii_line.len()).into_bytes();
        bad.extend_from_slice("城关镇\n".as_bytes());
        bad.extend_from_slice(b"x,\xFF,y\n");
        let err = detect(&bad).unwrap_err();
        assert!(err.contains(&format!("line {}", lines + 2)), "{err}");
        // A UTF-8 character cut by a chunk boundary is fine.
        let mut cut = vec![b'a'; SCAN_CHUNK - 1];
        cut.extend_from_slice("城\n".as_bytes());
        assert_eq!(detect(&cut), Ok((Encoding::Utf8, 1)));
    }
}
