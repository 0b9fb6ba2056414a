//! Line charts drawn on the server with plotters, as SVG (for pages and downloads) and PNG
//! (the same SVG rasterised by resvg).
//!
//! - plotters is built without its font features: the SVG backend writes `<text>` elements
//!   and a browser draws them with its own fonts, Chinese included; plotters' naive width
//!   estimate only places them. For PNG, resvg needs real fonts (`raster`): the system's and
//!   the one built into the server binary, a CJK family preferred for `sans-serif`.
//! - Each line has its own colour (Okabe–Ito, safe for colour-blind readers) *and* marker
//!   shape, so lines stay apart in grayscale; the previous period is the same colour dashed.
//! - Every chart carries `role="img"`, a `<title>` and a `<desc>` (the summary in words).
//! - Hover readout without JavaScript: one transparent column per bucket whose tip (the
//!   bucket's exact values) CSS shows on `:hover`. Inline in a page the rules come from the
//!   site's stylesheet (no inline style, so a strict CSP holds); a downloaded SVG file
//!   carries them in its own `<style>`; a PNG leaves the readout out.

use crate::ServiceError;
use plotters::element::{DashedPathElement, Drawable, PointCollection};
use plotters::prelude::*;
use plotters_backend::{BackendCoord, DrawingErrorKind};
use std::fmt::Write as _;
use wechat::xml::escape;

mod raster;
pub use raster::{font_db, png, png_with, use_font_data, use_font_dir};

/// Width and height of every chart, in CSS pixels (it scales with its container: `viewBox`).
pub const SIZE: (u32, u32) = (900, 380);

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
    /// Short label of each bucket on the x axis (`03-14`).
    pub x_labels: Vec<String>,
    /// Long label of each bucket in the hover readout (`2026-03-14 周六`).
    pub x_long: Vec<String>,
    pub lines: Vec<Line>,
    /// Legend text of the dashed lines (`上一周期（虚线）`); no entry when empty.
    pub previous_label: String,
}

/// Where an SVG goes: the readout's CSS comes from the page, from the file itself, or the
/// readout is left out (a picture to rasterise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Inline,
    File,
    Raster,
}

/// CSS of the hover readout, for a stand-alone SVG file (the site's stylesheet has the same).
const READOUT_CSS: &str = ".sb-tip,.sb-cursor{visibility:hidden}.sb-col:hover .sb-tip,.sb-col:hover .sb-cursor{visibility:visible}";

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

/// Draws `spec` as SVG text.
pub fn svg(spec: &Spec, variant: Variant) -> Result<String, ServiceError> {
    let n = spec.x_labels.len().max(1);
    let all = spec.lines.iter().flat_map(|l| l.values.iter().copied());
    let (lo, hi) = all.fold((0i64, 0i64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let hi = hi.max(1);
    let pad = ((hi - lo) / 10).max(1);
    let (y_min, y_max) = (if lo < 0 { lo - pad } else { 0 }, hi + pad);
    let mut out = String::new();
    let mut columns: Vec<(i32, i32)> = Vec::with_capacity(n);
    let (plot_top, plot_bottom);
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0..n, y_min..y_max)
            .map_err(err)?;
        let labels = &spec.x_labels;
        chart
            .configure_mesh()
            .x_labels(8.min(n))
            .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
            .y_labels(6)
            .label_style(("sans-serif", 14))
            .light_line_style(RGBColor(235, 238, 240))
            .draw()
            .map_err(err)?;
        // Dashed lines first, so the current period is drawn over them.
        for l in spec.lines.iter().filter(|l| l.dashed) {
            let color = rgb(l.look.color).mix(0.75);
            chart.draw_series(DashedLineSeries::new(l.values.iter().copied().enumerate(), 7, 5, color.stroke_width(2))).map_err(err)?;
        }
        for l in spec.lines.iter().filter(|l| !l.dashed) {
            let color = rgb(l.look.color);
            let m = l.look.marker;
            chart
                .draw_series(LineSeries::new(l.values.iter().copied().enumerate(), color.stroke_width(2)))
                .map_err(err)?
                .label(l.label.clone())
                .legend(move |(x, y)| marker(m, (x + 8, y), color));
            // Markers on every point up to ~120 buckets; beyond, they would merge into a band.
            if n <= 120 {
                chart.draw_series(l.values.iter().copied().enumerate().map(|p| marker(m, p, color))).map_err(err)?;
            }
        }
        if !spec.previous_label.is_empty() && spec.lines.iter().any(|l| l.dashed) {
            let grey = RGBColor(110, 110, 110);
            chart
                .draw_series(std::iter::empty::<Circle<(usize, i64), i32>>())
                .map_err(err)?
                .label(spec.previous_label.clone())
                .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 16, y)], 4, 3, grey.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 205, 210))
            .draw()
            .map_err(err)?;
        for i in 0..n {
            columns.push(chart.backend_coord(&(i, 0)));
        }
        plot_top = chart.backend_coord(&(0, y_max)).1;
        plot_bottom = chart.backend_coord(&(0, y_min)).1;
        root.present().map_err(err)?;
    }
    let mut head = format!("<title>{}</title><desc>{}</desc>", escape(&spec.title), escape(&spec.summary));
    if variant == Variant::File {
        let _ = write!(head, "<style>{READOUT_CSS}</style>");
    }
    let open_end = out.find('>').ok_or_else(|| err("plotters wrote no SVG"))?;
    out.insert_str(open_end + 1, &head);
    out = out.replacen(
        "<svg ",
        // plotters writes width, height and viewBox already: the picture scales with CSS.
        "<svg role=\"img\" class=\"chart-svg\" ",
        1,
    );
    if variant != Variant::Raster {
        let readout = readout(spec, &columns, plot_top, plot_bottom);
        let close = out.rfind("</svg>").ok_or_else(|| err("plotters wrote no closing tag"))?;
        out.insert_str(close, &readout);
    }
    Ok(out)
}

