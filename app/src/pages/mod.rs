//! One module per route area.

pub mod campaigns;
pub mod dashboard;
pub mod errors;
pub mod login;
pub mod settings;
pub mod users;
