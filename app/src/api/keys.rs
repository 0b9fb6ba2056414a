//! API keys (admins only): the read-only keys scripts, spreadsheets and BI tools read
//! `/api/v1` with (`service::api_keys`).
//!
//! A new key's secret is shown once, with JavaScript on or off. Creating a key answers with a
//! redirect back to Settings (a plain form post cannot carry the secret in its answer, and it
//! must not travel in a URL), so the secret crosses to that page in a flash cookie: sealed with
//! the server's keys for this admin and this key, HttpOnly, `SameSite=Strict`, only sent to
//! `/settings`, ten minutes at most. The page reads it once and clears it, so a reload no
//! longer shows the secret.

use crate::api::campaigns::AccountChoice;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Whether a key still reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// A key as the Settings list shows it (never its secret). Times are in the server's time
/// zone, to the minute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRow {
    pub id: i32,
    pub name: String,
    /// `sbk_` and the key's next four characters.
    pub hint: String,
    /// The account the key reads; `None`: every account.
    pub scope: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub status: KeyStatus,
}

/// The key just created, with its secret: on the page once, right after creating it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKeyShown {
    pub id: i32,
    pub name: String,
    pub secret: String,
}

/// `Debug` without the secret: a view may end up in a log line.
impl std::fmt::Debug for NewKeyShown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKeyShown").field("id", &self.id).field("name", &self.name).field("secret", &"[REDACTED]").finish()
    }
}

/// What the API keys card of Settings shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeysView {
    /// Every key, revoked and expired ones included, newest first.
    pub keys: Vec<ApiKeyRow>,
    /// The accounts a new key may be scoped to.
    pub accounts: Vec<AccountChoice>,
    pub new_key: Option<NewKeyShown>,
    /// `{public_url}/api/v1`, for the example request.
    pub api_base: String,
}

/// The keys, the accounts to scope a new one to, and the key just created if this browser
/// carries its flash cookie (which this call then clears).
#[server(endpoint = "api_keys_overview")]
pub async fn api_keys_overview() -> Result<ApiKeysView, AppError> {
    let admin = crate::api::auth::ssr::require_admin().await?;
    let st = crate::api::auth::ssr::state()?;
    let now = st.clock.now();
    let tz: chrono_tz::Tz = st.settings.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let local = |t| crate::api::campaigns::ssr::local(t, tz);
    let flash = flash::take(&st, admin.id).await;
    let keys = service::api_keys::list(&st.db).await?;
    let new_key = flash.and_then(|(id, secret)| keys.iter().find(|k| k.id == id).map(|k| NewKeyShown { id, name: k.name.clone(), secret }));
    let keys = keys
        .into_iter()
        .map(|k| ApiKeyRow {
            status: status(&k, now),
            id: k.id,
            hint: k.hint,
            scope: k.account_name.or_else(|| k.scope.account().map(|id| format!("#{id}"))),
            created_at: local(k.created_at),
            expires_at: k.expires_at.map(local),
            last_used_at: k.last_used_at.map(local),
            revoked_at: k.revoked_at.map(local),
            name: k.name,
        })
        .collect();
    let accounts = service::accounts::list(&st.db).await?.into_iter().map(AccountChoice::from).collect();
    Ok(ApiKeysView { keys, accounts, new_key, api_base: format!("{}/api/v1", st.settings.public_url.trim_end_matches('/')) })
}

/// Create a key (admins only) and go back to Settings, where its secret shows once.
/// `account_id` blank: the key reads every account; `expires_days` blank: it never expires.
#[server(endpoint = "create_api_key")]
pub async fn create_api_key(name: String, account_id: Option<String>, expires_days: Option<String>) -> Result<i32, AppError> {
    let admin = crate::api::auth::ssr::require_admin().await?;
    let st = crate::api::auth::ssr::state()?;
    let account_id = match account_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(text.parse::<i32>().map_err(|_| AppError::field("account_id", service::Msg::AccountRequired))?),
    };
    let new = service::api_keys::NewKey { name, account_id, expires_days };
    let (key, secret) = service::api_keys::create(&st.db, &new, Some(admin.id), st.clock.now()).await?;
    flash::set(&st, admin.id, key.id, &secret);
    leptos_axum::redirect(&format!("/settings?key_created={}#api-keys", key.id));
    Ok(key.id)
}

/// Revoke a key (admins only): its next request is refused.
#[server(endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: i32) -> Result<(), AppError> {
    let admin = crate::api::auth::ssr::require_admin().await?;
    let st = crate::api::auth::ssr::state()?;
    service::api_keys::revoke(&st.db, id, Some(admin.id), st.clock.now()).await?;
    leptos_axum::redirect(&format!("/settings?key_revoked={id}#api-keys"));
    Ok(())
}

/// Revoked wins over expired: a revoked key stays revoked whatever its date says.
#[cfg(feature = "ssr")]
fn status(k: &service::api_keys::ApiKey, now: chrono::DateTime<chrono::Utc>) -> KeyStatus {
    if k.revoked_at.is_some() {
        KeyStatus::Revoked
    } else if k.live(now) {
        KeyStatus::Active
    } else {
        KeyStatus::Expired
    }
}

