//! The fixed frame of a synthetic county: the as-of date and the 30-month window, townships and
//! their schools, school months, screening dates; plus small date and sampling helpers.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::names::{COUNTY_CODE, TOWNSHIPS};

/// A township and the schools in it (indices into [`World::schools`]).
pub struct Town {
    pub code: String,
    pub name: &'static str,
    pub primaries: Vec<usize>,
    pub juniors: Vec<usize>,
}

/// A school month of the attendance extract.
pub struct SchoolMonth {
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub label: String,
    pub days_in_session: u8,
    /// 1 for `education_attendance_part1.csv`, 2 for part 2.
    pub part: u8,
}

pub struct World {
    pub as_of: NaiveDate,
    /// First day of the window (as_of − 30 months).
    pub start: NaiveDate,
    /// Police incidents on or before this date go to the first (day-before) file.
    pub police_cut: NaiveDate,
    pub towns: Vec<Town>,
    town_cum: Vec<u32>,
    /// School codes (10-digit 学校标识码-like strings).
    pub schools: Vec<String>,
    /// County-level senior high schools.
    pub seniors: Vec<usize>,
    pub months: Vec<SchoolMonth>,
    /// First school year (the year its autumn term starts) with a screening date.
    pub screen_year0: i32,
    /// screening[school][year − screen_year0]: the day that school screens in that school year.
    pub screening: Vec<Vec<NaiveDate>>,
}

impl World {
    pub fn new(as_of: NaiveDate, rng: &mut ChaCha8Rng) -> anyhow::Result<World> {
        let start = as_of
            .checked_sub_months(Months::new(30))
            .ok_or_else(|| anyhow::anyhow!("as-of date {as_of} is too early"))?;
        let police_cut = as_of - Days::new(7);
        let mut schools = Vec::new();
        let mut towns = Vec::new();
        let mut town_cum = Vec::new();
        let mut cum = 0;
        for (t, def) in TOWNSHIPS.iter().enumerate() {
            let n_primary = 2 + (def.weight / 25) as usize;
            let n_junior = 1 + (def.weight / 50) as usize;
            let mut primaries = Vec::new();
            let mut juniors = Vec::new();
            for k in 0..n_primary {
                primaries.push(schools.len());
                schools.push(format!("2143{:06}", 110_000 + t * 100 + k + 1));
            }
            for k in 0..n_junior {
                juniors.push(schools.len());
                schools.push(format!("2143{:06}", 110_000 + t * 100 + 50 + k + 1));
            }
            cum += def.weight;
            town_cum.push(cum);
            towns.push(Town { code: format!("{COUNTY_CODE}{:03}", def.suffix), name: def.name, primaries, juniors });
        }
        let mut seniors = Vec::new();
        for k in 0..4 {
            seniors.push(schools.len());
            schools.push(format!("2143{:06}", 119_900 + k + 1));
        }

        // School months: every month of the window before the as-of month, without the
        // holidays (January/February winter break, July/August summer break).
        let mut months = Vec::new();
        let mut m = first_of_month(start);
        let as_of_month = first_of_month(as_of);
        while m < as_of_month {
            if !matches!(m.month(), 1 | 2 | 7 | 8) {
                let last = last_of_month(m);
                months.push(SchoolMonth {
                    first: m,
                    last,
                    label: format!("{:04}-{:02}", m.year(), m.month()),
                    days_in_session: days_in_session(m),
                    part: 1,
                });
            }
            m = m + Months::new(1);
        }
        let half = months.len() / 2;
        for (i, month) in months.iter_mut().enumerate() {
            month.part = if i < half { 1 } else { 2 };
        }

        // Each school screens once per school year, in one of its term months.
        let screen_year0 = start.year() - 1;
        let years = (as_of.year() - screen_year0 + 1) as usize;
        let mut screening = Vec::with_capacity(schools.len());
        for _ in 0..schools.len() {
            let mut per_year = Vec::with_capacity(years);
            for y in 0..years {
                let year = screen_year0 + y as i32;
                let (yy, mm) = match rng.random_range(0..8u32) {
                    0 => (year, 10),
                    1 => (year, 11),
                    2 => (year, 12),
                    3 | 4 => (year + 1, 3),
                    5 | 6 => (year + 1, 4),
                    _ => (year + 1, 5),
                };
                let day = rng.random_range(3..=26);
                let mut d = NaiveDate::from_ymd_opt(yy, mm, day).expect("valid day");
                while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                    d = d + Days::new(1);
                }
                per_year.push(d);
            }
            screening.push(per_year);
        }

        Ok(World { as_of, start, police_cut, towns, town_cum, schools, seniors, months, screen_year0, screening })
    }

    /// A township drawn by population weight.
    pub fn pick_town(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.town_cum.last().expect("townships");
        let x = rng.random_range(0..total);
        self.town_cum.partition_point(|&c| c <= x)
    }
}

pub fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

pub fn last_of_month(d: NaiveDate) -> NaiveDate {
    first_of_month(d) + Months::new(1) - Days::new(1)
}

/// Weekdays of the month less the public holidays that fall in term time, kept to 18–23.
fn days_in_session(first: NaiveDate) -> u8 {
    let last = last_of_month(first);
    let mut d = first;
    let mut n = 0u8;
    while d <= last {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            n += 1;
        }
        d = d + Days::new(1);
    }
    let holidays = match first.month() {
        4 => 1,  // 清明
        5 => 3,  // 劳动节
        6 => 1,  // 端午
        9 => 1,  // 中秋
        10 => 5, // 国庆
        _ => 0,
    };
    n.saturating_sub(holidays).clamp(18, 23)
}

/// A uniformly random date in `[from, to]` (inclusive); `from` when the range is empty.
pub fn date_between(rng: &mut ChaCha8Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days();
    if span <= 0 {
        return from;
    }
    from + Days::new(rng.random_range(0..=span) as u64)
}

/// `d` plus `years` calendar years (29 February becomes 28 February when needed).
pub fn add_years(d: NaiveDate, years: i32) -> NaiveDate {
    if years >= 0 {
        d.checked_add_months(Months::new(12 * years as u32)).expect("date in range")
    } else {
        d.checked_sub_months(Months::new(12 * (-years) as u32)).expect("date in range")
    }
}

pub fn fmt_date(d: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// A Poisson draw (Knuth's method; the rates here are small).
pub fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let l = (-lambda.min(30.0)).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// Index drawn from cumulative weights.
pub fn pick_weighted(rng: &mut ChaCha8Rng, cum: &[u32]) -> usize {
    let total = *cum.last().expect("weights");
    let x = rng.random_range(0..total);
    cum.partition_point(|&c| c <= x)
}

pub fn cumulative<T>(items: &[(T, u32)]) -> Vec<u32> {
    let mut cum = 0;
    items
        .iter()
        .map(|(_, w)| {
            cum += w;
            cum
        })
        .collect()
}
