//! Test hooks and counters under `/sim/`: revoking tokens, API faults for fault drills (and
//! the middleware that applies them), and the read-only `/sim/stats`.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::api::{Params, param};
use super::state::{Faults, SimState};

pub(super) async fn admin_invalidate(State(state): State<SimState>, Query(q): Params) -> StatusCode {
    match param(&q, "appid") {
        Some(app_id) => {
            state.invalidate_tokens(app_id);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

/// `POST /sim/admin/faults?delay_ms=N&down=true|false`: sets [`Faults`] (both default to
/// clear), for fault-drill scripts.
pub(super) async fn admin_faults(State(state): State<SimState>, Query(q): Params) -> StatusCode {
    let delay = match param(&q, "delay_ms").map(str::parse::<u64>) {
        None => Duration::ZERO,
        Some(Ok(ms)) if ms <= 600_000 => Duration::from_millis(ms),
        Some(_) => return StatusCode::BAD_REQUEST,
    };
    let down = match param(&q, "down") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return StatusCode::BAD_REQUEST,
    };
    state.set_faults(Faults { delay, down });
    StatusCode::NO_CONTENT
}

/// Applies [`Faults`] to an API call.
pub(super) async fn api_faults(State(state): State<SimState>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let faults = state.faults();
    if !faults.delay.is_zero() {
        tokio::time::sleep(faults.delay).await;
    }
    if faults.down {
        return (StatusCode::BAD_GATEWAY, Html("<html><body><h1>502 Bad Gateway</h1></body></html>")).into_response();
    }
    next.run(req).await
}

/// `GET /sim/stats`: read-only counters per account, for benchmarks and the scale-out check
/// (`scripts/scale-out.sh`): token requests and tokens issued (one per validity window when
/// instances share the token; forced refreshes among them), codes, followers, and `batchtagging` calls with how many
/// OpenIDs were tagged more than once (a tag job that ran twice).
pub(super) async fn stats(State(state): State<SimState>) -> Json<Value> {
    let inner = state.lock();
    let apps: Vec<Value> = inner
        .apps
        .values()
        .map(|a| {
            json!({
                "app_id": a.cfg.app_id,
                "token_requests": a.token_requests,
                "tokens_issued": a.token_fetches,
                "forced_refreshes": a.forced_refreshes,
                "codes_issued": a.codes.len(),
                "followers": a.followers.len(),
                "subscribed": a.followers.values().filter(|f| f.subscribed).count(),
                "tag_calls": a.tag_calls,
                "tag_call_failures": a.tag_call_failures,
                "tagged_openids": a.tagged.len(),
                "taggings": a.tagged.values().sum::<u64>(),
                "openids_tagged_more_than_once": a.tagged.values().filter(|n| **n > 1).count(),
            })
        })
        .collect();
    Json(json!({ "apps": apps }))
}

#[cfg(test)]
mod stats_tests {
    use super::*;
    use crate::sim::api::qr_create;
    use crate::sim::{Scanner, SimApp, SimConfig, spawn};

    #[tokio::test]
    async fn stats_count_token_requests_and_taggings() {
        let sim = spawn(SimConfig::default()).await.unwrap();
        let app = SimApp::sandbox();
        let http = reqwest::Client::new();
        let base = sim.base_url();
        let body = json!({ "grant_type": "client_credential", "appid": app.app_id, "secret": app.secret });
        let mut token = String::new();
        for _ in 0..2 {
            let v: Value = http.post(format!("{base}/cgi-bin/stable_token")).json(&body).send().await.unwrap().json().await.unwrap();
            token = v["access_token"].as_str().unwrap().to_owned();
        }
        let tag: Value = http
            .post(format!("{base}/cgi-bin/tags/create?access_token={token}"))
            .json(&json!({ "tag": { "name": "poster" } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tag_id = tag["tag"]["id"].as_u64().unwrap();
        let code = qr_create(&sim.state, &app.app_id, br#"{"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":1}}}"#);
        let openid = sim.state.scan(code["ticket"].as_str().unwrap(), Scanner::NewFollower).await.unwrap().openid;
        let tagging = |list: Vec<&str>| {
            http.post(format!("{base}/cgi-bin/tags/members/batchtagging?access_token={token}"))
                .json(&json!({ "openid_list": list, "tagid": tag_id }))
                .send()
        };
        tagging(vec![openid.as_str()]).await.unwrap();
        tagging(vec![openid.as_str()]).await.unwrap();
        tagging(vec!["oUnknown"]).await.unwrap();
        let stats: Value = http.get(format!("{base}/sim/stats")).send().await.unwrap().json().await.unwrap();
        let a = &stats["apps"][0];
        assert_eq!(a["app_id"], app.app_id.as_str());
        assert_eq!((a["token_requests"].as_u64(), a["tokens_issued"].as_u64()), (Some(2), Some(1)));
        assert_eq!((a["tag_calls"].as_u64(), a["tag_call_failures"].as_u64()), (Some(2), Some(1)));
        assert_eq!((a["tagged_openids"].as_u64(), a["taggings"].as_u64()), (Some(1), Some(2)));
        assert_eq!(a["openids_tagged_more_than_once"].as_u64(), Some(1));
        assert_eq!((a["followers"].as_u64(), a["subscribed"].as_u64(), a["codes_issued"].as_u64()), (Some(1), Some(1), Some(1)));
    }
}
