//! `humiao synth`: a synthetic county's nightly extracts, for demos, tests and load runs.
//!
//! One pass over N synthetic youths writes every table of DOMAIN.md into `DIR/inbox/<source>/`,
//! the township reference into `DIR/reference/townships.csv`, and (with `--dirty RATE`) bad rows
//! with exactly one defect each plus their answer key `DIR/expected/injected.csv`.
//!
//! Everything is drawn from ChaCha8 streams seeded by `--seed`: the same options give
//! byte-identical files. Raw names never leave this module (only their HMAC-SM3 `name_hash`);
//! the raw 身份证号 appears only in the `id_number` column of the extracts.

mod dirty;
mod names;
mod people;
mod sink;
mod tables;
#[cfg(test)]
mod tests;
mod world;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{Datelike, Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::pseudo::Pseudonymiser;
use dirty::{FileId, Injector, Twin};
use people::{People, Youth};
use sink::{CsvSink, Enc, ParquetSink, XCol, XlsxSink};
use tables::{Ident, Role, TableSpec, Tables, person_cells};
use world::{World, fmt_date};

/// What `humiao synth` was asked for.
pub struct SynthOptions {
    pub youths: usize,
    pub seed: u64,
    pub as_of: chrono::NaiveDate,
    pub out: std::path::PathBuf,
    /// Probability of a bad row after each good row of the injectable files (0 = clean).
    pub dirty: f64,
    /// The pseudonymisation key (the public demo key for samples).
    pub key: Vec<u8>,
}

/// What was written: every file with its number of data rows, and how many bad rows.
pub struct SynthSummary {
    pub files: Vec<(std::path::PathBuf, usize)>,
    pub injected: usize,
}

/// The as-of dates synth accepts: every date it writes (births up to 21 years before, the window's
/// 30 months, a future date 10 days after) stays a four-digit year, as a 身份证号 has it.
const AS_OF_RANGE: std::ops::RangeInclusive<i32> = 1950..=2999;

/// Writes the synthetic extracts. See the module documentation. A bad option is a usage error
/// naming its flag; a file or folder that cannot be written is an I/O error on `--out`.
pub fn synth(opts: &SynthOptions) -> crate::error::Result<SynthSummary> {
    use crate::error::Error;
    if !(0.0..1.0).contains(&opts.dirty) {
        return Err(Error::Usage(format!("--dirty must be at least 0 and below 1, not {}", opts.dirty)));
    }
    if !AS_OF_RANGE.contains(&opts.as_of.year()) {
        return Err(Error::Usage(format!(
            "--as-of {} is outside the years {} to {} that synthetic extracts can be dated in",
            opts.as_of,
            AS_OF_RANGE.start(),
            AS_OF_RANGE.end()
        )));
    }
    if opts.out.exists() && !opts.out.is_dir() {
        return Err(Error::Usage(format!("--out {} is a file, not a folder", opts.out.display())));
    }
    if opts.key.is_empty() {
        return Err(Error::Usage("the pseudonymisation key (--key-file) is empty".into()));
    }
    generate(opts).map_err(|e| {
        let message = format!("{e:#}");
        match e.chain().find_map(|c| c.downcast_ref::<std::io::Error>()) {
            Some(io) => Error::io(&opts.out, std::io::Error::new(io.kind(), message)),
            None => Error::Internal(format!("synth failed: {message}")),
        }
    })
}

fn generate(opts: &SynthOptions) -> Result<SynthSummary> {
    let as_of = opts.as_of;
    let mut main_rng = stream(opts.seed, 0);
    let mut world_rng = stream(opts.seed, 2);
    let world = World::new(as_of, &mut world_rng)?;
    let t = Tables::get()?;
    let pseudo = Pseudonymiser::new(&opts.key);

    let out = &opts.out;
    for dir in ["reference", "inbox/police", "inbox/education", "inbox/civil", "inbox/justice", "expected"] {
        std::fs::create_dir_all(out.join(dir)).with_context(|| format!("cannot create {}", out.join(dir).display()))?;
    }
    let inbox = out.join("inbox");
    let mut g = Gen {
        world: &world,
        rng: &mut main_rng,
        t,
        sinks: Sinks::create(&inbox, &world, t)?,
        next_id: [1; 7],
        injector: (opts.dirty > 0.0).then(|| Injector::new(t, opts.dirty, stream(opts.seed, 1))),
        conduct_sample: Vec::new(),
    };

    let mut people = People::new(pseudo, &world);
    let n = opts.youths;
    let twin_pairs = if n >= 40 { 3 + n / 250_000 } else { 0 };
    let twin_at: Vec<usize> = (0..twin_pairs).map(|k| n / 40 + k * (n - n / 40 - 2) / twin_pairs).collect();
    let mut pending_twin = None;
    let mut minors = vec![0usize; world.towns.len()];
    for i in 0..n {
        let want_twin = pending_twin.is_none() && twin_at.binary_search(&i).is_ok();
        let (y, seed) = people.youth(g.rng, &world, pending_twin.as_ref(), want_twin);
        let second_of_pair = pending_twin.is_some();
        pending_twin = seed;
        g.youth(&y)?;
        if second_of_pair && let Some(inj) = g.injector.as_mut() {
            inj.twins.push(Twin {
                birth: y.birth,
                name_hash: y.name_hash.clone(),
                birth_str: y.birth_str.clone(),
                gender: y.gender,
            });
        }
        if y.age_on(as_of) < 18 {
            minors[y.town_at(as_of)] += 1;
        }
    }
    g.finish_dirty()?;

    let conduct_sample = std::mem::take(&mut g.conduct_sample);
    let injector = g.injector.take();
    let mut files = Vec::new();

    // Reference data.
    let path = out.join("reference/townships.csv");
    let mut towns = CsvSink::create(&path, Enc::Utf8, &["township_code", "name", "minors_population"])?;
    for (t, count) in world.towns.iter().zip(&minors) {
        towns.write(&[t.code.as_str(), t.name, &count.to_string()])?;
    }
    files.push(towns.finish()?);

    let s = g.sinks;
    files.push(s.police1.finish()?);
    files.push(s.police2.finish()?);
    files.push(s.police_corr.finish()?);
    files.push(s.enrollment.finish()?);
    files.push(s.attendance1.finish()?);
    files.push(s.attendance2.finish()?);
    files.push(s.conduct.finish()?);
    files.push(s.wellbeing.finish()?);
    files.push(s.civil.finish()?);
    let justice = s.justice.finish()?;
    let resend = inbox.join("justice/justice_correction_resend.csv");
    std::fs::copy(&justice.0, &resend).with_context(|| format!("cannot write {}", resend.display()))?;
    let justice_rows = justice.1;
    files.push(justice);
    files.push((resend, justice_rows));

    // Files that no row-level check can accept: written only for a dirty run, removed from an
    // earlier dirty run's output otherwise.
    let broken = inbox.join("education/education_conduct_broken.csv");
    let school_list = inbox.join("education/school_list.csv");
    if opts.dirty > 0.0 {
        files.push(write_broken_conduct(&broken, &t.conduct, &conduct_sample)?);
        files.push(write_school_list(&school_list, &world)?);
    } else {
        for p in [&broken, &school_list] {
            if p.exists() {
                std::fs::remove_file(p).with_context(|| format!("cannot remove {}", p.display()))?;
            }
        }
    }

    // The answer key (header only for a clean run).
    let key_path = out.join("expected/injected.csv");
    let mut key = CsvSink::create(&key_path, Enc::Utf8, &["file", "line", "reason", "column"])?;
    let mut injected = 0;
    if let Some(inj) = injector {
        let police1 = police_file(as_of - Days::new(1), "");
        let mut entries: Vec<(String, usize, &str, &str)> =
            inj.entries.iter().map(|e| (rel_path(e.file, &police1), e.line, e.reason.as_str(), e.column)).collect();
        entries.sort();
        for (file, line, reason, column) in &entries {
            key.write(&[file.as_str(), &line.to_string(), reason, column])?;
        }
        injected = entries.len();
    }
    files.push(key.finish()?);
    Ok(SynthSummary { files, injected })
}

fn stream(seed: u64, n: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(n);
    rng
}

fn police_file(day: NaiveDate, suffix: &str) -> String {
    format!("police_incidents_{}{suffix}.csv", fmt_date(day))
}

fn rel_path(f: FileId, police1: &str) -> String {
    match f {
        FileId::Police1 => format!("police/{police1}"),
        FileId::Enrollment => "education/education_enrollment.csv".into(),
        FileId::Attendance1 => "education/education_attendance_part1.csv".into(),
        FileId::Wellbeing => "education/education_wellbeing.xlsx".into(),
        FileId::Civil => "civil/civil_status.csv".into(),
        FileId::Justice => "justice/justice_correction.csv".into(),
    }
}

struct Sinks {
    police1: CsvSink,
    police2: CsvSink,
    police_corr: CsvSink,
    enrollment: CsvSink,
    attendance1: CsvSink,
    attendance2: CsvSink,
    conduct: ParquetSink,
    wellbeing: XlsxSink,
    civil: CsvSink,
    justice: CsvSink,
}

impl Sinks {
    fn create(inbox: &Path, world: &World, t: &Tables) -> Result<Sinks> {
        let as_of = world.as_of;
        let police = inbox.join("police");
        let edu = inbox.join("education");
        // The workbook's dates are real dates, and its screening level a number, as a school's
        // export has them.
        let wb = &t.wellbeing;
        let level = wb.col(Role::Code);
        let wb_kinds: Vec<XCol> = (0..wb.cols.len())
            .map(|i| match i {
                _ if i == level => XCol::Number,
                _ if wb.dates.contains(&wb.cols[i]) => XCol::Date,
                _ => XCol::Text,
            })
            .collect();
        let conduct_dates: Vec<&str> = t.conduct.dates.iter().map(String::as_str).collect();
        Ok(Sinks {
            police1: CsvSink::create(&police.join(police_file(as_of - Days::new(1), "")), Enc::Utf8, &t.police.header())?,
            police2: CsvSink::create(&police.join(police_file(as_of, "")), Enc::Utf8, &t.police.header())?,
            police_corr: CsvSink::create(&police.join(police_file(as_of, "_correction")), Enc::Utf8, &t.police.header())?,
            enrollment: CsvSink::create(&edu.join("education_enrollment.csv"), Enc::Utf8Bom, &t.enrollment.header())?,
            attendance1: CsvSink::create(&edu.join("education_attendance_part1.csv"), Enc::Utf8, &t.attendance.header())?,
            attendance2: CsvSink::create(&edu.join("education_attendance_part2.csv"), Enc::Utf8, &t.attendance.header())?,
            conduct: ParquetSink::create(&edu.join("education_conduct.parquet"), &t.conduct.header(), &conduct_dates)?,
            wellbeing: XlsxSink::create(
                &edu.join("education_wellbeing.xlsx"),
                "心理筛查",
                &wb.header(),
                &wb_kinds,
                NaiveDate::from_ymd_opt(as_of.year(), as_of.month(), 1).expect("valid"),
            )?,
            civil: CsvSink::create(&inbox.join("civil/civil_status.csv"), Enc::Gb18030, &t.civil.header())?,
            justice: CsvSink::create(&inbox.join("justice/justice_correction.csv"), Enc::Utf8, &t.justice.header())?,
        })
    }

