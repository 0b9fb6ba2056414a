//! `GET/POST /wechat/callback/{app_id}`: WeChat's URL verification and event pushes
//! (docs/contract.md). The protocol is the `wechat` crate's; storing is `service::ingest`'s. This
//! module maps their answers to HTTP and only answers `success` (or the reply) once the push
//! is durable: committed, or fsynced to the spool.

use super::ServerState;
#[cfg(feature = "bench-modes")]
use super::bench;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use service::ingest::{IngestError, Ingestor, Push, Verdict};
use std::time::Duration;
use wechat::{CallbackQuery, MAX_BODY, open_push, verify_url};

/// Longest a push waits for its commit before we answer 503 (WeChat gives up at 5 s and
/// retries; the retry is a no-op if the first try got stored after all).
const ANSWER_WITHIN: Duration = Duration::from_millis(4500);
/// Longest the body of a push may take to arrive once the headers are in. WeChat sends a few
/// KiB at once; a client trickling its body (slow loris) would otherwise hold a connection
/// and a task for as long as it likes. Answered 408, and the connection is closed.
const BODY_WITHIN: Duration = Duration::from_secs(5);
/// AppIDs are 18 characters; anything much longer is not worth a database lookup.
const APP_ID_MAX: usize = 32;

/// Routes of this module, with the callback's own 64 KiB body cap.
pub fn routes() -> Router<ServerState> {
    #[cfg(feature = "bench-modes")]
    bench::announce();
    Router::new().route("/wechat/callback/{app_id}", get(verify).post(receive)).layer(DefaultBodyLimit::max(MAX_BODY))
}

fn count(result: &'static str) {
    metrics::counter!("sceneboard_callback_events_total", "result" => result).increment(1);
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// One fixed answer per refusal status. Which check failed (padding, length, UTF-8, the
/// AppID inside, the XML) goes to the debug log only: answers that told them apart, or echoed
/// decrypted text, would let anyone probe the decryption (an oracle).
fn refusal(status: StatusCode) -> Response {
    match status {
        StatusCode::FORBIDDEN => text(status, REFUSED_SIGNATURE),
        _ => text(StatusCode::BAD_REQUEST, REFUSED_MALFORMED),
    }
}

/// The body of every 403 a push gets.
pub const REFUSED_SIGNATURE: &str = "refused: the signature does not hold for this account";
/// The body of every 400 a push gets for what it carries.
pub const REFUSED_MALFORMED: &str = "refused: not a well-formed push for this account";

/// The account, or the answer to give instead (404 unknown, 503 database down).
async fn account(ingest: &Ingestor, app_id: &str) -> Result<std::sync::Arc<service::ingest::CallbackAccount>, Response> {
    if app_id.len() > APP_ID_MAX {
        return Err(text(StatusCode::NOT_FOUND, "unknown account"));
    }
    match ingest.account(app_id).await {
        // A Token that does not open (another secret key): nothing can be verified, and an
        // empty Token would let anyone sign.
        Ok(Some(a)) if a.token.is_empty() => {
            tracing::error!(app_id = %a.app_id, "the account's callback Token cannot be opened; its pushes are refused");
            Err(text(StatusCode::INTERNAL_SERVER_ERROR, "this account's callback is not set up"))
        }
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(text(StatusCode::NOT_FOUND, "unknown account")),
        Err(_) => Err(text(StatusCode::SERVICE_UNAVAILABLE, "try again later")),
    }
}

/// URL verification: echo `echostr` when the signature holds.
async fn verify(State(ingest): State<Ingestor>, Path(app_id): Path<String>, Query(q): Query<CallbackQuery>) -> Response {
    let account = match account(&ingest, &app_id).await {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    if !ingest.replay().timely(q.timestamp.as_deref(), chrono::Utc::now().timestamp()) {
        tracing::debug!(app_id = %account.app_id, "URL verification with a timestamp outside the window");
        return text(StatusCode::FORBIDDEN, "bad signature");
    }
    match verify_url(&account.token, &q) {
        Ok(echo) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], echo.to_owned()).into_response(),
        Err(_) => {
            tracing::debug!(app_id = %account.app_id, "URL verification with a bad signature");
            text(StatusCode::FORBIDDEN, "bad signature")
        }
    }
}

