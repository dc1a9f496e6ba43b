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
/// same rows give the same bytes.
pub fn write_parquet(path: &Path, batches: &[RecordBatch]) -> Result<()> {
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
        for b in batches {
            writer.write(b)?;
        }
        writer.close()?;
        Ok(())
    };
    write().map_err(|e| Error::writing(path, e))
}
