//! The leadership trend charts, each as PNG and SVG with Chinese text in the bundled font: people
//! per tier (`tiers`), per category (`categories`, one small panel each on its own scale), 碰撞命中 and 重点青少年 (`collisions`) over the
//! months, townships by listed people per 1,000 minors (`townships`) and the category
//! co-occurrence of the latest month (`cooccurrence`).
//!
//! Charts draw only from [`LeadershipView`], whose counts are already suppressed. A suppressed
//! cell is never drawn as a number: a bar segment becomes a hatched outline of a nominal height,
//! a line breaks and gets a hollow marker on the axis, a township or matrix cell is hatched and
//! labelled "<5", and each such chart says so in a footnote.
//!
//! plotters only rasterises here: the layout (axes, ticks, legends, labels) is ours, so every
//! string a chart draws passes through one place ([`Canvas::text`]) and [`strings_drawn`] can
//! list them exactly, for the font check.

use std::cell::RefCell;
use std::path::Path;

use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::report::fonts::{self, FONT_FAMILY};
use crate::report::view::{Cell, LeadershipView, Series, TownshipRow};

/// Writes every chart as PNG and SVG into `dir` (created if missing); returns the file names
/// written, sorted.
pub fn write_charts(dir: &Path, view: &LeadershipView) -> Result<Vec<String>> {
    fonts::register();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::with_capacity(Chart::ALL.len() * 2);
    for chart in Chart::ALL {
        let png = render_png(chart, view)?;
        let svg = render_svg(chart, view).0?;
        for (ext, bytes) in [("png", png.as_slice()), ("svg", svg.as_bytes())] {
            let name = format!("{}.{ext}", chart.stem());
            let path = dir.join(&name);
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
            written.push(name);
        }
    }
    written.sort();
    Ok(written)
}

/// Every string any chart draws for `view` (titles, axis labels, tick labels, legends, source
/// line, footnotes, value labels), each once, in drawing order.
pub fn strings_drawn(view: &LeadershipView) -> Vec<String> {
    fonts::register();
    let mut all: Vec<String> = Vec::new();
    for chart in Chart::ALL {
        // Drawing into an SVG string fails only on a bug; the strings drawn before it still count.
        let (_, drawn) = render_svg(chart, view);
        for s in drawn {
            if !all.contains(&s) {
                all.push(s);
            }
        }
    }
    all
}

/// The charts, by file stem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chart {
    Tiers,
    Categories,
    Collisions,
    Townships,
    Cooccurrence,
}

impl Chart {
    const ALL: [Chart; 5] = [Chart::Tiers, Chart::Categories, Chart::Collisions, Chart::Townships, Chart::Cooccurrence];

    fn stem(self) -> &'static str {
        match self {
            Chart::Tiers => "tiers",
            Chart::Categories => "categories",
            Chart::Collisions => "collisions",
            Chart::Townships => "townships",
            Chart::Cooccurrence => "cooccurrence",
        }
    }

    /// Width and height in pixels.
    fn size(self) -> (u32, u32) {
        match self {
            Chart::Cooccurrence => (1200, 800),
            _ => (1200, 700),
        }
    }

    fn draw<DB: DrawingBackend>(self, c: &Canvas<DB>, view: &LeadershipView) -> Drawn<DB> {
        c.area.fill(&WHITE)?;
        match self {
            Chart::Tiers => tiers(c, view),
            Chart::Categories => categories(c, view),
            Chart::Collisions => {
                let title = format!("{}碰撞命中与重点青少年人数（月末）", view.county);
                lines(c, view, &title, &view.collisions_and_key_youth, true)
            }
            Chart::Townships => townships(c, view),
            Chart::Cooccurrence => cooccurrence(c, view),
        }
    }
}

type Drawn<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn drawing_error(chart: Chart, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("drawing the {} chart: {e}", chart.stem()))
}

fn render_png(chart: Chart, view: &LeadershipView) -> Result<Vec<u8>> {
    let (w, h) = chart.size();
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        let canvas = Canvas::new(&root, true);
        chart.draw(&canvas, view).map_err(|e| drawing_error(chart, e))?;
        root.present().map_err(|e| drawing_error(chart, e))?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    let mut writer = encoder.write_header().map_err(|e| drawing_error(chart, e))?;
    writer.write_image_data(&rgb).map_err(|e| drawing_error(chart, e))?;
    writer.finish().map_err(|e| drawing_error(chart, e))?;
    Ok(out)
}

/// The SVG of `chart`, and the strings it drew (also when drawing failed).
fn render_svg(chart: Chart, view: &LeadershipView) -> (Result<String>, Vec<String>) {
    let mut svg = String::new();
    let (result, drawn) = {
        let root = SVGBackend::with_string(&mut svg, chart.size()).into_drawing_area();
        let canvas = Canvas::new(&root, false);
        let result = chart.draw(&canvas, view).and_then(|()| root.present());
        (result.map_err(|e| drawing_error(chart, e)), canvas.drawn.into_inner())
    };
    (result.map(|()| svg), drawn)
}

// ---------------------------------------------------------------------------------------------
// Look

const INK: RGBColor = RGBColor(0x21, 0x21, 0x21);
const MUTED: RGBColor = RGBColor(0x61, 0x61, 0x61);
const GRID: RGBColor = RGBColor(0xE8, 0xE8, 0xE8);
const AXIS: RGBColor = RGBColor(0x9E, 0x9E, 0x9E);
/// Hatching and outline of what is suppressed when it has no colour of its own.
const HIDDEN: RGBColor = RGBColor(0x9E, 0x9E, 0x9E);
const HIDDEN_FILL: RGBColor = RGBColor(0xF5, 0xF5, 0xF5);
const BAR: RGBColor = RGBColor(0x5C, 0x6B, 0xC0);

// Font sizes (em, in pixels), large enough to read with the chart shown at half its width.
const TITLE_SIZE: f64 = 28.0;
const LEGEND_SIZE: f64 = 19.0;
const LABEL_SIZE: f64 = 18.0;
const TICK_SIZE: f64 = 17.0;
const NOTE_SIZE: f64 = 16.0;
const CELL_SIZE: f64 = 20.0;
/// Left and right margin of the chart.
const PAD: i32 = 40;

