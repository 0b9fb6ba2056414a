//! `POST /api/login`, `POST /api/logout` (docs/contract.md) and `POST /api/logout-all`: plain
//! form posts, so sign-in works before and without the wasm.
//!
//! The session cookie is HttpOnly (no script can read it) and SameSite=Lax: it is not sent on
//! cross-site POSTs, while a link from a chat or an email still arrives signed in. On top of
//! that, `security::protect` refuses state-changing requests whose `Origin`/`Referer` is
//! another site. Failed sign-ins slow further guesses per (username, client address) and per
//! address, never for a browser that signed in as that user before (`crate::login_limit`), and
//! signing in replaces whatever session the browser held. Under an https public URL both
//! cookies carry the `__Host-` prefix.

use super::{ServerState, safe_next};
use crate::login_limit::{LoginLimiter, client, device, retry_after_secs};
use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use leptos::prelude::provide_context;
use serde::Deserialize;
use service::msg::Msg;
use service::{Lang, ServiceError, sessions, users};
use std::net::SocketAddr;
use std::time::Duration;

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    pub next: Option<String>,
}

/// Check credentials; on success end the session the browser held (if any), set a new
/// session cookie and a device cookie, and go to `next` (303). On failure answer 401: browsers
/// get the login page with the error, other clients a line of text. While the limiter holds
/// this (username, address) or this address back, answer 429 with `Retry-After` without
/// checking the password, except from a browser whose device cookie names this user.
///
/// The client address is the TCP peer (`sceneboard serve` serves with `ConnectInfo`), or what
/// a proxy in `SCENEBOARD_TRUSTED_PROXIES` forwarded (`login_limit::client`). Servers built
/// without `ConnectInfo` (some tests) count by username alone.
pub async fn login(
    State(state): State<ServerState>,
    Extension(limiter): Extension<LoginLimiter>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let st = &state.app;
    let secure = st.settings.secure_cookies;
    let ip = peer.map(|Extension(ConnectInfo(addr))| client::client_ip(addr.ip(), &headers, &st.settings.trusted_proxies));
    let now = chrono::Utc::now().timestamp();
    let known = jar.get(device::cookie_name(secure)).and_then(|c| device::verify(&st.keys, c.value(), &form.username, now));
    let attempt = match limiter.begin(&form.username, ip, known) {
        Ok(attempt) => attempt,
        Err(wait) => {
            tracing::warn!(username = %crate::security::for_log(&form.username), "sign-in refused: too many failures");
            crate::metrics::signin_refused("rate_limited");
            return rate_limited(&state, &headers, form.next.as_deref(), wait).await;
        }
    };
    let user = match users::authenticate(&st.db, &form.username, &form.password).await {
        Ok(u) => u,
        Err(ServiceError::Unauthorized) => {
            tracing::info!(username = %crate::security::for_log(&form.username), "failed sign-in");
            crate::metrics::signin_refused("wrong_password");
            return failed_login(&state, &headers, form.next.as_deref()).await;
        }
        Err(e) => {
            limiter.not_counted(attempt);
            tracing::error!(error = %e, "sign-in failed on the server");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response();
        }
    };
    limiter.succeeded(attempt);
    // Session rotation: a token the browser already held (someone else's, planted before
    // sign-in, or this user's own) must not outlive the sign-in, so it ends here.
    if let Some(old) = jar.get(sessions::cookie_name(secure))
        && let Err(e) = sessions::destroy(&st.db, &st.keys, old.value()).await
    {
        tracing::error!(error = %e, "cannot end the previous session");
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response();
    }
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let session = match sessions::create(&st.db, &st.keys, user.id, ua).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot create a session");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response();
        }
    };
    tracing::info!(user = %user.username, "signed in");
    let session_cookie = Cookie::build((sessions::cookie_name(secure), session.token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(time_duration(sessions::ABSOLUTE_TTL));
    // A fresh device cookie on every sign-in: this browser is known for this user for a year
    // from now. Strict, as only the login form (same site) needs it.
    let device_cookie = Cookie::build((device::cookie_name(secure), device::issue(&st.keys, &user.username, now)))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::seconds(device::LIFETIME_SECS));
    // Set-Cookie in a fixed order, the session's first (a CookieJar's order is a hash set's).
    let set = [(header::SET_COOKIE, session_cookie.to_string()), (header::SET_COOKIE, device_cookie.to_string())];
    (AppendHeaders(set), Redirect::to(&safe_next(form.next.as_deref()))).into_response()
}

/// The session cookie's removal: with the attributes a `__Host-` cookie must have (a browser
/// ignores a removal of one without `Secure`).
fn cleared_session(secure: bool) -> Cookie<'static> {
    Cookie::build(sessions::cookie_name(secure)).path("/").secure(secure).build()
}

/// End the session (if any), clear the cookie, go to the login page.
pub async fn logout(State(state): State<ServerState>, jar: CookieJar) -> Response {
    let secure = state.app.settings.secure_cookies;
    if let Some(c) = jar.get(sessions::cookie_name(secure))
        && let Err(e) = sessions::destroy(&state.app.db, &state.app.keys, c.value()).await
    {
        tracing::error!(error = %e, "cannot end a session");
    }
    let jar = jar.remove(cleared_session(secure));
    (jar, Redirect::to("/login")).into_response()
}

