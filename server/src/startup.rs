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
        None => {
            ensure_data_dir(cfg)?;
            Ok(Keys::load_or_create(&cfg.data_dir)?)
        }
    }
}

/// Creates the data dir when it is missing, for this user only (0700; the umask of
/// [`service::keys::restrict_umask`] does so too, this holds without it). An existing one is
/// left as the operator set it.
fn ensure_data_dir(cfg: &Config) -> anyhow::Result<()> {
    if cfg.data_dir.is_dir() {
        return Ok(());
    }
    let dir = &cfg.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create data dir {}", dir.display()))?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .with_context(|| format!("cannot make data dir {} private", dir.display()))?;
    Ok(())
}

/// Seals the callback Tokens still stored in plaintext (migration 14 adds the sealed column
/// but cannot seal: it has no key). Idempotent; a failure is logged and tried at the next start.
pub async fn seal_tokens(db: &service::DatabaseConnection, keys: &Keys) {
    match service::accounts::seal_plaintext_tokens(db, keys).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(accounts = n, "callback Tokens sealed at rest"),
        Err(e) => tracing::warn!(error = %e, "cannot seal the callback Tokens stored in plaintext; trying again at the next start"),
    }
}

/// Connect to the database and apply pending migrations.
pub async fn open_database(cfg: &Config) -> anyhow::Result<service::DatabaseConnection> {
    let conn = db::connect(&cfg.database_url).await.with_context(|| format!("cannot connect to {}", redact_url(&cfg.database_url)))?;
    db::migrate(&conn).await.context("migrations failed")?;
    Ok(conn)
}

/// The application state for `cfg`, on a migrated database.
pub async fn app_state(cfg: &Config) -> anyhow::Result<AppState> {
    let keys = data_dir_and_keys(cfg)?;
    let db = open_database(cfg).await?;
    seal_tokens(&db, &keys).await;
    Ok(state_on(cfg, keys, db))
}

/// What `serve` runs on: like [`app_state`], except that a database server that cannot be
/// reached does not stop the start. The server then comes up on a pool that connects when
/// the database answers ([`Schema::Later`]): the callback verifies pushes with the sealed
/// accounts file and journals them in the spool, and the migrations and background jobs wait
/// for the database. Anything else (a bad URL, a refused password, a failed migration) still
/// ends the start with its error.
pub async fn serving_state(cfg: &Config) -> anyhow::Result<(AppState, Schema)> {
    let keys = data_dir_and_keys(cfg)?;
    let first = db::connect(&cfg.database_url).await;
    let (db, schema) = match first {
        Ok(conn) => {
            db::migrate(&conn).await.context("migrations failed")?;
            seal_tokens(&conn, &keys).await;
            if let Some(password) = &cfg.admin_password {
                first_admin(&conn, password).await?;
            }
            (conn, Schema::Current)
        }
        Err(e) if db::is_unreachable(&e) => {
            tracing::warn!(
                database = %redact_url(&cfg.database_url), error = %e,
                "the database cannot be reached: serving the callback from the spool until it answers; migrations and jobs wait"
            );
            let conn = db::connect_lazily(&cfg.database_url)
                .await
                .with_context(|| format!("cannot connect to {}", redact_url(&cfg.database_url)))?;
            (conn, Schema::Later)
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot connect to {}", redact_url(&cfg.database_url)))),
    };
    Ok((state_on(cfg, keys, db), schema))
}

/// Whether the schema was brought up to date before serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Migrated: background jobs start at once.
    Current,
    /// The database did not answer at start: migrate, then start the jobs, once it does.
    Later,
}

fn data_dir_and_keys(cfg: &Config) -> anyhow::Result<Keys> {
    ensure_data_dir(cfg)?;
    load_keys(cfg)
}

fn state_on(cfg: &Config, keys: Keys, db: service::DatabaseConnection) -> AppState {
    AppState {
        db,
        keys: Arc::new(keys),
        settings: Arc::new(Settings {
            public_url: cfg.public_url.clone(),
            timezone: cfg.timezone.clone(),
            secure_cookies: cfg.secure_cookies(),
            metrics_token: cfg.metrics_token.as_deref().map(service::state::MetricsToken::new),
            trusted_proxies: cfg.trusted_proxies.clone(),
            mail: cfg.mail.clone().map(Arc::new),
        }),
        health: Default::default(),
        clock: service::Clock::system(),
        changes: Default::default(),
    }
}

/// Leptos options: the output name of the wasm bundle and the address. The site's files are
/// served by [`crate::site::Site`], not from these options' `site_root`.
pub fn leptos_options(cfg: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("sceneboard")
        .site_root(cfg.site_root.as_deref().unwrap_or("target/site"))
        .site_pkg_dir("pkg")
        .site_addr(cfg.addr)
        .build()
}

/// Run the HTTP server until Ctrl-C or SIGTERM.
pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    refuse_bench_switch()?;
    let (app, schema) = serving_state(&cfg).await?;
    let listener = bind(&cfg).await?;
    serve_with(&cfg, app, schema, listener).await
}

