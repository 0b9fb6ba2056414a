//! Who reads through `/api/v1` and the CSV exports: an API key ([`Key`]), and for the exports
//! also a signed-in user ([`Reader`]).
//!
//! A key comes as `Authorization: Bearer sbk_…` only: never in a query string, where it would
//! land in logs and browser history. Each key has a rate limit per instance ([`Limiter`]):
//! [`PER_MINUTE`] requests a minute with bursts of [`BURST`], so a BI refresh of a few dozen
//! campaigns passes and a runaway loop is slowed without hurting others.

use super::problem::Problem;
use crate::door::{HttpError, SignedIn};
use crate::rate::KeyedRate;
use crate::routes::ServerState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::Utc;
use service::api_keys::{self, KeyAuth, Scope};

/// Requests a key may make a minute, on average.
pub const PER_MINUTE: u32 = 300;
/// Requests a key may make at once before the average applies.
pub const BURST: u32 = 60;

/// The per-key rate limits of one router (so of one instance).
#[derive(Clone)]
pub struct Limiter(KeyedRate);

impl Default for Limiter {
    fn default() -> Self {
        Limiter(KeyedRate::new(PER_MINUTE, BURST))
    }
}

/// The bearer token of a request, if it sent one (`Bearer` in any case, as RFC 6750 allows).
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authenticates the request's key and counts it against the key's rate.
async fn authenticate(parts: &Parts, s: &ServerState) -> Result<Option<KeyAuth>, Problem> {
    let Some(token) = bearer(parts) else { return Ok(None) };
    let key = api_keys::authenticate(&s.app.db, token, Utc::now())
        .await?
        .ok_or_else(|| Problem::unauthorized("the API key is unknown, revoked or expired", Some("invalid_token")))?;
    if let Some(limiter) = parts.extensions.get::<Limiter>()
        && let Err(wait) = limiter.0.check(key.id)
    {
        metrics::counter!("api_rate_limited_total").increment(1);
        return Err(Problem::too_many(wait, PER_MINUTE));
    }
    Ok(Some(key))
}

/// The API key of the request; without a live one the request is refused (401) before the
/// handler runs.
pub struct Key(pub KeyAuth);

impl Key {
    /// The key's scope.
    pub fn scope(&self) -> Scope {
        self.0.scope
    }

    /// Refuses (404, as for a campaign that does not exist) an account the key may not read.
    pub fn check_account(&self, account: i32) -> Result<(), Problem> {
        if self.scope().allows(account) { Ok(()) } else { Err(Problem::from(service::ServiceError::NotFound)) }
    }
}

impl FromRequestParts<ServerState> for Key {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &ServerState) -> Result<Self, Problem> {
        match authenticate(parts, s).await? {
            Some(key) => Ok(Key(key)),
            None => Err(Problem::unauthorized("send an API key: Authorization: Bearer sbk_…", None)),
        }
    }
}

/// Who reads a CSV export: a signed-in user (the session cookie) or an API key.
pub struct Reader {
    /// The user, for the audit log; `None` for a key.
    pub user_id: Option<i32>,
    /// The key, for the audit log.
    pub key_id: Option<i32>,
    pub scope: Scope,
}

impl Reader {
    /// Refuses (404) a campaign of an account this reader may not read.
    pub async fn check_campaign(&self, s: &ServerState, id: i32) -> Result<(), HttpError> {
        if let Scope::Account(_) = self.scope
            && !self.scope.allows(service::campaigns::account_of(&s.app.db, id).await?)
        {
            return Err(HttpError::not_found());
        }
        Ok(())
    }

    /// What the audit log notes about who read, beside the user.
    pub fn audit(&self) -> serde_json::Value {
        self.key_id.map_or(serde_json::Value::Null, serde_json::Value::from)
    }
}

impl FromRequestParts<ServerState> for Reader {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, s: &ServerState) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        if bearer(parts).is_some() {
            return match authenticate(parts, s).await {
                Ok(Some(k)) => Ok(Reader { user_id: None, key_id: Some(k.id), scope: k.scope }),
                Ok(None) => Err(HttpError::sign_in().into_response()),
                Err(p) => Err(p.into_response()),
            };
        }
        let SignedIn(user) = SignedIn::from_request_parts(parts, s).await.map_err(IntoResponse::into_response)?;
        Ok(Reader { user_id: Some(user.id), key_id: None, scope: Scope::All })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_token_is_read() {
        let parts = |v: &str| axum::http::Request::builder().header(header::AUTHORIZATION, v).body(()).unwrap().into_parts().0;
        assert_eq!(bearer(&parts("Bearer sbk_abc")), Some("sbk_abc"));
        assert_eq!(bearer(&parts("bearer  sbk_abc ")), Some("sbk_abc"));
        assert_eq!(bearer(&parts("Basic dXNlcjpwdw==")), None);
    }
}
