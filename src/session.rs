//! The one DataFusion session of a run, with humiao's scalar UDFs registered.
//!
//! The UDFs are strict parsers for the extracts' text values (a date is `YYYY-MM-DD` and a real
//! calendar day, a month is `YYYY-MM`, an integer is digits only): each returns NULL where the
//! text is not valid, and the validation SQL turns that NULL into a quarantine reason.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Date32Type};
use datafusion::common::cast::as_string_array;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::Result;

/// Days from 0001-01-01 (CE) to 1970-01-01, to turn chrono dates into Arrow `Date32`.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

pub fn date_to_days(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

pub fn days_to_date(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + UNIX_EPOCH_DAYS_FROM_CE).expect("date in range")
}

/// A new session: one partition per core, spilling to the lake's scratch folder when memory
/// runs short, and the humiao UDFs.
pub fn new_session(spill_dir: Option<&std::path::Path>) -> Result<SessionContext> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let config = SessionConfig::new()
        .with_target_partitions(cores)
        .with_batch_size(8192)
        .with_information_schema(false)
        .set_bool("datafusion.execution.parquet.pushdown_filters", false)
        .set_bool("datafusion.explain.show_statistics", false)
        .set_bool("datafusion.execution.parquet.schema_force_view_types", false);
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(dir) = spill_dir {
        runtime = runtime.with_temp_file_path(dir);
    }
    // The lake's planner knows Delta's own plan nodes (writes, merges) on top of DataFusion's.
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime.build_arc()?)
        .with_query_planner(crate::lake::query_planner())
        .build();
    let ctx = SessionContext::new_with_state(state);
    register_udfs(&ctx);
    Ok(ctx)
}

