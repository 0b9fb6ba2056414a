//! `GET /campaigns/{id}/chart.svg?from=&to=&granularity=&lang=`: a campaign's scans, new
//! followers and unsubscribes over time, drawn on the server with plotters as SVG.
//!
//! plotters is built without its font features: the SVG backend writes `<text>` elements and
//! the browser draws them with its own fonts, so Chinese labels need no bundled font (the
//! crate's naive width estimate only places the labels). Each series has its own colour *and*
//! marker shape, so the lines stay apart in grayscale and for colour-blind readers; the SVG
//! carries a `<title>` and a `<desc>` with the totals for screen readers.

use super::ServerState;
use super::codes::{Refusal, signed_in};
use super::export::{StatsQuery, resolve_range};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use plotters::prelude::*;
use serde::Deserialize;
use service::ServiceError;
use service::series::{self, Granularity, Point};

/// Routes of this module.
pub fn routes() -> Router<ServerState> {
    Router::new().route("/campaigns/{id}/chart.svg", get(chart))
}

#[derive(Deserialize)]
pub struct ChartQuery {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    days: Option<String>,
    /// `zh` (default) or `en`: the language of the legend and description.
    lang: Option<String>,
}

/// Legend texts in the chart's language.
struct Words {
    scans: &'static str,
    new_followers: &'static str,
    unsubscribes: &'static str,
    title: &'static str,
}

fn words(lang: Option<&str>) -> Words {
    match lang {
        Some("en") => Words { scans: "Scans", new_followers: "New followers", unsubscribes: "Unsubscribes", title: "Campaign over time" },
        _ => Words { scans: "扫码次数", new_followers: "新增关注", unsubscribes: "取消关注", title: "渠道趋势" },
    }
}

/// The x-axis label of a bucket.
fn label(p: &Point, g: Granularity) -> String {
    match g {
        Granularity::Hour => p.bucket.format("%m-%d %H:00").to_string(),
        Granularity::Day | Granularity::Week => p.bucket.format("%m-%d").to_string(),
        Granularity::Month => p.bucket.format("%Y-%m").to_string(),
    }
}

/// Draws the series as SVG text, `title` and `desc` included.
fn render(points: &[Point], g: Granularity, w: &Words, summary: &str) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = points.len().max(1);
        let top = points.iter().map(|p| p.scans.max(p.new_followers).max(p.unsubscribes)).max().unwrap_or(0).max(1);
        let y_max = top + (top / 10).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0..n, 0i64..y_max)
            .map_err(|e| e.to_string())?;
        let labels: Vec<String> = points.iter().map(|p| label(p, g)).collect();
        chart
            .configure_mesh()
            .x_labels(8.min(n))
            .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
            .y_labels(6)
            .label_style(("sans-serif", 14))
            .light_line_style(RGBColor(235, 238, 240))
            .draw()
            .map_err(|e| e.to_string())?;
        // Colour-blind-safe (Okabe–Ito) colours, each with its own marker.
        let green = RGBColor(0, 158, 115);
        let blue = RGBColor(0, 114, 178);
        let orange = RGBColor(213, 94, 0);
        let xs = || points.iter().enumerate();
        chart
            .draw_series(LineSeries::new(xs().map(|(i, p)| (i, p.scans)), green.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(w.scans)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, green.filled()));
        chart
            .draw_series(xs().map(|(i, p)| Circle::new((i, p.scans), 3, green.filled())))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(xs().map(|(i, p)| (i, p.new_followers)), blue.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(w.new_followers)
            .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 5, blue.filled()));
        chart
            .draw_series(xs().map(|(i, p)| TriangleMarker::new((i, p.new_followers), 4, blue.filled())))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(xs().map(|(i, p)| (i, p.unsubscribes)), orange.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(w.unsubscribes)
            .legend(move |(x, y)| Cross::new((x + 8, y), 4, orange.stroke_width(2)));
        chart
            .draw_series(xs().map(|(i, p)| Cross::new((i, p.unsubscribes), 3, orange.stroke_width(2))))
            .map_err(|e| e.to_string())?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 205, 210))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    // Accessible name and description right after the opening tag.
    let a11y = format!(
        "<title>{}</title><desc>{}</desc>",
        xml_escape(w.title),
        xml_escape(summary)
    );
    match svg.find('>') {
        Some(i) => {
            svg.insert_str(i + 1, &a11y);
            svg = svg.replacen("<svg ", "<svg role=\"img\" ", 1);
            Ok(svg)
        }
        None => Err("plotters wrote no SVG".into()),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn chart(State(s): State<ServerState>, jar: CookieJar, Path(id): Path<i32>, Query(q): Query<ChartQuery>) -> Result<Response, Refusal> {
    signed_in(&s.app, &jar).await?;
    let range = StatsQuery { from: q.from, to: q.to, granularity: q.granularity, days: q.days };
    let (from, to, gran, tz) = resolve_range(&s.app, id, &range).await?;
    let points = series::campaign_series(&s.app.db, id, from, to, gran, tz).await.map_err(super::export::refuse)?;
    let totals = series::campaign_totals(&s.app.db, id, from, to, tz).await.map_err(super::export::refuse)?;
    let w = words(q.lang.as_deref());
    let summary = format!(
        "{from} – {to}: {} {}, {} {}, {} {}",
        w.scans, totals.scans, w.new_followers, totals.new_followers, w.unsubscribes, totals.unsubscribes
    );
    let svg = render(&points, gran, &w, &summary).map_err(ServiceError::Internal)?;
    let mut res = svg.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=60"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(res)
}
