//! Chart downloads, as SVG (with the hover readout) or PNG, drawn by `service::chart` from the
//! same views the pages show (`service::analytics`), so a download is the picture on screen:
//!
//! - `GET /campaigns/{id}/chart.svg|png?from=&to=&days=&granularity=&metrics=&prev=&lang=`
//! - `GET /compare/chart.svg|png?ids=&group=&metric=&from=&to=&days=&granularity=&lang=`
//! - `GET /accounts/{id}/chart.svg|png?lang=` (the dashboard's last 30 days)
//!
//! All behind login. `metrics` and `ids` may repeat or hold comma-separated lists (a GET form
//! with checkboxes sends them repeated), which is why the query is read by hand.

use super::ServerState;
use crate::door::{HttpError, Params, SignedIn};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use service::analytics::{self, Lang, Metric};
use service::chart::{self, Spec, Variant};

/// Routes of this module.
pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/campaigns/{id}/chart.svg", get(|u, s, id, q| campaign(u, s, id, q, Format::Svg)))
        .route("/campaigns/{id}/chart.png", get(|u, s, id, q| campaign(u, s, id, q, Format::Png)))
        .route("/compare/chart.svg", get(|u, s, q| compare(u, s, q, Format::Svg)))
        .route("/compare/chart.png", get(|u, s, q| compare(u, s, q, Format::Png)))
        .route("/accounts/{id}/chart.svg", get(|u, s, id, q| account(u, s, id, q, Format::Svg)))
        .route("/accounts/{id}/chart.png", get(|u, s, id, q| account(u, s, id, q, Format::Png)))
}

#[derive(Clone, Copy)]
enum Format {
    Svg,
    Png,
}

/// `spec` drawn as the requested file.
/// Drawn on the heavy-work threads ([`service::heavy`]): a PNG is a rasterised SVG at twice
/// the size, CPU work that must not hold up the runtime answering WeChat.
async fn picture(spec: Spec, format: Format, name: &str) -> Result<Response, HttpError> {
    let drawn = service::heavy::run(move || match format {
        Format::Svg => chart::svg(&spec, Variant::File).map(String::into_bytes),
        Format::Png => chart::png(&chart::svg(&spec, Variant::Raster)?, 2.0),
    });
    let body = drawn.await??;
    let (kind, ext) = match format {
        Format::Svg => ("image/svg+xml; charset=utf-8", "svg"),
        Format::Png => ("image/png", "png"),
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=60"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(res)
}

async fn campaign(
    _: SignedIn,
    State(s): State<ServerState>,
    Path(id): Path<i32>,
    p: Params,
    format: Format,
) -> Result<Response, HttpError> {
    let q = p.trend();
    let metrics = Metric::parse_list(&[q.metrics.clone().unwrap_or_default()])?;
    let lang = Lang::parse(q.lang.as_deref());
    let trend = analytics::campaign_trend(&s.app, id, &q.range(), &metrics, q.with_previous(), lang, Utc::now()).await?;
    let r = trend.range;
    picture(trend.spec, format, &format!("campaign-{id}-{}-to-{}-{}", r.from, r.to, r.granularity)).await
}

async fn compare(_: SignedIn, State(s): State<ServerState>, p: Params, format: Format) -> Result<Response, HttpError> {
    let metric = compare_metric(&p)?;
    let lang = Lang::parse(p.get("lang").as_deref());
    let view = analytics::compare(&s.app, &compare_ids(&p)?, p.get("group").as_deref(), metric, &p.range(), lang, Utc::now()).await?;
    let r = view.range;
    picture(view.spec, format, &format!("compare-{}-{}-to-{}-{}", metric.as_str(), r.from, r.to, r.granularity)).await
}

async fn account(_: SignedIn, State(s): State<ServerState>, Path(id): Path<i32>, p: Params, format: Format) -> Result<Response, HttpError> {
    let model = service::accounts::model(&s.app.db, id).await?;
    let tz = analytics::zone(&s.app, Some(&model.timezone));
    let spec = analytics::account_chart(&s.app, id, tz, 30, Lang::parse(p.get("lang").as_deref()), Utc::now()).await?;
    picture(spec, format, &format!("account-{id}-30-days")).await
}

/// The metric a comparison ranks by (`metric`, new followers when absent).
pub(super) fn compare_metric(p: &Params) -> Result<Metric, HttpError> {
    match p.get("metric").filter(|m| !m.trim().is_empty()) {
        Some(m) => Ok(m.parse::<Metric>()?),
        None => Ok(Metric::NewFollowers),
    }
}

/// The campaigns a comparison names (`ids`), at most as many as it shows.
pub(super) fn compare_ids(p: &Params) -> Result<Vec<i32>, HttpError> {
    let max = analytics::MAX_COMPARE_ROWS;
    p.ids(max, || service::Msg::CompareTooMany { max })
}
