//! The one state every request handler and server function reaches: database, keys, settings,
//! the clock of code lifetimes.

use crate::Keys;
use sea_orm::DatabaseConnection;
use sha2::Digest;
use std::sync::Arc;

/// Settings the services need at run time (the rest of the config stays in `server`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Base URL shown to admins for WeChat's server configuration.
    pub public_url: String,
    /// Default IANA time zone of charts and exports.
    pub timezone: String,
    /// Whether cookies get the `Secure` flag (the public URL is https).
    pub secure_cookies: bool,
    /// `SCENEBOARD_METRICS_TOKEN`: when set, `/metrics` answers only requests that carry it
    /// as a bearer token.
    pub metrics_token: Option<MetricsToken>,
    /// `SCENEBOARD_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client (the
    /// sign-in limiter's address); empty: no one's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `SCENEBOARD_SMTP_URL` and `SCENEBOARD_SMTP_FROM`: the mail server digests are sent
    /// through; `None`: digests go to WeCom only.
    pub mail: Option<Arc<crate::digests::MailConfig>>,
}

/// The token `/metrics` asks for, kept as its SHA-256: comparing digests takes the same time
/// whatever prefix a guess shares with the token, and `Debug` shows no secret.
#[derive(Clone)]
pub struct MetricsToken([u8; 32]);

impl MetricsToken {
    pub fn new(token: &str) -> Self {
        Self(sha2::Sha256::digest(token.as_bytes()).into())
    }

    /// Does the `Authorization` header's value carry the token (`Bearer TOKEN`)?
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let Some(given) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else { return false };
        Self::new(given.trim()).0 == self.0
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<set>)")
    }
}

/// Shared application state; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub keys: Arc<Keys>,
    pub settings: Arc<Settings>,
    /// What is degraded right now ([`crate::health`]).
    pub health: Arc<crate::health::Health>,
    /// The time codes are issued, expire and renew by ([`crate::clock`]); the system clock
    /// except in tests.
    pub clock: crate::Clock,
    /// What changed in this process that caches elsewhere in it must drop.
    pub changes: Arc<Changes>,
}

/// Changes in this process that its caches follow: the callback's cached accounts are read
/// again after an account was created or changed here (other instances' caches expire by
/// their TTL).
#[derive(Debug, Default)]
pub struct Changes {
    accounts: std::sync::atomic::AtomicU64,
}

impl Changes {
    /// An account was created or changed (its Token, key, mode or AppID may be new).
    pub fn account_changed(&self) {
        self.accounts.fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// How many account changes there have been: a cache that saw another number is stale.
    pub fn accounts(&self) -> u64 {
        self.accounts.load(std::sync::atomic::Ordering::Acquire)
    }
}
