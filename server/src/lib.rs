//! The `sceneboard` server: configuration, CLI, and the axum router that serves the Leptos
//! app, sign-in, language switching, health and metrics. `main.rs` only parses the command
//! line and calls in here, so tests build the same router.

pub mod api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod door;
pub mod entry;
pub mod html;
pub mod http;
pub mod logging;
pub mod login_limit;
pub mod metrics;
pub mod rate;
pub mod request_id;
pub mod routes;
pub mod secret_input;
pub mod security;
pub mod site;
pub mod startup;
pub mod stream;
pub mod worker;
