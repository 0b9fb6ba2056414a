//! `GET /healthz`: 200 `ok` when the database answers, 503 otherwise (for load balancers).

use super::ServerState;
use axum::extract::State;
use axum::http::StatusCode;

pub async fn healthz(State(state): State<ServerState>) -> (StatusCode, &'static str) {
    if service::db::ping(&state.app.db).await {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}