fn rgb((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

fn month_label(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

fn source_line(view: &LeadershipView) -> String {
    let t = view.threshold;
    format!("数据截至 {} · 模型 {} · 少于{t}人的数据已隐藏（显示为“<{t}”）", view.as_of, view.model_version)
}

/// What a legend entry shows before its label.
#[derive(Clone, Copy)]
enum Key {
    Swatch(RGBColor),
    Line(RGBColor),
}

/// The part of a chart around the plot: title, legend or subtitle, footnotes and source line.
struct Frame {
    title: String,
    /// A muted line under the title, for charts without a legend.
    subtitle: Option<String>,
    legend: Vec<(Key, String)>,
    footnotes: Vec<String>,
}

/// A drawing area that remembers the strings drawn on it.
struct Canvas<'a, DB: DrawingBackend> {
    area: &'a DrawingArea<DB, Shift>,
    width: i32,
    height: i32,
    /// Rasterise text ourselves (bitmaps) rather than hand it to the backend (SVG). plotters
    /// 0.3.7 draws ab_glyph text without each glyph's left side bearing (so "（" and "l" sit
    /// wrong) and about a fifth of its size too high.
    raster: bool,
    drawn: RefCell<Vec<String>>,
}

impl<'a, DB: DrawingBackend> Canvas<'a, DB> {
    fn new(area: &'a DrawingArea<DB, Shift>, raster: bool) -> Self {
        let (w, h) = area.dim_in_pixel();
        Canvas { area, width: w as i32, height: h as i32, raster, drawn: RefCell::new(Vec::new()) }
    }

    /// Draws `s` at a font size (em) of `size` pixels, anchored at `(x, y)`: `v` centred puts the
    /// middle of the hanzi on `y`.
    fn text(&self, s: &str, (x, y): (i32, i32), size: f64, colour: &RGBColor, h: HPos, v: VPos) -> Drawn<DB> {
        {
            let mut drawn = self.drawn.borrow_mut();
            if !drawn.iter().any(|d| d == s) {
                drawn.push(s.to_string());
            }
        }
        if self.raster {
            return self.raster_text(s, (x, y), size, colour, h, v);
        }
        // plotters writes font-size = size / 1.24 and puts a centred baseline 0.5ex below `y`;
        // moving it 0.09em lower centres the hanzi as in the bitmap.
        let y = y + (0.09 * size).round() as i32;
        let style = TextStyle::from(FontDesc::new(FontFamily::Name(FONT_FAMILY), size * 1.24, FontStyle::Normal))
            .color(colour)
            .pos(Pos::new(h, v));
        self.area.draw_text(s, &style, (x, y))
    }

    fn raster_text(&self, s: &str, (x, y): (i32, i32), size: f64, colour: &RGBColor, h: HPos, v: VPos) -> Drawn<DB> {
        use ab_glyph::{Font, ScaleFont, point};
        let font = fonts::font();
        let scale = fonts::scale_for_em(size as f32);
        let scaled = font.as_scaled(scale);
        let width = fonts::text_width(s, size as f32);
        let em = size as f32;
        let left = match h {
            HPos::Left => x as f32,
            HPos::Center => x as f32 - width / 2.0,
            HPos::Right => x as f32 - width,
        };
        // Hanzi stand from about -0.09em to 0.81em around the baseline.
        let baseline = match v {
            VPos::Top => y as f32 + 0.82 * em,
            VPos::Center => y as f32 + 0.36 * em,
            VPos::Bottom => y as f32 - 0.10 * em,
        };
        let mut caret = left;
        let mut prev = None;
        let mut pixels: Vec<((i32, i32), f32)> = Vec::new();
        for c in s.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                caret += scaled.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(scale, point(caret.round(), baseline.round()));
            caret += scaled.h_advance(id);
            if let Some(outline) = font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cover| {
                    if cover > 0.02 {
                        pixels.push(((b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32), cover.min(1.0)));
                    }
                });
            }
        }
        for (at, cover) in pixels {
            self.area.draw_pixel(at, &colour.mix(cover as f64))?;
        }
        Ok(())
    }

    /// The width of `s` in pixels at a font size (em) of `size`.
    fn text_width(&self, s: &str, size: f64) -> i32 {
        fonts::text_width(s, size as f32).ceil() as i32
    }

    fn fill_rect(&self, (x0, y0): (i32, i32), (x1, y1): (i32, i32), colour: &RGBColor) -> Drawn<DB> {
        self.area.draw(&Rectangle::new([(x0, y0), (x1, y1)], colour.filled()))
    }

    fn outline_rect(&self, (x0, y0): (i32, i32), (x1, y1): (i32, i32), colour: &RGBColor) -> Drawn<DB> {
        self.area.draw(&Rectangle::new([(x0, y0), (x1, y1)], colour.stroke_width(1)))
    }

    fn line(&self, points: Vec<(i32, i32)>, colour: &RGBColor, width: u32) -> Drawn<DB> {
        self.area.draw(&PathElement::new(points, colour.stroke_width(width)))
    }

    /// A light box with diagonal hatching: what a suppressed bar or cell looks like.
    fn hatched(&self, (x0, y0): (i32, i32), (x1, y1): (i32, i32), ink: &RGBColor) -> Drawn<DB> {
        let (x0, x1) = (x0.min(x1), x0.max(x1));
        let (y0, y1) = (y0.min(y1), y0.max(y1));
        self.fill_rect((x0, y0), (x1, y1), &WHITE)?;
        let (w, h) = (x1 - x0, y1 - y0);
        // Lines going up and to the right: from (x0 + k + t, y1 - t) for t in [0, h].
        let mut k = -h;
        while k < w {
            let t0 = (-k).max(0);
            let t1 = h.min(w - k);
            if t1 > t0 {
                self.line(vec![(x0 + k + t0, y1 - t0), (x0 + k + t1, y1 - t1)], ink, 1)?;
            }
            k += 7;
        }
        self.outline_rect((x0, y0), (x1, y1), ink)
    }

    /// Title, legend (or subtitle), footnotes and source line. Returns the y below which the
    /// plot may start and the y above which it must end.
    fn frame(&self, view: &LeadershipView, f: &Frame) -> std::result::Result<(i32, i32), DrawingAreaErrorKind<DB::ErrorType>> {
        self.text(&f.title, (PAD, 36), TITLE_SIZE, &INK, HPos::Left, VPos::Center)?;
        let mut y = 78;
        if let Some(sub) = &f.subtitle {
            self.text(sub, (PAD, y), LABEL_SIZE, &MUTED, HPos::Left, VPos::Center)?;
            y += 26;
        }
        if !f.legend.is_empty() {
            let mut x = PAD;
            for (key, label) in &f.legend {
                let w = 30 + self.text_width(label, LEGEND_SIZE);
                if x > PAD && x + w > self.width - PAD {
                    x = PAD;
                    y += 32;
                }
                match key {
                    Key::Swatch(c) => self.fill_rect((x, y - 7), (x + 16, y + 7), c)?,
                    Key::Line(c) => {
                        self.line(vec![(x - 2, y), (x + 18, y)], c, 3)?;
                        self.area.draw(&Circle::new((x + 8, y), 4, c.filled()))?;
                    }
                }
                self.text(label, (x + 24, y), LEGEND_SIZE, &INK, HPos::Left, VPos::Center)?;
                x += w + 26;
            }
            y += 26;
        }
        let source_y = self.height - 22;
        self.text(&source_line(view), (PAD, source_y), NOTE_SIZE, &MUTED, HPos::Left, VPos::Center)?;
        let mut note_y = source_y - 24 * f.footnotes.len() as i32;
        for note in &f.footnotes {
            self.text(note, (PAD, note_y), NOTE_SIZE, &MUTED, HPos::Left, VPos::Center)?;
            note_y += 24;
        }
        Ok((y, source_y - 24 * f.footnotes.len() as i32 - 18))
    }
}

// ---------------------------------------------------------------------------------------------
// Axes

/// A value axis from 0 with round ticks.
struct ValueAxis {
    max: f64,
    step: f64,
    decimals: usize,
}

impl ValueAxis {
    /// Round ticks from 0 to at least `max`, about `target` of them; whole numbers for counts.
    fn new(max: f64, target: f64, whole: bool) -> ValueAxis {
        let max = if max > 0.0 && max.is_finite() { max } else { 1.0 };
        let raw = max / target;
        let mag = 10f64.powf(raw.log10().floor());
        // 2.5 only where it gives whole steps (25, 250, 0.25 …) for what needs them.
        let steps: &[f64] = if whole && mag < 10.0 { &[1.0, 2.0, 5.0, 10.0] } else { &[1.0, 2.0, 2.5, 5.0, 10.0] };
        let mut step = steps.iter().map(|m| m * mag).find(|s| *s >= raw * 0.999).unwrap_or(10.0 * mag);
        if whole {
            step = step.max(1.0).round();
        }
        let decimals = if step >= 1.0 { 0 } else if (step * 10.0).fract().abs() < 1e-9 { 1 } else { 2 };
        ValueAxis { max: (max / step).ceil() * step, step, decimals }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        let n = (self.max / self.step).round() as usize;
        (0..=n).map(|i| i as f64 * self.step).map(|v| (v, format!("{v:.*}", self.decimals))).collect()
    }
}

