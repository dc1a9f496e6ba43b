//! The text of each listed person's row: categories, reasons in Chinese, the records behind
//! them, departments, responsible units and how they were linked. The active signals of the
//! listed people (the list's own evidence, a few per person) arrive sorted by person, category,
//! source and record, and are assembled in one pass; per-group aggregation of strings in SQL
//! (`array_agg` per person) costs gigabytes at county scale.
//!
//! A category's date says "最近<date>" for records of events, and "自<date>起持续" for a status
//! still open on the as-of date (a period without an end, or ending after it, and a state
//! table's latest record): what matters then is since when it has lasted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::config::Plan;
use crate::error::Result;

/// The listed people's active signals, with every label the text needs, sorted.
const EVIDENCE_SQL: &str = "
SELECT a.person_key, a.category, coalesce(k.label, a.category) AS category_label, a.source,
       coalesce(s.label, a.source) AS source_label, a.table_name || '/' || a.record_id AS record,
       coalesce(cl.label, a.code) AS code_label, a.event_on,
       coalesce(m.label, a.link_method) AS link_label, coalesce(m.link_order, 9) AS link_order,
       a.record_kind IN ('period', 'state') AND (a.end_on IS NULL OR a.end_on >= a.as_of) AS ongoing
FROM active a
JOIN listed l ON l.person_key = a.person_key
LEFT JOIN ref_categories k ON k.category = a.category
LEFT JOIN ref_sources s ON s.source = a.source
LEFT JOIN ref_code_labels cl ON cl.table_name = a.table_name AND cl.code = a.code
LEFT JOIN ref_link_methods m ON m.link_method = a.link_method
ORDER BY a.person_key, a.category, a.source, record";

/// One category of one person, being assembled.
#[derive(Default)]
struct Category {
    label: String,
    /// source id → (label, records)
    sources: BTreeMap<String, (String, u64)>,
    /// The latest date of its records of events (and of periods already ended).
    latest: Option<i32>,
    /// The earliest start of its statuses still open on the as-of date.
    since: Option<i32>,
    codes: BTreeSet<String>,
    records: BTreeSet<String>,
}

/// One person, being assembled.
#[derive(Default)]
struct Person {
    categories: BTreeMap<String, Category>,
    departments: BTreeSet<String>,
    links: BTreeMap<(i64, String), ()>,
}

const COLUMNS: [&str; 8] = ["person_key", "categories", "category_labels", "reasons", "evidence", "departments", "units", "link_methods"];

struct Out {
    cols: Vec<StringBuilder>,
}

impl Out {
    fn push(&mut self, key: &str, p: &Person, units_of: &BTreeMap<String, Vec<(usize, String)>>) {
        let cats: Vec<(&String, &Category)> = p.categories.iter().collect();
        let reasons: Vec<String> = cats
            .iter()
            .map(|(_, c)| {
                let counts: Vec<String> = c.sources.values().map(|(label, n)| format!("{label}记录{n}次")).collect();
                let mut when: Vec<String> = Vec::new();
                if let Some(d) = c.since {
                    when.push(format!("自{}起持续", crate::session::days_to_date(d)));
                }
                if let Some(d) = c.latest {
                    when.push(format!("最近{}", crate::session::days_to_date(d)));
                }
                let codes: Vec<&str> = c.codes.iter().map(String::as_str).collect();
                format!("{}:{},{}({})", c.label, counts.join("、"), when.join(","), codes.join("/"))
            })
            .collect();
        let evidence: Vec<String> = cats
            .iter()
            .map(|(id, c)| format!("{id}: {}", c.records.iter().map(String::as_str).collect::<Vec<_>>().join(", ")))
            .collect();
        let mut units: BTreeSet<(usize, String)> = BTreeSet::new();
        for (id, _) in &cats {
            units.extend(units_of.get(*id).cloned().unwrap_or_default());
        }
        let values = [
            key.to_string(),
            cats.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(","),
            cats.iter().map(|(_, c)| c.label.as_str()).collect::<Vec<_>>().join(","),
            reasons.join("；"),
            evidence.join("; "),
            p.departments.iter().map(String::as_str).collect::<Vec<_>>().join(","),
            units.iter().map(|(_, u)| u.as_str()).collect::<Vec<_>>().join(","),
            p.links.keys().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join(","),
        ];
        for (col, v) in self.cols.iter_mut().zip(values) {
            col.append_value(v);
        }
    }
}

