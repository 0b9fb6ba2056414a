//! One module per route area.

pub mod audit;
pub mod campaign;
pub mod campaign_form;
pub mod campaign_import;
pub mod campaign_share;
pub mod campaigns;
pub mod compare;
pub mod dashboard;
pub mod errors;
pub mod login;
pub mod settings;
pub mod settings_digests;
pub mod settings_keys;
pub mod users;