/// Pixel positions of months along the x axis: slot `i` is centred on `x(i)`.
struct MonthAxis {
    left: i32,
    slot: f64,
    n: usize,
}

impl MonthAxis {
    fn x(&self, i: usize) -> i32 {
        self.left + (self.slot * (i as f64 + 0.5)).round() as i32
    }

    /// Months that get a tick label: every `step`-th counted back from the latest, so the
    /// latest is always labelled and labels never touch.
    fn labelled(&self) -> Vec<usize> {
        let room = fonts::text_width("2026-11", TICK_SIZE as f32) as f64 + 20.0;
        let step = [1, 2, 3, 4, 6, 12].into_iter().find(|s| *s as f64 * self.slot >= room).unwrap_or(12);
        (0..self.n).filter(|i| (self.n - 1 - i).is_multiple_of(step)).collect()
    }
}

/// Draws horizontal grid lines with value labels on the left, the zero line, month ticks and
/// labels, and the axis names.
fn time_axes<DB: DrawingBackend>(
    c: &Canvas<DB>,
    view: &LeadershipView,
    plot: (i32, i32, i32, i32),
    months: &MonthAxis,
    values: &ValueAxis,
    y_name: &str,
) -> Drawn<DB> {
    let (l, t, r, b) = plot;
    let y = |v: f64| b - ((v / values.max) * (b - t) as f64).round() as i32;
    for (v, label) in values.ticks() {
        let yy = y(v);
        if v > 0.0 {
            c.line(vec![(l, yy), (r, yy)], &GRID, 1)?;
        }
        c.text(&label, (l - 10, yy), TICK_SIZE, &MUTED, HPos::Right, VPos::Center)?;
    }
    c.text(y_name, (l - 10, t - 30), LABEL_SIZE, &MUTED, HPos::Right, VPos::Center)?;
    c.line(vec![(l, b), (r, b)], &AXIS, 1)?;
    for i in months.labelled() {
        let x = months.x(i);
        c.line(vec![(x, b), (x, b + 5)], &AXIS, 1)?;
        c.text(&month_label(view.months[i]), (x, b + 20), TICK_SIZE, &MUTED, HPos::Center, VPos::Center)?;
    }
    c.text("月份", ((l + r) / 2, b + 50), LABEL_SIZE, &MUTED, HPos::Center, VPos::Center)
}

/// Moves label positions apart so neighbours are at least `gap` pixels apart, keeping them within
/// `lo..=hi` where possible; returns them in the order given.
fn spread(wanted: &[i32], gap: i32, lo: i32, hi: i32) -> Vec<i32> {
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|&i| (wanted[i], i));
    let mut ys: Vec<i32> = order.iter().map(|&i| wanted[i].clamp(lo, hi)).collect();
    for k in 1..ys.len() {
        ys[k] = ys[k].max(ys[k - 1] + gap);
    }
    if let Some(last) = ys.last_mut() {
        *last = (*last).min(hi);
    }
    for k in (0..ys.len().saturating_sub(1)).rev() {
        ys[k] = ys[k].min(ys[k + 1] - gap);
    }
    let mut out = vec![0; wanted.len()];
    for (k, &i) in order.iter().enumerate() {
        out[i] = ys[k];
    }
    out
}

fn suppressed_note(view: &LeadershipView, what: &str) -> String {
    format!("{what}表示该月数值已隐藏：少于{}人，或为防止由合计推算而一并隐藏", view.threshold)
}

// ---------------------------------------------------------------------------------------------
// tiers: stacked bars

