//! A local stand-in for `api.weixin.qq.com`: token, stable_token, qrcode/create, showqrcode
//! and tags, with WeChat's validation and error codes, plus a "scan" that pushes
//! signed (optionally AES-encrypted) events to a callback the way WeChat does.
//!
//! It exists because the real API cannot be reached from development machines and a new user
//! has no Official Account yet. It is deliberately strict: a request that real WeChat would
//! refuse or misread is refused or misread here too (e.g. a `qrcode/create` body without the
//! `action_info.scene` wrapper yields a code for scene 0, as on WeChat).
//!
//! All state is in memory. [`router`] gives the axum app, [`serve`] runs it, [`spawn`] binds
//! it on a free loopback port for tests.
//!
//! Files: `state` — the accounts, what was issued, and [`SimState`] with its clock and test
//! hooks; `api` — the `/cgi-bin/` endpoints; `push` — scans, unsubscribes and the pushes they
//! send to the callback; `page` — the HTML page and its forms; `admin` — token revocation,
//! API faults and `/sim/stats`. This file holds the router and the ways to run it.

mod admin;
mod api;
mod page;
mod push;
mod state;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use rand::Rng;
use rand::distributions::Alphanumeric;

pub use push::{Delivery, PushReport, Scanner, SimError, push};
pub use state::{Faults, Follower, IssuedCode, SimApp, SimConfig, SimScene, SimState};

use admin::{admin_faults, admin_invalidate, api_faults, stats};
use api::{qrcode_create, showqrcode, tags_batchtagging, tags_create, tags_get, token_classic, token_stable};
use page::{index, scan_form, unsubscribe_form};

/// The simulator's routes: the WeChat API under `/cgi-bin/` (subject to [`Faults`]), the page
/// at `/`, its forms, test hooks and read-only counters (`/sim/stats`) under `/sim/`.
pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/cgi-bin/token", get(token_classic))
        .route("/cgi-bin/stable_token", post(token_stable))
        .route("/cgi-bin/qrcode/create", post(qrcode_create))
        .route("/cgi-bin/showqrcode", get(showqrcode))
        .route("/cgi-bin/tags/create", post(tags_create))
        .route("/cgi-bin/tags/get", get(tags_get))
        .route("/cgi-bin/tags/members/batchtagging", post(tags_batchtagging))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), api_faults))
        .route("/", get(index))
        .route("/sim/scan", post(scan_form))
        .route("/sim/unsubscribe", post(unsubscribe_form))
        .route("/sim/admin/invalidate-tokens", post(admin_invalidate))
        .route("/sim/admin/faults", post(admin_faults))
        .route("/sim/stats", get(stats))
        .with_state(state)
}

/// Runs the simulator on `addr` until the process ends (`sceneboard wechat-sim`).
pub async fn serve(addr: SocketAddr, config: SimConfig) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("WeChat simulator listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router(SimState::new(config))).await
}

/// A simulator running in the background (tests, demo).
#[derive(Debug)]
pub struct SimHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state, for assertions and hooks.
    pub state: SimState,
    task: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// The base URL to configure as an account's API base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the simulator on `127.0.0.1:0` in the background; it stops when the handle drops.
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let state = SimState::new(config);
    let app = router(state.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("WeChat simulator stopped: {e}");
        }
    });
    Ok(SimHandle { addr, state, task })
}

fn random_string(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}
