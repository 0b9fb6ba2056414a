//! The server functions (`#[server]`, answered at `/api/<endpoint>`) and the types they return:
//! the edge between the pages and the `service` crate. Each body checks the session first
//! (`auth::ssr`), then calls the services; pages only call these functions or post forms to
//! them, with JavaScript on or off.
//!
//! - [`analytics`]: a campaign's trend and campaigns compared (charts drawn on the server).
//! - [`auth`]: who is signed in, the users admins manage, and the guards (`auth::ssr`).
//! - [`campaigns`]: the campaign list, one campaign, creating, editing, renewing, the public
//!   image link, archiving and the CSV import.
//! - [`dashboard`]: the dashboard's numbers.
//! - [`digests`]: the daily and weekly digests' settings, *Send test* and deliveries (admins).
//! - [`keys`]: the read-only API keys admins create and revoke in Settings.
//! - [`settings`]: WeChat accounts, the job queue at a glance, the audit log (admins).
//! - [`share`]: a campaign's share links (read-only views without an account).
//! - [`status`]: what is degraded right now, for the banner above every signed-in page.

pub mod analytics;
pub mod auth;
pub mod campaigns;
pub mod dashboard;
pub mod digests;
pub mod keys;
pub mod settings;
pub mod share;
pub mod status;

/// An optional form field read the way `serde_qs` reads a server function's own argument: an
/// empty value (`group=`) is `None`. The typed forms of a server function
/// (`#[server(flatten)]`: [`campaigns::CampaignForm`], [`analytics::TrendQuery`]…) are read
/// through serde's buffered map instead, which would keep it as `Some("")`; each of their
/// `Option<String>` fields says `#[serde(default, deserialize_with = "empty_none")]`.
pub(crate) fn empty_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}
