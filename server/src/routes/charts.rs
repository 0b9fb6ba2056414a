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
use super::codes::{Refusal, signed_in};
use super::export::refuse;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use chrono::Utc;
use service::analytics::{self, Lang, Metric};
use service::chart::{self, Spec, Variant};
use service::series::RangeRequest;

/// Routes of this module.
pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/campaigns/{id}/chart.svg", get(|s, j, p, q| campaign(s, j, p, q, Format::Svg)))
        .route("/campaigns/{id}/chart.png", get(|s, j, p, q| campaign(s, j, p, q, Format::Png)))
        .route("/compare/chart.svg", get(|s, j, q| compare(s, j, q, Format::Svg)))
        .route("/compare/chart.png", get(|s, j, q| compare(s, j, q, Format::Png)))
        .route("/accounts/{id}/chart.svg", get(|s, j, p, q| account(s, j, p, q, Format::Svg)))
        .route("/accounts/{id}/chart.png", get(|s, j, p, q| account(s, j, p, q, Format::Png)))
}

#[derive(Clone, Copy)]
enum Format {
    Svg,
    Png,
}

/// A query string's pairs, decoded; keys may repeat.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn parse(raw: Option<&str>) -> Self {
        Params(form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect())
    }

    /// The last value of `key` (a later value overrides an earlier one, as in a form).
    pub(super) fn get(&self, key: &str) -> Option<String> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// Every value of `key`, comma-separated lists split.
    pub(super) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect::<Vec<_>>())
            .collect()
    }

    pub(super) fn range(&self) -> RangeRequest {
        RangeRequest { from: self.get("from"), to: self.get("to"), days: self.get("days"), granularity: self.get("granularity") }
    }

    /// Campaign ids from `ids`, each once; a value that is not a number, or more than a
    /// comparison takes, is refused by name before any work.
    pub(super) fn ids(&self) -> Result<Vec<i32>, Refusal> {
        let max = service::analytics::MAX_COMPARE_ROWS;
        let values = self.0.iter().filter(|(k, _)| k == "ids").map(|(_, v)| v.as_str());
        service::analytics::campaign_ids(values, max, || service::Msg::CompareTooMany { max }).map_err(super::export::refuse)
    }
}

/// `spec` drawn as the requested file.
/// Drawn on the heavy-work threads ([`service::heavy`]): a PNG is a rasterised SVG at twice
/// the size, CPU work that must not hold up the runtime answering WeChat.
async fn picture(spec: Spec, format: Format, name: &str) -> Result<Response, Refusal> {
    let drawn = service::heavy::run(move || match format {
        Format::Svg => chart::svg(&spec, Variant::File).map(String::into_bytes),
        Format::Png => chart::png(&chart::svg(&spec, Variant::Raster)?, 2.0),
    });
    let body = drawn.await.map_err(|_| Refusal::Busy)?.map_err(refuse)?;
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

async fn campaign(State(s): State<ServerState>, jar: CookieJar, Path(id): Path<i32>, RawQuery(q): RawQuery, format: Format) -> Result<Response, Refusal> {
    signed_in(&s.app, &jar).await?;
    let p = Params::parse(q.as_deref());
    let metrics = Metric::parse_list(&p.all("metrics")).map_err(refuse)?;
    let previous = p.get("prev").is_none_or(|v| v != "0");
    let lang = Lang::parse(p.get("lang").as_deref());
    let trend = analytics::campaign_trend(&s.app, id, &p.range(), &metrics, previous, lang, Utc::now()).await.map_err(refuse)?;
    let r = trend.range;
    picture(trend.spec, format, &format!("campaign-{id}-{}-to-{}-{}", r.from, r.to, r.granularity)).await
}

async fn compare(State(s): State<ServerState>, jar: CookieJar, RawQuery(q): RawQuery, format: Format) -> Result<Response, Refusal> {
    signed_in(&s.app, &jar).await?;
    let p = Params::parse(q.as_deref());
    let metric = match p.get("metric").filter(|m| !m.trim().is_empty()) {
        Some(m) => m.parse::<Metric>().map_err(refuse)?,
        None => Metric::NewFollowers,
    };
    let lang = Lang::parse(p.get("lang").as_deref());
    let view = analytics::compare(&s.app, &p.ids()?, p.get("group").as_deref(), metric, &p.range(), lang, Utc::now()).await.map_err(refuse)?;
    let r = view.range;
    picture(view.spec, format, &format!("compare-{}-{}-to-{}-{}", metric.as_str(), r.from, r.to, r.granularity)).await
}

async fn account(State(s): State<ServerState>, jar: CookieJar, Path(id): Path<i32>, RawQuery(q): RawQuery, format: Format) -> Result<Response, Refusal> {
    signed_in(&s.app, &jar).await?;
    let p = Params::parse(q.as_deref());
    let model = service::accounts::model(&s.app.db, id).await?;
    let tz = analytics::zone(&s.app, Some(&model.timezone));
    let spec = analytics::account_chart(&s.app, id, tz, 30, Lang::parse(p.get("lang").as_deref()), Utc::now()).await.map_err(refuse)?;
    picture(spec, format, &format!("account-{id}-30-days")).await
}