/// One hover column per bucket: a transparent hit area, a cursor line and a tip with the
/// bucket's exact values (and the previous period's next to each, when drawn).
fn readout(spec: &Spec, columns: &[(i32, i32)], top: i32, bottom: i32) -> String {
    let mut s = String::from("<g class=\"sb-readout\">");
    let solid: Vec<&Line> = spec.lines.iter().filter(|l| !l.dashed).collect();
    for (i, &(x, _)) in columns.iter().enumerate() {
        let left = if i == 0 { x - 6 } else { (columns[i - 1].0 + x) / 2 };
        let right = columns.get(i + 1).map_or(x + 6, |c| (c.0 + x) / 2);
        let mut rows = vec![spec.x_long.get(i).or(spec.x_labels.get(i)).cloned().unwrap_or_default()];
        for l in &solid {
            let v = l.values.get(i).copied().unwrap_or(0);
            let prev = spec.lines.iter().find(|p| p.dashed && p.look == l.look).and_then(|p| p.values.get(i));
            rows.push(match prev {
                Some(p) => format!("{}: {v} ({} {p})", l.label, spec.previous_label_short()),
                None => format!("{}: {v}", l.label),
            });
        }
        let width = rows.iter().map(|r| r.chars().map(|c| if c.is_ascii() { 7 } else { 13 }).sum::<i32>()).max().unwrap_or(0) + 16;
        let height = rows.len() as i32 * 18 + 10;
        let tip_x = if x + 12 + width < SIZE.0 as i32 { x + 12 } else { x - 12 - width };
        let _ = write!(
            s,
            "<g class=\"sb-col\" data-i=\"{i}\"><rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"#000\" fill-opacity=\"0\"/>\
             <line class=\"sb-cursor\" x1=\"{x}\" y1=\"{top}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"#888\" stroke-dasharray=\"2,2\"/>\
             <g class=\"sb-tip\"><rect x=\"{tip_x}\" y=\"{}\" width=\"{width}\" height=\"{height}\" rx=\"4\" fill=\"#fff\" stroke=\"#bbb\"/>\
             <text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"13\">",
            (right - left).max(1),
            (bottom - top).max(1),
            top + 4,
            tip_x + 8,
            top + 4,
        );
        for (k, r) in rows.iter().enumerate() {
            let weight = if k == 0 { " font-weight=\"bold\"" } else { "" };
            let _ = write!(s, "<tspan x=\"{}\" dy=\"18\"{weight}>{}</tspan>", tip_x + 8, escape(r));
        }
        s.push_str("</text></g></g>");
    }
    s.push_str("</g>");
    s
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
            x_labels: vec!["03-01".into(), "03-02".into(), "03-03".into(), "03-04".into()],
            x_long: vec!["2026-03-01".into(), "2026-03-02".into(), "2026-03-03".into(), "2026-03-04".into()],
            lines,
            previous_label: if prev { "上一周期（虚线）".into() } else { String::new() },
        }
    }

    #[test]
    fn svg_has_accessible_name_readout_and_dashes() {
        let s = svg(&spec(true), Variant::File).unwrap();
        assert!(s.starts_with("<svg role=\"img\""), "{}", &s[..80]);
        assert!(s.contains("<title>渠道趋势 &lt;&amp;&gt;</title><desc>3 月: 扫码 16</desc><style>"));
        // One readout column per bucket, with exact values and the previous period's.
        assert_eq!(s.matches("class=\"sb-col\"").count(), 4);
        assert!(s.contains(">扫码次数: 8 (上一周期 2)</tspan>"), "readout");
        assert!(s.contains(">取消关注: -2</tspan>"), "negative values are drawn and read out");
        assert!(s.contains("\n上一周期（虚线）\n</text>"), "legend entry of the dashed lines");
        assert!(s.contains(">2026-03-04</tspan>"));
        // Inline: no <style> (a strict CSP); raster: no readout at all.
        let inline = svg(&spec(true), Variant::Inline).unwrap();
        assert!(!inline.contains("<style>") && inline.contains("sb-col"));
        let raster = svg(&spec(false), Variant::Raster).unwrap();
        assert!(!raster.contains("sb-col") && !raster.contains("上一周期"));
    }

    #[test]
    fn png_is_a_picture_of_the_chart() {
        let png = png(&svg(&spec(true), Variant::Raster).unwrap(), 1.0).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), SIZE);
        // The scans line's green is there, and so is dark text or axis.
        let has = |f: &dyn Fn(&image::Rgb<u8>) -> bool| img.pixels().any(f);
        assert!(has(&|p| p.0 == [0, 158, 115]), "green line");
        assert!(has(&|p| p.0[0] < 60 && p.0[1] < 60 && p.0[2] < 60), "axis or text");
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
