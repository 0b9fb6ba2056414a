//! The hover readout, drawn without JavaScript: one transparent column per bucket; hovering
//! it (or tapping it: a touch browser gives the tapped element `:hover`) shows a cursor line,
//! a dot on each line and a tip with the bucket's exact values.

use super::draw::Frame;
use super::layout::{text_width, thousands};
use super::{Line, Spec};
use std::fmt::Write as _;
use wechat::xml::escape;

/// A row of a tip: the line's colour swatch (none on the date row) and its words.
type Row = (Option<(u8, u8, u8)>, String);

/// Hex of a line's colour, for attributes.
fn hex(c: (u8, u8, u8)) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

pub(super) fn readout(spec: &Spec, f: &Frame) -> String {
    let mut s = String::from("<g class=\"sb-readout\">");
    let solid: Vec<&Line> = spec.lines.iter().filter(|l| !l.dashed).collect();
    let drawn = spec.current.map_or(f.xs.len(), |c| (c + 1).min(f.xs.len()));
    let row_h = f.font + 5;
    for (i, &x) in f.xs.iter().enumerate().take(drawn) {
        let left = if i == 0 { x - 8 } else { (f.xs[i - 1] + x) / 2 };
        let right = f.xs.get(i + 1).map_or(x + 8, |n| (n + x) / 2);
        let mut head = spec.x_long.get(i).or(spec.x_labels.get(i)).cloned().unwrap_or_default();
        if spec.current == Some(i) && !spec.current_label.is_empty() {
            let _ = write!(head, " · {}", spec.current_label);
        }
        let mut rows: Vec<Row> = vec![(None, head)];
        for l in &solid {
            let Some(v) = l.values.get(i) else { continue };
            let prev = spec.lines.iter().find(|p| p.dashed && p.look == l.look).and_then(|p| p.values.get(i));
            let words = match prev {
                Some(p) => format!("{}: {} ({} {})", l.label, thousands(*v), spec.previous_label_short(), thousands(*p)),
                None => format!("{}: {}", l.label, thousands(*v)),
            };
            rows.push((Some(l.look.color), words));
        }
        let width = rows.iter().map(|(c, r)| text_width(r, f.font as u32) + if c.is_some() { 14 } else { 0 }).max().unwrap_or(0) + 16;
        let width = width.min(f.width - 4);
        let height = rows.len() as i32 * row_h + 10;
        let tip_x = if x + 12 + width < f.width { x + 12 } else { (x - 12 - width).max(2) };
        let _ = write!(
            s,
            "<g class=\"sb-col\" data-i=\"{i}\"><rect x=\"{left}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#000\" fill-opacity=\"0\"/>\
             <g class=\"sb-cursor\"><line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#5b6b78\" stroke-dasharray=\"3,3\"/>",
            f.top,
            (right - left).max(1),
            (f.bottom - f.top).max(1),
            f.top,
            f.bottom,
        );
        for l in &solid {
            if let Some(v) = l.values.get(i) {
                let _ = write!(
                    s,
                    "<circle cx=\"{x}\" cy=\"{}\" r=\"4\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"1.5\"/>",
                    f.y(*v),
                    hex(l.look.color)
                );
            }
        }
        let _ = write!(
            s,
            "</g><g class=\"sb-tip\"><rect x=\"{tip_x}\" y=\"{}\" width=\"{width}\" height=\"{height}\" rx=\"4\" fill=\"#fff\" stroke=\"#b2bcc4\"/>",
            f.top + 4,
        );
        for (k, (color, _)) in rows.iter().enumerate() {
            if let Some(c) = color {
                // Centred on the row's text: its baseline less about a third of the font.
                let y = f.top + 4 + (k as i32 + 1) * row_h - f.font * 35 / 100 - 5;
                let _ = write!(s, "<rect x=\"{}\" y=\"{y}\" width=\"9\" height=\"9\" rx=\"2\" fill=\"{}\"/>", tip_x + 8, hex(*c));
            }
        }
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"{}\" fill=\"#16202a\">",
            tip_x + 8,
            f.top + 4,
            f.font
        );
        for (k, (color, r)) in rows.iter().enumerate() {
            let weight = if k == 0 { " font-weight=\"bold\"" } else { "" };
            let tx = tip_x + 8 + if color.is_some() { 14 } else { 0 };
            let _ = write!(s, "<tspan x=\"{tx}\" dy=\"{row_h}\"{weight}>{}</tspan>", escape(r));
        }
        s.push_str("</text></g></g>");
    }
    s.push_str("</g>");
    s
}