/// An event push: verify, open, store durably, answer.
async fn receive(
    State(ingest): State<Ingestor>,
    Path(app_id): Path<String>,
    Query(q): Query<CallbackQuery>,
    request: Request,
) -> Response {
    // The body, read as the `Bytes` extractor does (same 64 KiB cap and 413), within BODY_WITHIN.
    let body = match tokio::time::timeout(BODY_WITHIN, Bytes::from_request(request, &())).await {
        Ok(Ok(body)) => body,
        Ok(Err(rejection)) => {
            count("rejected");
            return rejection.into_response();
        }
        Err(_) => {
            count("rejected");
            tracing::debug!("callback body not received in time");
            let mut answer = text(StatusCode::REQUEST_TIMEOUT, "the body took too long to arrive");
            answer.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
            return answer;
        }
    };
    #[cfg(feature = "bench-modes")]
    if bench::mode() == bench::Mode::Noop {
        return text(StatusCode::OK, "success");
    }
    let account = match account(&ingest, &app_id).await {
        Ok(a) => a,
        Err(answer) => {
            count("rejected");
            return answer;
        }
    };
    // A captured query string is worthless once its timestamp leaves the window.
    if !ingest.replay().timely(q.timestamp.as_deref(), chrono::Utc::now().timestamp()) {
        count("stale");
        tracing::debug!(app_id = %account.app_id, "callback push with a timestamp outside the window");
        return refusal(StatusCode::FORBIDDEN);
    }
    let Ok(body) = std::str::from_utf8(&body) else {
        count("rejected");
        return text(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    let opened = match open_push(&account.token, account.mode, account.crypt.as_ref(), &q, body) {
        Ok(o) => o,
        Err(e) => {
            count("rejected");
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            if status.is_server_error() {
                tracing::error!(app_id = %account.app_id, error = %e, "cannot open a callback push");
                return text(status, "this account's callback is not set up for encrypted pushes");
            }
            tracing::debug!(app_id = %account.app_id, error = %e, "callback push refused");
            return refusal(status);
        }
    };
    if let Err(answer) = bound_to_body(&ingest, account.id, &q, body) {
        return answer;
    }
    #[cfg(feature = "bench-modes")]
    if bench::mode() == bench::Mode::Verify {
        return text(StatusCode::OK, "success");
    }
    let push = Push::new(account.id, &opened.message, chrono::Utc::now());
    let stored = match tokio::time::timeout(ANSWER_WITHIN, ingest.submit(push)).await {
        Ok(Ok(stored)) => stored,
        Ok(Err(IngestError::SpoolFull)) => {
            count("spool_full");
            return text(StatusCode::SERVICE_UNAVAILABLE, "try again later");
        }
        Ok(Err(e)) => {
            count("failed");
            tracing::warn!(app_id = %account.app_id, error = %e, "callback push not stored; WeChat will retry");
            return text(StatusCode::SERVICE_UNAVAILABLE, "try again later");
        }
        Err(_) => {
            count("failed");
            tracing::warn!(app_id = %account.app_id, "callback push not stored in time; WeChat will retry");
            return text(StatusCode::SERVICE_UNAVAILABLE, "try again later");
        }
    };
    count(stored.outcome.as_str());
    // A push journaled in the spool carries its campaign's reply too, unless the database
    // was down (then `reply` is None).
    let Some(reply) = stored.reply else {
        return text(StatusCode::OK, "success");
    };
    let m = &opened.message;
    let now = chrono::Utc::now().timestamp();
    let xml = reply.to_xml(&m.from_user_name, &m.to_user_name, now);
    let body = match (opened.encrypted, account.crypt.as_ref()) {
        (true, Some(crypt)) => {
            // The request's nonce is as good as any: it is only an input to the signature.
            let nonce = q.nonce.as_deref().unwrap_or("0");
            match crypt.seal_reply(&account.token, &xml, &now.to_string(), nonce) {
                Ok(sealed) => sealed,
                Err(e) => {
                    // Stored already; without a reply WeChat simply shows nothing.
                    tracing::error!(app_id = %account.app_id, error = %e, "cannot encrypt the welcome reply");
                    return text(StatusCode::OK, "success");
                }
            }
        }
        _ => xml,
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response()
}

/// The signed triple of a verified push must come with the body it first came with: the same
/// body again is WeChat's retry, another body a forgery signed with a captured query string
/// (403, counted as `replayed`).
fn bound_to_body(ingest: &Ingestor, account_id: i32, q: &CallbackQuery, body: &str) -> Result<(), Response> {
    let (Some(ts), Some(nonce)) = (q.timestamp.as_deref(), q.nonce.as_deref()) else {
        return Err(refusal(StatusCode::FORBIDDEN));
    };
    // WeChat sends `signature` in every mode; `msg_signature` alone is bound as well.
    let signature = q.signature.as_deref().or(q.msg_signature.as_deref()).unwrap_or_default();
    match ingest.replay().admit(account_id, ts, nonce, signature, body.as_bytes(), chrono::Utc::now().timestamp()) {
        Verdict::Fresh => Ok(()),
        verdict => {
            // Debug only: a flood of forgeries must not flood the log; the metric counts them.
            count(if verdict == Verdict::Replayed { "replayed" } else { "stale" });
            tracing::debug!(account_id, ?verdict, "callback push refused by the replay check");
            Err(refusal(StatusCode::FORBIDDEN))
        }
    }
}
