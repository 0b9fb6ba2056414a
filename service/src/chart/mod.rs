//! Line charts drawn on the server with plotters, as SVG (for pages and downloads) and PNG
//! (the same SVG rasterised by resvg). Design notes: docs/design/charts.md.
//!
//! - A page inlines the chart at each [`layout::ALL`] size and its stylesheet shows the one
//!   that fits the box, so text stays legible from a phone to a desktop without JavaScript;
//!   a download is the wide drawing.
//! - The legend sits above the plot, never on it; gridlines are light and horizontal only;
//!   values carry thousands separators; markers appear only where points are few.
//! - plotters is built without its font features: the SVG backend writes `<text>` elements
//!   and a browser draws them with its own fonts, Chinese included. For PNG, resvg needs real
//!   fonts (`raster`): the system's and the one built into the server binary.
//! - Each line has its own colour (Okabe–Ito, safe for colour-blind readers) and marker shape;
//!   the previous period is the same colour, lighter and dashed; the bucket still filling
//!   (today) is dotted and hollow, never a cliff.
//! - Every chart carries `role="img"`, a `<title>` and a `<desc>` (the summary in words).
//! - Hover readout without JavaScript (`readout`). Inline in a page its rules come from the
//!   site's stylesheet (no inline style, so a strict CSP holds); a downloaded SVG file
//!   carries them in its own `<style>`; a PNG leaves the readout out.

use crate::ServiceError;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters_backend::{BackendCoord, DrawingErrorKind};
use std::fmt::Write as _;
use wechat::xml::escape;

mod draw;
pub mod layout;
mod raster;
mod readout;
pub use raster::{font_db, png, png_with, use_font_data, use_font_dir};

/// The marker drawn on a line's points and in its legend entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Dot,
    Triangle,
    Cross,
    Square,
    Diamond,
    Ring,
    Bar,
    Plus,
}

/// A line's look: colour and marker. Eight looks, all different in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    pub color: (u8, u8, u8),
    pub marker: Marker,
}

/// Okabe–Ito colours (yellow darkened to read on white), each with its own marker.
pub const LOOKS: [Look; 8] = [
    Look { color: (0, 158, 115), marker: Marker::Dot },
    Look { color: (0, 114, 178), marker: Marker::Triangle },
    Look { color: (213, 94, 0), marker: Marker::Cross },
    Look { color: (204, 121, 167), marker: Marker::Square },
    Look { color: (230, 159, 0), marker: Marker::Diamond },
    Look { color: (86, 180, 233), marker: Marker::Ring },
    Look { color: (60, 60, 60), marker: Marker::Bar },
    Look { color: (160, 140, 0), marker: Marker::Plus },
];

/// One line of a chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub label: String,
    /// One value per bucket (missing values at the end are not drawn).
    pub values: Vec<i64>,
    pub look: Look,
    /// Dashed, without markers: the previous period of the solid line with the same look.
    pub dashed: bool,
}

/// A chart to draw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    /// Accessible name (`<title>`).
    pub title: String,
    /// Accessible description (`<desc>`): the range and totals in words.
    pub summary: String,
    /// Short label of each bucket on the x axis (`3月14日`, `14 Mar`).
    pub x_labels: Vec<String>,
    /// Long label of each bucket in the hover readout (`2026年3月14日 周六`).
    pub x_long: Vec<String>,
    pub lines: Vec<Line>,
    /// Legend text of the dashed lines (`上一周期（虚线）`); no entry when empty.
    pub previous_label: String,
    /// The bucket still filling (the one holding now), if the chart reaches it: drawn hollow
    /// after a dotted segment; later buckets are not drawn.
    pub current: Option<usize>,
    /// Legend and readout words for that bucket (`今天（未完）`).
    pub current_label: String,
}

/// Where an SVG goes: the readout's CSS comes from the page ([`inline`]), from the file
/// itself, or the readout is left out (a picture to rasterise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Inline,
    File,
    Raster,
}

/// CSS of the hover readout, for a stand-alone SVG file (the site's stylesheet has the same).
const READOUT_CSS: &str =
    ".sb-tip,.sb-cursor{visibility:hidden;pointer-events:none}.sb-col:hover .sb-tip,.sb-col:hover .sb-cursor{visibility:visible}";

fn err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("drawing a chart failed: {e}"))
}

fn rgb(c: (u8, u8, u8)) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// A marker at one point: one element type for every shape, so each line draws its markers
/// with one `draw_series` and its legend entry with the same code (plotters' boxed elements
/// would need a `'static` backend, and the SVG backend borrows its output string).
struct MarkerAt<C> {
    at: C,
    m: Marker,
    color: RGBColor,
}

fn marker<C>(m: Marker, at: C, color: RGBColor) -> MarkerAt<C> {
    MarkerAt { at, m, color }
}

