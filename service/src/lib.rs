//! Sceneboard's server-side domain: the database, its entities, and the services that pages,
//! the CLI and the callback route call. Nothing here reaches the wasm build.
//!
//! Services take the connection first (`users::create(&db, ..)`), return [`ServiceError`], and
//! hold the rules; the `app` crate's server functions and the `server` crate's routes are thin
//! doors into them.

pub mod accounts;
pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod backup;
pub mod campaigns;
pub mod chart;
pub mod clock;
pub mod db;
pub mod demo;
pub mod digests;
pub mod entity;
pub mod error;
pub mod health;
pub mod heavy;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod msg;
pub mod public_codes;
pub mod qr;
pub mod renewal;
pub mod rotate;
pub mod scenes;
pub mod secrets;
pub mod series;
pub mod sessions;
pub mod share_links;
pub mod state;
pub mod tagging;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token_store;
pub mod users;

pub use clock::Clock;
pub use error::ServiceError;
pub use keys::Keys;
pub use msg::{Lang, Msg};
pub use sea_orm::DatabaseConnection;
pub use state::AppState;
