//! Every request gets an id, returned in `X-Request-Id` and recorded in the request's log span,
//! so an operator can match a user's report, a proxy's access log and our log lines. A
//! well-formed id the client or a proxy sent is kept; anything else is replaced by a fresh one.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;

/// `X-Request-Id`, in and out.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Middleware: settle the request's id before anything else sees the request (the trace
/// layer inside reads it from the header), and answer with it.
pub async fn assign(mut req: Request, next: Next) -> Response {
    let value = match req.headers().get(&HEADER) {
        Some(sent) if sent.to_str().is_ok_and(well_formed) => sent.clone(),
        _ => fresh(),
    };
    req.headers_mut().insert(HEADER, value.clone());
    let mut res = next.run(req).await;
    res.headers_mut().insert(HEADER, value);
    res
}

/// The id of a request [`assign`] has seen (empty for one it has not).
pub fn of<B>(req: &axum::http::Request<B>) -> &str {
    req.headers().get(&HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Short, and only characters that cannot forge a log line or a header: letters, digits and
/// `-_.:` (UUIDs and nginx's `$request_id` fit).
fn well_formed(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// 128 random bits in hex.
fn fresh() -> HeaderValue {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex = format!("{:032x}", u128::from_be_bytes(bytes));
    HeaderValue::try_from(hex).expect("hex digits make a header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        for ok in ["probe-123", "0b6c1a3e-7f7d-4f4c-9c36-2a1b5f0d9e11", "7f1c0d2e9a8b4c3d2e1f0a9b8c7d6e5f"] {
            assert!(well_formed(ok), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in ["", "has space", "line\nbreak", "quote\"", long.as_str(), "中文"] {
            assert!(!well_formed(bad), "{bad:?}");
        }
        let (a, b) = (fresh(), fresh());
        assert!(a.len() == 32 && well_formed(a.to_str().unwrap()) && a != b);
    }
}
