//! CSV exports (docs/contract.md): a campaign's series (`/export/campaigns/{id}/stats.csv`) and
//! every campaign with its all-time totals (`/export/campaigns.csv`).
//!
//! Behind login like every page, or read with an API key (`Authorization: Bearer`, only the
//! key's accounts). Files are UTF-8 with a byte-order mark, because Excel reads
//! a CSV without one in the system's ANSI code page and garbles Chinese names; fields are
//! written by the `csv` crate so names with commas, quotes or line breaks stay one field.
//! Bodies are streamed: the rows are rendered a chunk at a time as the client reads.

use super::ServerState;
use super::charts::{compare_ids, compare_metric};
use crate::api::key::Reader;
use crate::door::{HttpError, Params};
use crate::stream::chunked_stream;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use chrono::{NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use service::analytics::{self, CompareRow, Lang};
use service::campaigns::ExportRow;
use service::series::{self, Granularity, Point, RangeRequest};
use service::{AppState, ServiceError};

/// Header of a campaign's series (docs/contract.md).
pub const STATS_HEADER: [&str; 6] = ["bucket", "scans", "new_followers", "unsubscribes", "net_followers", "unique_scanners"];
/// Header of the campaigns list (docs/contract.md).
pub const CAMPAIGNS_HEADER: [&str; 8] = ["id", "name", "kind", "scene", "scans", "new_followers", "unsubscribes", "net_followers"];
/// Rows rendered per body chunk.
const ROWS_PER_CHUNK: usize = 500;

/// Routes of this module.
pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/export/campaigns/{id}/stats.csv", get(campaign_stats))
        .route("/export/campaigns.csv", get(campaigns_csv))
        .route("/export/compare.csv", get(compare_csv))
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

/// A text cell as a spreadsheet will not run it: one that begins with `=`, `+`, `-`, `@`, a
/// tab or a carriage return gets a leading `'` (OWASP's advice against formula injection: a
/// campaign named `=HYPERLINK(…)` would otherwise be a live formula in Excel or WPS for
/// whoever opens the export). Only names, scenes and groups go through here; numbers, a
/// negative net included, stay numbers.
pub fn text_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() }
}

/// The byte-order mark and the header line.
fn preamble(header: &[&str]) -> Result<Vec<u8>, HttpError> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(render([header]).map_err(|e| ServiceError::Internal(e.to_string()))?);
    Ok(out)
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

/// The range, granularity and zone a series request asks for (`service::series::resolve_range`):
/// defaults are the last 30 days ending today in the campaign's account zone, granularity
/// picked from the range; a bad parameter is refused naming it, an unknown campaign is 404.
async fn resolve_range(st: &AppState, id: i32, req: &RangeRequest) -> Result<(NaiveDate, NaiveDate, Granularity, Tz), HttpError> {
    // Parameters first: a malformed request is refused the same whichever campaign it names.
    series::resolve_range(req, Utc::now().date_naive())?;
    let (_, _, tz) = analytics::campaign_zone(st, id).await?;
    let r = series::resolve_range(req, analytics::today(tz, Utc::now()))?;
    Ok((r.from, r.to, r.granularity, tz))
}

/// `GET /export/campaigns/{id}/stats.csv?from=&to=&granularity=`: the campaign's series in its
/// account's zone, one row per bucket, zero-filled.
async fn campaign_stats(reader: Reader, State(s): State<ServerState>, Path(id): Path<i32>, p: Params) -> Result<Response, HttpError> {
    let db = &s.app.db;
    reader.check_campaign(&s, id).await?;
    let (from, to, gran, tz) = resolve_range(&s.app, id, &p.range()).await?;
    let points = series::campaign_series(db, id, from, to, gran, tz).await?;

    service::audit::record(
        db,
        reader.user_id,
        "export.campaign_stats",
        "campaign",
        Some(id.to_string()),
        serde_json::json!({ "from": from.to_string(), "to": to.to_string(), "granularity": gran.as_str(), "api_key": reader.audit() }),
    )
    .await
    .map_err(ServiceError::from)?;

    let body = chunked_stream(preamble(&STATS_HEADER)?, points, ROWS_PER_CHUNK, |batch: &[Point]| {
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
async fn campaigns_csv(reader: Reader, State(s): State<ServerState>) -> Result<Response, HttpError> {
    let db = &s.app.db;
    let rows = service::campaigns::export_rows(db, reader.scope.account()).await?;

    let detail = serde_json::json!({ "rows": rows.len(), "api_key": reader.audit() });
    service::audit::record(db, reader.user_id, "export.campaigns", "campaign", None, detail).await.map_err(ServiceError::from)?;

    let body = chunked_stream(preamble(&CAMPAIGNS_HEADER)?, rows, ROWS_PER_CHUNK, |batch: &[ExportRow]| {
        render(batch.iter().map(|r| {
            let t = &r.totals;
            [
                r.id.to_string(),
                text_cell(&r.name),
                text_cell(&r.kind),
                text_cell(&r.scene),
                t.scans.to_string(),
                t.new_followers.to_string(),
                t.unsubscribes.to_string(),
                t.net_followers.to_string(),
            ]
        }))
    });
    Ok(csv_response("sceneboard-campaigns.csv", Body::from_stream(body)))
}

/// Header of the compare table export.
pub const COMPARE_HEADER: [&str; 10] =
    ["id", "name", "group", "from", "to", "scans", "new_followers", "unsubscribes", "net_followers", "unique_scanners"];

/// `GET /export/compare.csv?ids=&group=&metric=&from=&to=&days=`: the compare view's table,
/// one row per campaign in the page's order (best first by the metric), unique scanners
/// exact over the range.
async fn compare_csv(reader: Reader, State(s): State<ServerState>, p: Params) -> Result<Response, HttpError> {
    let metric = compare_metric(&p)?;
    let mut ids = compare_ids(&p)?;
    let group = p.get("group");
    // A key of one account compares that account's campaigns only, a group's included.
    if let (Some(account), true, Some(g)) = (reader.scope.account(), ids.is_empty(), group.as_deref()) {
        ids = service::campaigns::group_members(&s.app.db, g, Some(account)).await?;
        if ids.is_empty() {
            return Err(ServiceError::invalid("group", service::Msg::CompareGroupEmpty { group: g.to_owned() }).into());
        }
    }
    for id in &ids {
        reader.check_campaign(&s, *id).await?;
    }
    let view = analytics::compare(&s.app, &ids, group.as_deref(), metric, &p.range(), Lang::Zh, Utc::now()).await?;
    let (from, to) = (view.range.from, view.range.to);
    service::audit::record(
        &s.app.db,
        reader.user_id,
        "export.compare",
        "campaign",
        None,
        serde_json::json!({ "ids": view.rows.iter().map(|r| r.id).collect::<Vec<_>>(), "from": from.to_string(), "to": to.to_string(), "api_key": reader.audit() }),
    )
    .await
    .map_err(ServiceError::from)?;
    let body = chunked_stream(preamble(&COMPARE_HEADER)?, view.rows, ROWS_PER_CHUNK, move |batch: &[CompareRow]| {
        render(batch.iter().map(|r| {
            let t = &r.totals;
            [
                r.id.to_string(),
                text_cell(&r.name),
                text_cell(r.group.as_deref().unwrap_or_default()),
                from.to_string(),
                to.to_string(),
                t.scans.to_string(),
                t.new_followers.to_string(),
                t.unsubscribes.to_string(),
                t.net_followers.to_string(),
                t.unique_scanners.to_string(),
            ]
        }))
    });
    Ok(csv_response(&format!("compare-{from}-to-{to}.csv"), Body::from_stream(body)))
}
