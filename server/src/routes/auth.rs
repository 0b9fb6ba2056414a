//! `POST /api/login` and `POST /api/logout` (CONTRACT.md): plain form posts, so sign-in
//! works before and without the wasm.
//!
//! The session cookie is HttpOnly (no script can read it) and SameSite=Lax: it is not sent on
//! cross-site POSTs, which is what protects these forms and the server functions from CSRF,
//! while a link from a chat or an email still arrives signed in.

use super::{ServerState, safe_next};
use axum::body::Body;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use leptos::prelude::provide_context;
use serde::Deserialize;
use service::{ServiceError, sessions, users};

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    pub next: Option<String>,
}

/// Check credentials; on success set the session cookie and go to `next` (303). On failure
/// answer 401: browsers get the login page with the error, other clients a line of text.
pub async fn login(State(state): State<ServerState>, headers: HeaderMap, jar: CookieJar, Form(form): Form<LoginForm>) -> Response {
    let st = &state.app;
    let user = match users::authenticate(&st.db, &form.username, &form.password).await {
        Ok(u) => u,
        Err(ServiceError::Unauthorized) => {
            tracing::info!(username = %form.username, "failed sign-in");
            return failed_login(&state, &headers, form.next.as_deref()).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed on the server");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response();
        }
    };
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let session = match sessions::create(&st.db, &st.keys, user.id, ua).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot create a session");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response();
        }
    };
    tracing::info!(user = %user.username, "signed in");
    let cookie = Cookie::build((sessions::COOKIE_NAME, session.token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(st.settings.secure_cookies)
        .path("/")
        .max_age(time_duration(sessions::ABSOLUTE_TTL));
    (jar.add(cookie), Redirect::to(&safe_next(form.next.as_deref()))).into_response()
}

/// End the session (if any), clear the cookie, go to the login page.
pub async fn logout(State(state): State<ServerState>, jar: CookieJar) -> Response {
    if let Some(c) = jar.get(sessions::COOKIE_NAME) {
        if let Err(e) = sessions::destroy(&state.app.db, &state.app.keys, c.value()).await {
            tracing::error!(error = %e, "cannot end a session");
        }
    }
    let jar = jar.remove(Cookie::build(sessions::COOKIE_NAME).path("/"));
    (jar, Redirect::to("/login")).into_response()
}

async fn failed_login(state: &ServerState, headers: &HeaderMap, next: Option<&str>) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !wants_html {
        return (StatusCode::UNAUTHORIZED, "invalid username or password\n").into_response();
    }
    // Render the real login page (in the visitor's language) with the error, as a static page:
    // the browser's URL is /api/login, which no client route matches, so it must not hydrate.
    let next = safe_next(next);
    let mut req = Request::builder().uri(format!("/login?next={}", app::components::shell::urlencode(&next)));
    for name in [header::COOKIE, header::ACCEPT_LANGUAGE] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v.clone());
        }
    }
    let Ok(req) = req.body(Body::empty()) else {
        return (StatusCode::UNAUTHORIZED, "invalid username or password\n").into_response();
    };
    let app_state = state.app.clone();
    let leptos = state.leptos.clone();
    let handler = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(app_state.clone());
            provide_context(app::StaticOnly);
            provide_context(app::LoginFailed);
        },
        move || app::shell(leptos.clone()),
    );
    let mut res = handler(req).await;
    *res.status_mut() = StatusCode::UNAUTHORIZED;
    res
}

fn time_duration(d: chrono::Duration) -> cookie::time::Duration {
    cookie::time::Duration::seconds(d.num_seconds())
}
