//! Health for the things in front of the server (README, "Health checks"):
//! - `GET /livez` (load balancers): 200 while this instance can accept pushes and journal
//!   them, whatever the database's state; 503 when its writer stopped or the spool's disk
//!   cannot take a write. An outage of the shared database must not pull every instance.
//! - `GET /readyz` (orchestrators, monitoring): 200 when the database answers and every
//!   migration of this build is applied; 503 otherwise.
//! - `GET /healthz`: readiness as it always was, 200 `ok` when the database answers, followed by
//!   this build's name and version (`ok sceneboard 0.1.0`) for an operator checking a rollout.
//!
//! Bodies are one short line, for a person reading a probe's log.

use super::ServerState;
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;

type Answer = (StatusCode, String);

fn unavailable(why: impl Into<String>) -> Answer {
    (StatusCode::SERVICE_UNAVAILABLE, why.into())
}

pub async fn livez(State(state): State<ServerState>) -> Answer {
    match state.ingest.liveness().await {
        Ok(()) => (StatusCode::OK, "live".into()),
        Err(why) => unavailable(why),
    }
}

pub async fn readyz(State(state): State<ServerState>) -> Answer {
    match tokio::time::timeout(Duration::from_secs(2), service::db::schema_current(&state.app.db)).await {
        Ok(Ok(true)) => (StatusCode::OK, "ready".into()),
        Ok(Ok(false)) => unavailable("migrations pending"),
        Ok(Err(_)) | Err(_) => unavailable("database unavailable"),
    }
}

pub async fn healthz(State(state): State<ServerState>) -> Answer {
    if service::db::ping(&state.app.db).await {
        (StatusCode::OK, format!("ok sceneboard {}", env!("CARGO_PKG_VERSION")))
    } else {
        unavailable("database unavailable")
    }
}
