//! From configuration to a running server: keys, database, migrations, router, listener.

use crate::config::{Config, redact_url};
use crate::routes::{ServerState, router};
use anyhow::Context;
use leptos::prelude::LeptosOptions;
use service::state::Settings;
use service::{AppState, Keys, db};
use std::sync::Arc;

/// The secret key from the environment, or the one generated into the data dir.
pub fn load_keys(cfg: &Config) -> anyhow::Result<Keys> {
    match &cfg.secret_key {
        Some(text) => Ok(Keys::from_base64(text)?),
        None => Ok(Keys::load_or_create(&cfg.data_dir)?),
    }
}

/// Connect to the database and apply pending migrations.
pub async fn open_database(cfg: &Config) -> anyhow::Result<service::DatabaseConnection> {
    let conn = db::connect(&cfg.database_url)
        .await
        .with_context(|| format!("cannot connect to {}", redact_url(&cfg.database_url)))?;
    db::migrate(&conn).await.context("migrations failed")?;
    Ok(conn)
}

/// The application state for `cfg`.
pub async fn app_state(cfg: &Config) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create data dir {}", cfg.data_dir.display()))?;
    let keys = load_keys(cfg)?;
    let db = open_database(cfg).await?;
    Ok(AppState {
        db,
        keys: Arc::new(keys),
        settings: Arc::new(Settings {
            public_url: cfg.public_url.clone(),
            timezone: cfg.timezone.clone(),
            secure_cookies: cfg.secure_cookies(),
        }),
        health: Default::default(),
        clock: service::Clock::system(),
    })
}

/// Leptos options: where the compiled site lives (`LEPTOS_SITE_ROOT`, default `target/site`,
/// as `cargo leptos build` leaves it) and the output name of the wasm bundle.
pub fn leptos_options(cfg: &Config) -> LeptosOptions {
    let site_root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
    LeptosOptions::builder()
        .output_name("sceneboard")
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .site_addr(cfg.addr)
        .build()
}

/// Run the HTTP server until Ctrl-C or SIGTERM.
pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let app = app_state(&cfg).await?;
    let listener = bind(&cfg).await?;
    serve_with(&cfg, app, listener).await
}

/// Listen on the configured address (separate, so `demo` can fail on a taken port before it
/// spends time seeding).
pub async fn bind(cfg: &Config) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(cfg.addr).await.with_context(|| format!("cannot listen on {}", cfg.addr))
}

/// Serve `app` on `listener`: the callback's writer, the background workers and the router,
/// until Ctrl-C or SIGTERM.
pub async fn serve_with(cfg: &Config, app: AppState, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    // The callback's writer; replays any spool a previous run left behind, and journals
    // bursts in the same spool.
    let options = service::ingest::IngestOptions {
        spill_when_busy: crate::routes::callback::bench::journals_bursts(),
        ..service::ingest::IngestOptions::serving(&cfg.data_dir)
    };
    let ingest = service::ingest::Ingestor::spawn(app.clone(), options)
        .with_context(|| format!("cannot open the callback spool in {}", cfg.data_dir.display()))?;
    let state = ServerState { leptos: leptos_options(cfg).into(), app, ingest };
    tokio::spawn(purge_sessions(state.app.db.clone()));
    crate::worker::spawn(state.app.clone());
    let app = router(state);
    tracing::info!(addr = %cfg.addr, database = %redact_url(&cfg.database_url), "Sceneboard listening on http://{}", cfg.addr);
    // With the peer address (the sign-in rate limiter counts failures by it) and a
    // header-read timeout (src/http.rs).
    crate::http::serve(listener, app, shutdown_signal()).await?;
    Ok(())
}

/// Delete expired sessions once an hour (any instance may do it; the delete is idempotent).
async fn purge_sessions(db: service::DatabaseConnection) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match service::sessions::purge_expired(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "expired sessions removed"),
            Err(e) => tracing::warn!(error = %e, "cannot remove expired sessions"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
