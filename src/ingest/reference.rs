//! Reference data: `townships.csv` (`township_code`, `name`, `minors_population`) and, when the
//! county has one, `schools.csv` (`school_code`, `name` or `school_name`, optionally
//! `township_code`): the lake holds school codes only, and the list shows a school's name where
//! this file gives it. `Plan::load` reads both once (`plan.townships`, `plan.schools`); every
//! stage takes them from there.

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

#[derive(Debug, Clone, PartialEq)]
pub struct School {
    pub code: String,
    pub name: String,
    pub township_code: String,
}

/// Reads `schools.csv` from the reference folder, if there is one (none: no school names, not
/// an error). Same encodings as `townships.csv`; `township_code` may be missing or empty.
pub fn load_schools(reference: &Path) -> Result<Option<Vec<School>>> {
    let path = reference.join("schools.csv");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let bad = |problem: String| Error::InputFile { file: path.display().to_string(), problem };
    let text = super::read::decode_text(&bytes).map_err(bad)?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let find = |name: &str| headers.iter().position(|h| h.trim() == name);
    let required = |name: &str| find(name).ok_or_else(|| bad(format!("the header lacks the required column `{name}`")));
    // `name`, or `school_name` as in the education department's own school list
    let name = find("name").or_else(|| find("school_name")).ok_or_else(|| bad("the header lacks the required column `name`".into()))?;
    let (code, township) = (required("school_code")?, find("township_code"));
    let mut out = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").trim().to_string();
        out.push(School { code: get(Some(code)), name: get(Some(name)), township_code: get(township) });
    }
    // One name per code: a code listed twice keeps its first name, so the list cannot grow rows.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|s| !s.code.is_empty() && seen.insert(s.code.clone()));
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schools_csv_is_optional_and_takes_the_education_lists_header_too() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_schools(dir.path()).unwrap(), None, "no file, no school names");
        std::fs::write(dir.path().join("schools.csv"), "school_code,school_name\nS1,一小\nS1,重复\n,无代码\nS2,二小\n").unwrap();
        let schools = load_schools(dir.path()).unwrap().unwrap();
        let names: Vec<(&str, &str)> = schools.iter().map(|s| (s.code.as_str(), s.name.as_str())).collect();
        assert_eq!(names, [("S1", "一小"), ("S2", "二小")], "one name per code, the first");
        std::fs::write(dir.path().join("schools.csv"), "school_code,town\nS1,x\n").unwrap();
        assert!(load_schools(dir.path()).unwrap_err().to_string().contains("`name`"));
    }
}