/// Registers `per_person` (one row per listed person) from `active` and `listed`.
pub async fn register_per_person(ctx: &SessionContext, plan: &Plan) -> Result<u64> {
    let order = &plan.codebook.units;
    let mut units_of: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (c, units) in &plan.codebook.category_units {
        let units = units.iter().map(|u| (order.iter().position(|x| x == u).unwrap_or(order.len()), u.clone())).collect();
        units_of.insert(c.clone(), units);
    }
    let mut out = Out { cols: COLUMNS.iter().map(|_| StringBuilder::new()).collect() };
    let mut stream = ctx.sql(EVIDENCE_SQL).await?.execute_stream().await?;
    let mut current: Option<(String, Person)> = None;
    let mut people = 0u64;
    use futures::StreamExt;
    while let Some(batch) = stream.next().await {
        let b = batch?;
        let text = |name: &str| -> Result<ArrayRef> {
            Ok(datafusion::arrow::compute::cast(b.column_by_name(name).expect("selected"), &DataType::Utf8)?)
        };
        let (key, cat, cat_label, src, src_label, record, code, link) = (
            text("person_key")?,
            text("category")?,
            text("category_label")?,
            text("source")?,
            text("source_label")?,
            text("record")?,
            text("code_label")?,
            text("link_label")?,
        );
        let order_col = datafusion::arrow::compute::cast(b.column_by_name("link_order").expect("selected"), &DataType::Int64)?;
        let event = b.column_by_name("event_on").expect("selected");
        let ongoing = datafusion::arrow::compute::cast(b.column_by_name("ongoing").expect("selected"), &DataType::Boolean)?;
        let ongoing = ongoing.as_boolean();
        let s = |a: &ArrayRef, i: usize| if a.is_valid(i) { a.as_string::<i32>().value(i).to_string() } else { String::new() };
        for i in 0..b.num_rows() {
            let k = s(&key, i);
            if current.as_ref().is_none_or(|(ck, _)| *ck != k) {
                if let Some((ck, p)) = current.take() {
                    out.push(&ck, &p, &units_of);
                    people += 1;
                }
                current = Some((k, Person::default()));
            }
            let p = &mut current.as_mut().expect("set above").1;
            let c = p.categories.entry(s(&cat, i)).or_default();
            c.label = s(&cat_label, i);
            let entry = c.sources.entry(s(&src, i)).or_insert_with(|| (s(&src_label, i), 0));
            entry.1 += 1;
            if event.is_valid(i) {
                let d = event.as_primitive::<Date32Type>().value(i);
                if ongoing.is_valid(i) && ongoing.value(i) {
                    c.since = Some(c.since.map_or(d, |s| s.min(d)));
                } else {
                    c.latest = Some(c.latest.map_or(d, |l| l.max(d)));
                }
            }
            c.codes.insert(s(&code, i));
            c.records.insert(s(&record, i));
            p.departments.insert(s(&src_label, i));
            let order = order_col.as_primitive::<datafusion::arrow::datatypes::Int64Type>().value(i);
            p.links.insert((order, s(&link, i)), ());
        }
    }
    if let Some((ck, p)) = current.take() {
        out.push(&ck, &p, &units_of);
        people += 1;
    }
    let schema = Arc::new(Schema::new(COLUMNS.iter().map(|c| Field::new(*c, DataType::Utf8, false)).collect::<Vec<_>>()));
    let arrays: Vec<ArrayRef> = out.cols.iter_mut().map(|c| Arc::new(c.finish()) as ArrayRef).collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let _ = ctx.deregister_table("per_person");
    ctx.register_table("per_person", Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    Ok(people)
}
