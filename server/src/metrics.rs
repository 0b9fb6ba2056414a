//! Prometheus metrics, served at `GET /metrics` (docs/contract.md, "Metrics"): request counts
//! and latencies per route, counters the code bumps where things happen, and gauges of the
//! instance's state sampled when the metrics are read.
//!
//! Routes are labelled by their pattern (`/wechat/callback/{app_id}`), never the raw path, so
//! the number of series stays bounded whatever URLs clients send.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process-wide recorder (once; later calls reuse it).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            // Seconds for the latencies; pushes per batch for the callback writer's batches.
            let builder = PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("sceneboard_ingest_batch_pushes".into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0],
                )
                .ok()?;
            builder.install_recorder().ok()
        })
        .as_ref()
}

/// Middleware: count and time every request.
pub async fn track_requests(req: Request, next: Next) -> Response {
    handle();
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| if req.uri().path().starts_with("/pkg/") { "/pkg/*".into() } else { "other".into() });
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    res
}

/// `GET /metrics` in Prometheus text format; with `SCENEBOARD_METRICS_TOKEN` set, only for a
/// request with `Authorization: Bearer TOKEN` (401 otherwise, with a `WWW-Authenticate`).
pub async fn render(State(app): State<service::AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &app.settings.metrics_token {
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if !token.allows(given) {
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "a metrics token is required\n").into_response();
        }
    }
    match handle() {
        Some(h) => {
            sample(&app).await;
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics recorder unavailable").into_response(),
    }
}

/// The gauges, set from this instance's state just before they are rendered. The job queue
/// is read from the database within 2 s; when it does not answer, the queue's gauges keep their
/// last values and `sceneboard_database_up` says why.
async fn sample(app: &service::AppState) {
    metrics::gauge!("sceneboard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let ingest = app.health.ingest();
    metrics::gauge!("sceneboard_spool_pushes").set(ingest.spool_waiting as f64);
    let backlog = ingest.spool_waiting_since.map_or(0.0, |since| (chrono::Utc::now() - since).num_milliseconds().max(0) as f64 / 1000.0);
    metrics::gauge!("sceneboard_spool_backlog_age_seconds").set(backlog);
    let (open, idle) = service::db::pool_use(&app.db);
    metrics::gauge!("sceneboard_db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("sceneboard_db_pool_connections", "state" => "in_use").set(f64::from(open.saturating_sub(idle)));
    let depth = tokio::time::timeout(std::time::Duration::from_secs(2), service::jobs::depth(&app.db)).await;
    let up = match depth {
        Ok(Ok(depth)) => {
            for (kind, state, jobs) in depth {
                metrics::gauge!("sceneboard_jobs", "kind" => kind, "state" => state).set(jobs as f64);
            }
            ingest.db_down_since.is_none()
        }
        _ => false,
    };
    if let Ok(Ok(failing)) = tokio::time::timeout(std::time::Duration::from_secs(2), service::digests::failing(app)).await {
        for (state, n) in failing {
            metrics::gauge!("sceneboard_digest_deliveries_unsent", "state" => state).set(n as f64);
        }
    }
    metrics::gauge!("sceneboard_database_up").set(if up { 1.0 } else { 0.0 });
}

/// A refused sign-in, by why: `wrong_password` (unknown user, wrong password or disabled
/// account alike) or `rate_limited`.
pub fn signin_refused(reason: &'static str) {
    metrics::counter!("sceneboard_signin_refusals_total", "reason" => reason).increment(1);
}
