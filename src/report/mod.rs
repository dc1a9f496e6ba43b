//! Outputs: what people read (the quality report, the lists, tasks, the leadership charts and
//! report) and what machines read (the lists and trend as Parquet, the manifest). This module is the only user of the XLSX writer.

pub mod charts;
pub mod fonts;
pub mod html;
pub mod leadership;
pub mod lists;
pub mod manifest;
pub mod quality;
pub mod suppress;
pub mod view;

use std::path::Path;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// Writes `batches` as one Parquet file. Nothing but the data goes in (no timestamps), so the
/// same rows give the same bytes — whatever plan made them: text is written as plain UTF-8 and
/// every column as nullable (a string view, or a column the planner can prove not null, depends
/// on what the lake held, e.g. an empty `scores` history on a first run).
pub fn write_parquet(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    let batches = batches.iter().map(canonical).collect::<Result<Vec<_>>>()?;
    let Some(first) = batches.first() else {
        return Err(Error::Internal(format!("no schema for {}", path.display())));
    };
    let write = || -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_created_by(concat!("humiao ", env!("CARGO_PKG_VERSION")).to_string())
            .build();
        let mut writer = ArrowWriter::try_new(file, first.schema(), Some(props))?;
        for b in &batches {
            writer.write(b)?;
        }
        writer.close()?;
        Ok(())
    };
    write().map_err(|e| Error::writing(path, e))
}

/// `batch` with text columns as `Utf8` and every field nullable.
fn canonical(batch: &RecordBatch) -> Result<RecordBatch> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let plain = |t: &DataType| match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        other => other.clone(),
    };
    let fields: Vec<Field> = batch.schema().fields().iter().map(|f| Field::new(f.name(), plain(f.data_type()), true)).collect();
    let columns = batch
        .columns()
        .iter()
        .zip(&fields)
        .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c.clone()) } else { datafusion::arrow::compute::cast(c, f.data_type()) })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)?)
}
