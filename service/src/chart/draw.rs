//! One chart at one [`Layout`]: the legend above the plot, light horizontal gridlines with
//! their values, the lines, and dates under the axis. plotters draws every shape and text;
//! the placement is ours, so nothing of the legend can sit on a line.

use super::layout::{Layout, Ticks, shorten, text_width, thousands, x_label_indices};
use super::{Line, Look, Marker, Spec, err, marker, rgb};
use crate::ServiceError;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Space around the drawing and between its parts, in drawing units.
const PAD: i32 = 10;
/// Labels, ticks and legend text: the pages' muted and body colours (5.3:1 and 16:1 on white).
const MUTED: RGBColor = RGBColor(91, 107, 120);
const INK: RGBColor = RGBColor(22, 32, 42);
const GRID: RGBColor = RGBColor(230, 234, 237);
const BASELINE: RGBColor = RGBColor(178, 188, 196);
/// Markers on every point only while points are at least this far apart.
const MARKER_SPACING: f64 = 18.0;
/// Legend entries of campaign names beyond this many characters are cut.
const LEGEND_CHARS: usize = 18;

/// Where things landed, for the hover readout.
pub(super) struct Frame {
    pub width: i32,
    pub font: i32,
    /// The x of each bucket.
    pub xs: Vec<i32>,
    /// The plot area, inside the axes: nothing but gridlines, lines and the readout lie on it.
    pub left: i32,
    pub right: i32,
    pub top: i32,
    pub bottom: i32,
    ticks: Ticks,
}

impl Frame {
    pub fn y(&self, v: i64) -> i32 {
        let span = (self.ticks.max - self.ticks.min).max(1) as f64;
        self.bottom - (((v - self.ticks.min) as f64 / span) * f64::from(self.bottom - self.top)).round() as i32
    }
}

/// One legend entry: what its swatch shows, and its words.
enum Swatch {
    Line(Look),
    Previous,
    Current,
}

/// plotters' SVG backend writes a font's size divided by 1.24; asking for 1.24 times the size
/// makes `font-size` the size the layout (and the browser tests) count on.
const SVG_FONT_SHRINK: f64 = 1.24;

fn text(font: i32, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    ("sans-serif", f64::from(font) * SVG_FONT_SHRINK).into_font().color(&color).pos(Pos::new(h, v))
}

/// The legend's entries laid out in rows across `width`: (row, x, swatch, words).
fn legend_rows(spec: &Spec, width: i32, font: i32) -> Vec<(i32, i32, Swatch, String)> {
    let mut entries: Vec<(Swatch, String)> =
        spec.lines.iter().filter(|l| !l.dashed).map(|l| (Swatch::Line(l.look), shorten(&l.label, LEGEND_CHARS))).collect();
    if !spec.previous_label.is_empty() && spec.lines.iter().any(|l| l.dashed) {
        entries.push((Swatch::Previous, spec.previous_label.clone()));
    }
    if spec.current.is_some() && !spec.current_label.is_empty() {
        entries.push((Swatch::Current, spec.current_label.clone()));
    }
    let (mut row, mut x) = (0, PAD);
    let mut out = Vec::with_capacity(entries.len());
    for (swatch, words) in entries {
        let w = 26 + text_width(&words, font as u32) + 18;
        if x > PAD && x + w > width - PAD {
            row += 1;
            x = PAD;
        }
        out.push((row, x, swatch, words));
        x += w;
    }
    out
}