impl<'a, C: 'a> PointCollection<'a, C> for &'a MarkerAt<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;

    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for MarkerAt<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(&self, mut pos: I, b: &mut DB, _: (u32, u32)) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = pos.next() else { return Ok(()) };
        let filled = self.color.filled();
        let line = self.color.stroke_width(2);
        match self.m {
            Marker::Dot => b.draw_circle((x, y), 3, &filled, true),
            Marker::Ring => b.draw_circle((x, y), 3, &line, false),
            Marker::Triangle => b.fill_polygon([(x, y - 4), (x + 4, y + 3), (x - 4, y + 3)], &filled),
            Marker::Diamond => b.fill_polygon([(x, y - 4), (x + 4, y), (x, y + 4), (x - 4, y)], &filled),
            Marker::Square => b.draw_rect((x - 3, y - 3), (x + 3, y + 3), &filled, true),
            Marker::Bar => b.draw_rect((x - 1, y - 4), (x + 1, y + 4), &filled, true),
            Marker::Cross => {
                b.draw_line((x - 3, y - 3), (x + 3, y + 3), &line)?;
                b.draw_line((x - 3, y + 3), (x + 3, y - 3), &line)
            }
            Marker::Plus => {
                b.draw_line((x - 4, y), (x + 4, y), &line)?;
                b.draw_line((x, y - 4), (x, y + 4), &line)
            }
        }
    }
}

/// Draws `spec` as one SVG at the wide size: a file (readout rules inside) or a picture
/// to rasterise (no readout).
pub fn svg(spec: &Spec, variant: Variant) -> Result<String, ServiceError> {
    one(spec, layout::WIDE, variant)
}

/// Draws `spec` for a page: one SVG per [`layout::ALL`] size, each with its readout; the
/// site's stylesheet shows the one that fits the chart's box.
pub fn inline(spec: &Spec) -> Result<String, ServiceError> {
    layout::ALL.iter().map(|l| one(spec, *l, Variant::Inline)).collect()
}

fn one(spec: &Spec, layout: layout::Layout, variant: Variant) -> Result<String, ServiceError> {
    let mut out = String::new();
    let frame = draw::draw(spec, layout, &mut out)?;
    let mut head = format!("<title>{}</title><desc>{}</desc>", escape(&spec.title), escape(&spec.summary));
    if variant == Variant::File {
        let _ = write!(head, "<style>{READOUT_CSS}</style>");
    }
    let open_end = out.find('>').ok_or_else(|| err("plotters wrote no SVG"))?;
    out.insert_str(open_end + 1, &head);
    // plotters writes width, height and viewBox already: the picture scales with CSS.
    // `data-plot`: the plot area, for the browser tests that keep text off it.
    let plot = format!("{} {} {} {}", frame.left, frame.top, frame.right, frame.bottom);
    out = out.replacen("<svg ", &format!("<svg role=\"img\" class=\"chart-svg {}\" data-plot=\"{plot}\" ", layout.class), 1);
    if variant != Variant::Raster {
        let close = out.rfind("</svg>").ok_or_else(|| err("plotters wrote no closing tag"))?;
        out.insert_str(close, &readout::readout(spec, &frame));
    }
    Ok(out)
}

