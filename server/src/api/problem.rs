//! Errors of `/api/v1` as RFC 9457 problem details (`application/problem+json`).
//!
//! `type` is `about:blank`, so `title` is the status's reason phrase and `detail` says what was
//! wrong, in English (scripts read it); a refused parameter is also named in `param`. The
//! statuses are those every other door uses ([`service::ServiceError::status`]).

use crate::door::HttpError;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use service::ServiceError;
use utoipa::ToSchema;

/// An error answer of `/api/v1` (RFC 9457): the body, boxed (handlers return it in every
/// `Err`), and the headers that go with it.
#[derive(Clone, Debug)]
pub struct Problem {
    body: Box<ProblemBody>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// The JSON of a [`Problem`].
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: String,
    /// The status's reason phrase.
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    /// What was wrong, in English.
    #[schema(example = "granularity: must be hour, day, week or month")]
    pub detail: String,
    /// The query parameter that was refused, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

impl std::ops::Deref for Problem {
    type Target = ProblemBody;
    fn deref(&self) -> &ProblemBody {
        &self.body
    }
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let body = ProblemBody {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            param: None,
        };
        Problem { body: Box::new(body), headers: Vec::new() }
    }

    /// The same problem, naming the refused parameter.
    fn naming(mut self, param: Option<String>) -> Self {
        self.body.param = param;
        self
    }

    /// A parameter the API refused by itself (422).
    pub fn invalid(param: &str, detail: impl std::fmt::Display) -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{param}: {detail}")).naming(Some(param.to_owned()))
    }

    /// No usable key (401), with the challenge RFC 6750 asks for.
    pub fn unauthorized(detail: &str, error: Option<&str>) -> Self {
        let challenge = match error {
            Some(e) => format!("Bearer realm=\"sceneboard\", error=\"{e}\""),
            None => "Bearer realm=\"sceneboard\"".to_owned(),
        };
        Problem::new(StatusCode::UNAUTHORIZED, detail).with_header(header::WWW_AUTHENTICATE, challenge)
    }

    /// Over the key's rate (429), with when to come back.
    pub fn too_many(retry_after_secs: u64, per_minute: u32) -> Self {
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("this key may make {per_minute} requests a minute; retry after {retry_after_secs} s"),
        )
        .with_header(header::RETRY_AFTER, retry_after_secs.to_string())
    }

    fn with_header(mut self, name: HeaderName, value: String) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value) {
            self.headers.push((name, v));
        }
        self
    }
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        let param = match &e {
            ServiceError::Validation { field, .. } | ServiceError::Conflict { field, .. } => Some(field.to_string()),
            _ => None,
        };
        Problem::from(HttpError::from(e)).naming(param)
    }
}

impl From<HttpError> for Problem {
    /// The same status and words as the other doors; a busy database keeps its `Retry-After`.
    fn from(e: HttpError) -> Self {
        let p = Problem::new(e.status(), e.text().trim_end());
        if e.retry() { p.with_header(header::RETRY_AFTER, crate::door::RETRY_AFTER.to_owned()) } else { p }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&*self.body).unwrap_or_default();
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        for (name, value) in self.headers {
            h.insert(name, value);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_error_keeps_its_status_and_names_its_parameter() {
        let p = Problem::from(ServiceError::invalid("granularity", service::Msg::NotFound));
        assert_eq!((p.status, p.title.as_str(), p.param.as_deref()), (422, "Unprocessable Entity", Some("granularity")));
        assert!(p.detail.starts_with("granularity: "), "{}", p.detail);
        let p = Problem::from(ServiceError::NotFound);
        assert_eq!((p.status, p.detail.as_str(), p.param.as_deref()), (404, "not found", None));
        let res = Problem::too_many(7, 300).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/problem+json");
        let res = Problem::unauthorized("revoked", Some("invalid_token")).into_response();
        assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer realm=\"sceneboard\", error=\"invalid_token\"");
    }
}
