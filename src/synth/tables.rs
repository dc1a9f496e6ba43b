//! The extract tables: their columns (the common person columns, then the contract's own columns
//! in the contract's order) and how a youth's rows are made for each of them.
//!
//! The columns are the demo pipeline's table contracts (`pipelines/tables/*.toml`), compiled in:
//! a column renamed or moved there is renamed or moved in the extracts at the next build. Each
//! generator says which of its values goes where by the part the column plays in its contract
//! ([`Role`]), not by name or position.

use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::people::Youth;
use super::world::{World, add_years, date_between, fmt_date, poisson};
use crate::config::{ColumnType, IDENTITY_COLUMNS, PERSON_COLUMNS, TableContract};

/// The common person columns' positions in every row: [`IDENTITY_COLUMNS`], then
/// [`PERSON_COLUMNS`] (see [`person_cells`]).
pub const C_PERSON_KEY: usize = 0;
pub const C_ID_NUMBER: usize = 1;
pub const C_NAME_HASH: usize = 2;
pub const C_BIRTH: usize = 3;
pub const C_GENDER: usize = 4;
pub const C_TOWNSHIP: usize = 5;
const COMMON: usize = IDENTITY_COLUMNS.len() + PERSON_COLUMNS.len();

/// The demo pipeline's contracts (`pipelines/demo.toml`'s `tables` folder), one per table synth
/// writes.
const CONTRACTS: [(&str, &str); 7] = [
    ("police_incidents.toml", include_str!("../../pipelines/tables/police_incidents.toml")),
    ("education_enrollment.toml", include_str!("../../pipelines/tables/education_enrollment.toml")),
    ("education_attendance.toml", include_str!("../../pipelines/tables/education_attendance.toml")),
    ("education_conduct.toml", include_str!("../../pipelines/tables/education_conduct.toml")),
    ("education_wellbeing.toml", include_str!("../../pipelines/tables/education_wellbeing.toml")),
    ("civil_status.toml", include_str!("../../pipelines/tables/civil_status.toml")),
    ("justice_correction.toml", include_str!("../../pipelines/tables/justice_correction.toml")),
];

