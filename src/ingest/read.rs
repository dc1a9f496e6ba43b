//! Reading one inbox file as a stream of Arrow batches of text columns.
//!
//! Each file is read on its own thread: the thread detects the format and encoding, reads the
//! header, checks it against the table's contract, then streams batches of at most
//! [`BATCH_ROWS`] rows through a bounded channel. Before a batch leaves the thread its raw
//! identifiers (`id_number`, `name`) are replaced by their HMAC-SM3 pseudonyms: no raw 身份证号 or
//! name ever reaches a DataFusion plan, a spill file, a log line or an error message.
//!
//! Every batch has the contract's columns (as text, NULL where the file lacks an optional
//! column), the person columns, `person_key`, `name_hash`, `link_method` and `_line` (the row's
//! line in a CSV file or its row number in a worksheet; the header is line 1).

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
use crate::pseudo::{Pseudonymiser, is_pseudonym};

pub const BATCH_ROWS: usize = 65_536;
/// How much of a CSV file is examined to tell UTF-8 from GB18030.
const SNIFF_BYTES: usize = 1 << 20;

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

/// Tells the text encoding of a CSV file from its first bytes: a UTF-8 BOM, else valid UTF-8
/// (a multi-byte character cut by the sample's end is fine), else GB18030 if the bytes decode
/// without a single error. Anything else is refused.
pub fn detect_encoding(sample: &[u8], whole_file: bool) -> Result<Encoding, String> {
    if sample.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Ok(Encoding::Utf8Bom);
    }
    if sample.starts_with(&[0xFF, 0xFE]) || sample.starts_with(&[0xFE, 0xFF]) {
        return Err("is UTF-16 encoded; save it as UTF-8 or GB18030".into());
    }
    match std::str::from_utf8(sample) {
        Ok(_) => return Ok(Encoding::Utf8),
        Err(e) if e.error_len().is_none() && !whole_file => return Ok(Encoding::Utf8),
        Err(_) => {}
    }
    let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(sample.len() * 2);
    let (result, _) = decoder.decode_to_string_without_replacement(sample, &mut out, whole_file);
    match result {
        encoding_rs::DecoderResult::Malformed(_, _) => {
            Err("is neither UTF-8 nor GB18030 text (undecodable bytes)".into())
        }
        _ => Ok(Encoding::Gb18030),
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
    for name in ["person_key", "name_hash", "link_method"] {
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
        let find = |name: &str| columns.iter().position(|c| c == name);
        for (i, c) in columns.iter().enumerate() {
            if !c.is_empty() && columns[..i].contains(c) {
                return Err(format!("the header names column `{c}` twice"));
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

    /// Sends one batch of raw text columns (`columns[i]` is the file's i-th column; `None`
    /// where the source had no such column) whose first row is on line `first_line`. Returns
    /// false when the consumer has gone away.
    fn send(&mut self, columns: &[ArrayRef], rows: usize, first_line: i64) -> Result<bool, String> {
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
        let (person_key, name_hash, method) = pseudonymise(
            &self.pseudo,
            rows,
            text(layout.person_key),
            text(layout.id_number),
            text(layout.name_hash),
            text(layout.name),
        );
        out.push(Arc::new(person_key));
        out.push(Arc::new(name_hash));
        out.push(Arc::new(method));
        out.push(Arc::new(Int64Array::from_iter_values(first_line..first_line + rows as i64)));
        let batch = RecordBatch::try_new(self.schema.clone(), out).map_err(|e| e.to_string())?;
        Ok(self.batch_tx.blocking_send(Ok(batch)).is_ok())
    }
}

fn non_empty(array: Option<&StringArray>, row: usize) -> Option<&str> {
    let array = array?;
    if array.is_null(row) {
        return None;
    }
    let v = array.value(row).trim();
    (!v.is_empty()).then_some(v)
}

/// Resolves each row's identity: a given `person_key` wins, else the pseudonym of `id_number`;
/// `name_hash` is given or made from a raw `name`. Raw values are dropped here.
fn pseudonymise(
    pseudo: &Pseudonymiser,
    rows: usize,
    person_key: Option<&StringArray>,
    id_number: Option<&StringArray>,
    name_hash: Option<&StringArray>,
    name: Option<&StringArray>,
) -> (StringArray, StringArray, StringArray) {
    let mut keys = StringBuilder::with_capacity(rows, rows * 64);
    let mut hashes = StringBuilder::with_capacity(rows, rows * 64);
    let mut methods = StringBuilder::with_capacity(rows, rows * 10);
    for row in 0..rows {
        if let Some(given) = non_empty(person_key, row) {
            keys.append_value(given.to_ascii_lowercase());
            methods.append_value("person_key");
        } else if let Some(id) = non_empty(id_number, row) {
            keys.append_value(pseudo.person_key(id));
            methods.append_value("id_number");
        } else {
            keys.append_null();
            methods.append_null();
        }
        if let Some(given) = non_empty(name_hash, row) {
            hashes.append_value(given.to_ascii_lowercase());
        } else if let Some(raw) = non_empty(name, row) {
            hashes.append_value(pseudo.name_hash(raw));
        } else {
            hashes.append_null();
        }
    }
    (keys.finish(), hashes.finish(), methods.finish())
}

fn open_file(path: &Path) -> Result<File, String> {
    File::open(path).map_err(|e| format!("cannot be opened: {e}"))
}

fn read_csv(path: &Path, sink: &mut BatchSink) -> Result<(), String> {
    let mut file = open_file(path)?;
    let len = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut sample = Vec::with_capacity(SNIFF_BYTES.min(len));
    (&mut file).take(SNIFF_BYTES as u64).read_to_end(&mut sample).map_err(|e| format!("cannot be read: {e}"))?;
    let encoding = detect_encoding(&sample, sample.len() >= len)?;
    drop(sample);
    let skip = if encoding == Encoding::Utf8Bom { 3 } else { 0 };
    file.seek(SeekFrom::Start(skip)).map_err(|e| format!("cannot be read: {e}"))?;
    let text: Box<dyn Read + Send> = match encoding {
        Encoding::Gb18030 => Box::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding_rs::GB18030))
                .bom_override(true)
                .build(file),
        ),
        _ => Box::new(file),
    };
    let mut reader = BufReader::with_capacity(1 << 20, text);
    // The header: one CSV record, read with the csv crate from the same buffered stream.
    let header_line = read_line(&mut reader)?;
    let header: Vec<String> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(header_line.as_bytes())
        .records()
        .next()
        .transpose()
        .map_err(|e| format!("has an unreadable header: {e}"))?
        .map(|r| r.iter().map(str::to_string).collect())
        .unwrap_or_default();
    sink.header(Format::Csv, Some(encoding), header.clone())?;
    let raw_schema = Arc::new(Schema::new(
        header.iter().enumerate().map(|(i, _)| Field::new(format!("c{i}"), DataType::Utf8, true)).collect::<Vec<_>>(),
    ));
    let csv = datafusion::arrow::csv::ReaderBuilder::new(raw_schema)
        .with_header(false)
        .with_batch_size(BATCH_ROWS)
        .with_truncated_rows(true)
        .build_buffered(reader)
        .map_err(|e| e.to_string())?;
    let mut line = 2i64;
    for batch in csv {
        let batch = batch.map_err(|e| describe_csv_error(e, line))?;
        let rows = batch.num_rows();
        if !sink.send(batch.columns(), rows, line)? {
            return Ok(());
        }
        line += rows as i64;
    }
    Ok(())
}

