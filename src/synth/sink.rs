//! File writers for the extracts: CSV (UTF-8, UTF-8 with BOM, GB18030), Parquet and XLSX.
//! Every writer takes rows as strings in the table's column order and counts physical lines (or
//! worksheet rows) so that the answer key can point at them.
//!
//! This is the only file of the generator (tests aside) that names arrow and parquet; humiao
//! reaches them through datafusion.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{ArrayRef, Date32Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet};

/// How a CSV file is encoded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    Utf8,
    Utf8Bom,
    /// GB18030 with CRLF line ends, as a Windows desktop export would write it.
    Gb18030,
}

pub struct CsvSink {
    path: PathBuf,
    w: BufWriter<File>,
    enc: Enc,
    line: String,
    /// Physical lines written so far (the header is line 1).
    pub lines: usize,
}

impl CsvSink {
    pub fn create(path: &Path, enc: Enc, header: &[&str]) -> Result<CsvSink> {
        let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut sink = CsvSink {
            path: path.to_path_buf(),
            w: BufWriter::with_capacity(1 << 17, file),
            enc,
            line: String::with_capacity(512),
            lines: 0,
        };
        if enc == Enc::Utf8Bom {
            sink.w.write_all(b"\xEF\xBB\xBF")?;
        }
        sink.write(header)?;
        Ok(sink)
    }

    /// Writes one record; returns its physical line number.
    pub fn write<S: AsRef<str>>(&mut self, cells: &[S]) -> Result<usize> {
        self.line.clear();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            let cell = cell.as_ref();
            if cell.contains([',', '"', '\n', '\r']) {
                self.line.push('"');
                self.line.push_str(&cell.replace('"', "\"\""));
                self.line.push('"');
            } else {
                self.line.push_str(cell);
            }
        }
        match self.enc {
            Enc::Utf8 | Enc::Utf8Bom => {
                self.line.push('\n');
                self.w.write_all(self.line.as_bytes())?;
            }
            Enc::Gb18030 => {
                self.line.push_str("\r\n");
                let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&self.line);
                if unmappable {
                    return Err(anyhow!("{}: text not representable in GB18030", self.path.display()));
                }
                self.w.write_all(&bytes)?;
            }
        }
        self.lines += 1;
        Ok(self.lines)
    }

    /// Data rows written (lines less the header).
    pub fn rows(&self) -> usize {
        self.lines.saturating_sub(1)
    }

    pub fn finish(mut self) -> Result<(PathBuf, usize)> {
        self.w.flush().with_context(|| format!("cannot write {}", self.path.display()))?;
        let rows = self.rows();
        Ok((self.path, rows))
    }
}

/// A Parquet file whose columns are Utf8, except the named date columns (Date32). An empty
/// string is written as null.
pub struct ParquetSink {
    path: PathBuf,
    writer: ArrowWriter<File>,
    schema: Arc<Schema>,
    is_date: Vec<bool>,
    strings: Vec<StringBuilder>,
    dates: Vec<Date32Builder>,
    pending: usize,
    rows: usize,
}

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

