//! Public image links: `GET /q/{token}.png?size=N` and `GET /q/{token}.svg?size=N`, no login.
//! Each serves its campaign's current code (after a renewal, the new ticket's), drawn by the
//! same renderer as `/campaigns/{id}/qr.png` ([`super::codes::render`]), with the campaign's
//! or account's logo and never a caption (campaign names are internal).
//!
//! - `X-Robots-Tag: noindex, nofollow`: a link is public to whoever has it, not to search.
//! - `Cache-Control: public, max-age=300` (less when the code expires sooner) and a strong
//!   ETag of the ticket, format, size and logo: a page shows a renewed code within five
//!   minutes, and a conditional GET is a 304 without drawing. Five minutes is safe because
//!   auto-renew replaces a code a quarter of its life (at least six hours) before it expires,
//!   and the old ticket keeps scanning until then.
//! - Unknown, regenerated or turned-off token, archived campaign, no code, expired code: one
//!   and the same 404 (`not found`, `no-store`), after the same single indexed query, so the
//!   answer never tells whether a campaign exists. A name without `.png`/`.svg` is 404 too.
//! - `Cross-Origin-Resource-Policy: cross-origin`: other sites may embed the image.

use super::ServerState;
use super::codes::{self, Format};
use crate::door::HttpError;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use service::public_codes::{self, PublicCode};
use service::qr;
use sha2::{Digest, Sha256};

/// Longest a browser or CDN keeps an image before asking again (seconds).
pub const MAX_AGE: i64 = 300;

/// Where public links live; `/q/{token}.png` and `.svg`.
pub const PREFIX: &str = "/q/";

/// Routes of this module.
pub fn routes() -> Router<ServerState> {
    // One segment with the extension in it: matchit 0.8.4 has no `{token}.png` patterns.
    Router::new().route("/q/{file}", get(image))
}

#[derive(Deserialize)]
pub struct PublicQuery {
    size: Option<String>,
}

fn robots(res: &mut Response) {
    res.headers_mut().insert(HeaderName::from_static("x-robots-tag"), HeaderValue::from_static("noindex, nofollow"));
}

/// The one answer for every token that serves nothing.
fn not_found() -> Response {
    let mut res = HttpError::not_found().into_response();
    robots(&mut res);
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The image's validator: changes with the ticket (a renewal), the drawing asked for, and the
/// logo drawn in it.
fn etag(code: &PublicCode, format: Format, size: u32) -> String {
    let mut h = Sha256::new();
    h.update(code.ticket.as_bytes());
    h.update(format!("\0{}\0{size}\0", format.as_str()).as_bytes());
    if let Some(logo) = &code.logo {
        h.update(Sha256::digest(logo));
    }
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&h.finalize()[..12]))
}

/// Seconds a response may be cached: [`MAX_AGE`], or less if the code expires sooner.
fn max_age(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    expires_at.map_or(MAX_AGE, |t| (t - now).num_seconds().clamp(0, MAX_AGE))
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

fn cache_headers(res: &mut Response, etag: &str, max_age: i64) {
    robots(res);
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("cross-origin"));
}

async fn image(State(s): State<ServerState>, Path(file): Path<String>, Query(q): Query<PublicQuery>, headers: HeaderMap) -> Response {
    let (token, format) = match file.rsplit_once('.') {
        Some((t, "png")) => (t, Format::Png),
        Some((t, "svg")) => (t, Format::Svg),
        _ => return not_found(),
    };
    // Checked before the token, so a bad size says nothing about the token either.
    let size = match qr::parse_size(q.size.as_deref()) {
        Ok(size) => size,
        Err(e) => return HttpError::invalid(e).into_response(),
    };
    let now = s.app.clock.now();
    let code = match public_codes::lookup(&s.app.db, token, now).await {
        Ok(Some(code)) => code,
        Ok(None) => return not_found(),
        Err(e) => return HttpError::from(e).into_response(),
    };
    let etag = etag(&code, format, size);
    let max_age = max_age(code.expires_at, now);
    if not_modified(&headers, &etag) {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        cache_headers(&mut res, &etag, max_age);
        return res;
    }
    let drawing = codes::Drawing { url: code.url, size, caption: None, logo: code.logo };
    let mut res = match codes::render(format, drawing).await {
        Ok(res) => res,
        Err(refusal) => return refusal.into_response(),
    };
    cache_headers(&mut res, &etag, max_age);
    res
}

/// The path to log for a request: a public link's token is a capability, so it never reaches
/// a log line (`/q/…` instead).
pub fn loggable_path(path: &str) -> &str {
    if path.starts_with(PREFIX) {
        "/q/…"
    } else if path.starts_with(super::share::PREFIX) {
        "/s/…"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_forms_match() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\", W/\"b\""));
        assert!(not_modified(&h, "\"b\""));
        assert!(not_modified(&h, "\"a\""));
        assert!(!not_modified(&h, "\"c\""));
        assert!(!not_modified(&HeaderMap::new(), "\"a\""));
    }

    #[test]
    fn caching_stops_at_the_codes_expiry() {
        let now = Utc::now();
        assert_eq!(max_age(None, now), MAX_AGE);
        assert_eq!(max_age(Some(now + chrono::Duration::days(1)), now), MAX_AGE);
        assert_eq!(max_age(Some(now + chrono::Duration::seconds(42)), now), 42);
        assert_eq!(loggable_path("/q/abc.png"), "/q/…");
        assert_eq!(loggable_path("/campaigns/1"), "/campaigns/1");
    }
}