    fn write(&mut self, f: FileId, row: Vec<String>) -> Result<usize> {
        match f {
            FileId::Police1 => self.police1.write(&row),
            FileId::Enrollment => self.enrollment.write(&row),
            FileId::Attendance1 => self.attendance1.write(&row),
            FileId::Wellbeing => self.wellbeing.write(row),
            FileId::Civil => self.civil.write(&row),
            FileId::Justice => self.justice.write(&row),
        }
    }
}

/// Record-id counters, one per table.
#[derive(Clone, Copy)]
enum T {
    Police = 0,
    Enrollment = 1,
    Attendance = 2,
    Conduct = 3,
    Wellbeing = 4,
    Civil = 5,
    Justice = 6,
}

struct Gen<'a> {
    world: &'a World,
    t: &'static Tables,
    rng: &'a mut ChaCha8Rng,
    sinks: Sinks,
    next_id: [u64; 7],
    injector: Option<Injector>,
    /// A few conduct rows, for the broken file of a dirty run.
    conduct_sample: Vec<Vec<String>>,
}

impl Gen<'_> {
    fn id(&mut self, t: T, spec: &TableSpec) -> String {
        let n = self.next_id[t as usize];
        self.next_id[t as usize] += 1;
        spec.record_id(n)
    }

    /// Writes a good row of an injectable file, then maybe a bad one after it.
    fn put(&mut self, f: FileId, row: Vec<String>, y: &Youth) -> Result<()> {
        let bad = match self.injector.as_mut() {
            Some(inj) => inj.after_good(self.world, f, &row, &y.person_key),
            None => None,
        };
        self.sinks.write(f, row)?;
        if let Some((bad, reason, column)) = bad {
            let line = self.sinks.write(f, bad)?;
            self.injector.as_mut().expect("dirty").record(f, line, reason, column);
        }
        Ok(())
    }

    fn finish_dirty(&mut self) -> Result<()> {
        let Some(inj) = self.injector.as_mut() else { return Ok(()) };
        for (f, bad, reason, column) in inj.leftovers(self.world) {
            let line = self.sinks.write(f, bad)?;
            self.injector.as_mut().expect("dirty").record(f, line, reason, column);
        }
        Ok(())
    }

    /// All rows of one youth, table by table.
    fn youth(&mut self, y: &Youth) -> Result<()> {
        let world = self.world;
        let t = self.t;
        let (justice, offence) = tables::justice(self.rng, world, y);

        // Police: the day-before file, the as-of file (last 7 days and re-sent rows), corrections.
        for e in tables::police_events(self.rng, world, y, offence) {
            let ident = tables::police_ident(self.rng, y);
            let id = self.id(T::Police, &t.police);
            let row = tables::police_row(world, &t.police, y, ident, id, &e);
            if e.on <= world.police_cut {
                let resend = self.rng.random_bool(0.02);
                let correction = self.rng.random_bool(0.01).then(|| tables::police_correction(self.rng, &t.police, &row));
                if resend {
                    self.sinks.police2.write(&row)?;
                }
                if let Some(c) = correction {
                    self.sinks.police_corr.write(&c)?;
                }
                self.put(FileId::Police1, row, y)?;
            } else {
                self.sinks.police2.write(&row)?;
            }
        }

        // Education.
        if let Some(s) = tables::schooling(self.rng, world, y) {
            for (k, rec) in s.records.iter().enumerate() {
                let ident = if k == 0 { Ident::KeyName } else { tables::education_ident(self.rng, y) };
                let person = person_cells(world, y, ident, rec.on, &t.enrollment);
                let id = self.id(T::Enrollment, &t.enrollment);
                let row = t.enrollment.row(person, [id, world.schools[rec.school].clone(), rec.status.to_string(), fmt_date(rec.on)]);
                self.put(FileId::Enrollment, row, y)?;
            }
            for (m, days, transfers) in tables::absences(self.rng, world, y, &s) {
                let month = &world.months[m];
                let ident = tables::education_ident(self.rng, y);
                let mid = month.first + Days::new(14);
                let school = tables::school_at(world, y, s.entry, mid, transfers);
                let person = person_cells(world, y, ident, month.first, &t.attendance);
                let id = self.id(T::Attendance, &t.attendance);
                let row = t.attendance.row(
                    person,
                    [id, world.schools[school].clone(), month.label.clone(), days.to_string(), month.days_in_session.to_string()],
                );
                if month.part == 1 {
                    self.put(FileId::Attendance1, row, y)?;
                } else {
                    self.sinks.attendance2.write(&row)?;
                }
            }
            for (d, code, transfers) in tables::conduct(self.rng, world, y, &s) {
                let ident = tables::education_ident(self.rng, y);
                let school = tables::school_at(world, y, s.entry, d, transfers);
                let person = person_cells(world, y, ident, d, &t.conduct);
                let id = self.id(T::Conduct, &t.conduct);
                let row = t.conduct.row(person, [id, world.schools[school].clone(), fmt_date(d), code.to_string()]);
                self.sinks.conduct.write(&row)?;
                if self.conduct_sample.len() < 6 && ident == Ident::KeyName {
                    self.conduct_sample.push(row);
                }
            }
            for (d, level, _school) in tables::screenings(self.rng, world, y, &s) {
                let ident = tables::education_ident(self.rng, y);
                let person = person_cells(world, y, ident, d, &t.wellbeing);
                let id = self.id(T::Wellbeing, &t.wellbeing);
                let row = t.wellbeing.row(person, [id, fmt_date(d), level.to_string()]);
                self.put(FileId::Wellbeing, row, y)?;
            }
        }

        // Civil affairs.
        for p in &y.civil {
            let ident = tables::civil_ident(self.rng);
            let town = y.town_at(p.from);
            let person = person_cells(world, y, ident, p.from, &t.civil);
            let id = self.id(T::Civil, &t.civil);
            let row = t.civil.row(
                person,
                [
                    id,
                    p.code.to_string(),
                    fmt_date(p.from),
                    p.to.map(fmt_date).unwrap_or_default(),
                    names::civil_office(world.towns[town].name, p.office_pick),
                ],
            );
            self.put(FileId::Civil, row, y)?;
        }

        // Justice.
        for p in &justice {
            let person = person_cells(world, y, Ident::Id, p.start, &t.justice);
            let id = self.id(T::Justice, &t.justice);
            let row = t.justice.row(person, [id, p.kind.to_string(), fmt_date(p.start), p.end.map(fmt_date).unwrap_or_default()]);
            self.put(FileId::Justice, row, y)?;
        }
        Ok(())
    }
}

