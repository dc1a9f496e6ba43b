//! The one font the charts and the HTML report draw Chinese with: a GB2312 subset of WenQuanYi
//! Micro Hei (Apache-2.0), bundled in the binary so no chart depends on the fonts of the machine
//! (see `assets/fonts/README.md` for where it comes from and how it was cut).

use std::sync::{Once, OnceLock};

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};

/// The font's own family name: what plotters knows it by, what the SVG charts name in
/// `font-family`, and what the HTML report declares in its `@font-face`.
pub const FONT_FAMILY: &str = "WenQuanYi Micro Hei";

/// The font file (TrueType).
pub static FONT_TTF: &[u8] = include_bytes!("../../assets/fonts/wqy-microhei-gb2312.ttf");

/// The parsed font. Panics if the bundled file does not parse, which a test rules out.
pub(crate) fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_TTF).expect("the bundled font parses"))
}

/// The characters of `s` (whitespace aside) that the font has no glyph for, each once, in the
/// order they first occur.
pub fn missing_chars(s: &str) -> Vec<char> {
    let font = font();
    let mut missing = Vec::new();
    for c in s.chars().filter(|c| !c.is_whitespace()) {
        if font.glyph_id(c).0 == 0 && !missing.contains(&c) {
            missing.push(c);
        }
    }
    missing
}

/// The glyph scale that gives an em of `em_px` pixels (what CSS calls a font size of `em_px`).
pub(crate) fn scale_for_em(em_px: f32) -> PxScale {
    let font = font();
    PxScale::from(em_px * font.height_unscaled() / font.units_per_em().unwrap_or(1000.0))
}

/// The width of `s` in pixels, set in this font at a font size (em) of `em_px`.
pub fn text_width(s: &str, em_px: f32) -> f32 {
    let font = font().as_scaled(scale_for_em(em_px));
    let mut width = 0.0;
    let mut prev = None;
    for c in s.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        prev = Some(id);
    }
    width
}

/// Whether the font draws every character of `s` (whitespace aside).
pub fn covers(s: &str) -> bool {
    missing_chars(s).is_empty()
}

/// Registers the font with plotters under [`FONT_FAMILY`], once per process. Charts call this
/// before drawing; calling it again does nothing.
pub fn register() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        if plotters::style::register_font(FONT_FAMILY, plotters::style::FontStyle::Normal, FONT_TTF)
            .is_err()
        {
            panic!("the bundled font {FONT_FAMILY} does not parse");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_font_parses_and_covers_the_report_vocabulary() {
        register();
        assert!(covers("各风险等级人数（月末） 2026-11 · 少于5人的数据已隐藏（显示为“<5”）"));
        assert!(covers("不良行为 严重不良行为 涉罪与矫正 受侵害 失学辍学与闲散 监护与生活困境 心理困境"));
        assert!(covers("红色预警 橙色预警 黄色预警 蓝色关注 碰撞命中 重点青少年 ①②③、；：《》—…"));
    }

    #[test]
    fn missing_chars_names_each_uncovered_char_once() {
        // U+4DC0 (a hexagram) and U+1F600 (an emoji) are not in GB2312.
        assert_eq!(missing_chars("城关镇 ䷀䷀😀"), vec!['䷀', '😀']);
        assert!(covers(" \t\n"));
    }

    #[test]
    fn text_width_follows_the_em() {
        // A hanzi is one em wide; ASCII digits are narrower.
        assert!((text_width("城关镇", 20.0) - 60.0).abs() < 0.5);
        assert!(text_width("2026", 20.0) < 50.0);
    }
}
