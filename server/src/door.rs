//! The door of the routes outside Leptos (code images, charts, exports, logo uploads): one
//! error answer ([`HttpError`]), the signed-in user as an extractor ([`SignedIn`]), and the
//! query reader ([`Params`]).
//!
//! Statuses come from [`ServiceError::status`], the function server functions' errors use as
//! well, so a refusal has the same status whichever door it leaves by. Bodies are one line of
//! English: these URLs are a contract for scripts (docs/contract.md, "Errors of the non-page
//! routes").

use crate::routes::ServerState;
use app::api::analytics::TrendQuery;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use service::series::RangeRequest;
use service::users::{Role, User};
use service::{ServiceError, sessions};
use std::borrow::Cow;
use std::fmt::Display;

/// Seconds a client is asked to wait before trying a busy request again.
pub const RETRY_AFTER: &str = "5";

/// A refused request, as the HTTP answer it gets.
#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    text: Cow<'static, str>,
    retry: bool,
}

impl HttpError {
    fn new(status: StatusCode, text: impl Into<Cow<'static, str>>) -> Self {
        HttpError { status, text: text.into(), retry: false }
    }

    /// No valid session (401).
    pub fn sign_in() -> Self {
        ServiceError::Unauthorized.into()
    }

    /// The user's role may not do this (403).
    pub fn forbidden() -> Self {
        ServiceError::Forbidden.into()
    }

    /// No such thing (404).
    pub fn not_found() -> Self {
        ServiceError::NotFound.into()
    }

    /// Bad input the door checked itself; `text` starts with the parameter's name, as the
    /// service's own validation errors do.
    pub fn invalid(text: impl Display) -> Self {
        let status = StatusCode::from_u16(ServiceError::INVALID).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        HttpError::new(status, text.to_string())
    }

    /// The status of this answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The one line of English the answer says.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the client is asked to come back later (`Retry-After`).
    pub fn retry(&self) -> bool {
        self.retry
    }
}

impl From<ServiceError> for HttpError {
    fn from(e: ServiceError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let text: Cow<'static, str> = match &e {
            ServiceError::Validation { field, message } | ServiceError::Conflict { field, message } => format!("{field}: {message}").into(),
            ServiceError::NotFound => "not found".into(),
            ServiceError::Unauthorized => "please sign in".into(),
            ServiceError::Forbidden => "this needs an administrator".into(),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(error = %e, "database unreachable in a route");
                return HttpError { retry: true, ..HttpError::new(status, "the database is not answering: try again later") };
            }
            _ => {
                tracing::error!(error = %e, "route failed");
                "internal server error".into()
            }
        };
        HttpError::new(status, text)
    }
}

impl From<service::heavy::Busy> for HttpError {
    /// Too many drawings run or wait already: 503, come back in a few seconds.
    fn from(busy: service::heavy::Busy) -> Self {
        HttpError { retry: true, ..HttpError::new(StatusCode::SERVICE_UNAVAILABLE, busy.to_string()) }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut res = (self.status, format!("{}\n", self.text)).into_response();
        if self.retry {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER));
        }
        res
    }
}

/// The user of the request's session; a request without one is refused with 401 before the
/// handler runs.
pub struct SignedIn(pub User);

impl SignedIn {
    /// The user, if an administrator; 403 otherwise.
    pub fn admin(self) -> Result<User, HttpError> {
        if self.0.role == Role::Admin { Ok(self.0) } else { Err(HttpError::forbidden()) }
    }
}

impl FromRequestParts<ServerState> for SignedIn {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, s: &ServerState) -> Result<Self, HttpError> {
        let jar = CookieJar::from_headers(&parts.headers);
        let cookie = jar.get(sessions::cookie_name(s.app.settings.secure_cookies)).ok_or_else(HttpError::sign_in)?;
        let user = sessions::lookup(&s.app.db, &s.app.keys, cookie.value()).await?.ok_or_else(HttpError::sign_in)?;
        Ok(SignedIn(user))
    }
}

/// A query string's pairs, decoded; keys may repeat (a GET form with checkboxes sends
/// `ids=1&ids=2`), so it is read by hand rather than into a struct.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Self {
        Params(form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect())
    }

    /// The last value of `key` (a later value overrides an earlier one, as in a form).
    pub fn get(&self, key: &str) -> Option<String> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// Every value of `key`, comma-separated lists split.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.values(key).flat_map(|v| v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned)).collect()
    }

    /// Every value of `key` as sent.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The trend a chart download asks for, in the form the campaign page's server function
    /// reads it (`TrendQuery`), so both read `prev`, the range and the metrics the same way.
    pub fn trend(&self) -> TrendQuery {
        let value = |key: &str| self.get(key).filter(|v| !v.trim().is_empty());
        let metrics = Some(self.all("metrics").join(",")).filter(|m| !m.is_empty());
        TrendQuery {
            from: value("from"),
            to: value("to"),
            days: value("days"),
            granularity: value("granularity"),
            metrics,
            prev: value("prev"),
            lang: value("lang"),
        }
    }

    /// The range a series is asked for (`from`, `to`, `days`, `granularity`).
    pub fn range(&self) -> RangeRequest {
        RangeRequest { from: self.get("from"), to: self.get("to"), days: self.get("days"), granularity: self.get("granularity") }
    }

    /// Campaign ids from `ids`, each once; a value that is not a number, or more than `max`, is
    /// refused by name before any work.
    pub fn ids(&self, max: usize, too_many: impl Fn() -> service::Msg) -> Result<Vec<i32>, HttpError> {
        Ok(service::analytics::campaign_ids(self.values("ids"), max, too_many)?)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Params::parse(parts.uri.query()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_error_keeps_its_status_and_says_only_what_a_user_may_read() {
        let unavailable = ServiceError::Db(sea_orm::DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
        let cases = [
            (ServiceError::invalid("granularity", service::Msg::NotFound), 422),
            (ServiceError::conflict("name", service::Msg::NotFound), 409),
            (ServiceError::NotFound, 404),
            (ServiceError::Unauthorized, 401),
            (ServiceError::Forbidden, 403),
            (unavailable, 503),
            (ServiceError::Internal("secret detail".into()), 500),
        ];
        for (e, status) in cases {
            let answer = HttpError::from(e);
            assert_eq!(answer.status().as_u16(), status);
            assert!(!answer.text.contains("secret"), "{}", answer.text);
        }
        assert!(HttpError::from(ServiceError::invalid("granularity", service::Msg::NotFound)).text.starts_with("granularity: "));
        assert_eq!(HttpError::invalid("size: too large").status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn the_query_reader_keeps_repeats_and_the_last_value() {
        let p = Params::parse(Some("ids=1&ids=2,3&from=2026-01-01&from=2026-02-01&metrics=scans,%20new_followers"));
        assert_eq!(p.all("ids"), ["1", "2", "3"]);
        assert_eq!(p.get("from").as_deref(), Some("2026-02-01"));
        assert_eq!(p.all("metrics"), ["scans", "new_followers"]);
        assert_eq!(p.ids(10, || service::Msg::NotFound).unwrap(), [1, 2, 3]);
        assert_eq!(p.ids(2, || service::Msg::NotFound).unwrap_err().status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(Params::parse(None).get("from"), None);
    }
}
