//! Reference data: `townships.csv` (`township_code`, `name`, `minors_population`).

use std::path::Path;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Township {
    pub code: String,
    pub name: String,
    pub minors_population: u64,
}

/// Reads `townships.csv` from the reference folder (UTF-8, with or without BOM, or GB18030).
pub fn load_townships(reference: &Path) -> Result<Vec<Township>> {
    let path = reference.join("townships.csv");
    let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage(format!("reference file {} not found", path.display())),
        _ => Error::io(&path, e),
    })?;
    let text = super::read::decode_text(&bytes).map_err(|p| Error::InputFile { file: path.display().to_string(), problem: p })?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| Error::InputFile { file: path.display().to_string(), problem: e.to_string() })?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| Error::InputFile {
            file: path.display().to_string(),
            problem: format!("the header lacks the required column `{name}`"),
        })
    };
    let (code, name, pop) = (col("township_code")?, col("name")?, col("minors_population")?);
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| Error::InputFile { file: path.display().to_string(), problem: e.to_string() })?;
        let minors_population = rec.get(pop).unwrap_or("").trim().parse().map_err(|_| Error::InputFile {
            file: path.display().to_string(),
            problem: format!("line {}, column minors_population: not a whole number", i + 2),
        })?;
        out.push(Township {
            code: rec.get(code).unwrap_or("").trim().to_string(),
            name: rec.get(name).unwrap_or("").trim().to_string(),
            minors_population,
        });
    }
    Ok(out)
}
