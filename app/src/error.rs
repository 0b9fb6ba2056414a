//! The one error type that crosses from server functions to pages.
//!
//! Each variant carries only what a user may read; internal detail is logged on the server
//! (see `From<ServiceError>`), never sent. On the server, returning one also sets the HTTP
//! status of the response (`status_code`).
//!
//! Messages arrive already in the user's language: the service returns a `service::Msg`, and
//! this door words it for the request's language (`request_lang`), which is the page's. Decided
//! so because the catalog (`service::msg`) then stays out of the wasm and islands show the
//! text as sent; an error outlives no language switch (switching reloads the page).

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What went wrong, in words for the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Not signed in, or the session ended (401).
    #[error("please sign in")]
    Unauthorized,
    /// Signed in, but the role does not allow it (403).
    #[error("this needs an administrator")]
    Forbidden,
    /// No such thing (404).
    #[error("not found")]
    NotFound,
    /// Bad input on one field (422).
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    /// Clashes with stored data (409).
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    /// The server failed; details are in its log (500).
    #[error("internal server error")]
    Internal,
    /// The database is not answering (503). `spool_full`: and this server cannot keep the
    /// scans WeChat sends meanwhile (its spool disk is full), which the page must not hide.
    #[error("the database is not answering")]
    Unavailable { spool_full: bool },
    /// WeChat refused or could not be reached; the message says why in words (502).
    #[error("WeChat: {0}")]
    Wechat(String),
    /// Bad rows of an uploaded file, each with its line number (422).
    #[error("{} rows have problems", .0.len())]
    Rows(Vec<RowProblem>),
    /// The request itself could not be carried out (network, encoding).
    #[error("request failed: {0}")]
    Request(String),
}

/// One bad row of a CSV import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProblem {
    pub line: u64,
    pub message: String,
}

impl AppError {
    /// The message for a form field, if this error is about that field.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Field { field, message } | AppError::Conflict { field, message } if field == name => Some(message.clone()),
            _ => None,
        }
    }
}

impl AppError {
    /// The HTTP status that goes with this error.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Unauthorized => 401,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::Field { .. } => 422,
            AppError::Conflict { .. } => 409,
            AppError::Internal => 500,
            AppError::Unavailable { .. } => 503,
            AppError::Wechat(_) => 502,
            AppError::Rows(_) => 422,
            AppError::Request(_) => 400,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Request(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<service::ServiceError> for AppError {
    /// Also sets the response's status to the error's, so scripts and tests see 404/409/422
    /// rather than the 500 a server function answers by default.
    fn from(e: service::ServiceError) -> Self {
        let err = Self::from_service(e);
        set_status(err.status_code());
        err
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// A bad value in form field `field` (422), in the request's language, with the status set
    /// on the response.
    pub fn field(field: &str, message: service::Msg) -> Self {
        let err = AppError::Field { field: field.to_owned(), message: message.text(request_lang()) };
        set_status(err.status_code());
        err
    }

    fn from_service(e: service::ServiceError) -> Self {
        use service::ServiceError as S;
        let lang = request_lang();
        match e {
            S::Validation { field: "wechat", message } => AppError::Wechat(message.text(lang)),
            S::Validation { field, message } => AppError::Field { field: field.into(), message: message.text(lang) },
            S::Conflict { field, message } => AppError::Conflict { field: field.into(), message: message.text(lang) },
            S::NotFound => AppError::NotFound,
            S::Unauthorized => AppError::Unauthorized,
            S::Forbidden => AppError::Forbidden,
            S::Db(err) if service::db::is_unavailable(&err) => {
                tracing::warn!(error = %err, "database unreachable in a server function");
                let spool_full =
                    leptos::prelude::use_context::<service::AppState>().is_some_and(|st| st.health.ingest().spool_failed_since.is_some());
                AppError::Unavailable { spool_full }
            }
            S::Db(err) => {
                tracing::error!(error = %err, "database error in a server function");
                AppError::Internal
            }
            S::Internal(msg) => {
                tracing::error!(error = %msg, "internal error in a server function");
                AppError::Internal
            }
        }
    }
}

/// Set the HTTP status of the current SSR response (no-op in the browser).
///
/// Skipped for a server function posted by a plain HTML form (JavaScript off): Leptos answers
/// those with a redirect back to the form's page carrying the error in the URL, and a 4xx
/// status would stop the browser from following it.
pub fn set_status(code: u16) {
    #[cfg(feature = "ssr")]
    if is_plain_form_post() {
        return;
    }
    #[cfg(feature = "ssr")]
    if let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
        && let Ok(status) = axum::http::StatusCode::from_u16(code)
    {
        opts.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}

/// The language of the request being served: its language cookie (the one leptos_i18n and
/// `/lang/{code}` use), else `Accept-Language`, else Chinese (`service::Lang::from_request`).
#[cfg(feature = "ssr")]
pub fn request_lang() -> service::Lang {
    leptos::prelude::use_context::<axum::http::request::Parts>().map_or(service::Lang::Zh, |p| lang_of(&p.headers))
}

/// The interface language of a request with these headers (routes outside Leptos use it too).
#[cfg(feature = "ssr")]
pub fn lang_of(headers: &axum::http::HeaderMap) -> service::Lang {
    use axum::http::header;
    let cookie = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == LOCALE_COOKIE).then(|| value.trim().to_owned())
    });
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    service::Lang::from_request(cookie.as_deref(), accept)
}

/// leptos_i18n's cookie: the same one drives pages, islands and error messages.
pub const LOCALE_COOKIE: &str = "i18n_pref_locale";

/// True while serving a server function that a browser posted as an ordinary form.
#[cfg(feature = "ssr")]
pub fn is_plain_form_post() -> bool {
    use axum::http::{Method, header};
    leptos::prelude::use_context::<axum::http::request::Parts>().is_some_and(|p| {
        p.method == Method::POST
            && p.uri.path().starts_with("/api/")
            && p.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
    })
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::AppError;
    use service::{Msg, ServiceError};

    /// A server function and a route outside Leptos (`server::door`) answer the same error
    /// with the same status: both take it from `ServiceError::status`.
    #[test]
    fn a_service_error_has_the_same_status_at_every_door() {
        let unavailable = ServiceError::Db(sea_orm::DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
        for e in [
            ServiceError::invalid("name", Msg::NotFound),
            ServiceError::invalid("wechat", Msg::NotFound),
            ServiceError::conflict("name", Msg::NotFound),
            ServiceError::NotFound,
            ServiceError::Unauthorized,
            ServiceError::Forbidden,
            unavailable,
            ServiceError::Db(sea_orm::DbErr::Custom("broken".into())),
            ServiceError::Internal("broken".into()),
        ] {
            let status = e.status();
            assert_eq!(AppError::from(e).status_code(), status);
        }
    }
}