/// "Sign out everywhere": end every session of the signed-in user (other browsers, phones,
/// a forgotten shared computer), clear the cookie, go to the login page. Without a live
/// session there is nothing to end and it only goes to the login page. A database error is
/// a 500 rather than a redirect: the user must not believe the other sessions ended.
pub async fn logout_all(State(state): State<ServerState>, jar: CookieJar) -> Response {
    let secure = state.app.settings.secure_cookies;
    if let Some(c) = jar.get(sessions::cookie_name(secure)) {
        match sessions::destroy_all_for_token(&state.app.db, &state.app.keys, c.value()).await {
            Ok(Some((user_id, ended))) => {
                tracing::info!(user_id, sessions = ended, "signed out everywhere")
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot end the sessions");
                return (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response();
            }
        }
    }
    let jar = jar.remove(cleared_session(secure));
    (jar, Redirect::to("/login")).into_response()
}

async fn failed_login(state: &ServerState, headers: &HeaderMap, next: Option<&str>) -> Response {
    if !wants_html(headers) {
        return (StatusCode::UNAUTHORIZED, "invalid username or password\n").into_response();
    }
    // Render the real login page (in the visitor's language) with the error, as a static page:
    // the browser's URL is /api/login, which no client route matches, so it must not hydrate.
    let next = safe_next(next);
    let mut req = Request::builder().uri(format!("/login?next={}", app::urls::urlencode(&next)));
    for name in [header::COOKIE, header::ACCEPT_LANGUAGE] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v.clone());
        }
    }
    let Ok(req) = req.body(Body::empty()) else {
        return (StatusCode::UNAUTHORIZED, "invalid username or password\n").into_response();
    };
    let mut res = login_page(state, req, true).await;
    *res.status_mut() = StatusCode::UNAUTHORIZED;
    res
}

/// The answer to a sign-in refused by the limiter: 429 with `Retry-After`. Browsers get the
/// login page with the message (in their language) so they can try again later from there;
/// other clients a line of text.
async fn rate_limited(state: &ServerState, headers: &HeaderMap, next: Option<&str>, wait: Duration) -> Response {
    let secs = retry_after_secs(wait);
    let retry_after = (header::RETRY_AFTER, HeaderValue::from(secs));
    if !wants_html(headers) {
        let text = format!("too many failed sign-ins; try again in {secs} seconds\n");
        return (StatusCode::TOO_MANY_REQUESTS, [retry_after], text).into_response();
    }
    let lang = lang_of(headers);
    let message = if secs < 60 { Msg::SignInWaitSeconds { n: secs } } else { Msg::SignInWaitMinutes { n: secs.div_ceil(60) } };
    let message = message.text(lang);
    // The login page (app/) has no text for this, so the message goes into the rendered page
    // right under its heading. Only the language cookie is passed on: with the browser's
    // session cookie the page would redirect a signed-in visitor away from the message.
    let next = safe_next(next);
    let req = Request::builder()
        .uri(format!("/login?next={}", app::urls::urlencode(&next)))
        .header(header::COOKIE, format!("{}={}", super::lang::LOCALE_COOKIE, lang.code()))
        .body(Body::empty());
    let fallback = |text: String| (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, HeaderValue::from(secs))], text).into_response();
    let Ok(req) = req else {
        return fallback(message);
    };
    let (mut parts, body) = login_page(state, req, false).await.into_parts();
    let Ok(html) = axum::body::to_bytes(body, 4 * 1024 * 1024).await else {
        return fallback(message);
    };
    let html = String::from_utf8_lossy(&html);
    let alert = format!(r#"<p class="alert alert-error" role="alert" data-testid="login-error">{message}</p>"#);
    let html = match html.find("</h1>") {
        Some(i) => format!("{}{alert}{}", &html[..i + 5], &html[i + 5..]),
        None => return fallback(message),
    };
    parts.status = StatusCode::TOO_MANY_REQUESTS;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(retry_after.0, retry_after.1);
    Response::from_parts(parts, Body::from(html))
}

/// Whether the client is a browser navigating (it asks for HTML).
fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// The login page rendered for `req` as a static page (the browser's URL is an /api route,
/// which no client route matches, so it must not hydrate), with the failed-sign-in message
/// when `failed`.
async fn login_page(state: &ServerState, req: Request<Body>, failed: bool) -> Response {
    let app_state = state.app.clone();
    let leptos = (*state.leptos).clone();
    let handler = leptos_axum::render_app_async_with_context(
        crate::security::with_page_csp(state.site.assets(), move || {
            provide_context(app_state.clone());
            provide_context(app::StaticOnly);
            if failed {
                provide_context(app::LoginFailed);
            }
        }),
        move || app::shell(leptos.clone()),
    );
    handler(req).await
}

/// The interface language of a request (`service::Lang::from_request`).
fn lang_of(headers: &HeaderMap) -> Lang {
    super::lang::lang_of(headers)
}

fn time_duration(d: chrono::Duration) -> cookie::time::Duration {
    cookie::time::Duration::seconds(d.num_seconds())
}
