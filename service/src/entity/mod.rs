//! SeaORM entities: one module per table of `migrations`. Server-only; pages see the small
//! serde types of the `app` crate instead.

pub mod access_token;
pub mod account_hourly;
pub mod api_key;
pub mod audit_log;
pub mod campaign;
pub mod campaign_hourly;
pub mod digest_delivery;
pub mod digest_setting;
pub mod event;
pub mod job;
pub mod public_code_link;
pub mod qr_code;
pub mod scanner_hour;
pub mod session;
pub mod share_link;
pub mod subscription;
pub mod user;
pub mod wechat_account;
