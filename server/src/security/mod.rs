//! Hardening of the web surface: security headers (with a Content-Security-Policy) on every
//! response, and refusal of cross-site state-changing requests. The sign-in limiter is
//! `crate::login_limit`.
//!
//! The headers and the origin check are one middleware, [`protect`], wrapped around the whole
//! router (pages, server functions, images, exports, health, 404s). Rendered pages get a
//! stricter policy than the default one: see [`with_page_csp`].
//!
//! - `headers`: the policies and headers, and the page policy's nonce and hash;
//! - `origin`: [`Guard`], which tells this site's requests from cross-site ones.

mod headers;
mod origin;
#[cfg(test)]
mod tests;

pub use headers::{hydration_script_hash, page_csp, with_page_csp};
pub use origin::Guard;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use headers::default_headers;
use origin::REFUSED;
use std::sync::Arc;

/// The middleware around every route: refuses cross-site state-changing requests with 403
/// (except WeChat's callback), then adds the security headers to whatever the answer is.
pub async fn protect(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    // Server functions' answers (Settings shows callback Tokens) are never stored.
    let server_function = req.uri().path().starts_with("/api/");
    let checked = guard.allows(req.method(), req.uri().path(), req.headers(), req.uri().authority().map(|a| a.as_str()));
    let mut res = match checked {
        Ok(()) => next.run(req).await,
        Err(origin) => {
            tracing::warn!(method = %req.method(), path = %for_log(req.uri().path()), origin = %for_log(&origin), "cross-origin request refused");
            (StatusCode::FORBIDDEN, REFUSED).into_response()
        }
    };
    let html = res.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    let headers = res.headers_mut();
    for (name, value) in default_headers() {
        headers.entry(name).or_insert(value);
    }
    // Pages and server-function answers: never kept by a browser's or a proxy's cache
    // (answers that set their own, such as images and exports, keep theirs).
    if html || server_function {
        headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    }
    // Under https, browsers are told to use nothing else for a year (not the subdomains: other
    // sites may live there).
    if guard.https() {
        headers.entry(header::STRICT_TRANSPORT_SECURITY).or_insert(HeaderValue::from_static("max-age=31536000"));
    }
    res
}

/// A value someone sent, fit for a log line: control characters escaped, at most 200
/// characters, so a request cannot flood the log or forge lines in it.
pub fn for_log(text: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = text.chars().take(MAX).flat_map(char::escape_debug).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}
