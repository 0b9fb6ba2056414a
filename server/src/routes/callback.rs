//! `GET/POST /wechat/callback/{app_id}`: WeChat's URL verification and event pushes
//! (docs/contract.md). The protocol is the `wechat` crate's; storing is `service::ingest`'s. This
//! module maps their answers to HTTP and only answers `success` (or the reply) once the push
//! is durable: committed, or fsynced to the spool.

use super::ServerState;
#[cfg(feature = "bench-modes")]
use super::bench;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use service::ingest::{CallbackAccount, IngestError, Ingestor, Push, Stored, Verdict};
use std::sync::Arc;
use std::time::Duration;
use wechat::{CallbackError, CallbackQuery, MAX_BODY, OpenedPush, Reply, open_push, verify_url};

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

/// The body of every 403 a push gets.
pub const REFUSED_SIGNATURE: &str = "refused: the signature does not hold for this account";
/// The body of every 400 a push gets for what it carries.
pub const REFUSED_MALFORMED: &str = "refused: not a well-formed push for this account";

/// Why the account of a callback request cannot take it.
enum NoAccount {
    /// No such AppID here (404).
    Unknown,
    /// Its Token does not open (another secret key): nothing can be verified, and an empty
    /// Token would let anyone sign (500).
    NotSetUp,
    /// The database is down and the account is not in the sealed copy (503).
    Unavailable,
}

impl IntoResponse for NoAccount {
    fn into_response(self) -> Response {
        match self {
            NoAccount::Unknown => text(StatusCode::NOT_FOUND, "unknown account"),
            NoAccount::NotSetUp => text(StatusCode::INTERNAL_SERVER_ERROR, "this account's callback is not set up"),
            NoAccount::Unavailable => text(StatusCode::SERVICE_UNAVAILABLE, "try again later"),
        }
    }
}

/// Why a push was not taken: each has its answer and the `result` it is counted under.
///
/// One fixed answer per refusal status. Which check failed (padding, length, UTF-8, the AppID
/// inside, the XML) goes to the debug log only: answers that told them apart, or echoed
/// decrypted text, would let anyone probe the decryption (an oracle).
enum Refused {
    /// The body could not be read: axum's own answer (413 over the cap).
    Body(BytesRejection),
    /// The body did not arrive within [`BODY_WITHIN`] (408, and the connection is closed).
    TooSlow,
    Account(NoAccount),
    /// A timestamp outside the window: a captured query string is worthless (403).
    Stale,
    NotUtf8,
    /// The signature, the envelope or the XML did not hold (403 or 400), or an encrypted push
    /// reached an account without an EncodingAESKey (500).
    Unopened(StatusCode),
    /// A signed query string seen before with another body (403), or after its window.
    Replayed(Verdict),
    /// Neither the database nor the spool can take it now (503; WeChat retries).
    SpoolFull,
    NotStored,
}

impl Refused {
    /// The `result` label of `sceneboard_callback_events_total`.
    fn label(&self) -> &'static str {
        match self {
            Refused::Stale | Refused::Replayed(Verdict::Stale) => "stale",
            Refused::Replayed(_) => "replayed",
            Refused::SpoolFull => "spool_full",
            Refused::NotStored => "failed",
            Refused::Body(_) | Refused::TooSlow | Refused::Account(_) | Refused::NotUtf8 | Refused::Unopened(_) => "rejected",
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Body(rejection) => rejection.into_response(),
            Refused::TooSlow => {
                let mut answer = text(StatusCode::REQUEST_TIMEOUT, "the body took too long to arrive");
                answer.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
                answer
            }
            Refused::Account(no) => no.into_response(),
            Refused::NotUtf8 => text(StatusCode::BAD_REQUEST, "the body is not UTF-8"),
            Refused::Unopened(status) if status.is_server_error() => {
                text(status, "this account's callback is not set up for encrypted pushes")
            }
            Refused::Unopened(StatusCode::FORBIDDEN) | Refused::Stale | Refused::Replayed(_) => {
                text(StatusCode::FORBIDDEN, REFUSED_SIGNATURE)
            }
            Refused::Unopened(_) => text(StatusCode::BAD_REQUEST, REFUSED_MALFORMED),
            Refused::SpoolFull | Refused::NotStored => text(StatusCode::SERVICE_UNAVAILABLE, "try again later"),
        }
    }
}

/// The account, or why it cannot take the request.
async fn account(ingest: &Ingestor, app_id: &str) -> Result<Arc<CallbackAccount>, NoAccount> {
    if app_id.len() > APP_ID_MAX {
        return Err(NoAccount::Unknown);
    }
    match ingest.account(app_id).await {
        Ok(Some(a)) if a.token.is_empty() => {
            tracing::error!(app_id = %a.app_id, "the account's callback Token cannot be opened; its pushes are refused");
            Err(NoAccount::NotSetUp)
        }
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(NoAccount::Unknown),
        Err(_) => Err(NoAccount::Unavailable),
    }
}

/// Is the request's timestamp within the window ([`service::ingest::ReplayGuard::timely`])?
fn timely(ingest: &Ingestor, q: &CallbackQuery) -> bool {
    ingest.replay().timely(q.timestamp.as_deref(), chrono::Utc::now().timestamp())
}