/// The flash cookie that carries a new key's secret from `create_api_key` to the page it
/// redirects to.
#[cfg(feature = "ssr")]
mod flash {
    use leptos::prelude::use_context;
    use service::{AppState, Keys};

    pub const COOKIE: &str = "sb_new_key";
    /// Long enough for a slow redirect, short enough that a forgotten one is soon gone.
    const MAX_AGE_SECS: u32 = 600;

    /// Sealed for one admin and one key: another user signing in on the same browser within
    /// the ten minutes cannot open it, and it cannot be passed off as another key's.
    fn context(user: i32, key: i32) -> String {
        format!("flash.{COOKIE}:{user}:{key}")
    }

    /// The cookie's value: the key's id, a dot, the sealed secret (base64 and dots only, all
    /// allowed in a cookie value).
    pub fn seal(keys: &Keys, user: i32, key: i32, secret: &str) -> String {
        format!("{key}.{}", keys.seal(&context(user, key), secret))
    }

    /// The key id and secret in a cookie value, if it was sealed for `user`.
    pub fn open(keys: &Keys, user: i32, value: &str) -> Option<(i32, String)> {
        let (id, sealed) = value.split_once('.')?;
        let id: i32 = id.parse().ok()?;
        keys.open(&context(user, id), sealed).ok().map(|secret| (id, secret))
    }

    /// A `Set-Cookie` value; `max_age` 0 clears the cookie (same path, so the browser matches it).
    pub fn header(value: &str, max_age: u32, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!("{COOKIE}={value}; Path=/settings; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
    }

    fn append(header: String) {
        use axum::http::{HeaderValue, header::SET_COOKIE};
        match (use_context::<leptos_axum::ResponseOptions>(), HeaderValue::from_str(&header)) {
            (Some(opts), Ok(value)) => opts.append_header(SET_COOKIE, value),
            _ => tracing::warn!("cannot set the new API key's flash cookie"),
        }
    }

    /// Sets the cookie on the response of `create_api_key`.
    pub fn set(st: &AppState, user: i32, key: i32, secret: &str) {
        append(header(&seal(&st.keys, user, key, secret), MAX_AGE_SECS, st.settings.secure_cookies));
    }

    /// The key id and secret the request's cookie carries, if any opens for `user`; a cookie
    /// that is there is cleared either way, so it shows once.
    pub async fn take(st: &AppState, user: i32) -> Option<(i32, String)> {
        let jar: axum_extra::extract::CookieJar = leptos_axum::extract().await.ok()?;
        let value = jar.get(COOKIE)?.value().to_owned();
        append(header("", 0, st.settings.secure_cookies));
        open(&st.keys, user, &value)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_secret_opens_only_for_its_admin_and_key() {
            let keys = Keys::random();
            let value = seal(&keys, 3, 17, "sbk_secret");
            assert!(value.starts_with("17."), "{value}");
            assert!(!value.contains("sbk_secret"));
            assert_eq!(open(&keys, 3, &value), Some((17, "sbk_secret".to_owned())));
            assert_eq!(open(&keys, 4, &value), None, "another user");
            assert_eq!(open(&keys, 3, &value.replacen("17.", "18.", 1)), None, "another key's id");
            assert_eq!(open(&Keys::random(), 3, &value), None, "another server's keys");
            assert_eq!(open(&keys, 3, "garbage"), None);
            // The value is a valid cookie value: no separators, spaces or quotes.
            assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/._-".contains(&b)), "{value}");
        }

        #[test]
        fn the_cookie_is_short_lived_and_kept_to_settings() {
            assert_eq!(header("v", 600, false), "sb_new_key=v; Path=/settings; Max-Age=600; HttpOnly; SameSite=Strict");
            assert_eq!(header("", 0, true), "sb_new_key=; Path=/settings; Max-Age=0; HttpOnly; SameSite=Strict; Secure");
        }
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::{KeyStatus, status};
    use chrono::{Duration, Utc};
    use service::api_keys::{ApiKey, Scope};

    #[test]
    fn a_key_is_active_expired_or_revoked() {
        let now = Utc::now();
        let key = ApiKey {
            id: 1,
            name: "BI".into(),
            hint: "sbk_Ab3x".into(),
            scope: Scope::All,
            account_name: None,
            created_at: now - Duration::days(2),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        };
        assert_eq!(status(&key, now), KeyStatus::Active);
        let expired = ApiKey { expires_at: Some(now - Duration::days(1)), ..key.clone() };
        assert_eq!(status(&expired, now), KeyStatus::Expired);
        assert_eq!(status(&ApiKey { expires_at: Some(now + Duration::days(1)), ..key.clone() }, now), KeyStatus::Active);
        assert_eq!(status(&ApiKey { revoked_at: Some(now), ..expired }, now), KeyStatus::Revoked);
    }
}
