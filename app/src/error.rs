//! The one error type that crosses from server functions to pages.
//!
//! Each variant carries only what a user may read; internal detail is logged on the server
//! (see `From<ServiceError>`), never sent. On the server, returning one also sets the HTTP
//! status of the response (`status_code`).

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
    /// The request itself could not be carried out (network, encoding).
    #[error("request failed: {0}")]
    Request(String),
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
    fn from(e: service::ServiceError) -> Self {
        use service::ServiceError as S;
        match e {
            S::Validation { field, message } => AppError::Field { field: field.into(), message },
            S::Conflict { field, message } => AppError::Conflict { field: field.into(), message },
            S::NotFound => AppError::NotFound,
            S::Unauthorized => AppError::Unauthorized,
            S::Forbidden => AppError::Forbidden,
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
pub fn set_status(code: u16) {
    #[cfg(feature = "ssr")]
    if let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = axum::http::StatusCode::from_u16(code) {
            opts.set_status(status);
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}