impl Spec {
    /// The word for the previous period in a readout row: the legend text up to any bracket.
    fn previous_label_short(&self) -> &str {
        self.previous_label.split(['（', '(']).next().unwrap_or(&self.previous_label).trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(prev: bool) -> Spec {
        let mut lines = vec![
            Line { label: "扫码次数".into(), values: vec![3, 5, 0, 8], look: LOOKS[0], dashed: false },
            Line { label: "取消关注".into(), values: vec![0, 1, -2, 1], look: LOOKS[2], dashed: false },
        ];
        if prev {
            lines.push(Line { label: "扫码次数".into(), values: vec![1, 2, 2, 2], look: LOOKS[0], dashed: true });
        }
        Spec {
            title: "渠道趋势 <&>".into(),
            summary: "3 月: 扫码 16".into(),
            x_labels: vec!["3月1日".into(), "3月2日".into(), "3月3日".into(), "3月4日".into()],
            x_long: vec!["2026年3月1日".into(), "2026年3月2日".into(), "2026年3月3日".into(), "2026年3月4日".into()],
            lines,
            previous_label: if prev { "上一周期（虚线）".into() } else { String::new() },
            ..Default::default()
        }
    }

    /// The y of each `<text>` whose words are `words` (plotters writes them on their own line).
    fn text_ys(svg: &str, words: &str) -> Vec<i32> {
        let needle = format!(">\n{words}\n</text>");
        svg.match_indices(&needle)
            .map(|(at, _)| {
                let open = svg[..at].rfind("<text").unwrap();
                let y = svg[open..at].split(" y=\"").nth(1).unwrap();
                y[..y.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn svg_has_accessible_name_readout_and_dashes() {
        let s = svg(&spec(true), Variant::File).unwrap();
        assert!(s.starts_with("<svg role=\"img\" class=\"chart-svg chart-wide\""), "{}", &s[..80]);
        assert!(s.contains("<title>渠道趋势 &lt;&amp;&gt;</title><desc>3 月: 扫码 16</desc><style>"));
        // One readout column per bucket, with exact values and the previous period's.
        assert_eq!(s.matches("class=\"sb-col\"").count(), 4);
        assert!(s.contains(">扫码次数: 8 (上一周期 2)</tspan>"), "readout");
        assert!(s.contains(">取消关注: -2</tspan>"), "negative values are drawn and read out");
        assert_eq!(text_ys(&s, "上一周期（虚线）").len(), 1, "legend entry of the dashed lines");
        assert!(s.contains(">2026年3月4日</tspan>"));
        // Raster: no readout at all.
        let raster = svg(&spec(false), Variant::Raster).unwrap();
        assert!(!raster.contains("sb-col") && !raster.contains("上一周期"));
    }

    #[test]
    fn a_page_gets_every_layout_each_without_style() {
        let page = inline(&spec(true)).unwrap();
        assert_eq!(page.matches("<svg ").count(), layout::ALL.len());
        for l in layout::ALL {
            assert_eq!(page.matches(&format!("class=\"chart-svg {}\"", l.class)).count(), 1, "{}", l.class);
            assert!(page.contains(&format!("viewBox=\"0 0 {} ", l.width)), "{}", l.class);
        }
        assert!(!page.contains("<style>"), "a strict CSP: the page's stylesheet has the rules");
        assert_eq!(page.matches("class=\"sb-col\"").count(), 4 * layout::ALL.len());
    }

    #[test]
    fn the_legend_sits_above_the_plot_at_every_size() {
        // Eight campaigns with long names: the legend wraps into rows on a phone.
        let lines: Vec<Line> = (0..8)
            .map(|k| Line {
                label: format!("第{k}号门店海报 Spring poster {k}"),
                values: vec![900, 10, 1200 + k, 5],
                look: LOOKS[k as usize],
                dashed: false,
            })
            .collect();
        let s = Spec { x_labels: vec!["a".into(); 4], lines, ..Default::default() };
        for l in layout::ALL {
            let mut out = String::new();
            let frame = draw::draw(&s, l, &mut out).unwrap();
            let mut ys = Vec::new();
            for k in 0..8 {
                ys.extend(text_ys(&out, &layout::shorten(&format!("第{k}号门店海报 Spring poster {k}"), 18)));
            }
            assert_eq!(ys.len(), 8, "{}: every entry drawn once", l.class);
            let lowest = ys.iter().max().unwrap() + l.font as i32 / 2;
            assert!(lowest < frame.top, "{}: legend reaches {lowest}, plot starts at {}", l.class, frame.top);
            // The highest value stays inside the plot.
            assert!(frame.y(1207) >= frame.top, "{}", l.class);
        }
    }

    #[test]
    fn the_bucket_still_filling_is_hollow_and_later_ones_are_not_drawn() {
        let mut s = spec(false);
        s.current = Some(2);
        s.current_label = "今天（未完）".into();
        let out = svg(&s, Variant::File).unwrap();
        assert_eq!(out.matches("class=\"sb-col\"").count(), 3, "no readout for buckets to come");
        assert!(out.contains(">2026年3月3日 · 今天（未完）</tspan>"));
        assert_eq!(text_ys(&out, "今天（未完）").len(), 1, "legend says what the hollow point is");
        // The 8 of bucket 3 is not drawn: the axis ends at 5's tick.
        assert!(text_ys(&out, "8").is_empty() && !text_ys(&out, "6").is_empty(), "{out}");
    }

    #[test]
    fn y_ticks_carry_thousands_separators() {
        let mut s = spec(false);
        s.lines[0].values = vec![0, 12_000, 5, 0];
        let out = svg(&s, Variant::Raster).unwrap();
        assert!(!text_ys(&out, "10,000").is_empty(), "{out}");
    }

    #[test]
    fn png_is_a_picture_of_the_chart() {
        let png = png(&svg(&spec(true), Variant::Raster).unwrap(), 1.0).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.width(), layout::WIDE.width);
        assert!(img.height() >= layout::WIDE.height);
        // The scans line's green is there, and so is dark text.
        let has = |f: &dyn Fn(&image::Rgb<u8>) -> bool| img.pixels().any(f);
        assert!(has(&|p| p.0 == [0, 158, 115]), "green line");
        assert!(has(&|p| p.0[0] < 60 && p.0[1] < 60 && p.0[2] < 60), "text");
    }

    #[test]
    fn all_looks_differ_in_colour_and_marker() {
        for (i, a) in LOOKS.iter().enumerate() {
            for b in &LOOKS[i + 1..] {
                assert_ne!(a.color, b.color);
                assert_ne!(a.marker, b.marker);
            }
        }
    }
}