fn register_udfs(ctx: &SessionContext) {
    ctx.register_udf(text_to_date_udf("parse_date", parse_iso_date));
    ctx.register_udf(text_to_date_udf("parse_month", parse_month));
    ctx.register_udf(text_to_date_udf("parse_birth", parse_birth));
    ctx.register_udf(create_udf(
        "parse_int",
        vec![DataType::Utf8],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let text = as_string_array(&arrays[0])?;
            let out: Int64Array = text.iter().map(|v| v.and_then(parse_int)).collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    ctx.register_udf(create_udf(
        "text_problem",
        vec![DataType::Utf8, DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let max = match &args[1] {
                ColumnarValue::Scalar(datafusion::scalar::ScalarValue::Int64(Some(n))) => *n as usize,
                _ => return Err(datafusion::error::DataFusionError::Plan("text_problem takes a literal length".into())),
            };
            let arrays = ColumnarValue::values_to_arrays(&args[..1])?;
            let text = as_string_array(&arrays[0])?;
            let out: StringArray = text.iter().map(|v| v.and_then(|v| text_problem(v, max))).collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    ctx.register_udf(create_udf(
        "report_safe_id",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let text = as_string_array(&arrays[0])?;
            let out: StringArray = text.iter().map(|v| v.filter(|v| report_safe_id(v))).collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    // The first 16 hex digits of a hex digest (md5, sha256) as a BIGINT, for fingerprints that
    // are combined with bit_xor (order-independent).
    ctx.register_udf(create_udf(
        "hash64",
        vec![DataType::Utf8],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let text = as_string_array(&arrays[0])?;
            let out: Int64Array = text
                .iter()
                .map(|v| v.and_then(|v| v.get(..16)).and_then(|h| u64::from_str_radix(h, 16).ok()).map(|n| n as i64))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
    ctx.register_udf(create_udf(
        "last_day_of_month",
        vec![DataType::Date32],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let dates = arrays[0].as_primitive::<Date32Type>();
            let out: Date32Array = dates
                .iter()
                .map(|d| d.map(|d| date_to_days(last_day_of_month(days_to_date(d)))))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ));
}

fn text_to_date_udf(
    name: &str,
    parse: fn(&str) -> Option<NaiveDate>,
) -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let text = as_string_array(&arrays[0])?;
            let mut out = Date32Array::builder(text.len());
            for v in text.iter() {
                out.append_option(v.and_then(parse).map(date_to_days));
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
        }),
    )
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DD`, a real calendar day.
pub fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(digits(&s[0..4])? as i32, digits(&s[5..7])?, digits(&s[8..10])?)
}

/// `YYYY-MM`, as the first day of that month.
pub fn parse_month(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 7 || b[4] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(digits(&s[0..4])? as i32, digits(&s[5..7])?, 1)
}

/// A birth date: `YYYY-MM-DD`, or `YYYY-MM` read as that month's first day (DOMAIN.md, "Age").
pub fn parse_birth(s: &str) -> Option<NaiveDate> {
    parse_iso_date(s).or_else(|| parse_month(s))
}

/// Why a text value is refused whatever its column: `too_long` (more than `max` characters) or
/// `control_character` (a NUL, tab, line break or other control character, which a spreadsheet
/// or a terminal would misread).
pub fn text_problem(s: &str, max: usize) -> Option<&'static str> {
    if s.bytes().any(|b| b < 0x20 || b == 0x7F) || s.chars().any(|c| ('\u{80}'..='\u{9F}').contains(&c)) {
        return Some("control_character");
    }
    // Characters, not bytes: UTF-8 continuation bytes are not counted.
    let chars = s.bytes().filter(|b| b & 0xC0 != 0x80).count();
    (chars > max).then_some("too_long")
}

/// Whether a quarantined row's record id may be shown in the quality report: short ASCII made of
/// letters, digits and `-_./:#`, without a run of 15 or more digits (a 身份证号 — the old
/// 15-digit form included — that a shifted column put there). Anything else might be a person's
/// identity or name, and is not kept.
pub fn report_safe_id(s: &str) -> bool {
    let mut digits = 0;
    for b in s.bytes() {
        if !(b.is_ascii_alphanumeric() || b"-_./:#".contains(&b)) {
            return false;
        }
        digits = if b.is_ascii_digit() { digits + 1 } else { 0 };
        if digits >= 15 {
            return false;
        }
    }
    !s.is_empty() && s.len() <= 64
}

fn parse_int(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub fn last_day_of_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).expect("valid month").pred_opt().expect("not the first day")
}

/// Today in the county's time zone (UTC+8, China has no daylight saving).
pub fn today_in_china() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_parsed_strictly() {
        assert_eq!(parse_iso_date("2026-02-28"), NaiveDate::from_ymd_opt(2026, 2, 28));
        assert_eq!(parse_iso_date("2026-02-30"), None);
        assert_eq!(parse_iso_date("2026/02/03"), None);
        assert_eq!(parse_iso_date("2026-2-3"), None);
        assert_eq!(parse_iso_date("2026-13-01"), None);
        assert_eq!(parse_month("2026-11"), NaiveDate::from_ymd_opt(2026, 11, 1));
        assert_eq!(parse_month("2026-00"), None);
        assert_eq!(parse_birth("2010-05"), NaiveDate::from_ymd_opt(2010, 5, 1));
        assert_eq!(parse_int("12"), Some(12));
        assert_eq!(parse_int("1.5"), None);
        assert_eq!(parse_int("-3"), None);
    }

    #[test]
    fn text_is_refused_when_too_long_or_holding_a_control_character() {
        assert_eq!(text_problem("P0001", 64), None);
        assert_eq!(text_problem(&"城".repeat(64), 64), None, "characters are counted, not bytes");
        assert_eq!(text_problem(&"A".repeat(65), 64), Some("too_long"));
        for bad in ["a\0b", "a\tb", "a\u{7f}", "a\u{85}b"] {
            assert_eq!(text_problem(bad, 64), Some("control_character"), "{bad:?}");
        }
        assert!(report_safe_id("P000000123"));
        assert!(!report_safe_id("11010520100101123X"));
        assert!(!report_safe_id("P-110105201001011"));
        assert!(!report_safe_id("张小明"));
        assert!(!report_safe_id(&"A".repeat(65)));
    }

    #[test]
    fn month_ends() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(last_day_of_month(d(2024, 2, 1)), d(2024, 2, 29));
        assert_eq!(last_day_of_month(d(2026, 12, 5)), d(2026, 12, 31));
        assert_eq!(days_to_date(date_to_days(d(1970, 1, 1))), d(1970, 1, 1));
        assert_eq!(date_to_days(d(1970, 1, 2)), 1);
    }
}

/// Gives the memory a finished step freed back to the system. glibc's allocator otherwise keeps
/// it, and the next step's peak is added on top of the last one's.
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the system; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