impl ParquetSink {
    pub fn create(path: &Path, columns: &[&str], date_columns: &[&str]) -> Result<ParquetSink> {
        let is_date: Vec<bool> = columns.iter().map(|c| date_columns.contains(c)).collect();
        let fields: Vec<Field> = columns
            .iter()
            .zip(&is_date)
            .map(|(c, &d)| Field::new(*c, if d { DataType::Date32 } else { DataType::Utf8 }, true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
        Ok(ParquetSink {
            path: path.to_path_buf(),
            writer,
            schema,
            strings: is_date.iter().map(|_| StringBuilder::new()).collect(),
            dates: is_date.iter().map(|_| Date32Builder::new()).collect(),
            is_date,
            pending: 0,
            rows: 0,
        })
    }

    pub fn write<S: AsRef<str>>(&mut self, cells: &[S]) -> Result<()> {
        for (i, cell) in cells.iter().enumerate() {
            let cell = cell.as_ref();
            if self.is_date[i] {
                match NaiveDate::parse_from_str(cell, "%Y-%m-%d") {
                    Ok(d) => self.dates[i].append_value((d - EPOCH).num_days() as i32),
                    Err(_) => self.dates[i].append_null(),
                }
            } else if cell.is_empty() {
                self.strings[i].append_null();
            } else {
                self.strings[i].append_value(cell);
            }
        }
        self.pending += 1;
        self.rows += 1;
        if self.pending >= 65_536 {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = (0..self.is_date.len())
            .map(|i| -> ArrayRef {
                if self.is_date[i] { Arc::new(self.dates[i].finish()) } else { Arc::new(self.strings[i].finish()) }
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        self.writer.write(&batch)?;
        self.pending = 0;
        Ok(())
    }

    pub fn finish(mut self) -> Result<(PathBuf, usize)> {
        self.flush_batch()?;
        self.writer.close()?;
        Ok((self.path, self.rows))
    }
}

/// How an XLSX column is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum XCol {
    Text,
    /// A `YYYY-MM-DD` string becomes a real Excel date; anything else stays text.
    Date,
    /// An integer string becomes a number; anything else stays text.
    Number,
}

/// An XLSX workbook with one worksheet, written in rust_xlsxwriter's constant-memory mode on a
/// thread of its own (rows arrive in batches over a bounded channel, in order).
pub struct XlsxSink {
    path: PathBuf,
    tx: Option<SyncSender<Vec<Vec<String>>>>,
    batch: Vec<Vec<String>>,
    handle: Option<JoinHandle<Result<()>>>,
    /// Worksheet rows written so far (the header is row 1).
    pub lines: usize,
}

const XLSX_BATCH: usize = 4096;

impl XlsxSink {
    pub fn create(path: &Path, sheet: &str, header: &[&str], kinds: &[XCol], created: NaiveDate) -> Result<XlsxSink> {
        let (tx, rx) = sync_channel::<Vec<Vec<String>>>(16);
        let out = path.to_path_buf();
        let sheet = sheet.to_string();
        let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
        let kinds = kinds.to_vec();
        let handle = std::thread::Builder::new().name("synth-xlsx".into()).spawn(move || -> Result<()> {
            let mut workbook = Workbook::new();
            // A fixed creation time keeps the file byte-identical between runs.
            let created = ExcelDateTime::from_ymd(created.year() as u16, created.month() as u8, created.day() as u8)?;
            workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
            let date_format = Format::new().set_num_format("yyyy-mm-dd");
            let ws = streamed_worksheet(&mut workbook, out.parent())?;
            ws.set_name(&sheet)?;
            for (c, h) in header.iter().enumerate() {
                ws.write_string(0, c as u16, h)?;
            }
            let mut row: u32 = 1;
            for batch in rx {
                for cells in batch {
                    for (c, cell) in cells.iter().enumerate() {
                        if cell.is_empty() {
                            continue;
                        }
                        let col = c as u16;
                        match kinds[c] {
                            XCol::Date => match NaiveDate::parse_from_str(cell, "%Y-%m-%d") {
                                Ok(d) if cell.len() == 10 => {
                                    let serial = (d - EXCEL_EPOCH).num_days() as f64;
                                    ws.write_number_with_format(row, col, serial, &date_format)?;
                                }
                                _ => {
                                    ws.write_string(row, col, cell)?;
                                }
                            },
                            XCol::Number => match cell.parse::<i64>() {
                                Ok(n) => {
                                    ws.write_number(row, col, n as f64)?;
                                }
                                Err(_) => {
                                    ws.write_string(row, col, cell)?;
                                }
                            },
                            XCol::Text => {
                                ws.write_string(row, col, cell)?;
                            }
                        }
                    }
                    row += 1;
                }
            }
            workbook.save(&out)?;
            Ok(())
        })?;
        Ok(XlsxSink {
            path: path.to_path_buf(),
            tx: Some(tx),
            batch: Vec::with_capacity(XLSX_BATCH),
            handle: Some(handle),
            lines: 1,
        })
    }

    /// Queues one row; returns its worksheet row number (1-based).
    pub fn write(&mut self, cells: Vec<String>) -> Result<usize> {
        self.batch.push(cells);
        self.lines += 1;
        if self.batch.len() >= XLSX_BATCH {
            self.send()?;
        }
        Ok(self.lines)
    }

    fn send(&mut self) -> Result<()> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(XLSX_BATCH));
        let tx = self.tx.as_ref().expect("open until finish");
        if tx.send(batch).is_err() {
            // The writer thread stopped: its error says why.
            return Err(self.join().err().unwrap_or_else(|| anyhow!("XLSX writer stopped")));
        }
        Ok(())
    }

    fn join(&mut self) -> Result<()> {
        self.tx = None;
        match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| anyhow!("XLSX writer thread panicked"))?
                .with_context(|| format!("cannot write {}", self.path.display())),
            None => Ok(()),
        }
    }

    pub fn finish(mut self) -> Result<(PathBuf, usize)> {
        if !self.batch.is_empty() {
            self.send()?;
        }
        self.join()?;
        Ok((self.path.clone(), self.lines - 1))
    }
}

/// The worksheet, in rust_xlsxwriter's constant-memory mode: rows stream through a temporary
/// file instead of being held (for 1M rows about 1.6 GB less memory and a third less time).
fn streamed_worksheet<'a>(workbook: &'a mut Workbook, dir: Option<&Path>) -> Result<&'a mut Worksheet> {
    if let Some(dir) = dir {
        workbook.set_tempdir(dir)?;
    }
    Ok(workbook.add_worksheet_with_constant_memory()?)
}

/// Excel's day 0 (serial numbers count days from 1899-12-30 for dates after 1900-03-01).
const EXCEL_EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid date");
