//! CSV exports (CONTRACT.md): a campaign's series (`/export/campaigns/{id}/stats.csv`) and
//! every campaign with its all-time totals (`/export/campaigns.csv`).
//!
//! Behind login like every page. Files are UTF-8 with a byte-order mark, because Excel reads
//! a CSV without one in the system's ANSI code page and garbles Chinese names; fields are
//! written by the `csv` crate so names with commas, quotes or line breaks stay one field.
//! Bodies are streamed: the rows are rendered a chunk at a time as the client reads.

use super::ServerState;
use super::codes::{Refusal, signed_in};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use axum_extra::extract::CookieJar;
use chrono::{Days, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
use serde::Deserialize;
use service::entity::{campaign, wechat_account};
use service::series::{self, Granularity, Point, Totals};
use service::{AppState, ServiceError};
use std::collections::HashMap;
use std::str::FromStr;

/// Header of a campaign's series (CONTRACT.md).
pub const STATS_HEADER: [&str; 6] = ["bucket", "scans", "new_followers", "unsubscribes", "net_followers", "unique_scanners"];
/// Header of the campaigns list (CONTRACT.md).
pub const CAMPAIGNS_HEADER: [&str; 8] = ["id", "name", "kind", "scene", "scans", "new_followers", "unsubscribes", "net_followers"];
/// Rows rendered per body chunk.
const ROWS_PER_CHUNK: usize = 500;
/// Days covered when the request names no range: the last 30, today included.
const DEFAULT_DAYS: u64 = 30;

/// Routes of this module.
pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/export/campaigns/{id}/stats.csv", get(campaign_stats))
        .route("/export/campaigns.csv", get(campaigns_csv))
}

/// Query of the series export; all optional. Strings, not dates, so that a bad value gets our
/// one-line message naming the parameter rather than a deserializer's.
#[derive(Deserialize)]
pub struct StatsQuery {
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) granularity: Option<String>,
    /// A preset: the last N days ending `to` (used when `from` is absent).
    pub(super) days: Option<String>,
}

/// A `YYYY-MM-DD` query value; blank counts as absent (an empty form field).
pub(super) fn date_param(name: &str, value: Option<&str>) -> Result<Option<NaiveDate>, Refusal> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| Refusal::Bad(format!("{name}: {v:?} is not a date; use YYYY-MM-DD"))),
    }
}

/// The zone of an account's charts: its own, else the configured default, else UTC (a stored
/// zone was validated when saved, so the fallbacks only guard against a renamed IANA zone).
fn zone(st: &AppState, name: Option<&str>) -> Tz {
    name.and_then(|n| Tz::from_str(n).ok()).or_else(|| Tz::from_str(&st.settings.timezone).ok()).unwrap_or(Tz::UTC)
}

/// CSV text of `records`, CRLF-terminated as RFC 4180 and Excel expect.
fn render<R, F>(records: impl IntoIterator<Item = R>) -> std::io::Result<Vec<u8>>
where
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for r in records {
        w.write_record(r)?;
    }
    w.into_inner().map_err(|e| e.into_error())
}

/// The byte-order mark and the header line.
fn preamble(header: &[&str]) -> Result<Vec<u8>, Refusal> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(render([header]).map_err(|e| ServiceError::Internal(e.to_string()))?);
    Ok(out)
}

/// A service error as an answer; a bad parameter's message starts with its name
/// (`granularity: use hour, day, week or month`).
pub(super) fn refuse(e: ServiceError) -> Refusal {
    match e {
        ServiceError::Validation { field, message } => Refusal::Bad(format!("{field}: {message}")),
        other => other.into(),
    }
}

