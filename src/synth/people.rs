//! Synthetic youths: 身份证号, Chinese name (hashed at once, never kept), birth date, gender,
//! township (and a rare move), civil-affairs statuses and the latent risk that makes signals
//! cluster.

use std::collections::HashSet;

use chrono::{Datelike, Days, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::names::{self, GIVEN_ANY, GIVEN_FEMALE, GIVEN_MALE, ID_AREAS, SURNAMES};
use super::world::{self, World, add_years, date_between};
use crate::pseudo::Pseudonymiser;

/// A period in a civil-affairs status.
pub struct CivilPeriod {
    pub code: &'static str,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    pub office_pick: u32,
}

pub struct Youth {
    pub id_number: String,
    pub person_key: String,
    pub name_hash: String,
    pub birth: NaiveDate,
    /// `YYYY-MM-DD`, or `YYYY-MM` for about 2% of youths; the same in every row.
    pub birth_str: String,
    pub gender: &'static str,
    pub male: bool,
    pub home: usize,
    /// A move to another township on a date.
    pub moved: Option<(NaiveDate, usize)>,
    pub civil: Vec<CivilPeriod>,
    /// Risk multiplier from a guardianship gap or hardship (1 = none).
    pub gap: f64,
    /// Individual propensity (1 for most).
    pub latent: f64,
    /// One of a deliberate pair sharing name, birth date and gender: never name-hash-only rows.
    pub twin: bool,
    /// Random number that picks the youth's schools.
    pub school_pick: u32,
}

impl Youth {
    pub fn town_at(&self, d: NaiveDate) -> usize {
        match self.moved {
            Some((when, to)) if d >= when => to,
            _ => self.home,
        }
    }

    pub fn age_on(&self, d: NaiveDate) -> i32 {
        let mut age = d.year() - self.birth.year();
        if (d.month(), d.day()) < (self.birth.month(), self.birth.day()) {
            age -= 1;
        }
        age
    }

    /// The day the youth turns 18.
    pub fn adult_on(&self) -> NaiveDate {
        add_years(self.birth, 18)
    }

    pub fn risk(&self) -> f64 {
        self.latent * self.gap
    }
}

/// Relative cohort sizes for ages 6..=17 on the as-of date (births 2020 back to 2009).
const AGE_WEIGHTS: [u32; 12] = [120, 147, 152, 172, 179, 166, 169, 164, 164, 160, 159, 160];

/// Civil-affairs statuses: code, share of youths, risk factor.
const CIVIL_CODES: &[(&str, f64, f64)] = &[
    ("LB", 0.120, 1.6),
    ("SD", 0.040, 1.3),
    ("MA", 0.035, 1.3),
    ("DI", 0.010, 1.1),
    ("DS", 0.015, 2.0),
    ("PI", 0.006, 2.5),
    ("PD", 0.003, 2.5),
    ("SP", 0.004, 1.8),
    ("DU", 0.0033, 4.0),
    ("OR", 0.003, 3.5),
];

/// Hands out unique 身份证号 sequence numbers per (area, birth date, sex).
struct IdAlloc {
    base: NaiveDate,
    days: usize,
    bits: Vec<u64>,
}

impl IdAlloc {
    fn new(base: NaiveDate, days: usize) -> Self {
        let n = ID_AREAS.len() * days * 1000;
        IdAlloc { base, days, bits: vec![0; n.div_ceil(64)] }
    }

    /// A free 3-digit sequence number with the parity of the sex (odd = male).
    fn take(&mut self, rng: &mut ChaCha8Rng, area: usize, birth: NaiveDate, male: bool) -> Option<u32> {
        let day = (birth - self.base).num_days();
        if day < 0 || day as usize >= self.days {
            return None;
        }
        let slot = (area * self.days + day as usize) * 1000;
        for _ in 0..2000 {
            let seq = if male { 2 * rng.random_range(0..500u32) + 1 } else { 2 * rng.random_range(1..500u32) };
            let bit = slot + seq as usize;
            if self.bits[bit / 64] & (1 << (bit % 64)) == 0 {
                self.bits[bit / 64] |= 1 << (bit % 64);
                return Some(seq);
            }
        }
        None
    }
}

/// The ISO 7064 MOD 11-2 check character of the first 17 digits.
pub fn check_char(first17: &str) -> char {
    crate::pseudo::id_check_char(first17.as_bytes()) as char
}

pub struct People {
    pseudo: Pseudonymiser,
    ids: IdAlloc,
    /// Fingerprints of (name, birth_date string, gender) already used: accidental linkage
    /// collisions between different youths are avoided (twins are made on purpose).
    seen: HashSet<u64>,
    surname_cum: Vec<u32>,
    area_cum: Vec<u32>,
    age_cum: Vec<u32>,
    male_pool: Vec<char>,
    female_pool: Vec<char>,
    any_pool: Vec<char>,
}

/// What a twin copies from its pair.
pub struct TwinSeed {
    name: String,
    birth: NaiveDate,
    birth_str: String,
    gender: &'static str,
    male: bool,
    area: usize,
}

impl People {
    pub fn new(pseudo: Pseudonymiser, world: &World) -> Self {
        let base = add_years(world.as_of, -21);
        let days = (world.as_of - base).num_days() as usize + 1;
        People {
            pseudo,
            ids: IdAlloc::new(base, days),
            seen: HashSet::new(),
            surname_cum: world::cumulative(SURNAMES),
            area_cum: world::cumulative(ID_AREAS),
            age_cum: AGE_WEIGHTS
                .iter()
                .scan(0, |c, w| {
                    *c += w;
                    Some(*c)
                })
                .collect(),
            male_pool: names::pool(GIVEN_MALE),
            female_pool: names::pool(GIVEN_FEMALE),
            any_pool: names::pool(GIVEN_ANY),
        }
    }

    fn given_char(&self, rng: &mut ChaCha8Rng, male: bool) -> char {
        if rng.random_bool(0.25) {
            self.any_pool[rng.random_range(0..self.any_pool.len())]
        } else if male {
            self.male_pool[rng.random_range(0..self.male_pool.len())]
        } else {
            self.female_pool[rng.random_range(0..self.female_pool.len())]
        }
    }

    fn name(&self, rng: &mut ChaCha8Rng, male: bool) -> String {
        let mut name = String::from(SURNAMES[world::pick_weighted(rng, &self.surname_cum)].0);
        name.push(self.given_char(rng, male));
        if rng.random_bool(0.82) {
            name.push(self.given_char(rng, male));
        }
        name
    }

    /// FNV-1a over the linkage triple (a fixed function: the same on every run).
    fn fingerprint(name: &str, birth_str: &str, gender: &str) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [name, birth_str, gender] {
            for b in part.bytes().chain(std::iter::once(0xff)) {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }

    fn id_number(&mut self, rng: &mut ChaCha8Rng, area: usize, birth: NaiveDate, male: bool) -> Option<String> {
        let seq = self.ids.take(rng, area, birth, male)?;
        let mut id = format!("{}{:04}{:02}{:02}{:03}", ID_AREAS[area].0, birth.year(), birth.month(), birth.day(), seq);
        let c = check_char(&id);
        id.push(c);
        Some(id)
    }

    /// A new youth. `twin_of` makes the second of a twin pair (same name, birth date and
    /// gender, another 身份证号); `want_twin` constrains the first of a pair (school age, full
    /// birth date, known gender) and returns what the second needs.
    pub fn youth(
        &mut self,
        rng: &mut ChaCha8Rng,
        world: &World,
        twin_of: Option<&TwinSeed>,
        want_twin: bool,
    ) -> (Youth, Option<TwinSeed>) {
        let as_of = world.as_of;
        let (name, birth, birth_str, gender, male, id_number, area) = match twin_of {
            Some(seed) => {
                let mut area = seed.area;
                let id = loop {
                    if let Some(id) = self.id_number(rng, area, seed.birth, seed.male) {
                        break id;
                    }
                    area = world::pick_weighted(rng, &self.area_cum);
                };
                (seed.name.clone(), seed.birth, seed.birth_str.clone(), seed.gender, seed.male, id, area)
            }
            None => loop {
                let age: i32 = if want_twin {
                    rng.random_range(8..=15)
                } else if rng.random_bool(0.05) {
                    rng.random_range(18..=19)
                } else {
                    6 + world::pick_weighted(rng, &self.age_cum) as i32
                };
                // Born in (as_of − (age+1) years, as_of − age years].
                let latest = add_years(as_of, -age);
                let earliest = add_years(as_of, -(age + 1)) + Days::new(1);
                let birth = date_between(rng, earliest, latest);
                let male = rng.random_bool(0.515);
                let gender = if !want_twin && rng.random_bool(0.004) {
                    "9"
                } else if male {
                    "1"
                } else {
                    "2"
                };
                let birth_str = if !want_twin && rng.random_bool(0.02) {
                    format!("{:04}-{:02}", birth.year(), birth.month())
                } else {
                    world::fmt_date(birth)
                };
                let area = world::pick_weighted(rng, &self.area_cum);
                let Some(id) = self.id_number(rng, area, birth, male) else { continue };
                // A name whose (name, birth_date, gender) no other youth has.
                let mut name = self.name(rng, male);
                let mut tries = 0;
                while !self.seen.insert(Self::fingerprint(&name, &birth_str, gender)) {
                    name = self.name(rng, male);
                    tries += 1;
                    if tries > 50 {
                        name.push(self.given_char(rng, male));
                    }
                }
                break (name, birth, birth_str, gender, male, id, area);
            },
        };
        let person_key = self.pseudo.person_key(&id_number);
        let name_hash = self.pseudo.name_hash(&name);

        let home = world.pick_town(rng);
        let moved = if rng.random_bool(0.01) {
            let when = date_between(rng, world.start + Days::new(30), as_of - Days::new(10));
            let mut to = world.pick_town(rng);
            if to == home {
                to = (home + 1 + rng.random_range(0..world.towns.len() - 1)) % world.towns.len();
            }
            Some((when, to))
        } else {
            None
        };

        let latent = {
            let x: f64 = rng.random();
            if x < 0.85 {
                1.0
            } else if x < 0.96 {
                2.5
            } else {
                7.0
            }
        };

        let mut y = Youth {
            id_number,
            person_key,
            name_hash,
            birth,
            birth_str,
            gender,
            male,
            home,
            moved,
            civil: Vec::new(),
            gap: 1.0,
            latent,
            twin: twin_of.is_some() || want_twin,
            school_pick: rng.random(),
        };
        self.civil(rng, world, &mut y);
        let seed = want_twin.then(|| TwinSeed {
            name,
            birth: y.birth,
            birth_str: y.birth_str.clone(),
            gender: y.gender,
            male: y.male,
            area,
        });
        (y, seed)
    }

    /// Civil-affairs status periods; they set the youth's guardianship-gap risk factor.
    fn civil(&self, rng: &mut ChaCha8Rng, world: &World, y: &mut Youth) {
        let as_of = world.as_of;
        let adult = y.adult_on();
        let mut gap: f64 = 1.0;
        fn has(code: &str, civil: &[CivilPeriod]) -> bool {
            civil.iter().any(|p| p.code == code)
        }
        for &(code, share, factor) in CIVIL_CODES {
            let mut p = share;
            // Hardship clusters: a parent in prison or in compulsory drug treatment often
            // leaves a child de facto without a carer; orphans are often in 特困供养.
            if code == "DU" && (has("PI", &y.civil) || has("PD", &y.civil)) {
                p = 0.2;
            }
            if code == "SP" && has("OR", &y.civil) {
                p = 0.5;
            }
            if code == "DS" && (has("PI", &y.civil) || has("PD", &y.civil)) {
                p = 0.3;
            }
            if !rng.random_bool(p) {
                continue;
            }
            let earliest = (y.birth + Days::new(60)).max(add_years(as_of, -6));
            let latest = (as_of - Days::new(1)).min(adult - Days::new(1));
            if earliest > latest {
                continue;
            }
            let from = date_between(rng, earliest, latest);
            // About a third of periods end; a period that ended before the window is not in
            // the extract, so its end is drawn inside or after the window.
            let mut to = None;
            if rng.random_bool(0.32) {
                let lo = (from + Days::new(60)).max(world.start);
                let hi = from + Days::new(4 * 365);
                if lo <= hi {
                    to = Some(date_between(rng, lo, hi));
                }
            }
            // Child statuses end at 18.
            if adult <= as_of {
                to = Some(to.map_or(adult, |t| t.min(adult)));
            }
            if code == "LB" && to.is_none() && rng.random_bool(0.12) {
                // An earlier left-behind period that ended (parents came back, left again).
                let lo = (y.birth + Days::new(60)).max(add_years(as_of, -8));
                let hi = from - Days::new(120);
                if lo < hi {
                    let f1 = date_between(rng, lo, hi);
                    let t1 = date_between(rng, f1 + Days::new(60), from - Days::new(60));
                    if t1 >= world.start && f1 < t1 {
                        y.civil.push(CivilPeriod { code, from: f1, to: Some(t1), office_pick: rng.random() });
                    }
                }
            }
            y.civil.push(CivilPeriod { code, from, to, office_pick: rng.random() });
            gap *= factor;
        }
        y.gap = gap.min(8.0);
    }
}