/// The part a column plays in its contract, by which a generator finds where a value goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// `record_id`, the one column name every contract must have.
    RecordId,
    /// The date checked against the as-of date: `[signal] future_on`, else `event_on`.
    Event,
    /// `[signal] end_on`.
    End,
    /// `[signal] code`.
    Code,
    /// `[signal] school_code`.
    School,
    /// The code column of this codebook section (`codes = "police.role"`).
    Codes(&'static str),
    /// A column that no part of its contract singles out (attendance's two day counts, both
    /// integers; civil affairs' free-text office): found by its name.
    Named(&'static str),
}

/// A table as far as the generator and the defect injector need it.
pub struct TableSpec {
    /// The contract's table name (its files' names start with it).
    pub table: String,
    /// Every column, the common ones first, then the contract's in its order.
    pub cols: Vec<String>,
    /// The columns of type `date` (typed as dates in Parquet and XLSX files).
    pub dates: Vec<String>,
    /// Record-id prefix and digit count (synth's own: a contract says nothing of ids' shape).
    pub id_prefix: &'static str,
    pub id_digits: usize,
    /// The event (or start) date column.
    pub event: usize,
    /// True when the event column is a `YYYY-MM` month.
    pub month: bool,
    /// The code column and a value that is not in the codebook (synth's own).
    pub code: Option<(usize, &'static str)>,
    /// The end-of-period column, if any.
    pub end: Option<usize>,
    /// The values a generator writes, in its order, and the column each goes to.
    roles: &'static [Role],
    slots: Vec<usize>,
}

impl TableSpec {
    /// The spec of `contract` for a generator writing `roles`: every column of the contract must
    /// be one of them, and each of them a column of the contract.
    pub(super) fn new(
        contract: &TableContract,
        roles: &'static [Role],
        (id_prefix, id_digits): (&'static str, usize),
        unknown_code: Option<&'static str>,
    ) -> Result<TableSpec> {
        let s = &contract.signal;
        let at = |name: &str| contract.columns.iter().position(|c| c.name == name).map(|i| COMMON + i);
        let find = |role: Role| -> Result<usize> {
            let name = match role {
                Role::RecordId => Some("record_id"),
                Role::Event => Some(s.future_on.as_deref().unwrap_or(&s.event_on)),
                Role::End => s.end_on.as_deref(),
                Role::Code => Some(s.code.as_str()),
                Role::School => s.school_code.as_deref(),
                Role::Codes(section) => {
                    contract.columns.iter().find(|c| c.codes.as_deref() == Some(section)).map(|c| c.name.as_str())
                }
                Role::Named(name) => Some(name),
            };
            name.and_then(at).ok_or_else(|| anyhow!("no column is the {role:?} the generator writes"))
        };
        let slots = roles.iter().map(|r| find(*r)).collect::<Result<Vec<_>>>()?;
        for (i, c) in contract.columns.iter().enumerate() {
            if !slots.contains(&(COMMON + i)) {
                bail!("the generator writes nothing into column {}", c.name);
            }
        }
        let event = find(Role::Event)?;
        let column = |i: usize| &contract.columns[i - COMMON];
        let code = match unknown_code {
            Some(value) => Some((find(Role::Code)?, value)),
            None => None,
        };
        Ok(TableSpec {
            table: contract.table.clone(),
            cols: IDENTITY_COLUMNS
                .iter()
                .chain(&PERSON_COLUMNS)
                .map(|c| c.to_string())
                .chain(contract.columns.iter().map(|c| c.name.clone()))
                .collect(),
            dates: contract.columns.iter().filter(|c| c.kind == ColumnType::Date).map(|c| c.name.clone()).collect(),
            id_prefix,
            id_digits,
            event,
            month: column(event).kind == ColumnType::Month,
            code,
            end: roles.contains(&Role::End).then(|| find(Role::End)).transpose()?,
            roles,
            slots,
        })
    }

    pub fn record_id(&self, n: u64) -> String {
        format!("{}{:0width$}", self.id_prefix, n, width = self.id_digits)
    }

    /// The first number of the range that injected rows take their record ids from.
    pub fn bad_id_base(&self) -> u64 {
        9 * 10u64.pow(self.id_digits as u32 - 1)
    }

    /// The header, as the sinks take it.
    pub fn header(&self) -> Vec<&str> {
        self.cols.iter().map(String::as_str).collect()
    }

    /// The column of `role`, which the generator of this table writes.
    pub fn col(&self, role: Role) -> usize {
        let k = self.roles.iter().position(|r| *r == role).unwrap_or_else(|| panic!("{} has no {role:?}", self.table));
        self.slots[k]
    }

    /// A row: the common person cells `person`, then `values` (in the order of the generator's
    /// roles) each in its column.
    pub fn row<const N: usize>(&self, mut person: Vec<String>, values: [String; N]) -> Vec<String> {
        debug_assert_eq!(N, self.slots.len(), "{}: one value per role", self.table);
        person.resize(self.cols.len(), String::new());
        for (slot, value) in self.slots.iter().zip(values) {
            person[*slot] = value;
        }
        person
    }
}

/// What each generator writes, in the order it passes its values to [`TableSpec::row`].
pub const POLICE_ROLE: Role = Role::Codes("police.role");
pub const POLICE_DISPOSITION: Role = Role::Codes("police.disposition");
pub(super) const POLICE_ROLES: &[Role] = &[Role::RecordId, Role::Event, POLICE_ROLE, Role::Code, POLICE_DISPOSITION];
const ENROLLMENT_ROLES: &[Role] = &[Role::RecordId, Role::School, Role::Code, Role::Event];
const ATTENDANCE_ROLES: &[Role] =
    &[Role::RecordId, Role::School, Role::Event, Role::Named("days_absent_unexcused"), Role::Named("days_in_session")];
const CONDUCT_ROLES: &[Role] = &[Role::RecordId, Role::School, Role::Event, Role::Code];
const WELLBEING_ROLES: &[Role] = &[Role::RecordId, Role::Event, Role::Code];
const CIVIL_ROLES: &[Role] = &[Role::RecordId, Role::Code, Role::Event, Role::End, Role::Named("handled_by")];
const JUSTICE_ROLES: &[Role] = &[Role::RecordId, Role::Code, Role::Event, Role::End];

/// Every table synth writes.
pub struct Tables {
    pub police: TableSpec,
    pub enrollment: TableSpec,
    pub attendance: TableSpec,
    pub conduct: TableSpec,
    pub wellbeing: TableSpec,
    pub civil: TableSpec,
    pub justice: TableSpec,
}

impl Tables {
    /// The tables of the compiled-in contracts, read once.
    pub fn get() -> Result<&'static Tables> {
        static TABLES: OnceLock<Result<Tables, String>> = OnceLock::new();
        TABLES.get_or_init(|| Tables::from_contracts().map_err(|e| format!("{e:#}"))).as_ref().map_err(|e| anyhow!("{e}"))
    }

    fn from_contracts() -> Result<Tables> {
        let spec = |file: &str, roles, id, unknown| -> Result<TableSpec> {
            let (_, text) = CONTRACTS.iter().find(|(f, _)| *f == file).expect("a compiled-in contract");
            let contract: TableContract =
                toml::from_str(text).with_context(|| format!("the table contract pipelines/tables/{file}"))?;
            TableSpec::new(&contract, roles, id, unknown)
                .with_context(|| format!("the table contract pipelines/tables/{file} and the synthetic extracts"))
        };
        Ok(Tables {
            police: spec("police_incidents.toml", POLICE_ROLES, ("P", 9), Some("B99"))?,
            enrollment: spec("education_enrollment.toml", ENROLLMENT_ROLES, ("EN", 10), Some("E9"))?,
            attendance: spec("education_attendance.toml", ATTENDANCE_ROLES, ("AT", 10), None)?,
            conduct: spec("education_conduct.toml", CONDUCT_ROLES, ("CD", 9), Some("K9"))?,
            wellbeing: spec("education_wellbeing.toml", WELLBEING_ROLES, ("WB", 10), Some("7"))?,
            civil: spec("civil_status.toml", CIVIL_ROLES, ("CS", 9), Some("XX"))?,
            justice: spec("justice_correction.toml", JUSTICE_ROLES, ("JC", 8), Some("ZZ"))?,
        })
    }
}

/// Which identity columns a row carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ident {
    Key,
    KeyName,
    Id,
    /// id_number with a trailing lowercase `x` when the number has one.
    IdLower,
    IdName,
    Name,
}

/// The common person columns of a row of `spec` for `y` as of date `d` (with room for the rest).
pub fn person_cells(world: &World, y: &Youth, ident: Ident, d: NaiveDate, spec: &TableSpec) -> Vec<String> {
    let mut row = Vec::with_capacity(spec.cols.len());
    let key = matches!(ident, Ident::Key | Ident::KeyName);
    let id = matches!(ident, Ident::Id | Ident::IdLower | Ident::IdName);
    let name = matches!(ident, Ident::KeyName | Ident::IdName | Ident::Name);
    row.push(if key { y.person_key.clone() } else { String::new() });
    row.push(if !id {
        String::new()
    } else if ident == Ident::IdLower {
        y.id_number.to_lowercase()
    } else {
        y.id_number.clone()
    });
    row.push(if name { y.name_hash.clone() } else { String::new() });
    row.push(y.birth_str.clone());
    row.push(y.gender.to_string());
    row.push(world.towns[y.town_at(d)].code.clone());
    row
}

/// Police: ≈70% person_key (half of them with name_hash), ≈30% id_number only (a lowercase `x`
/// now and then).
pub fn police_ident(rng: &mut ChaCha8Rng, y: &Youth) -> Ident {
    let x: f64 = rng.random();
    if x < 0.35 {
        Ident::Key
    } else if x < 0.70 {
        Ident::KeyName
    } else if y.id_number.ends_with('X') && rng.random_bool(0.4) {
        Ident::IdLower
    } else {
        Ident::Id
    }
}

/// Education: ≈93% person_key + name_hash, ≈4% name_hash only, ≈3% id_number. Twins never
/// arrive by name alone (that would make an accidental ambiguous link).
pub fn education_ident(rng: &mut ChaCha8Rng, y: &Youth) -> Ident {
    let x: f64 = rng.random();
    if x < 0.93 {
        Ident::KeyName
    } else if x < 0.97 {
        if y.twin { Ident::KeyName } else { Ident::Name }
    } else {
        Ident::Id
    }
}

/// Civil affairs: ≈60% id_number + name_hash, ≈40% person_key.
pub fn civil_ident(rng: &mut ChaCha8Rng) -> Ident {
    if rng.random_bool(0.6) { Ident::IdName } else { Ident::Key }
}

// ---------------------------------------------------------------------------------------------
// Police

const B_CODES: &[(&str, u32)] =
    &[("B01", 20), ("B02", 15), ("B03", 12), ("B04", 15), ("B05", 10), ("B06", 10), ("B07", 4), ("B08", 5), ("B09", 9)];
const S_CODES: &[(&str, u32)] =
    &[("S01", 30), ("S02", 8), ("S03", 25), ("S04", 22), ("S05", 3), ("S06", 1), ("S07", 2), ("S08", 3), ("S09", 6)];
const C_CODES: &[(&str, u32)] =
    &[("C01", 40), ("C02", 8), ("C03", 20), ("C04", 5), ("C05", 3), ("C06", 18), ("C09", 6)];
const V_CODES: &[(&str, u32)] =
    &[("V01", 8), ("V02", 12), ("V03", 8), ("V04", 35), ("V05", 20), ("V06", 1), ("V09", 16)];
const DISP_S_B: &[(&str, u32)] =
    &[("", 350), ("D01", 300), ("D02", 150), ("D03", 100), ("D04", 50), ("D07", 50), ("D06", 3)];
const DISP_S_S: &[(&str, u32)] =
    &[("", 250), ("D01", 150), ("D02", 150), ("D03", 200), ("D04", 200), ("D07", 30), ("D05", 10), ("D06", 15)];
const DISP_S_C: &[(&str, u32)] = &[("", 300), ("D03", 150), ("D04", 100), ("D05", 220), ("D06", 40), ("D07", 40)];
const DISP_P: &[(&str, u32)] = &[("", 700), ("D01", 150), ("D02", 50), ("D07", 100)];

pub fn pick<'a>(rng: &mut ChaCha8Rng, items: &'a [(&'a str, u32)]) -> &'a str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (v, w) in items {
        if x < *w {
            return v;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

pub fn random_b_code(rng: &mut ChaCha8Rng) -> &'static str {
    pick(rng, B_CODES)
}

pub struct PoliceEvent {
    pub on: NaiveDate,
    pub role: &'static str,
    pub code: &'static str,
    pub disposition: &'static str,
}

/// A code of the role's classes: S with B/S/C (C mostly for the riskiest), P with B/S, V with V.
fn police_code(rng: &mut ChaCha8Rng, role: &str, risk: f64) -> &'static str {
    match role {
        "V" => pick(rng, V_CODES),
        "P" => {
            if rng.random_bool(0.6) {
                pick(rng, B_CODES)
            } else {
                pick(rng, S_CODES)
            }
        }
        _ => {
            let (pb, ps) = if risk > 5.0 { (0.35, 0.40) } else { (0.57, 0.33) };
            let x: f64 = rng.random();
            if x < pb {
                pick(rng, B_CODES)
            } else if x < pb + ps {
                pick(rng, S_CODES)
            } else {
                pick(rng, C_CODES)
            }
        }
    }
}

fn disposition(rng: &mut ChaCha8Rng, role: &str, code: &str) -> &'static str {
    match (role, &code[..1]) {
        ("V", _) => "",
        ("P", _) => pick(rng, DISP_P),
        (_, "B") => pick(rng, DISP_S_B),
        (_, "S") => pick(rng, DISP_S_S),
        _ => pick(rng, DISP_S_C),
    }
}

/// A youth's police events in the window, in date order. `forced` adds an offence that led to
/// a justice period (role S, a C code, 刑事立案).
pub fn police_events(rng: &mut ChaCha8Rng, world: &World, y: &Youth, forced: Option<NaiveDate>) -> Vec<PoliceEvent> {
    let mut events = Vec::new();
    let window = (world.as_of - world.start).num_days() as f64;
    let adult = y.adult_on();
    let r = y.risk();
    let last = world.as_of.min(adult - Days::new(1));

    // As suspect or party, from age 10.
    let lo = world.start.max(add_years(y.birth, 10));
    if lo <= last {
        let frac = ((last - lo).num_days() + 1) as f64 / window;
        let sex = if y.male { 1.5 } else { 0.45 };
        let n = poisson(rng, 0.075 * r.powf(0.95) * sex * frac);
        for _ in 0..n {
            let on = date_between(rng, lo, last);
            let role = if rng.random_bool(0.68) { "S" } else { "P" };
            let code = police_code(rng, role, r);
            let disposition = disposition(rng, role, code);
            events.push(PoliceEvent { on, role, code, disposition });
        }
    }
    // As victim, from age 3.
    let lo = world.start.max(add_years(y.birth, 3));
    if lo <= last {
        let frac = ((last - lo).num_days() + 1) as f64 / window;
        let sex = if y.male { 0.8 } else { 1.25 };
        let n = poisson(rng, 0.02 * y.gap.powf(0.9) * y.latent.powf(0.4) * sex * frac);
        for _ in 0..n {
            let on = date_between(rng, lo, last);
            let code = police_code(rng, "V", r);
            events.push(PoliceEvent { on, role: "V", code, disposition: "" });
        }
    }
    if let Some(on) = forced
        && on >= world.start
        && on <= last
    {
        let code = pick(rng, C_CODES);
        events.push(PoliceEvent { on, role: "S", code, disposition: "D05" });
    }
    events.sort_by_key(|e| e.on);
    events
}

pub fn police_row(world: &World, spec: &TableSpec, y: &Youth, ident: Ident, record_id: String, e: &PoliceEvent) -> Vec<String> {
    let person = person_cells(world, y, ident, e.on, spec);
    spec.row(person, [record_id, fmt_date(e.on), e.role.to_string(), e.code.to_string(), e.disposition.to_string()])
}

/// A correction of a police row: another valid code for the same role, or another disposition
/// (never D05/D06, which only the first delivery may carry).
pub fn police_correction(rng: &mut ChaCha8Rng, spec: &TableSpec, row: &[String]) -> Vec<String> {
    let (role_at, code_at, disposition_at) = (spec.col(POLICE_ROLE), spec.col(Role::Code), spec.col(POLICE_DISPOSITION));
    let mut out = row.to_vec();
    let role = row[role_at].as_str();
    let code = row[code_at].clone();
    let change_disposition = role != "V" && rng.random_bool(0.5);
    if change_disposition {
        let options: &[&str] =
            if role == "P" { &["", "D01", "D02", "D07"] } else { &["", "D01", "D02", "D03", "D04", "D07"] };
        loop {
            let d = options[rng.random_range(0..options.len())];
            if d != row[disposition_at] {
                out[disposition_at] = d.to_string();
                break;
            }
        }
    } else {
        let table = match &code[..1] {
            "B" => B_CODES,
            "S" => S_CODES,
            "C" => C_CODES,
            _ => V_CODES,
        };
        loop {
            let c = pick(rng, table);
            if c != code {
                out[code_at] = c.to_string();
                break;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Education

/// A change of school status, as written to `education_enrollment`.
pub struct EnrolRecord {
    pub on: NaiveDate,
    pub status: &'static str,
    pub school: usize,
}

/// An interval `[from, to)` in school, with the youth's transfer count (it picks the school).
pub struct Segment {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub transfers: u32,
}

pub struct Schooling {
    pub records: Vec<EnrolRecord>,
    pub segments: Vec<Segment>,
    /// Dates the youth dropped out (attendance worsens before them).
    pub dropouts: Vec<NaiveDate>,
    pub entry: NaiveDate,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Ev {
    First,
    Move,
    Transfer,
    JuniorGrad,
    SeniorGrad,
    Dropout,
    DropReturn,
    Suspend,
    SuspReturn,
}

impl Schooling {
    pub fn in_school(&self, d: NaiveDate) -> Option<u32> {
        self.segments.iter().find(|s| s.from <= d && d < s.to).map(|s| s.transfers)
    }
}

fn july(year: i32, rng: &mut ChaCha8Rng) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 6, 28).expect("valid") + Days::new(rng.random_range(0..10))
}

/// The school a youth attends on `d`, by stage (primary until 6 years after entry, junior
/// middle for 3 more, then senior high), township and transfers.
pub fn school_at(world: &World, y: &Youth, entry: NaiveDate, d: NaiveDate, transfers: u32) -> usize {
    let years = d.year() - entry.year() - if d.month() < 7 { 1 } else { 0 };
    let town = &world.towns[y.town_at(d)];
    let pick = y.school_pick.wrapping_add(transfers) as usize;
    if years < 6 {
        town.primaries[pick % town.primaries.len()]
    } else if years < 9 {
        town.juniors[(pick / 7) % town.juniors.len()]
    } else {
        world.seniors[(pick / 13) % world.seniors.len()]
    }
}

/// Avoids the summer holiday for a status change that happens in term.
fn in_term(d: NaiveDate) -> NaiveDate {
    if matches!(d.month(), 7 | 8) {
        NaiveDate::from_ymd_opt(d.year(), 9, 1).expect("valid") + Days::new((d.day() % 20) as u64)
    } else {
        d
    }
}

/// The youth's school career in the window, or None before school age.
pub fn schooling(rng: &mut ChaCha8Rng, world: &World, y: &Youth) -> Option<Schooling> {
    let entry_year = if y.birth.month() <= 8 { y.birth.year() + 6 } else { y.birth.year() + 7 };
    let entry = NaiveDate::from_ymd_opt(entry_year, 9, 1).expect("valid");
    if entry > world.as_of {
        return None;
    }
    let first = entry.max(world.start);
    let as_of = world.as_of;
    let r = y.risk();
    let mut evs: Vec<(NaiveDate, Ev)> = vec![(first, Ev::First)];
    if let Some((when, _)) = y.moved
        && when > first
    {
        evs.push((when + Days::new(rng.random_range(0..6)), Ev::Move));
    }
    let span = ((as_of - first).num_days() as f64 / 912.0).min(1.0);
    if rng.random_bool(0.035 * span) {
        evs.push((in_term(date_between(rng, first + Days::new(1), as_of)), Ev::Transfer));
    }
    let junior_end = july(entry_year + 9, rng);
    let e5 = rng.random_bool((0.035 * r.powf(0.8)).min(0.6));
    if junior_end > first {
        evs.push((junior_end, Ev::JuniorGrad));
    }
    let senior_end = july(entry_year + 12, rng);
    if senior_end > first {
        evs.push((senior_end, Ev::SeniorGrad));
    }
    let from11 = first.max(add_years(y.birth, 11)) + Days::new(1);
    if from11 < as_of && rng.random_bool((0.006 * r.powf(1.1) * span).min(0.4)) {
        let d = in_term(date_between(rng, from11, as_of));
        evs.push((d, Ev::Dropout));
        if rng.random_bool(0.35) {
            evs.push((in_term(d + Days::new(rng.random_range(60..300))), Ev::DropReturn));
        }
    }
    if rng.random_bool((0.003 * r.sqrt() * span).min(0.2)) {
        let d = in_term(date_between(rng, first + Days::new(1), as_of));
        evs.push((d, Ev::Suspend));
        if rng.random_bool(0.9) {
            evs.push((in_term(d + Days::new(rng.random_range(90..300))), Ev::SuspReturn));
        }
    }
    evs.retain(|(d, _)| *d <= as_of);
    evs.sort();

    #[derive(PartialEq)]
    enum State {
        Out,
        In,
        Dropped,
        Suspended,
        Done,
    }
    let mut state = State::Out;
    let mut transfers = 0u32;
    let mut seg_from = first;
    let mut records = Vec::new();
    let mut segments = Vec::new();
    let mut dropouts = Vec::new();
    let end_of_time = as_of + Days::new(1);
    for (d, ev) in evs {
        let school = school_at(world, y, entry, d, transfers);
        match ev {
            Ev::First => {
                state = State::In;
                seg_from = d;
                records.push(EnrolRecord { on: d, status: "E1", school });
            }
            Ev::Move | Ev::Transfer if state == State::In => {
                segments.push(Segment { from: seg_from, to: d, transfers });
                if ev == Ev::Transfer {
                    transfers += 1;
                }
                seg_from = d;
                let new_school = school_at(world, y, entry, d, transfers);
                records.push(EnrolRecord { on: d, status: "E4", school: new_school });
            }
            Ev::JuniorGrad if state == State::In => {
                let graduated_from = school_at(world, y, entry, d - Days::new(7), transfers);
                if e5 {
                    records.push(EnrolRecord { on: d, status: "E5", school: graduated_from });
                    segments.push(Segment { from: seg_from, to: d, transfers });
                    state = State::Done;
                } else {
                    records.push(EnrolRecord { on: d, status: "E6", school: graduated_from });
                }
            }
            Ev::SeniorGrad if state == State::In => {
                records.push(EnrolRecord { on: d, status: "E6", school });
                segments.push(Segment { from: seg_from, to: d, transfers });
                state = State::Done;
            }
            Ev::Dropout if state == State::In => {
                records.push(EnrolRecord { on: d, status: "E3", school });
                segments.push(Segment { from: seg_from, to: d, transfers });
                dropouts.push(d);
                state = State::Dropped;
            }
            Ev::Suspend if state == State::In => {
                records.push(EnrolRecord { on: d, status: "E2", school });
                segments.push(Segment { from: seg_from, to: d, transfers });
                state = State::Suspended;
            }
            Ev::DropReturn if state == State::Dropped => {
                records.push(EnrolRecord { on: d, status: "E1", school });
                seg_from = d;
                state = State::In;
            }
            Ev::SuspReturn if state == State::Suspended => {
                records.push(EnrolRecord { on: d, status: "E1", school });
                seg_from = d;
                state = State::In;
            }
            _ => {}
        }
    }
    if state == State::In {
        segments.push(Segment { from: seg_from, to: end_of_time, transfers });
    }
    Some(Schooling { records, segments, dropouts, entry })
}

/// Attendance months with at least one unexcused absent day: (month index, days absent).
pub fn absences(rng: &mut ChaCha8Rng, world: &World, y: &Youth, s: &Schooling) -> Vec<(usize, u8, u32)> {
    let r = y.risk();
    let x: f64 = rng.random();
    let (q0, mean0) = if x < 0.72 {
        (0.012, 1.25)
    } else if x < 0.92 {
        (0.048, 1.6)
    } else if x < 0.985 {
        (0.14, 2.4)
    } else {
        (0.36, 4.2)
    };
    let q = (q0 * r.powf(0.6)).min(0.85);
    let mean = mean0 * r.powf(0.25);
    let mut out = Vec::new();
    for (i, m) in world.months.iter().enumerate() {
        let mid = m.first + Days::new(14);
        let Some(transfers) = s.in_school(mid) else { continue };
        let before_dropout = s.dropouts.iter().any(|d| *d > m.first && (*d - m.last).num_days() < 120);
        let (qm, mm) = if before_dropout { (0.85, 7.0) } else { (q, mean) };
        if !rng.random_bool(qm) {
            continue;
        }
        let u: f64 = rng.random::<f64>().max(1e-12);
        let days = 1.0 + (-u.ln() * (mm - 1.0)).floor();
        let days = (days as u32).clamp(1, m.days_in_session as u32) as u8;
        out.push((i, days, transfers));
    }
    out
}

const CONDUCT_CODES: &[(&str, u32)] =
    &[("K1", 400), ("K2", 180), ("K3", 80), ("K4", 40), ("K5", 5), ("BP", 120), ("BV", 150)];

/// Conduct records: (date, code, transfers).
pub fn conduct(rng: &mut ChaCha8Rng, world: &World, y: &Youth, s: &Schooling) -> Vec<(NaiveDate, &'static str, u32)> {
    let mut in_window = Vec::new();
    let mut total = 0i64;
    for seg in &s.segments {
        let from = seg.from.max(world.start);
        let to = seg.to.min(world.as_of + Days::new(1));
        if from < to {
            total += (to - from).num_days();
            in_window.push((from, to, seg.transfers));
        }
    }
    if total == 0 {
        return Vec::new();
    }
    let window = (world.as_of - world.start).num_days() as f64;
    let sex = if y.male { 1.4 } else { 0.6 };
    let n = poisson(rng, 0.085 * y.risk().powf(0.95) * sex * total as f64 / window);
    let mut out = Vec::new();
    for _ in 0..n {
        let mut k = rng.random_range(0..total);
        let mut hit = None;
        for &(from, to, transfers) in &in_window {
            let len = (to - from).num_days();
            if k < len {
                hit = Some((from + Days::new(k as u64), transfers));
                break;
            }
            k -= len;
        }
        let Some((mut d, transfers)) = hit else { continue };
        if matches!(d.month(), 7 | 8) {
            continue;
        }
        while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            d = d - Days::new(1);
        }
        if d < world.start {
            continue;
        }
        let mut code = pick(rng, CONDUCT_CODES);
        if code == "K5" && y.age_on(d) < 16 {
            code = "K4";
        }
        out.push((d, code, transfers));
    }
    out.sort_by_key(|(d, _, _)| *d);
    out
}

/// Psychological screenings: (date, level, school).
pub fn screenings(rng: &mut ChaCha8Rng, world: &World, y: &Youth, s: &Schooling) -> Vec<(NaiveDate, u8, usize)> {
    let x: f64 = rng.random();
    let propensity = if x < 0.9 {
        0.55
    } else if x < 0.98 {
        2.6
    } else {
        7.0
    };
    let f = propensity * y.risk().powf(0.55) / 0.93;
    let p3 = (0.0045 * f).min(0.15);
    let p2 = (0.022 * f).min(0.25);
    let p1 = (0.066 * f).min(0.35);
    let mut out = Vec::new();
    for (k, _) in world.screening[0].iter().enumerate() {
        let year = world.screen_year0 + k as i32;
        let probe = NaiveDate::from_ymd_opt(year, 10, 15).expect("valid");
        let probe =
            if s.in_school(probe).is_some() { probe } else { NaiveDate::from_ymd_opt(year + 1, 4, 15).expect("valid") };
        let Some(transfers) = s.in_school(probe) else { continue };
        let school = school_at(world, y, s.entry, probe, transfers);
        let d = world.screening[school][k];
        if d < world.start || d > world.as_of || s.in_school(d).is_none() || y.age_on(d) < 9 {
            continue;
        }
        if !rng.random_bool(0.66) {
            continue;
        }
        let u: f64 = rng.random();
        let level = if u < p3 {
            3
        } else if u < p3 + p2 {
            2
        } else if u < p3 + p2 + p1 {
            1
        } else {
            0
        };
        out.push((d, level, school));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Justice

pub struct JusticePeriod {
    pub kind: &'static str,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

/// ≈0.3% of youths aged 14 or more, weighted by risk: 附条件不起诉 (CN), 社区矫正 (CC, followed by
/// 安置帮教 RL when it has ended), or RL alone. Returns the periods and the date of the
/// offence that led to them.
pub fn justice(rng: &mut ChaCha8Rng, world: &World, y: &Youth) -> (Vec<JusticePeriod>, Option<NaiveDate>) {
    if y.age_on(world.as_of) < 14 {
        return (Vec::new(), None);
    }
    let sex = if y.male { 1.6 } else { 0.4 };
    let p = (0.002 * y.latent * y.gap.sqrt() * sex).min(0.2);
    if !rng.random_bool(p) {
        return (Vec::new(), None);
    }
    let as_of = world.as_of;
    let lo = add_years(y.birth, 14).max(world.start - Days::new(365));
    if lo >= as_of {
        return (Vec::new(), None);
    }
    let start = date_between(rng, lo, as_of - Days::new(1));
    let x: f64 = rng.random();
    let mut periods = Vec::new();
    let offence = start - Days::new(rng.random_range(30..180));
    if x < 0.40 {
        let end = start + Days::new(rng.random_range(180..366));
        periods.push(JusticePeriod { kind: "CN", start, end: Some(end) });
    } else if x < 0.75 {
        let end = start + Days::new(rng.random_range(180..1000));
        periods.push(JusticePeriod { kind: "CC", start, end: Some(end) });
        if end < as_of {
            let rl = end + Days::new(rng.random_range(0..4));
            if rl <= as_of {
                let rl_end = if rng.random_bool(0.5) { Some(add_years(rl, 3)) } else { None };
                periods.push(JusticePeriod { kind: "RL", start: rl, end: rl_end });
            }
        }
    } else {
        let rl_end = if rng.random_bool(0.5) { Some(add_years(start, 3)) } else { None };
        periods.push(JusticePeriod { kind: "RL", start, end: rl_end });
        return (periods, None);
    }
    (periods, Some(offence))
}
