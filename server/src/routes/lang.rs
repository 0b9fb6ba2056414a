//! `GET /lang/{code}?next=/path`: switch the interface language. Sets the cookie that
//! leptos_i18n reads on the server and in the browser, then goes back to `next`.

use super::safe_next;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

/// leptos_i18n's default cookie name: the same cookie drives server rendering and hydration.
/// The interface language of a request, for words a route sends to a browser.
pub use app::error::{LOCALE_COOKIE, lang_of};

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Set the language cookie (`zh` or `en`) and redirect back.
pub async fn switch(Path(code): Path<String>, Query(q): Query<Next>, jar: CookieJar) -> Response {
    if !matches!(code.as_str(), "zh" | "en") {
        return (StatusCode::NOT_FOUND, "unknown language; use zh or en\n").into_response();
    }
    let cookie = Cookie::build((LOCALE_COOKIE, code)).path("/").same_site(SameSite::Lax).max_age(cookie::time::Duration::days(365));
    (jar.add(cookie), Redirect::to(&safe_next(q.next.as_deref()))).into_response()
}