fn tiers<DB: DrawingBackend>(c: &Canvas<DB>, view: &LeadershipView) -> Drawn<DB> {
    let n = view.months.len();
    let frame = Frame {
        title: format!("{}各风险等级人数（月末）", view.county),
        subtitle: None,
        legend: view.tiers.iter().map(|s| (Key::Swatch(rgb(s.colour)), s.label.clone())).collect(),
        footnotes: {
            let month_hidden = |i: usize| view.tiers.iter().any(|s| s.cells.get(i).is_some_and(|c| c.is_hidden()));
            let merged_any = (0..n).any(|i| month_hidden(i) && view.tiers_hidden_total.get(i).copied().flatten().is_some());
            let gap_any = (0..n).any(|i| month_hidden(i) && view.tiers_hidden_total.get(i).copied().flatten().is_none());
            let mut notes = Vec::new();
            if merged_any {
                let example: Vec<&str> = view.tiers.iter().take(2).map(|s| s.short.as_str()).collect();
                notes.push(format!(
                    "斜线带为合并显示的等级（如“{}”），高度为其合计人数：其中有等级少于{}人，单独显示会被推算",
                    example.join("+"),
                    view.threshold
                ));
            }
            if gap_any {
                notes.push("空心框表示该月被隐藏的等级（合计人数也已隐藏，不按人数画高度）".to_string());
            }
            notes
        },
    };
    let (top, bottom) = c.frame(view, &frame)?;
    let plot = (PAD + 60, top + 48, c.width - PAD - 70, bottom - 66);
    let (l, t, r, b) = plot;
    if n == 0 {
        return time_axes(c, view, plot, &MonthAxis { left: l, slot: 1.0, n: 0 }, &ValueAxis::new(1.0, 5.0, true), "人数");
    }
    let months = MonthAxis { left: l, slot: (r - l) as f64 / n as f64, n };

    // A month's hidden tiers are one band of their true total (known from the listed total), or,
    // when that is hidden too, nothing of a made-up height: an empty frame on top of the stack.
    let merged = |i: usize| view.tiers_hidden_total.get(i).copied().flatten();
    let stack = |i: usize| -> f64 {
        let shown: u64 = view.tiers.iter().filter_map(|s| s.cells.get(i).and_then(|c| c.value())).sum();
        (shown + merged(i).unwrap_or(0)) as f64
    };
    let values = ValueAxis::new((0..n).map(stack).fold(0.0, f64::max), 5.0, true);
    time_axes(c, view, plot, &months, &values, "人数")?;

    let y = |v: f64| b - ((v / values.max) * (b - t) as f64).round() as i32;
    let half = ((months.slot * 0.34).round() as i32).max(1);
    let mut latest: Vec<(i32, String, RGBColor)> = Vec::new();
    for i in 0..n {
        let x = months.x(i);
        let mut base = 0.0;
        let mut band: Option<(f64, Vec<&Series>)> = None;
        for s in &view.tiers {
            let colour = rgb(s.colour);
            let height = match s.cells.get(i) {
                Some(Cell::Shown(v)) => *v as f64,
                Some(Cell::Suppressed | Cell::Withheld) => {
                    // The merged band stands where its first hidden tier would.
                    match &mut band {
                        Some((_, hidden)) => hidden.push(s),
                        None => {
                            band = Some((base, vec![s]));
                            base += merged(i).unwrap_or(0) as f64;
                        }
                    }
                    continue;
                }
                None => continue,
            };
            let (y0, y1) = (y(base), y(base + height));
            if y0 > y1 {
                c.fill_rect((x - half, y1), (x + half, y0), &colour)?;
            }
            if i == n - 1 {
                latest.push(((y0 + y1) / 2, s.cells[i].text(view.threshold), colour));
            }
            base += height;
        }
        if let Some((at, hidden)) = band {
            let colour = rgb(hidden[0].colour);
            let names: Vec<&str> = hidden.iter().map(|s| s.short.as_str()).collect();
            let (y0, y1, text) = match merged(i) {
                Some(total) => (y(at), y(at + total as f64), format!("{} {total}", names.join("+"))),
                None => (y(base), y(base) - 9, format!("{} <{}", names.join("+"), view.threshold)),
            };
            if merged(i).is_some() {
                c.hatched((x - half, y1), (x + half, y0), &colour)?;
            } else {
                c.outline_rect((x - half, y1), (x + half, y0), &colour)?;
            }
            if i == n - 1 {
                latest.push(((y0 + y1) / 2, text, colour));
                latest.sort_by_key(|(y, _, _)| std::cmp::Reverse(*y));
            }
        }
    }
    // The latest month's numbers, right of its bar, pushed apart where segments are thin.
    let wanted: Vec<i32> = latest.iter().map(|(y, _, _)| *y).collect();
    let at = spread(&wanted, 20, t, b - 8);
    let x = months.x(n - 1) + half + 8;
    for ((_, text, colour), y) in latest.iter().zip(at) {
        c.fill_rect((x, y - 5), (x + 10, y + 5), colour)?;
        c.text(text, (x + 15, y), TICK_SIZE, &INK, HPos::Left, VPos::Center)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// collisions: lines

fn lines<DB: DrawingBackend>(c: &Canvas<DB>, view: &LeadershipView, title: &str, series: &[Series], bold: bool) -> Drawn<DB> {
    let n = view.months.len();
    let any_hidden = series.iter().any(|s| s.cells.iter().any(|c| c.is_hidden()));
    let frame = Frame {
        title: title.to_string(),
        subtitle: None,
        legend: series.iter().map(|s| (Key::Line(rgb(s.colour)), s.label.clone())).collect(),
        footnotes: if any_hidden { vec![suppressed_note(view, "折线断开处的空心圆点")] } else { vec![] },
    };
    let (top, bottom) = c.frame(view, &frame)?;
    let plot = (PAD + 60, top + 48, c.width - PAD - 70, bottom - 66);
    let (l, t, r, b) = plot;
    let max = series.iter().flat_map(|s| s.cells.iter().filter_map(|c| c.value())).max().unwrap_or(0) as f64;
    let values = ValueAxis::new(max.max(view.threshold as f64), 5.0, true);
    let months = MonthAxis { left: l, slot: (r - l) as f64 / n.max(1) as f64, n };
    time_axes(c, view, plot, &months, &values, "人数")?;
    if n == 0 {
        return Ok(());
    }
    let y = |v: u64| b - ((v as f64 / values.max) * (b - t) as f64).round() as i32;
    let (width, dot) = if bold { (3, 4) } else { (2, 3) };

    for s in series {
        let colour = rgb(s.colour);
        // Runs of shown months are drawn as one line each; a suppressed month breaks the line.
        let mut run: Vec<(i32, i32)> = Vec::new();
        for i in 0..n {
            match s.cells.get(i).copied().unwrap_or(Cell::Suppressed) {
                Cell::Shown(v) => run.push((months.x(i), y(v))),
                Cell::Suppressed | Cell::Withheld => {
                    if run.len() > 1 {
                        c.line(std::mem::take(&mut run), &colour, width)?;
                    }
                    run.clear();
                }
            }
        }
        if run.len() > 1 {
            c.line(run, &colour, width)?;
        }
        for i in 0..n {
            match s.cells.get(i).copied().unwrap_or(Cell::Suppressed) {
                Cell::Shown(v) => c.area.draw(&Circle::new((months.x(i), y(v)), dot, colour.filled()))?,
                Cell::Suppressed | Cell::Withheld => {
                    let at = (months.x(i), b - 8);
                    c.area.draw(&Circle::new(at, 6, WHITE.filled()))?;
                    c.area.draw(&Circle::new(at, 6, colour.stroke_width(2)))?;
                }
            }
        }
    }
    // The latest value of each line at its right end.
    let latest: Vec<(i32, String, RGBColor)> = series
        .iter()
        .map(|s| {
            let cell = s.cells.get(n - 1).copied().unwrap_or(Cell::Suppressed);
            let at = match cell {
                Cell::Shown(v) => y(v),
                Cell::Suppressed | Cell::Withheld => b - 8,
            };
            (at, cell.text(view.threshold), rgb(s.colour))
        })
        .collect();
    let wanted: Vec<i32> = latest.iter().map(|(y, _, _)| *y).collect();
    let at = spread(&wanted, 20, t, b);
    let x = months.x(n - 1) + 12;
    for ((_, text, colour), y) in latest.iter().zip(at) {
        c.fill_rect((x, y - 5), (x + 10, y + 5), colour)?;
        c.text(text, (x + 15, y), TICK_SIZE, &INK, HPos::Left, VPos::Center)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// categories: small multiples

/// One small panel per category, each with its own value axis: the categories differ by an order
/// of magnitude (不良行为 in the hundreds, 涉罪 a handful), and on one shared axis the small ones
/// would lie flat on the floor, their changes unreadable. The subtitle says the scales differ.
fn categories<DB: DrawingBackend>(c: &Canvas<DB>, view: &LeadershipView) -> Drawn<DB> {
    let series = &view.categories;
    let n = view.months.len();
    let any_hidden = series.iter().any(|s| s.cells.iter().any(|c| c.is_hidden()));
    let frame = Frame {
        title: format!("{}各类关键数据涉及人数（月末）", view.county),
        subtitle: Some("每个小图为一类，纵轴刻度各自不同（请看刻度读数，勿按高低比较各类）；右上角为最近一个月的人数".into()),
        legend: vec![],
        footnotes: if any_hidden { vec![suppressed_note(view, "折线断开处的空心圆点")] } else { vec![] },
    };
    let (top, bottom) = c.frame(view, &frame)?;
    if series.is_empty() {
        return Ok(());
    }
    let cols = if series.len() <= 3 { series.len() } else if series.len() <= 6 { 3 } else { 4 };
    let rows = series.len().div_ceil(cols);
    let (gap_x, gap_y) = (28, 22);
    let panel_w = (c.width - 2 * PAD - gap_x * (cols as i32 - 1)) / cols as i32;
    let panel_h = (bottom - top - gap_y * (rows as i32 - 1)) / rows as i32;
    for (k, s) in series.iter().enumerate() {
        let (col, row) = ((k % cols) as i32, (k / cols) as i32);
        let x0 = PAD + col * (panel_w + gap_x);
        let y0 = top + row * (panel_h + gap_y);
        panel(c, view, s, (x0, y0, x0 + panel_w, y0 + panel_h), n)?;
    }
    Ok(())
}

/// One category's panel: its name and latest count on top, its line over the months on its own
/// axis (3 or so round ticks), the first and the latest month below.
fn panel<DB: DrawingBackend>(c: &Canvas<DB>, view: &LeadershipView, s: &Series, (x0, y0, x1, y1): (i32, i32, i32, i32), n: usize) -> Drawn<DB> {
    let colour = rgb(s.colour);
    c.fill_rect((x0, y0 + 4), (x0 + 14, y0 + 18), &colour)?;
    c.text(&s.label, (x0 + 20, y0 + 11), LEGEND_SIZE, &INK, HPos::Left, VPos::Center)?;
    let latest = n.checked_sub(1).and_then(|i| s.cells.get(i)).copied();
    if let Some(cell) = latest {
        c.text(&cell.text(view.threshold), (x1, y0 + 11), LEGEND_SIZE, &INK, HPos::Right, VPos::Center)?;
    }
    let max = s.cells.iter().filter_map(|c| c.value()).max().unwrap_or(0) as f64;
    let values = ValueAxis::new(max.max(view.threshold as f64), 3.0, true);
    let tick_w = values.ticks().iter().map(|(_, l)| c.text_width(l, TICK_SIZE)).max().unwrap_or(0);
    let (l, t, r, b) = (x0 + tick_w + 10, y0 + 38, x1 - 6, y1 - 30);
    let y = |v: f64| b - ((v / values.max) * (b - t) as f64).round() as i32;
    for (v, label) in values.ticks() {
        let yy = y(v);
        c.line(vec![(l, yy), (r, yy)], if v > 0.0 { &GRID } else { &AXIS }, 1)?;
        c.text(&label, (l - 6, yy), TICK_SIZE, &MUTED, HPos::Right, VPos::Center)?;
    }
    if n == 0 {
        return Ok(());
    }
    let months = MonthAxis { left: l, slot: (r - l) as f64 / n as f64, n };
    if n == 1 {
        c.text(&month_label(view.months[0]), (months.x(0), b + 16), TICK_SIZE, &MUTED, HPos::Center, VPos::Center)?;
    } else {
        c.text(&month_label(view.months[0]), (l, b + 16), TICK_SIZE, &MUTED, HPos::Left, VPos::Center)?;
        c.text(&month_label(view.months[n - 1]), (r, b + 16), TICK_SIZE, &MUTED, HPos::Right, VPos::Center)?;
    }
    // Runs of shown months are one line each; a suppressed month breaks the line and gets a
    // hollow marker on the axis.
    let mut run: Vec<(i32, i32)> = Vec::new();
    for i in 0..n {
        match s.cells.get(i).copied().unwrap_or(Cell::Suppressed) {
            Cell::Shown(v) => run.push((months.x(i), y(v as f64))),
            Cell::Suppressed | Cell::Withheld => {
                if run.len() > 1 {
                    c.line(std::mem::take(&mut run), &colour, 3)?;
                }
                run.clear();
            }
        }
    }
    if run.len() > 1 {
        c.line(run, &colour, 3)?;
    }
    for i in 0..n {
        match s.cells.get(i).copied().unwrap_or(Cell::Suppressed) {
            Cell::Shown(v) if i + 1 == n || n == 1 => c.area.draw(&Circle::new((months.x(i), y(v as f64)), 4, colour.filled()))?,
            Cell::Shown(_) => {}
            Cell::Suppressed | Cell::Withheld => {
                let at = (months.x(i), b - 6);
                c.area.draw(&Circle::new(at, 5, WHITE.filled()))?;
                c.area.draw(&Circle::new(at, 5, colour.stroke_width(2)))?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// townships: horizontal bars by rate

fn township_label(row: &TownshipRow, threshold: u64) -> String {
    match (row.listed, row.rate_per_1000) {
        (Cell::Suppressed | Cell::Withheld, _) => row.listed.text(threshold),
        (Cell::Shown(n), Some(rate)) => format!("{rate:.1}（{n}人）"),
        (Cell::Shown(n), None) => format!("—（{n}人，无人口数）"),
    }
}

fn townships<DB: DrawingBackend>(c: &Canvas<DB>, view: &LeadershipView) -> Drawn<DB> {
    let rows = &view.townships;
    let month = view.months.last().map(|m| month_label(*m)).unwrap_or_else(|| view.as_of.to_string());
    let any_hidden = rows.iter().any(|r| r.listed.is_hidden());
    let frame = Frame {
        title: format!("{}各乡镇（街道）每千名未成年人中的名单人数（{month}）", view.county),
        subtitle: Some("条形长度为每千名未成年人中的名单人数，括号内为名单人数；按比率从高到低排列".into()),
        legend: vec![],
        footnotes: if any_hidden {
            vec![format!(
                "阴影表示名单人数已隐藏（数值与比率均不显示）：“<{t}”为少于{t}人，“{m}”为防止由合计推算而一并隐藏",
                t = view.threshold,
                m = crate::report::view::WITHHELD_MARK
            )]
        } else {
            vec![]
        },
    };
    let (top, bottom) = c.frame(view, &frame)?;
    let name_w = rows.iter().map(|r| c.text_width(&r.name, LABEL_SIZE)).max().unwrap_or(0);
    let label_w = rows.iter().map(|r| c.text_width(&township_label(r, view.threshold), TICK_SIZE)).max().unwrap_or(0);
    let (l, t, r, b) = (PAD + name_w + 16, top + 16, c.width - PAD - label_w - 16, bottom - 66);
    let max = rows.iter().filter_map(|r| r.rate_per_1000).fold(0.0, f64::max);
    let values = ValueAxis::new(max, 6.0, false);
    let x = |v: f64| l + ((v / values.max) * (r - l) as f64).round() as i32;
    for (v, label) in values.ticks() {
        let xx = x(v);
        c.line(vec![(xx, t), (xx, b)], if v > 0.0 { &GRID } else { &AXIS }, 1)?;
        c.text(&label, (xx, b + 20), TICK_SIZE, &MUTED, HPos::Center, VPos::Center)?;
    }
    c.text("每千名未成年人", ((l + r) / 2, b + 50), LABEL_SIZE, &MUTED, HPos::Center, VPos::Center)?;
    if rows.is_empty() {
        return Ok(());
    }
    let band = (b - t) as f64 / rows.len() as f64;
    let half = ((band * 0.32).round() as i32).clamp(2, 22);
    for (i, row) in rows.iter().enumerate() {
        let yc = t + (band * (i as f64 + 0.5)).round() as i32;
        c.text(&row.name, (l - 12, yc), LABEL_SIZE, &INK, HPos::Right, VPos::Center)?;
        let end = match (row.listed, row.rate_per_1000) {
            (Cell::Suppressed | Cell::Withheld, _) => {
                let end = l + 44;
                c.hatched((l, yc - half), (end, yc + half), &HIDDEN)?;
                end
            }
            (Cell::Shown(_), Some(rate)) => {
                let end = x(rate).max(l + 1);
                c.fill_rect((l, yc - half), (end, yc + half), &BAR)?;
                end
            }
            (Cell::Shown(_), None) => l,
        };
        let label = township_label(row, view.threshold);
        c.text(&label, (end + 8, yc), TICK_SIZE, &INK, HPos::Left, VPos::Center)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// cooccurrence: heatmap

/// The fill of an off-diagonal cell: from pale to deep blue with `share` of the largest count.
fn heat(share: f64) -> RGBColor {
    let share = share.clamp(0.0, 1.0);
    let (lo, hi) = ((0xE3, 0xF2, 0xFD), (0x0D, 0x47, 0xA1));
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * share).round() as u8;
    RGBColor(mix(lo.0, hi.0), mix(lo.1, hi.1), mix(lo.2, hi.2))
}

fn is_dark(c: &RGBColor) -> bool {
    0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * (c.2 as f64) < 140.0
}

/// Splits a label that is too wide for its column into two lines: next to a "与" or "和" if
/// there is one (失学辍学 / 与闲散, 监护与 / 生活困境), whichever gives the more even lines,
/// else in the middle.
fn wrap(label: &str, fits: impl Fn(&str) -> bool) -> Vec<String> {
    if fits(label) {
        return vec![label.to_string()];
    }
    let chars: Vec<char> = label.chars().collect();
    let len = chars.len();
    let breaks = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, '与' | '和'))
        .flat_map(|(i, _)| [i, i + 1])
        .filter(|&k| k > 0 && k < len);
    let at = breaks.min_by_key(|&k| (len as i64 - 2 * k as i64).abs()).unwrap_or(len.div_ceil(2));
    vec![chars[..at].iter().collect(), chars[at..].iter().collect()]
}

fn cooccurrence<DB: DrawingBackend>(c: &Canvas<DB>, view: &LeadershipView) -> Drawn<DB> {
    let cats = &view.category_labels;
    let n = cats.len();
    let month = view.months.last().map(|m| month_label(*m)).unwrap_or_else(|| view.as_of.to_string());
    let index = |key: &str| cats.iter().position(|(id, label)| id == key || label == key);
    let mut cells = vec![None; n * n];
    for p in &view.pairs {
        if let (Some(i), Some(j)) = (index(&p.row), index(&p.col)) {
            cells[i * n + j] = Some(p.people);
        }
    }
    let any_hidden = cells.iter().any(|c| c.is_some_and(|c| c.is_hidden()));
    let mut footnotes = vec!["对角线（灰色）为具有该类情形的人数；其余格为同时具有两类情形的人数，颜色越深人数越多".to_string()];
    if any_hidden {
        footnotes.push(format!(
            "阴影格表示数值已隐藏：“<{t}”为少于{t}人，“{m}”为防止由合计推算而一并隐藏",
            t = view.threshold,
            m = crate::report::view::WITHHELD_MARK
        ));
    }
    let frame = Frame {
        title: format!("{}各类情形共现人数（{month}）", view.county),
        subtitle: Some("行、列为七类关键数据；格中数字为人数".into()),
        legend: vec![],
        footnotes,
    };
    let (top, bottom) = c.frame(view, &frame)?;
    if n == 0 {
        return Ok(());
    }
    let row_w = cats.iter().map(|(_, label)| c.text_width(label, LABEL_SIZE)).max().unwrap_or(0);
    let scale_w = 110;
    let cell_w = ((c.width - 2 * PAD - row_w - 16 - scale_w) / n as i32).min(130);
    let col_label_h = 50;
    let cell_h = ((bottom - top - col_label_h - 10) / n as i32).min(80);
    let l = PAD + row_w + 16;
    let t = top + col_label_h;

    for (j, (_, label)) in cats.iter().enumerate() {
        let xc = l + cell_w * j as i32 + cell_w / 2;
        let lines = wrap(label, |s| c.text_width(s, LABEL_SIZE) <= cell_w - 8);
        let k = lines.len() as i32;
        for (m, line) in lines.iter().enumerate() {
            let y = t - 14 - 20 * (k - 1 - m as i32);
            c.text(line, (xc, y), LABEL_SIZE, &INK, HPos::Center, VPos::Center)?;
        }
    }
    let max_off = (0..n * n)
        .filter(|k| k / n != k % n)
        .filter_map(|k| cells[k].and_then(|c| c.value()))
        .max()
        .unwrap_or(0);
    for i in 0..n {
        let y0 = t + cell_h * i as i32;
        c.text(&cats[i].1, (l - 12, y0 + cell_h / 2), LABEL_SIZE, &INK, HPos::Right, VPos::Center)?;
        for j in 0..n {
            let x0 = l + cell_w * j as i32;
            let (a, z) = ((x0 + 1, y0 + 1), (x0 + cell_w - 2, y0 + cell_h - 2));
            let centre = (x0 + cell_w / 2, y0 + cell_h / 2);
            match cells[i * n + j] {
                None => c.fill_rect(a, z, &HIDDEN_FILL)?,
                Some(hidden @ (Cell::Suppressed | Cell::Withheld)) => {
                    c.hatched(a, z, &RGBColor(0xBD, 0xBD, 0xBD))?;
                    let text = hidden.text(view.threshold);
                    let w = c.text_width(&text, CELL_SIZE) / 2 + 6;
                    c.fill_rect((centre.0 - w, centre.1 - 12), (centre.0 + w, centre.1 + 12), &WHITE)?;
                    c.text(&text, centre, CELL_SIZE, &MUTED, HPos::Center, VPos::Center)?;
                }
                Some(Cell::Shown(v)) => {
                    let fill = if i == j { RGBColor(0xCF, 0xD8, 0xDC) } else { heat(v as f64 / max_off.max(1) as f64) };
                    c.fill_rect(a, z, &fill)?;
                    let ink = if is_dark(&fill) { WHITE } else { INK };
                    c.text(&v.to_string(), centre, CELL_SIZE, &ink, HPos::Center, VPos::Center)?;
                }
            }
        }
    }
    // The colour scale of the off-diagonal cells.
    let (sx, st, sb) = (l + cell_w * n as i32 + 36, t + 24, t + (cell_h * n as i32).min(260));
    c.text("人数", (sx, t + 4), LABEL_SIZE, &MUTED, HPos::Left, VPos::Center)?;
    for yy in st..sb {
        let share = (sb - yy) as f64 / (sb - st) as f64;
        c.fill_rect((sx, yy), (sx + 18, yy + 1), &heat(share))?;
    }
    c.text(&max_off.to_string(), (sx + 26, st + 6), TICK_SIZE, &MUTED, HPos::Left, VPos::Center)?;
    c.text("0", (sx + 26, sb - 6), TICK_SIZE, &MUTED, HPos::Left, VPos::Center)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::view::{PairCell, QualitySummary};

    const CATEGORIES: [(&str, &str); 7] = [
        ("C1", "不良行为"),
        ("C2", "严重不良行为"),
        ("C3", "涉罪与矫正"),
        ("C4", "受侵害"),
        ("C5", "失学辍学与闲散"),
        ("C6", "监护与生活困境"),
        ("C7", "心理困境"),
    ];

    const TOWNSHIPS: [&str; 8] = ["城关镇", "北郊街道", "珠山镇", "南河乡", "东湖街道", "石门镇", "青龙乡", "白沙镇"];

    fn month_ends(n: usize) -> Vec<NaiveDate> {
        let (mut y, mut m) = (2024, 12);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let first_of_next = if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1) } else { NaiveDate::from_ymd_opt(y, m + 1, 1) };
            out.push(first_of_next.and_then(|d| d.pred_opt()).expect("a valid month"));
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        out
    }

    /// A smooth trend with seasonal wobble; months listed in `hidden` are suppressed.
    fn cells(n: usize, base: f64, slope: f64, hidden: &[usize]) -> Vec<Cell> {
        (0..n)
            .map(|i| {
                if hidden.contains(&i) {
                    Cell::Suppressed
                } else {
                    let wobble = ((i as f64) * 0.9).sin() * base * 0.08;
                    Cell::Shown((base + slope * i as f64 + wobble).round().max(5.0) as u64)
                }
            })
            .collect()
    }

    fn series(key: &str, label: &str, colour: (u8, u8, u8), cells: Vec<Cell>) -> Series {
        Series { key: key.into(), label: label.into(), short: label.chars().next().map(String::from).unwrap_or_default(), colour, cells }
    }

    fn sample_view() -> LeadershipView {
        let n = 24;
        use crate::report::leadership::CATEGORY_COLOURS as colours;
        // the demo codebook's tier colours
        let tiers = vec![
            series("red", "红色预警", (0xE5, 0x39, 0x35), cells(n, 14.0, 0.5, &[2, 3, 9])),
            series("orange", "橙色预警", (0xFB, 0x8C, 0x00), cells(n, 38.0, 0.8, &[])),
            series("yellow", "黄色预警", (0xFD, 0xD8, 0x35), cells(n, 95.0, 1.5, &[])),
            series("blue", "蓝色关注", (0x1E, 0x88, 0xE5), cells(n, 160.0, 2.0, &[])),
        ];
        let bases = [120.0, 45.0, 9.0, 30.0, 60.0, 85.0, 40.0];
        let categories = CATEGORIES
            .iter()
            .enumerate()
            .map(|(k, (id, label))| {
                let hidden: &[usize] = if *id == "C3" { &[0, 1, 5, 6, 7, 15] } else { &[] };
                series(id, label, colours[k], cells(n, bases[k], 0.6 + k as f64 * 0.2, hidden))
            })
            .collect();
        let collisions = vec![
            series("collision", "碰撞命中", (0x37, 0x47, 0x4F), cells(n, 70.0, 1.2, &[])),
            series("key_youth", "重点青少年", (0xE5, 0x39, 0x35), cells(n, 50.0, 1.3, &[4])),
        ];
        let new_and_lifted = vec![
            series("new", "新增", (0xFB, 0x8C, 0x00), cells(n, 20.0, 0.1, &[])),
            series("lifted", "解除", (0x43, 0xA0, 0x47), cells(n, 15.0, 0.1, &[])),
        ];
        let mut townships: Vec<TownshipRow> = TOWNSHIPS
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let pop = 3000 + 1700 * k as u64;
                let listed = if *name == "青龙乡" { Cell::Suppressed } else { Cell::Shown(18 + (k as u64 * 13) % 50) };
                let rate = listed.value().map(|l| l as f64 * 1000.0 / pop as f64);
                TownshipRow {
                    code: format!("3601{k:02}"),
                    name: name.to_string(),
                    minors_population: pop,
                    listed,
                    key_youth: listed,
                    rate_per_1000: rate,
                }
            })
            .collect();
        townships.sort_by(|a, b| match (a.rate_per_1000, b.rate_per_1000) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.name.cmp(&b.name),
        });
        let mut pairs = Vec::new();
        for (i, (ri, _)) in CATEGORIES.iter().enumerate() {
            for (j, (cj, _)) in CATEGORIES.iter().enumerate() {
                let (a, b) = (i.min(j), i.max(j));
                let people = if i == j {
                    Cell::Shown(bases[i] as u64 + 10)
                } else if (a + b) % 4 == 1 || (a, b) == (2, 4) {
                    Cell::Suppressed
                } else {
                    Cell::Shown(5 + ((a * 7 + b * 3) % 23) as u64)
                };
                pairs.push(PairCell { row: ri.to_string(), col: cj.to_string(), people });
            }
        }
        LeadershipView {
            county: "珠山县".into(),
            as_of: NaiveDate::from_ymd_opt(2026, 11, 30).expect("a date"),
            model_version: "collision-2026.11".into(),
            threshold: 5,
            months: month_ends(n),
            key_youth_label: "红+橙".into(),
            tiers_hidden_total: vec![None; n],
            tiers,
            categories,
            collisions_and_key_youth: collisions,
            new_and_lifted,
            headlines: vec![],
            townships,
            pairs,
            category_labels: CATEGORIES.iter().map(|(id, l)| (id.to_string(), l.to_string())).collect(),
            fairness: vec![],
            tasks: vec![],
            quality: QualitySummary::default(),
            run_hash: "0".repeat(64),
            generated_at: "2026-11-24 02:31 Asia/Shanghai".into(),
        }
    }

    /// Decodes a PNG into (width, height, RGB bytes).
    fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::fs::File::open(path).expect("open png"));
        let mut reader = decoder.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("png frame");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn write_charts_writes_a_png_and_an_svg_per_chart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("charts");
        let written = write_charts(&out, &sample_view()).expect("charts");
        let expected: Vec<String> = {
            let mut v: Vec<String> =
                ["tiers", "categories", "collisions", "townships", "cooccurrence"].iter().flat_map(|s| [format!("{s}.png"), format!("{s}.svg")]).collect();
            v.sort();
            v
        };
        assert_eq!(written, expected);
        for name in &written {
            assert!(out.join(name).metadata().expect("written").len() > 1000, "{name} is too small");
        }
    }

    #[test]
    fn every_png_is_a_real_picture_and_the_tier_chart_has_the_tier_red() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_charts(dir.path(), &sample_view()).expect("charts");
        for chart in Chart::ALL {
            let (w, h, rgb) = decode(&dir.path().join(format!("{}.png", chart.stem())));
            assert_eq!((w, h), chart.size());
            let pixels: Vec<[u8; 3]> = rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
            let not_white = pixels.iter().filter(|p| **p != [255, 255, 255]).count();
            assert!(not_white * 100 > pixels.len() * 3, "{}: only {not_white} pixels drawn", chart.stem());
            let mut distinct = pixels.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert!(distinct.len() >= 8, "{}: only {} colours", chart.stem(), distinct.len());
            if chart == Chart::Tiers {
                let near = |p: &[u8; 3], c: [u8; 3]| p.iter().zip(c).all(|(a, b)| (*a as i32 - b as i32).abs() <= 6);
                let red = pixels.iter().filter(|p| near(p, [0xE5, 0x39, 0x35])).count();
                assert!(red > 2000, "the tier chart has only {red} tier-red pixels");
            }
        }
    }

    #[test]
    fn the_font_covers_every_string_drawn() {
        let view = sample_view();
        let drawn = strings_drawn(&view);
        for needle in ["各风险等级人数", "月份", "人数", "每千名未成年人", "数据截至 2026-11-30", "2026-11", "<5"] {
            assert!(drawn.iter().any(|s| s.contains(needle)), "nothing drawn contains {needle}: {drawn:?}");
        }
        for s in &drawn {
            assert!(fonts::missing_chars(s).is_empty(), "the font lacks {:?} of {s:?}", fonts::missing_chars(s));
        }
        let labels = view
            .category_labels
            .iter()
            .map(|(_, l)| l.clone())
            .chain(view.tiers.iter().map(|s| s.label.clone()))
            .chain(view.collisions_and_key_youth.iter().map(|s| s.label.clone()))
            .chain(view.townships.iter().map(|t| t.name.clone()));
        for label in labels {
            assert!(fonts::covers(&label), "the font lacks {:?} of {label}", fonts::missing_chars(&label));
            assert!(drawn.iter().any(|s| s.contains(&label)), "{label} is not drawn");
        }
    }

    #[test]
    fn svgs_carry_the_chinese_titles_and_mark_suppressed_cells() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_charts(dir.path(), &sample_view()).expect("charts");
        let svg = |stem: &str| std::fs::read_to_string(dir.path().join(format!("{stem}.svg"))).expect("svg");
        for (stem, title) in [
            ("tiers", "各风险等级人数（月末）"),
            ("categories", "各类关键数据涉及人数"),
            ("collisions", "碰撞命中与重点青少年人数"),
            ("townships", "每千名未成年人中的名单人数"),
            ("cooccurrence", "各类情形共现人数"),
        ] {
            let text = svg(stem);
            assert!(text.contains(title), "{stem}.svg lacks its title");
            assert!(text.contains(FONT_FAMILY), "{stem}.svg does not name the font");
            assert!(text.contains("阴影") || text.contains("空心圆点") || text.contains("斜线带") || text.contains("空心框"), "{stem}.svg has no footnote on suppression");
        }
        // "<5" is escaped in SVG text.
        for stem in ["townships", "cooccurrence"] {
            assert!(svg(stem).contains("&lt;5"), "{stem}.svg does not mark suppressed cells");
        }
        // The suppressed township gets no rate and no count.
        let townships = svg("townships");
        let line = townships.lines().skip_while(|l| !l.contains("青龙乡")).nth(1).unwrap_or_default().to_string();
        assert!(!line.contains('（'), "the suppressed township shows a number: {line}");
    }

    #[test]
    fn suppressed_cells_never_reach_the_drawing_as_numbers() {
        // Everything suppressed: no digit may be drawn except axis ticks, dates and the source line.
        let mut view = sample_view();
        for s in view.tiers.iter_mut().chain(&mut view.categories).chain(&mut view.collisions_and_key_youth) {
            s.cells.iter_mut().for_each(|c| *c = Cell::Suppressed);
        }
        for t in &mut view.townships {
            t.listed = Cell::Suppressed;
            t.rate_per_1000 = None;
        }
        view.pairs.iter_mut().for_each(|p| p.people = Cell::Suppressed);
        let drawn = strings_drawn(&view);
        // Axis ticks run up to the nominal height of four hidden tier segments.
        let tick_max = 4 * view.threshold;
        for s in &drawn {
            let s = &view.months.iter().fold(s.clone(), |s, m| s.replace(&month_label(*m), "<month>"));
            let is_tick = s.parse::<f64>().is_ok_and(|v| v <= tick_max as f64);
            let is_month = s == "<month>";
            let names_threshold = s.contains("<5") || s.contains("少于5人");
            let is_source = s.starts_with("数据截至 2026-11-30");
            let has_digit = s.chars().any(|c| c.is_ascii_digit());
            assert!(!has_digit || is_tick || is_month || names_threshold || is_source, "drawn: {s:?}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        write_charts(dir.path(), &view).expect("charts of an all-suppressed view");
    }

    #[test]
    fn the_same_view_gives_the_same_bytes() {
        let view = sample_view();
        for chart in Chart::ALL {
            assert_eq!(render_png(chart, &view).expect("png"), render_png(chart, &view).expect("png"), "{}", chart.stem());
            assert_eq!(render_svg(chart, &view).0.expect("svg"), render_svg(chart, &view).0.expect("svg"), "{}", chart.stem());
        }
    }

    #[test]
    fn a_view_without_months_or_townships_still_draws() {
        let mut view = sample_view();
        view.months.clear();
        for s in view.tiers.iter_mut().chain(&mut view.categories).chain(&mut view.collisions_and_key_youth) {
            s.cells.clear();
        }
        view.townships.clear();
        view.pairs.clear();
        view.category_labels.clear();
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(write_charts(dir.path(), &view).expect("charts").len(), 10);
        let mut one = sample_view();
        one.months.truncate(1);
        for s in one.tiers.iter_mut().chain(&mut one.categories).chain(&mut one.collisions_and_key_youth) {
            s.cells.truncate(1);
        }
        assert_eq!(write_charts(dir.path(), &one).expect("charts").len(), 10);
    }

    #[test]
    fn the_categories_chart_stays_readable_when_one_category_dwarfs_the_others() {
        // 不良行为 in the thousands, 涉罪与矫正 between 6 and 9.
        let mut view = sample_view();
        let n = view.months.len();
        view.categories[0].cells = cells(n, 2400.0, 20.0, &[]);
        view.categories[2].cells = (0..n).map(|i| Cell::Shown(6 + (i as u64 * 5) % 4)).collect();
        let (w, _, rgb) = {
            let dir = tempfile::tempdir().expect("tempdir");
            write_charts(dir.path(), &view).expect("charts");
            decode(&dir.path().join("categories.png"))
        };
        // The rows of the picture the small category's colour is drawn on: its line rises and
        // falls over a good part of its own axis, not flat along a shared one.
        let colour = view.categories[2].colour;
        let near = |p: &[u8], c: (u8, u8, u8)| [c.0, c.1, c.2].iter().zip(p).all(|(a, b)| (*a as i32 - *b as i32).abs() <= 8);
        let rows: std::collections::BTreeSet<usize> =
            rgb.chunks_exact(3).enumerate().filter(|(_, p)| near(p, colour)).map(|(k, _)| k / w as usize).collect();
        assert!(rows.len() > 40, "涉罪与矫正 is drawn on only {} rows of the chart: flat beside 不良行为", rows.len());
        // Each panel has its own scale: the large category's ticks and the small one's.
        let drawn = render_svg(Chart::Categories, &view).1;
        assert!(drawn.iter().any(|s| s == "10") && drawn.iter().any(|s| s.parse::<u64>().is_ok_and(|v| v >= 2000)), "{drawn:?}");
    }

    #[test]
    fn spread_keeps_labels_apart_and_in_order() {
        assert_eq!(spread(&[100, 105, 300], 20, 0, 400), vec![100, 120, 300]);
        assert_eq!(spread(&[395, 398], 20, 0, 400), vec![380, 400]);
        assert_eq!(spread(&[50, 10], 20, 0, 400), vec![50, 10]);
    }

    #[test]
    fn long_labels_wrap_next_to_a_conjunction() {
        let never = |_: &str| false;
        assert_eq!(wrap("失学辍学与闲散", never), vec!["失学辍学", "与闲散"]);
        assert_eq!(wrap("监护与生活困境", never), vec!["监护与", "生活困境"]);
        assert_eq!(wrap("严重不良行为", never), vec!["严重不", "良行为"]);
        assert_eq!(wrap("受侵害", |_| true), vec!["受侵害"]);
    }

    #[test]
    fn value_axes_have_round_steps() {
        let a = ValueAxis::new(383.0, 5.0, true);
        assert_eq!((a.max, a.step), (400.0, 100.0));
        let b = ValueAxis::new(7.4, 6.0, false);
        assert_eq!((b.max, b.step), (8.0, 2.0));
        let c = ValueAxis::new(103.0, 5.0, true);
        assert_eq!((c.max, c.step), (125.0, 25.0));
        assert_eq!(ValueAxis::new(0.9, 4.0, false).ticks()[1].1, "0.25");
        assert_eq!(ValueAxis::new(0.0, 5.0, true).ticks().last().map(|t| t.1.clone()), Some("1".into()));
    }

    /// Writes the charts of the sample view to `$HUMIAO_CHARTS_PREVIEW` for a person to look at:
    /// `HUMIAO_CHARTS_PREVIEW=/some/dir cargo test --lib preview_when_asked -- --ignored`. It
    /// checks nothing, so it is not part of the suite.
    #[test]
    #[ignore = "manual: set HUMIAO_CHARTS_PREVIEW to a folder"]
    fn preview_when_asked() {
        let dir = std::env::var_os("HUMIAO_CHARTS_PREVIEW").expect("set HUMIAO_CHARTS_PREVIEW to the folder to write the charts to");
        write_charts(Path::new(&dir), &sample_view()).expect("charts");
    }
}
