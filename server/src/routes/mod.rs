//! The HTTP surface: one module per route area, assembled by [`router`].

pub mod auth;
#[cfg(feature = "bench-modes")]
pub mod bench;
pub mod callback;
pub mod charts;
pub mod codes;
pub mod export;
pub mod health;
pub mod lang;
pub mod public_code;
pub mod share;

use crate::metrics::track_requests;
use app::{App, shell};
use axum::extract::FromRef;
use axum::extract::Request;
use axum::handler::HandlerWithoutStateExt;
use axum::routing::{get, post};
use axum::{Router, middleware};
use leptos::prelude::*;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use service::AppState;
use std::sync::Arc;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

/// Router state: the Leptos options (for rendering), the site's files, and the app state.
///
/// axum clones the router's state for every request, the callback's included, so the options
/// (a dozen strings) and the site sit behind an `Arc` and are copied only where a handler asks
/// for them (pages); a push's request then clones a few reference counts.
#[derive(Clone)]
pub struct ServerState {
    pub leptos: Arc<LeptosOptions>,
    /// The compiled site: built into the binary, or a folder (`LEPTOS_SITE_ROOT`).
    pub site: Arc<crate::site::Site>,
    pub app: AppState,
    /// The callback's ingest writer (group commit, spool).
    pub ingest: service::ingest::Ingestor,
}

impl FromRef<ServerState> for LeptosOptions {
    fn from_ref(s: &ServerState) -> Self {
        (*s.leptos).clone()
    }
}

impl FromRef<ServerState> for AppState {
    fn from_ref(s: &ServerState) -> Self {
        s.app.clone()
    }
}

impl FromRef<ServerState> for service::ingest::Ingestor {
    fn from_ref(s: &ServerState) -> Self {
        s.ingest.clone()
    }
}

/// Largest request body accepted anywhere (forms, server functions). Room for the largest
/// inputs the services check themselves, so they answer with their own clear error: a 1 MiB
/// CSV import sent percent-encoded (up to three times its size), a 1 MiB logo in its
/// multipart envelope. The WeChat callback sets its own, smaller cap.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The app's pages and how each renders, listed once per process.
///
/// Why once: listing renders the app while leptos holds a process-wide flag that keeps every
/// resource from loading, so a page that another router of this process (tests run many)
/// rendered meanwhile waited forever for its data. Each router needs the list before it
/// serves, so after the first one nothing raises that flag again (docs/design/ssr.md).
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The whole application router.
pub fn router(state: ServerState) -> Router {
    // The recorder before anything counts: background jobs may count before the first request.
    crate::metrics::handle();
    let routes = route_list();
    let app_state = state.app.clone();
    let ingest = state.ingest.clone();
    let context = move || {
        provide_context(app_state.clone());
        // Server functions that change an account tell the callback to drop its cached copy.
        provide_context(ingest.clone());
    };
    let leptos = (*state.leptos).clone();
    let pages = crate::security::with_page_csp(state.site.assets(), context);
    Router::new()
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/logout-all", post(auth::logout_all))
        .route("/lang/{code}", get(lang::switch))
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(crate::metrics::render))
        .merge(codes::routes())
        .merge(public_code::routes())
        .merge(charts::routes())
        .merge(export::routes())
        .merge(crate::api::routes())
        .merge(share::routes())
        .leptos_routes_with_context(&state, routes, pages.clone(), move || shell(leptos.clone()))
        .fallback_service(site_files(&state, pages))
        // Pages, server functions, SVG charts and CSV exports go out compressed when the
        // browser accepts it; the callback (merged below) does not: WeChat's replies are a few
        // bytes and its latency budget is the push's. Embedded site files come precompressed
        // from a release package (`--precompress`). Level 4: brotli's default (11) spends
        // ~100 ms on a 300 KB page; at 4 both codecs stay in the low milliseconds.
        .layer(
            CompressionLayer::new()
                .br(true)
                .gzip(true)
                .quality(CompressionLevel::Precise(4))
                .compress_when(DefaultPredicate::new().and(NotForContentType::const_new("application/zip"))),
        )
        .merge(callback::routes())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // axum's extractors (server functions' forms) stop at 2 MiB unless told otherwise;
        // routes with a smaller cap (the callback, logos) set their own inside this.
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        // One sign-in limiter per router (so per instance, and per test server).
        .layer(axum::Extension(crate::login_limit::LoginLimiter::default()))
        // And one rate limit per API key per router.
        .layer(axum::Extension(crate::api::key::Limiter::default()))
        .layer(axum::Extension(share::PasswordTries::default()))
        // Inside the metrics and trace layers, so refusals are counted and traced too.
        .layer(middleware::from_fn_with_state(
            std::sync::Arc::new(crate::security::Guard::new(&state.app.settings.public_url)),
            crate::security::protect,
        ))
        .layer(middleware::from_fn(track_requests))
        // A request's span names its path, not its query: WeChat's callback query carries the
        // follower's OpenID, which no log line may hold; nor may a public link's token. At
        // info, so what is logged while a request is served carries its id.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let path = public_code::loggable_path(req.uri().path());
            let id = crate::request_id::of(req);
            tracing::info_span!("request", method = %req.method(), path = %path, request_id = %id)
        }))
        .layer(middleware::from_fn(crate::request_id::assign))
        .with_state(state)
}

/// The site's files, and the 404 page for any other path.
///
/// Why not leptos_axum's `file_and_error_handler` for the files: it answers each file inside
/// a new reactive owner, and `Owner::new()` attaches to whatever owner is current on that
/// worker thread, so a file requested while a page was rendering could read that page's
/// context: under concurrent load file responses went out with a page's nonce policy and
/// pages with the plain one, whose inline scripts the browser then refused (the page never
/// hydrated). Neither the embedded files nor a plain `ServeDir` touch the reactive runtime.
fn site_files<F>(state: &ServerState, pages: F) -> Router
where
    F: Fn() + Clone + Send + Sync + 'static,
{
    let leptos = (*state.leptos).clone();
    let site = state.site.clone();
    let not_found = leptos_axum::render_app_async_with_context(pages, move || shell(leptos.clone()));
    match state.site.folder() {
        Some(dir) => {
            let not_found = move |req: Request| not_found(req);
            Router::new().fallback_service(ServeDir::new(dir).call_fallback_on_method_not_allowed(true).fallback(not_found.into_service()))
        }
        None => Router::new().fallback(move |req: Request| {
            let site = site.clone();
            let not_found = not_found.clone();
            async move {
                match site.respond(req.method(), req.uri().path(), req.headers()) {
                    Some(response) => response,
                    None => not_found(req).await,
                }
            }
        }),
    }
}

/// Does the callback's writer journal bursts in the spool? Yes, unless a benchmark build
/// was told not to (`bench-modes`).
pub fn journals_bursts() -> bool {
    #[cfg(feature = "bench-modes")]
    return bench::journals_bursts();
    #[cfg(not(feature = "bench-modes"))]
    true
}

/// A local path to return to after sign-in or a language switch: anything that is not a
/// plain absolute path on this site (`//evil`, `https://…`, `\\`) becomes `/`, so these
/// redirects can never send a user elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.chars().any(char::is_control) => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_site() {
        assert_eq!(safe_next(Some("/campaigns?x=1")), "/campaigns?x=1");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "", "campaigns", "/a\r\nb"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