/// Listen on the configured address (separate, so `demo` can fail on a taken port before it
/// spends time seeding).
pub async fn bind(cfg: &Config) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(cfg.addr).await.with_context(|| format!("cannot listen on {}", cfg.addr))
}

/// Serve `app` on `listener`: the callback's writer, the background workers and the router,
/// until Ctrl-C or SIGTERM.
pub async fn serve_with(cfg: &Config, app: AppState, schema: Schema, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    refuse_bench_switch()?;
    if let Some(dir) = &cfg.font_dir {
        service::chart::use_font_dir(dir.clone());
    }
    if let Some(font) = crate::site::CHART_FONT {
        service::chart::use_font_data(font);
    }
    // The callback's writer; replays any spool a previous run left behind, and journals
    // bursts in the same spool.
    let options = service::ingest::IngestOptions {
        spill_when_busy: crate::routes::journals_bursts(),
        max_skew: cfg.callback_max_skew,
        spool_max_bytes: cfg.spool_max_bytes,
        ..service::ingest::IngestOptions::serving(&cfg.data_dir)
    };
    let ingest = service::ingest::Ingestor::spawn(app.clone(), options)
        .with_context(|| format!("cannot open the callback spool in {}", cfg.data_dir.display()))?;
    let site = crate::site::Site::new(cfg.site_root.as_deref());
    match site.folder() {
        // Pages still work without scripts and styles, so this is a warning, not a refusal.
        Some(dir) if !dir.join("pkg").is_dir() => tracing::warn!(
            "the site folder {} holds no pkg/: pages will load without their styles and scripts (point LEPTOS_SITE_ROOT at a built site, or unset it to serve the one built into the binary)",
            dir.display()
        ),
        _ => tracing::info!("site {}", site.describe()),
    }
    let state = ServerState { leptos: leptos_options(cfg).into(), site: site.into(), app, ingest };
    tokio::spawn(purge_sessions(state.app.db.clone()));
    match schema {
        Schema::Current => crate::worker::spawn(state.app.clone()),
        Schema::Later => {
            tokio::spawn(migrate_then_work(state.app.clone(), cfg.admin_password.clone()));
        }
    }
    let app = router(state);
    tracing::info!(addr = %cfg.addr, database = %redact_url(&cfg.database_url), "Sceneboard listening on http://{}", cfg.addr);
    // With the peer address (the sign-in rate limiter counts failures by it) and a
    // header-read timeout (src/http.rs).
    crate::http::serve(listener, app, shutdown_signal()).await?;
    Ok(())
}

/// The benchmark switch in a binary built without it: better not to start than to look as if
/// it were obeyed, or to have an operator believe it is one.
fn refuse_bench_switch() -> anyhow::Result<()> {
    #[cfg(not(feature = "bench-modes"))]
    if std::env::var_os("SCENEBOARD_BENCH_CALLBACK").is_some_and(|v| !v.is_empty()) {
        anyhow::bail!(
            "SCENEBOARD_BENCH_CALLBACK is set, but this build has no benchmark modes (they acknowledge pushes \
             without storing them); unset it, or build with `--features server/bench-modes` for a benchmark"
        );
    }
    Ok(())
}

/// After a start without the database: migrate as soon as it answers, then start the
/// background jobs (which must not run on an old schema).
async fn migrate_then_work(app: AppState, admin_password: Option<String>) {
    let mut said = false;
    loop {
        match db::migrate(&app.db).await {
            Ok(()) => break,
            Err(e) if db::is_unreachable(&e) => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
            Err(e) => {
                if !said {
                    tracing::error!(error = %e, "migrations failed; trying again every 30 s");
                    said = true;
                }
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            }
        }
    }
    seal_tokens(&app.db, &app.keys).await;
    if let Some(password) = admin_password
        && let Err(e) = first_admin(&app.db, &password).await
    {
        tracing::error!(error = %e, "cannot create the first admin");
    }
    tracing::info!("the database answers: migrations applied, background jobs started");
    crate::worker::spawn(app);
}

/// The user `SCENEBOARD_ADMIN_PASSWORD_FILE` creates.
pub const FIRST_ADMIN: &str = "admin";

/// The first admin from `SCENEBOARD_ADMIN_PASSWORD_FILE`: the user `admin`, created only while
/// the database has no users at all, so a later start never changes anyone's password. Of
/// instances starting together on one database, one creates it and the others, refused the
/// taken name, go on.
pub async fn first_admin(db: &service::DatabaseConnection, password: &str) -> anyhow::Result<()> {
    if service::users::count(db).await? > 0 {
        return Ok(());
    }
    match service::users::create(db, FIRST_ADMIN, password, service::users::Role::Admin, None).await {
        Ok(_) => {
            tracing::info!(username = FIRST_ADMIN, "created the first admin from SCENEBOARD_ADMIN_PASSWORD_FILE");
            Ok(())
        }
        Err(service::ServiceError::Conflict { .. }) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("SCENEBOARD_ADMIN_PASSWORD_FILE: {e}")),
    }
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
