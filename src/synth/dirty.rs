//! `--dirty RATE`: bad rows inserted after good rows, each with exactly one defect, and the
//! answer key that lists them.
//!
//! The injector draws from its own random stream and numbers its rows from a record-id range of
//! their own, so the good rows of a dirty run are the very rows of a clean run.

use chrono::{Datelike, Days, Months, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::tables::{
    self, C_BIRTH, C_GENDER, C_ID_NUMBER, C_NAME_HASH, C_PERSON_KEY, C_TOWNSHIP, POLICE_DISPOSITION, POLICE_ROLE, Role,
    TableSpec, Tables,
};
use super::world::{World, date_between, first_of_month, fmt_date, last_of_month};

/// Why a row is bad; the names are the quality report's quarantine reasons.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Reason {
    UnknownCode,
    BadDate,
    FutureDate,
    MissingField,
    RoleCodeMismatch,
    UnknownTownship,
    BirthAfterEvent,
    Unlinkable,
    AmbiguousLink,
}

pub const REASONS: [Reason; 9] = [
    Reason::UnknownCode,
    Reason::BadDate,
    Reason::FutureDate,
    Reason::MissingField,
    Reason::RoleCodeMismatch,
    Reason::UnknownTownship,
    Reason::BirthAfterEvent,
    Reason::Unlinkable,
    Reason::AmbiguousLink,
];

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownCode => "unknown_code",
            Reason::BadDate => "bad_date",
            Reason::FutureDate => "future_date",
            Reason::MissingField => "missing_field",
            Reason::RoleCodeMismatch => "role_code_mismatch",
            Reason::UnknownTownship => "unknown_township",
            Reason::BirthAfterEvent => "birth_after_event",
            Reason::Unlinkable => "unlinkable",
            Reason::AmbiguousLink => "ambiguous_link",
        }
    }
}

/// The files that receive bad rows.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum FileId {
    Police1,
    Enrollment,
    Attendance1,
    Wellbeing,
    Civil,
    Justice,
}

pub const FILES: [FileId; 6] =
    [FileId::Police1, FileId::Enrollment, FileId::Attendance1, FileId::Wellbeing, FileId::Civil, FileId::Justice];

impl FileId {
    pub fn spec(self, t: &Tables) -> &TableSpec {
        match self {
            FileId::Police1 => &t.police,
            FileId::Enrollment => &t.enrollment,
            FileId::Attendance1 => &t.attendance,
            FileId::Wellbeing => &t.wellbeing,
            FileId::Civil => &t.civil,
            FileId::Justice => &t.justice,
        }
    }

    fn applies(self, t: &Tables, reason: Reason) -> bool {
        match reason {
            Reason::RoleCodeMismatch => self == FileId::Police1,
            Reason::UnknownCode => self.spec(t).code.is_some(),
            _ => true,
        }
    }
}

/// A pair of youths sharing name, birth date and gender (different 身份证号).
pub struct Twin {
    pub birth: NaiveDate,
    pub name_hash: String,
    pub birth_str: String,
    pub gender: &'static str,
}

pub struct Entry {
    pub file: FileId,
    pub line: usize,
    pub reason: Reason,
    pub column: &'static str,
}

pub struct Injector {
    tables: &'static Tables,
    rate: f64,
    rng: ChaCha8Rng,
    counts: [usize; 9],
    per_file: [usize; 6],
    next_id: [u64; 6],
    pub twins: Vec<Twin>,
    pub entries: Vec<Entry>,
    /// The last good row of each file and its youth's person_key, for the rows that must be
    /// appended at the end (a reason or a file that chance left out).
    last: [Option<(Vec<String>, String)>; 6],
}

fn idx(f: FileId) -> usize {
    FILES.iter().position(|x| *x == f).expect("known file")
}

fn ridx(r: Reason) -> usize {
    REASONS.iter().position(|x| *x == r).expect("known reason")
}

impl Injector {
    pub fn new(tables: &'static Tables, rate: f64, rng: ChaCha8Rng) -> Injector {
        Injector {
            tables,
            rate,
            rng,
            counts: [0; 9],
            per_file: [0; 6],
            next_id: FILES.map(|f| f.spec(tables).bad_id_base()),
            twins: Vec::new(),
            entries: Vec::new(),
            last: Default::default(),
        }
    }

