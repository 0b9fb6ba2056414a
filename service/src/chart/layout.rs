//! The sizes a chart is drawn at, and the arithmetic of its axes: nice y steps, which x labels
//! fit, numbers with thousands separators and an estimate of text widths.

/// One drawing size. A page inlines every layout and its stylesheet shows the one that fits
/// the chart's box (a container query), so text stays between about 11 and 18 CSS px from a
/// 360 px phone to a wide desktop, with or without JavaScript.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// CSS class of this drawing (`chart-wide`, …); the stylesheet picks by it.
    pub class: &'static str,
    pub width: u32,
    /// Height of everything but the legend (which adds rows above the plot as it needs).
    pub height: u32,
    /// Size of every text, in the drawing's units.
    pub font: u32,
    /// At most this many labels under the x axis, and about this many y ticks.
    pub x_labels: usize,
    pub y_ticks: usize,
}

/// A phone held upright: shown in boxes narrower than 480 px (about 300–440 px wide).
pub const COMPACT: Layout = Layout { class: "chart-compact", width: 340, height: 250, font: 13, x_labels: 4, y_ticks: 4 };
/// A tablet, a phone on its side, a narrow window: boxes of 480–820 px.
pub const MEDIUM: Layout = Layout { class: "chart-medium", width: 600, height: 300, font: 14, x_labels: 6, y_ticks: 5 };
/// Desktops, and the size of a downloaded file or PNG.
pub const WIDE: Layout = Layout { class: "chart-wide", width: 900, height: 380, font: 14, x_labels: 8, y_ticks: 5 };
/// What a page inlines, narrowest first.
pub const ALL: [Layout; 3] = [COMPACT, MEDIUM, WIDE];

/// Estimated width of `s` at `font` units: Latin about 0.6 em, CJK and full-width 1 em. The
/// browser draws the text, so this only places and wraps; it errs wide.
pub fn text_width(s: &str, font: u32) -> i32 {
    let em: f64 = s
        .chars()
        .map(|c| {
            if c.is_ascii() {
                0.6
            } else if (c as u32) < 0x2E80 {
                0.7
            } else {
                1.0
            }
        })
        .sum();
    (em * f64::from(font)).ceil() as i32
}

/// `s` cut to at most `max` characters, with an ellipsis when cut (legend entries of long
/// campaign names; the readout and the description keep the whole name).
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_owned() } else { s.chars().take(max.saturating_sub(1)).chain(['…']).collect() }
}

/// `v` with a comma between thousands: `12,345`, `-1,200` (the separator both languages'
/// readers expect in figures).
pub fn thousands(v: i64) -> String {
    use num_format::{Locale, ToFormattedString};
    v.to_formatted_string(&Locale::en)
}

/// The y axis: from `min` to `max` in steps of `step`, each a tick with a gridline. Steps are
/// whole numbers of the form 1, 2 or 5 × 10ⁿ (counts have no fractions), zero is always a
/// tick, and the top tick is the first at or above the highest value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticks {
    pub min: i64,
    pub max: i64,
    pub step: i64,
}

impl Ticks {
    pub fn new(lo: i64, hi: i64, about: usize) -> Ticks {
        let (lo, hi) = (lo.min(0), hi.max(0));
        let span = (hi - lo).max(1) as f64;
        let raw = span / about.max(1) as f64;
        let mag = 10f64.powf(raw.log10().floor());
        // 2.5 only from 25 up: a step of 2.5 itself would not be a whole number.
        let multiples: &[f64] = if mag >= 10.0 { &[1.0, 2.0, 2.5, 5.0, 10.0] } else { &[1.0, 2.0, 5.0, 10.0] };
        let step = multiples.iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
        let step = (step.round() as i64).max(1);
        let max = (hi + step - 1).div_euclid(step).max(1) * step;
        let min = lo.div_euclid(step) * step;
        Ticks { min, max, step }
    }

    pub fn values(&self) -> impl Iterator<Item = i64> + '_ {
        (0..).map(move |k| self.min + k * self.step).take_while(move |v| *v <= self.max)
    }
}

/// Which buckets get a label under the x axis: evenly spaced, at most `most`, at least
/// far enough apart (`spacing` units between buckets) for labels `widest` wide, the first always.
pub fn x_label_indices(n: usize, spacing: f64, widest: i32, most: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let by_count = (n - 1).div_ceil(most.max(2) - 1).max(1);
    let by_room = ((f64::from(widest) + 14.0) / spacing.max(0.01)).ceil() as usize;
    let step = by_count.max(by_room).max(1);
    (0..n).step_by(step).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits_and_keeps_the_sign() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(-1234567), "-1,234,567");
        assert_eq!(thousands(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn ticks_are_round_cover_the_values_and_include_zero() {
        assert_eq!(Ticks::new(0, 0, 5), Ticks { min: 0, max: 1, step: 1 });
        assert_eq!(Ticks::new(0, 7, 5), Ticks { min: 0, max: 8, step: 2 });
        assert_eq!(Ticks::new(0, 1234, 5), Ticks { min: 0, max: 1250, step: 250 });
        assert_eq!(Ticks::new(-3, 48, 5), Ticks { min: -20, max: 60, step: 20 });
        assert_eq!(Ticks::new(3, 10, 4), Ticks { min: 0, max: 10, step: 5 });
        let t = Ticks::new(-45, 12_000, 4);
        assert!(t.min <= -45 && t.max >= 12_000 && t.values().any(|v| v == 0));
        assert!(t.values().count() <= 7, "{t:?}");
    }

    #[test]
    fn x_labels_leave_room_between_them() {
        assert_eq!(x_label_indices(4, 100.0, 40, 8), vec![0, 1, 2, 3]);
        assert_eq!(x_label_indices(31, 30.0, 40, 8), vec![0, 5, 10, 15, 20, 25, 30]);
        // Narrow: 90 days in 300 units, labels 50 wide, at most 4.
        let i = x_label_indices(90, 300.0 / 89.0, 50, 4);
        assert!(i.len() <= 4 && i.windows(2).all(|w| (w[1] - w[0]) as f64 * 300.0 / 89.0 >= 64.0), "{i:?}");
        assert!(x_label_indices(0, 10.0, 10, 4).is_empty());
    }

    #[test]
    fn shorten_cuts_with_an_ellipsis() {
        assert_eq!(shorten("春季海报", 8), "春季海报");
        assert_eq!(shorten("abcdefghij", 5), "abcd…");
    }
}
