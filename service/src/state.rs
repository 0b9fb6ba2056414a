//! The one state every request handler and server function reaches: database, keys, settings,
//! the clock of code lifetimes.

use crate::Keys;
use sea_orm::DatabaseConnection;
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
}
