//! The one error type of the service layer. Each variant says what the caller should tell the
//! user; database detail is logged by the door that maps it, never shown.
//!
//! What a person reads is a [`Msg`], not prose: the door (server function, route) words it in
//! the request's language with [`Msg::text`]; `Display` stays English for logs and the CLI.

use crate::msg::Msg;
use sea_orm::DbErr;

/// Why a service call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Bad input on one field (HTTP 422): the message is for the user.
    #[error("{field}: {message}")]
    Validation { field: &'static str, message: Msg },
    /// The request clashes with stored data (HTTP 409), e.g. a duplicate name.
    #[error("{field}: {message}")]
    Conflict { field: &'static str, message: Msg },
    /// The thing asked for does not exist (HTTP 404).
    #[error("not found")]
    NotFound,
    /// Wrong credentials or no session (HTTP 401).
    #[error("unauthorized")]
    Unauthorized,
    /// Signed in, but not allowed (HTTP 403).
    #[error("forbidden")]
    Forbidden,
    /// The database failed (HTTP 503 when it does not answer, else 500); detail is logged,
    /// not shown.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// Anything else that is our fault (HTTP 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A validation error on `field`.
    pub fn invalid(field: &'static str, message: Msg) -> Self {
        Self::Validation { field, message }
    }

    /// A clash with stored data on `field`.
    pub fn conflict(field: &'static str, message: Msg) -> Self {
        Self::Conflict { field, message }
    }

    /// The status of bad input (422), also for doors that check some input themselves.
    pub const INVALID: u16 = 422;

    /// The HTTP status that answers this error, at every door: server functions
    /// (`app::AppError`) and the routes outside Leptos (`server::door::HttpError`) alike.
    pub fn status(&self) -> u16 {
        match self {
            // WeChat's refusals travel as a validation of the `wechat` field: WeChat, not the
            // user's input, is at fault (a bad gateway).
            Self::Validation { field: "wechat", .. } => 502,
            Self::Validation { .. } => Self::INVALID,
            Self::Conflict { .. } => 409,
            Self::NotFound => 404,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::Db(e) if crate::db::is_unavailable(e) => 503,
            Self::Db(_) | Self::Internal(_) => 500,
        }
    }
}