/// A streamed CSV download named `filename` (ASCII, no quotes).
fn csv_response(filename: &str, body: Body) -> Response {
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    // Numbers behind login: never kept by shared caches.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

/// The range, granularity and zone a series request asks for: parameters checked first (a
/// malformed request is 400 whichever campaign it names), then the campaign's account zone;
/// defaults are the last 30 days ending today there, granularity picked from the range.
pub(super) async fn resolve_range(st: &AppState, id: i32, q: &StatsQuery) -> Result<(NaiveDate, NaiveDate, Granularity, Tz), Refusal> {
    let db = &st.db;
    let from = date_param("from", q.from.as_deref())?;
    let to = date_param("to", q.to.as_deref())?;
    let gran = match q.granularity.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        Some(g) => Some(g.parse::<Granularity>().map_err(refuse)?),
        None => None,
    };
    let account_id: i32 = campaign::Entity::find_by_id(id)
        .select_only()
        .column(campaign::Column::AccountId)
        .into_tuple::<i32>()
        .one(db)
        .await
        .map_err(ServiceError::from)?
        .ok_or(Refusal::NotFound)?;
    let zone_name: Option<String> = wechat_account::Entity::find_by_id(account_id)
        .select_only()
        .column(wechat_account::Column::Timezone)
        .into_tuple::<String>()
        .one(db)
        .await
        .map_err(ServiceError::from)?;
    let tz = zone(st, zone_name.as_deref());
    let today = Utc::now().with_timezone(&tz).date_naive();
    let to = to.unwrap_or(today);
    let days = match q.days.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => DEFAULT_DAYS,
        Some(d) => d.parse::<u64>().ok().filter(|n| (1..=series::MAX_RANGE_DAYS as u64).contains(n)).ok_or_else(|| {
            Refusal::Bad(format!("days: {d:?} is not a number of days from 1 to {}", series::MAX_RANGE_DAYS))
        })?,
    };
    let from = from.unwrap_or_else(|| to.checked_sub_days(Days::new(days - 1)).unwrap_or(to));
    let gran = gran.unwrap_or_else(|| series::auto_granularity(from, to));
    Ok((from, to, gran, tz))
}

/// `GET /export/campaigns/{id}/stats.csv?from=&to=&granularity=`: the campaign's series in its
/// account's zone, one row per bucket, zero-filled.
async fn campaign_stats(
    State(s): State<ServerState>,
    jar: CookieJar,
    Path(id): Path<i32>,
    Query(q): Query<StatsQuery>,
) -> Result<Response, Refusal> {
    let user = signed_in(&s.app, &jar).await?;
    let db = &s.app.db;
    let (from, to, gran, tz) = resolve_range(&s.app, id, &q).await?;
    let points = series::campaign_series(db, id, from, to, gran, tz).await.map_err(refuse)?;

    service::audit::record(
        db,
        Some(user.id),
        "export.campaign_stats",
        "campaign",
        Some(id.to_string()),
        serde_json::json!({ "from": from.to_string(), "to": to.to_string(), "granularity": gran.as_str() }),
    )
    .await
    .map_err(ServiceError::from)?;

    let body = series::chunked_stream(preamble(&STATS_HEADER)?, points, ROWS_PER_CHUNK, |batch: &[Point]| {
        render(batch.iter().map(|p| {
            [
                p.bucket.to_rfc3339_opts(SecondsFormat::Secs, false),
                p.scans.to_string(),
                p.new_followers.to_string(),
                p.unsubscribes.to_string(),
                p.net_followers.to_string(),
                p.unique_scanners.to_string(),
            ]
        }))
    });
    Ok(csv_response(&format!("campaign-{id}-{from}-to-{to}-{gran}.csv"), Body::from_stream(body)))
}

/// `GET /export/campaigns.csv`: every campaign of every account, archived ones included, with
/// all-time totals.
async fn campaigns_csv(State(s): State<ServerState>, jar: CookieJar) -> Result<Response, Refusal> {
    let user = signed_in(&s.app, &jar).await?;
    let db = &s.app.db;
    let list: Vec<(i32, String, String, String)> = campaign::Entity::find()
        .select_only()
        .columns([campaign::Column::Id, campaign::Column::Name, campaign::Column::Kind, campaign::Column::Scene])
        .order_by_asc(campaign::Column::Id)
        .into_tuple()
        .all(db)
        .await
        .map_err(ServiceError::from)?;
    let totals: HashMap<i32, Totals> = series::all_campaign_totals(db, None).await?.into_iter().collect();
    let rows: Vec<_> = list.into_iter().map(|c| (totals.get(&c.0).copied().unwrap_or_default(), c)).collect();

    service::audit::record(db, Some(user.id), "export.campaigns", "campaign", None, serde_json::json!({ "rows": rows.len() }))
        .await
        .map_err(ServiceError::from)?;

    let body = series::chunked_stream(preamble(&CAMPAIGNS_HEADER)?, rows, ROWS_PER_CHUNK, |batch: &[(Totals, (i32, String, String, String))]| {
        render(batch.iter().map(|(t, (id, name, kind, scene))| {
            [
                id.to_string(),
                name.clone(),
                kind.clone(),
                scene.clone(),
                t.scans.to_string(),
                t.new_followers.to_string(),
                t.unsubscribes.to_string(),
                t.net_followers.to_string(),
            ]
        }))
    });
    Ok(csv_response("sceneboard-campaigns.csv", Body::from_stream(body)))
}