/// `education_conduct_broken.csv`: conduct rows whose header lacks the required code column
/// (`conduct_code`).
fn write_broken_conduct(path: &Path, spec: &TableSpec, sample: &[Vec<String>]) -> Result<(PathBuf, usize)> {
    let code_at = spec.col(Role::Code);
    let record_id = spec.col(Role::RecordId);
    let header: Vec<&str> = spec.header().into_iter().enumerate().filter(|(i, _)| *i != code_at).map(|(_, c)| c).collect();
    let mut sink = CsvSink::create(path, Enc::Utf8, &header)?;
    for (k, row) in sample.iter().enumerate() {
        let mut row = row.clone();
        row[record_id] = spec.record_id(spec.bad_id_base() + 500_000 + k as u64);
        row.remove(code_at);
        sink.write(&row)?;
    }
    sink.finish()
}

/// `school_list.csv`: the schools of the county, a file that belongs to no declared table.
fn write_school_list(path: &Path, world: &World) -> Result<(PathBuf, usize)> {
    let mut sink = CsvSink::create(path, Enc::Utf8, &["school_code", "school_name", "township_code"])?;
    for t in &world.towns {
        for (k, &s) in t.primaries.iter().enumerate() {
            sink.write(&[world.schools[s].as_str(), &format!("{}第{}小学", t.name, cn_number(k + 1)), &t.code])?;
        }
        for (k, &s) in t.juniors.iter().enumerate() {
            let name = if t.juniors.len() == 1 {
                format!("{}中学", t.name)
            } else {
                format!("{}第{}中学", t.name, cn_number(k + 1))
            };
            sink.write(&[world.schools[s].as_str(), &name, &t.code])?;
        }
    }
    for (k, &s) in world.seniors.iter().enumerate() {
        let name = ["区第一中学", "区第二中学", "区职业中专", "区第三中学"][k % 4];
        sink.write(&[world.schools[s].as_str(), name, ""])?;
    }
    sink.finish()
}

fn cn_number(n: usize) -> &'static str {
    ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"].get(n).copied().unwrap_or("十")
}