    /// Called for every good row of an injectable file: maybe a bad row to write right after it.
    pub fn after_good(
        &mut self,
        world: &World,
        f: FileId,
        row: &[String],
        person_key: &str,
    ) -> Option<(Vec<String>, Reason, &'static str)> {
        self.last[idx(f)] = Some((row.to_vec(), person_key.to_string()));
        if !self.rng.random_bool(self.rate) {
            return None;
        }
        let reason = self.choose(f)?;
        Some(self.make(world, f, row, person_key, reason))
    }

    /// A reason that applies to the file: one never used yet when there is one, else any.
    fn choose(&mut self, f: FileId) -> Option<Reason> {
        let applicable: Vec<Reason> = REASONS
            .iter()
            .copied()
            .filter(|r| f.applies(self.tables, *r) && (*r != Reason::AmbiguousLink || !self.twins.is_empty()))
            .collect();
        if applicable.is_empty() {
            return None;
        }
        let unused: Vec<Reason> = applicable.iter().copied().filter(|r| self.counts[ridx(*r)] == 0).collect();
        let pool = if unused.is_empty() { &applicable } else { &unused };
        Some(pool[self.rng.random_range(0..pool.len())])
    }

    pub fn record(&mut self, f: FileId, line: usize, reason: Reason, column: &'static str) {
        self.counts[ridx(reason)] += 1;
        self.per_file[idx(f)] += 1;
        self.entries.push(Entry { file: f, line, reason, column });
    }

    /// Bad rows to append at the end of their files so that every reason appears at least once
    /// and every injectable file that has rows gets at least one.
    pub fn leftovers(&mut self, world: &World) -> Vec<(FileId, Vec<String>, Reason, &'static str)> {
        let mut out = Vec::new();
        let mut planned = self.counts;
        let mut planned_files = self.per_file;
        for reason in REASONS {
            if planned[ridx(reason)] > 0 {
                continue;
            }
            let files: Vec<FileId> = FILES
                .iter()
                .copied()
                .filter(|f| self.last[idx(*f)].is_some() && f.applies(self.tables, reason))
                .filter(|_| reason != Reason::AmbiguousLink || !self.twins.is_empty())
                .collect();
            if files.is_empty() {
                continue;
            }
            let f = files[self.rng.random_range(0..files.len())];
            let (row, key) = self.last[idx(f)].clone().expect("checked");
            let (bad, reason, column) = self.make(world, f, &row, &key, reason);
            planned[ridx(reason)] += 1;
            planned_files[idx(f)] += 1;
            out.push((f, bad, reason, column));
        }
        for f in FILES {
            if planned_files[idx(f)] > 0 || self.last[idx(f)].is_none() {
                continue;
            }
            let Some(reason) = self.choose(f) else { continue };
            let (row, key) = self.last[idx(f)].clone().expect("checked");
            let (bad, reason, column) = self.make(world, f, &row, &key, reason);
            out.push((f, bad, reason, column));
        }
        out
    }

    fn random_hex(&mut self) -> String {
        let bytes: [u8; 32] = self.rng.random();
        hex_lower(&bytes)
    }