fn describe_csv_error(e: datafusion::arrow::error::ArrowError, first_line_of_batch: i64) -> String {
    let text = e.to_string();
    if text.contains("utf-8") || text.contains("UTF8") || text.contains("utf8") {
        format!("has invalid UTF-8 text in the rows from line {first_line_of_batch} on: {text}")
    } else {
        format!("cannot be parsed as CSV in the rows from line {first_line_of_batch} on: {text}")
    }
}

fn read_line(reader: &mut impl std::io::BufRead) -> Result<String, String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| format!("has an unreadable header: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_parquet(path: &Path, sink: &mut BatchSink) -> Result<(), String> {
    let file = open_file(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("is not a readable Parquet file: {e}"))?
        .with_batch_size(BATCH_ROWS);
    let header: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    sink.header(Format::Parquet, None, header)?;
    let reader = builder.build().map_err(|e| e.to_string())?;
    let mut line = 2i64;
    for batch in reader {
        let batch = batch.map_err(|e| format!("cannot be read from row {} on: {e}", line - 1))?;
        let columns = batch.columns().iter().map(as_text).collect::<Result<Vec<_>, _>>()?;
        if !sink.send(&columns, batch.num_rows(), line)? {
            return Ok(());
        }
        line += batch.num_rows() as i64;
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

fn read_xlsx(path: &Path, sink: &mut BatchSink) -> Result<(), String> {
    use calamine::{DataRef, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook(path).map_err(|e| format!("is not a readable XLSX file: {e}"))?;
    let sheet = book.sheet_names().first().cloned().ok_or("has no worksheet")?;
    let mut cells = book.worksheet_cells_reader(&sheet).map_err(|e| format!("sheet {sheet}: {e}"))?;
    let mut header: Vec<String> = Vec::new();
    let mut header_row: Option<u32> = None;
    let mut builders: Vec<StringBuilder> = Vec::new();
    let mut filled: Vec<bool> = Vec::new();
    let mut current_row: Option<u32> = None;
    let mut first_line = 0i64;
    let mut rows = 0usize;
    let flush = |sink: &mut BatchSink, builders: &mut Vec<StringBuilder>, rows: &mut usize, first_line: i64| {
        let columns: Vec<ArrayRef> = builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
        let n = *rows;
        *rows = 0;
        sink.send(&columns, n, first_line)
    };
    while let Some(cell) = cells.next_cell().map_err(|e| format!("sheet {sheet}: {e}"))? {
        let (row, col) = cell.get_position();
        let text = match cell.get_value() {
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
        let Some(hrow) = header_row else {
            // Everything on the first non-empty row is the header.
            header_row = Some(row);
            current_row = Some(row);
            if let Some(t) = text {
                if header.len() <= col as usize {
                    header.resize(col as usize + 1, String::new());
                }
                header[col as usize] = t;
            }
            continue;
        };
        if row == hrow {
            if let Some(t) = text {
                if header.len() <= col as usize {
                    header.resize(col as usize + 1, String::new());
                }
                header[col as usize] = t;
            }
            continue;
        }
        if builders.is_empty() {
            sink.header(Format::Xlsx, None, header.clone())?;
            builders = (0..header.len()).map(|_| StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8)).collect();
            filled = vec![false; header.len()];
        }
        if current_row != Some(row) {
            // Close the previous data row; a batch holds consecutive rows only, so a blank row
            // in between starts a new batch and every row keeps its own line number.
            let previous = current_row;
            if previous.is_some_and(|r| r != hrow) {
                finish_row(&mut builders, &mut filled);
                rows += 1;
            }
            let gap = previous.map(|r| r + 1) != Some(row);
            if (rows == BATCH_ROWS || (rows > 0 && gap)) && !flush(sink, &mut builders, &mut rows, first_line)? {
                return Ok(());
            }
            if rows == 0 {
                first_line = row as i64 + 1;
            }
            current_row = Some(row);
        }
        if let (Some(t), Some(builder)) = (text, builders.get_mut(col as usize)) {
            if !filled[col as usize] {
                builder.append_value(t);
                filled[col as usize] = true;
            }
        }
    }
    if builders.is_empty() {
        // A header and no data rows (or an empty sheet).
        sink.header(Format::Xlsx, None, header.clone())?;
        return Ok(());
    }
    if current_row.is_some_and(|r| Some(r) != header_row) {
        finish_row(&mut builders, &mut filled);
        rows += 1;
    }
    if rows > 0 {
        flush(sink, &mut builders, &mut rows, first_line)?;
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

/// Whether a value looks like a pseudonym; used by validation for `person_key`.
pub fn valid_person_key(v: &str) -> bool {
    is_pseudonym(v)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(detect_encoding(b"\xEF\xBB\xBFa,b\n", true), Ok(Encoding::Utf8Bom));
        assert_eq!(detect_encoding("a,城关镇\n".as_bytes(), true), Ok(Encoding::Utf8));
        let (gb, _, _) = encoding_rs::GB18030.encode("a,城关镇民政办\n");
        assert_eq!(detect_encoding(&gb, true), Ok(Encoding::Gb18030));
        // A sample cut in the middle of a UTF-8 character is still UTF-8.
        let utf8 = "城关镇".as_bytes();
        assert_eq!(detect_encoding(&utf8[..4], false), Ok(Encoding::Utf8));
        assert!(detect_encoding(b"\xFF\xFEa\x00", true).is_err());
        assert!(detect_encoding(b"ok,\x80\xFF\xFF\xFF", true).is_err());
    }
}