/// Draws `spec` at `layout` into `out` (SVG text), and returns where the buckets landed.
pub(super) fn draw(spec: &Spec, layout: Layout, out: &mut String) -> Result<Frame, ServiceError> {
    let (w, font) = (layout.width as i32, layout.font as i32);
    let row_h = font * 8 / 5;
    let legend = legend_rows(spec, w, font);
    let legend_h = legend.last().map_or(0, |(r, ..)| (r + 1) * row_h);
    let h = layout.height as i32 + legend_h;
    let n = spec.x_labels.len();
    // Only what has happened is drawn: buckets after the one still filling are left out.
    let drawn = spec.current.map_or(n, |c| (c + 1).min(n));
    let visible = |l: &Line| l.values.iter().take(if l.dashed { n } else { drawn }).copied().collect::<Vec<_>>();
    let (lo, hi) = spec.lines.iter().flat_map(visible).fold((0i64, 0i64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let ticks = Ticks::new(lo, hi, layout.y_ticks);
    let tick_w = ticks.values().map(|v| text_width(&thousands(v), font as u32)).max().unwrap_or(0);
    let (left, right) = (PAD + tick_w + 8, w - PAD - 4);
    let (top, bottom) = (PAD + legend_h + font / 2 + 4, h - PAD - font - 8);
    let step = if n > 1 { f64::from(right - left) / (n - 1) as f64 } else { 0.0 };
    let xs: Vec<i32> = (0..n).map(|i| if n > 1 { left + (i as f64 * step).round() as i32 } else { (left + right) / 2 }).collect();
    let frame = Frame { width: w, font, xs, left, right, top, bottom, ticks };

    let root = SVGBackend::with_string(out, (w as u32, h as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    // Legend, above the plot.
    for (row, x, swatch, words) in &legend {
        let y = PAD + row * row_h + row_h / 2;
        match swatch {
            Swatch::Line(look) => {
                let c = rgb(look.color);
                root.draw(&PathElement::new(vec![(*x, y), (x + 20, y)], c.stroke_width(2))).map_err(err)?;
                root.draw(&marker(look.marker, (x + 10, y), c)).map_err(err)?;
            }
            Swatch::Previous => {
                root.draw(&DashedPathElement::new(vec![(*x, y), (x + 20, y)], 4, 3, MUTED.mix(0.6).stroke_width(2))).map_err(err)?;
            }
            Swatch::Current => {
                root.draw(&DashedPathElement::new(vec![(*x, y), (x + 14, y)], 2, 3, MUTED.stroke_width(2))).map_err(err)?;
                root.draw(&marker(Marker::Ring, (x + 17, y), MUTED)).map_err(err)?;
            }
        }
        root.draw(&Text::new(words.clone(), (x + 26, y), text(font, INK, HPos::Left, VPos::Center))).map_err(err)?;
    }
    // Light horizontal gridlines with their values; zero a shade darker.
    for v in ticks.values() {
        let y = frame.y(v);
        let color = if v == 0 { BASELINE } else { GRID };
        root.draw(&PathElement::new(vec![(left, y), (right, y)], color.stroke_width(1))).map_err(err)?;
        root.draw(&Text::new(thousands(v), (left - 8, y), text(font, MUTED, HPos::Right, VPos::Center))).map_err(err)?;
    }
    // Dates under the axis, kept inside the drawing.
    let widest = spec.x_labels.iter().map(|l| text_width(l, font as u32)).max().unwrap_or(0);
    for i in x_label_indices(n, step, widest, layout.x_labels) {
        let label = &spec.x_labels[i];
        let half = text_width(label, font as u32) / 2;
        let x = frame.xs[i].clamp(half + 2, w - half - 2);
        root.draw(&Text::new(label.clone(), (x, bottom + 8), text(font, MUTED, HPos::Center, VPos::Top))).map_err(err)?;
    }
    // The previous period first, lighter and dashed, so the current one is drawn over it.
    let point = |l: &Line, i: usize| (frame.xs[i], frame.y(l.values[i]));
    for l in spec.lines.iter().filter(|l| l.dashed) {
        let pts: Vec<(i32, i32)> = (0..l.values.len().min(n)).map(|i| point(l, i)).collect();
        let c = rgb(l.look.color).mix(0.45);
        root.draw(&DashedPathElement::new(pts, 6, 4, c.stroke_width(2))).map_err(err)?;
    }
    let markers = n <= 1 || step >= MARKER_SPACING;
    for l in spec.lines.iter().filter(|l| !l.dashed) {
        let c = rgb(l.look.color);
        let end = l.values.len().min(drawn);
        // The bucket still filling is joined by a dotted segment and drawn hollow: a partial
        // count must not read as a drop.
        let open = spec.current.filter(|c| *c + 1 == end);
        let solid_end = if open.is_some() { end - 1 } else { end };
        let solid: Vec<(i32, i32)> = (0..solid_end).map(|i| point(l, i)).collect();
        if solid.len() > 1 {
            root.draw(&PathElement::new(solid.clone(), c.stroke_width(2))).map_err(err)?;
        }
        if markers {
            for p in &solid {
                root.draw(&marker(l.look.marker, *p, c)).map_err(err)?;
            }
        }
        if let Some(i) = open {
            if i > 0 {
                root.draw(&DashedPathElement::new(vec![point(l, i - 1), point(l, i)], 2, 3, c.stroke_width(2))).map_err(err)?;
            }
            root.draw(&Circle::new(point(l, i), 4, WHITE.filled())).map_err(err)?;
            root.draw(&marker(Marker::Ring, point(l, i), c)).map_err(err)?;
        }
    }
    root.present().map_err(err)?;
    Ok(frame)
}