    /// A copy of a good row with a fresh record id and exactly one defect.
    fn make(
        &mut self,
        world: &World,
        f: FileId,
        row: &[String],
        person_key: &str,
        reason: Reason,
    ) -> (Vec<String>, Reason, &'static str) {
        // 'static: the column names of the answer key are the specs' own.
        let spec: &'static TableSpec = f.spec(self.tables);
        let as_of = world.as_of;
        let mut b = row.to_vec();
        let n = &mut self.next_id[idx(f)];
        let record_id = spec.col(Role::RecordId);
        b[record_id] = spec.record_id(*n);
        *n += 1;
        match reason {
            Reason::Unlinkable | Reason::AmbiguousLink => {
                b[C_PERSON_KEY].clear();
                b[C_ID_NUMBER].clear();
            }
            _ => {
                // Keyed, so that the row links however its other cells look.
                b[C_PERSON_KEY] = person_key.to_string();
                b[C_ID_NUMBER].clear();
            }
        }
        let name = |i: usize| -> &'static str { spec.cols[i].as_str() };
        let event_name = name(spec.event);
        let year = event_date(spec, &b[spec.event]).year();
        let column: &'static str = match reason {
            Reason::UnknownCode => {
                let (i, unknown) = spec.code.expect("applies");
                b[i] = if f == FileId::Police1 && b[spec.col(POLICE_ROLE)] == "V" { "V99".into() } else { unknown.into() };
                name(i)
            }
            Reason::BadDate => {
                let k = self.rng.random_range(0..3);
                b[spec.event] = match (spec.month, k) {
                    (true, 0) => format!("{year}-13"),
                    (true, _) => format!("{year}-00"),
                    (false, 0) => format!("{year}-02-30"),
                    (false, 1) => format!("{year}/13/01"),
                    (false, _) => format!("{year}-04-31"),
                };
                event_name
            }
            Reason::FutureDate => {
                b[spec.event] = if spec.month {
                    let m = first_of_month(as_of) + Months::new(1);
                    format!("{:04}-{:02}", m.year(), m.month())
                } else {
                    fmt_date(as_of + Days::new(10))
                };
                if let Some(e) = spec.end {
                    b[e].clear();
                }
                event_name
            }
            Reason::MissingField => match self.rng.random_range(0..3) {
                0 => {
                    b[record_id].clear();
                    name(record_id)
                }
                1 => {
                    b[C_GENDER].clear();
                    name(C_GENDER)
                }
                _ => {
                    b[spec.event].clear();
                    event_name
                }
            },
            Reason::RoleCodeMismatch => {
                let role = spec.col(POLICE_ROLE);
                b[role] = "V".into();
                b[spec.col(Role::Code)] = tables::random_b_code(&mut self.rng).into();
                b[spec.col(POLICE_DISPOSITION)].clear();
                name(role)
            }
            Reason::UnknownTownship => {
                b[C_TOWNSHIP] = "999999999".into();
                name(C_TOWNSHIP)
            }
            Reason::BirthAfterEvent => {
                let mut e = event_date(spec, &b[spec.event]);
                if (as_of - e).num_days() < 2 {
                    if spec.month {
                        let m = first_of_month(as_of) - Months::new(2);
                        b[spec.event] = format!("{:04}-{:02}", m.year(), m.month());
                    } else {
                        b[spec.event] = fmt_date(as_of - Days::new(20));
                    }
                    e = event_date(spec, &b[spec.event]);
                    clear_end_before(spec, &mut b, e);
                }
                let span = (as_of - e).num_days().min(60);
                let birth = e + Days::new(self.rng.random_range(1..=span) as u64);
                b[C_BIRTH] = fmt_date(birth);
                name(C_BIRTH)
            }
            Reason::Unlinkable => {
                b[C_NAME_HASH] = self.random_hex();
                name(C_NAME_HASH)
            }
            Reason::AmbiguousLink => {
                let t = &self.twins[self.rng.random_range(0..self.twins.len())];
                b[C_NAME_HASH] = t.name_hash.clone();
                b[C_BIRTH] = t.birth_str.clone();
                b[C_GENDER] = t.gender.to_string();
                // Twins are 8 or older: their birth precedes every event of the window; this
                // only guards the rule that the row's one defect is the ambiguous link.
                let birth = t.birth;
                if !spec.month && event_date(spec, &b[spec.event]) <= birth {
                    let d = date_between(&mut self.rng, world.start, world.police_cut);
                    b[spec.event] = fmt_date(d);
                    clear_end_before(spec, &mut b, d);
                }
                name(C_NAME_HASH)
            }
        };
        (b, reason, column)
    }
}

/// The date of a good row's event cell (a month's last day for `YYYY-MM`).
fn event_date(spec: &TableSpec, cell: &str) -> NaiveDate {
    if spec.month {
        let first = NaiveDate::parse_from_str(&format!("{cell}-01"), "%Y-%m-%d").expect("good month");
        last_of_month(first)
    } else {
        NaiveDate::parse_from_str(cell, "%Y-%m-%d").expect("good date")
    }
}

fn clear_end_before(spec: &TableSpec, b: &mut [String], d: NaiveDate) {
    if let Some(e) = spec.end
        && let Ok(end) = NaiveDate::parse_from_str(&b[e], "%Y-%m-%d")
        && end < d
    {
        b[e].clear();
    }
}

pub fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}