/// URL verification: echo `echostr` when the signature holds.
async fn verify(State(ingest): State<Ingestor>, Path(app_id): Path<String>, Query(q): Query<CallbackQuery>) -> Response {
    let account = match account(&ingest, &app_id).await {
        Ok(a) => a,
        Err(no) => return no.into_response(),
    };
    if !timely(&ingest, &q) {
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

/// An event push: verify, open, store durably, answer; a refusal is counted and answered.
async fn receive(State(ingest): State<Ingestor>, Path(app_id): Path<String>, Query(q): Query<CallbackQuery>, request: Request) -> Response {
    match take(&ingest, &app_id, &q, request).await {
        Ok(answer) => answer,
        Err(refused) => {
            count(refused.label());
            refused.into_response()
        }
    }
}

async fn take(ingest: &Ingestor, app_id: &str, q: &CallbackQuery, request: Request) -> Result<Response, Refused> {
    let body = read_body(request).await?;
    #[cfg(feature = "bench-modes")]
    if bench::mode() == bench::Mode::Noop {
        return Ok(success());
    }
    let account = account(ingest, app_id).await.map_err(Refused::Account)?;
    if !timely(ingest, q) {
        tracing::debug!(app_id = %account.app_id, "callback push with a timestamp outside the window");
        return Err(Refused::Stale);
    }
    let body = std::str::from_utf8(&body).map_err(|_| Refused::NotUtf8)?;
    let opened = open_push(&account.token, account.mode, account.crypt.as_ref(), q, body).map_err(|e| unopened(&account, e))?;
    bound_to_body(ingest, account.id, q, body)?;
    #[cfg(feature = "bench-modes")]
    if bench::mode() == bench::Mode::Verify {
        return Ok(success());
    }
    let stored = store(ingest, &account, Push::new(account.id, &opened.message, chrono::Utc::now())).await?;
    count(stored.outcome.as_str());
    // A push journaled in the spool carries its campaign's reply too, unless the database
    // was down (then `reply` is None).
    Ok(match stored.reply {
        Some(reply) => answer(&account, q, &opened, &reply),
        None => success(),
    })
}

/// The body, read as the `Bytes` extractor does (same 64 KiB cap and 413), within
/// [`BODY_WITHIN`].
async fn read_body(request: Request) -> Result<Bytes, Refused> {
    match tokio::time::timeout(BODY_WITHIN, Bytes::from_request(request, &())).await {
        Ok(read) => read.map_err(Refused::Body),
        Err(_) => {
            tracing::debug!("callback body not received in time");
            Err(Refused::TooSlow)
        }
    }
}

fn unopened(account: &CallbackAccount, e: CallbackError) -> Refused {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    if status.is_server_error() {
        tracing::error!(app_id = %account.app_id, error = %e, "cannot open a callback push");
    } else {
        tracing::debug!(app_id = %account.app_id, error = %e, "callback push refused");
    }
    Refused::Unopened(status)
}

/// Stores the push durably within [`ANSWER_WITHIN`].
async fn store(ingest: &Ingestor, account: &CallbackAccount, push: Push) -> Result<Stored, Refused> {
    match tokio::time::timeout(ANSWER_WITHIN, ingest.submit(push)).await {
        Ok(Ok(stored)) => Ok(stored),
        Ok(Err(IngestError::SpoolFull)) => Err(Refused::SpoolFull),
        Ok(Err(e)) => {
            tracing::warn!(app_id = %account.app_id, error = %e, "callback push not stored; WeChat will retry");
            Err(Refused::NotStored)
        }
        Err(_) => {
            tracing::warn!(app_id = %account.app_id, "callback push not stored in time; WeChat will retry");
            Err(Refused::NotStored)
        }
    }
}

fn success() -> Response {
    text(StatusCode::OK, "success")
}

/// The campaign's reply to a stored push, in the form the push came in.
fn answer(account: &CallbackAccount, q: &CallbackQuery, opened: &OpenedPush, reply: &Reply) -> Response {
    let nonce = q.nonce.as_deref().unwrap_or("0");
    match opened.answer(reply, &account.token, account.crypt.as_ref(), nonce, chrono::Utc::now().timestamp()) {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response(),
        Err(e) => {
            // Stored already; without a reply WeChat simply shows nothing.
            tracing::error!(app_id = %account.app_id, error = %e, "cannot encrypt the welcome reply");
            success()
        }
    }
}

/// The signed triple of a verified push must come with the body it first came with: the same
/// body again is WeChat's retry, another body a forgery signed with a captured query string
/// (403, counted as `replayed`).
fn bound_to_body(ingest: &Ingestor, account_id: i32, q: &CallbackQuery, body: &str) -> Result<(), Refused> {
    // `open_push` has refused a query without them already.
    let (Some(ts), Some(nonce)) = (q.timestamp.as_deref(), q.nonce.as_deref()) else {
        return Err(Refused::Unopened(StatusCode::FORBIDDEN));
    };
    // WeChat sends `signature` in every mode; `msg_signature` alone is bound as well.
    let signature = q.signature.as_deref().or(q.msg_signature.as_deref()).unwrap_or_default();
    match ingest.replay().admit(account_id, ts, nonce, signature, body.as_bytes(), chrono::Utc::now().timestamp()) {
        Verdict::Fresh => Ok(()),
        verdict => {
            // Debug only: a flood of forgeries must not flood the log; the metric counts them.
            tracing::debug!(account_id, ?verdict, "callback push refused by the replay check");
            Err(Refused::Replayed(verdict))
        }
    }
}
