//! `/api/v1`: the numbers for BI tools, spreadsheets and scripts, read with an API key.
//!
//! - Read-only JSON; the response types are the ones the pages use (`app::api`), with JSON
//!   schemas derived next to them, so the API and the pages cannot drift apart.
//! - The router and its OpenAPI 3.1 document are built together from the handlers
//!   (`utoipa-axum`): a route cannot be served without being documented. The document is at
//!   `/api/v1/openapi.json`, and `/api/v1/docs` shows it as a page.
//! - Errors are problem details ([`problem`]); keys, scopes and the rate limit are [`key`].

pub mod docs;
pub mod key;
pub mod problem;
pub mod read;

use crate::routes::ServerState;
use axum::Router;
use std::sync::{Arc, OnceLock};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the API lives.
pub const BASE: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sceneboard API",
        version = "1",
        description = "Read-only numbers of Sceneboard's campaigns: where an Official Account's followers come from. \
Send an API key (created by an admin in Settings, or with `sceneboard api-key add`) as `Authorization: Bearer sbk_…`. \
Dates are the account's local days (`YYYY-MM-DD`, inclusive); times are RFC 3339 with their offset. \
Errors are RFC 9457 problem details. Each key may make 300 requests a minute per server instance, in bursts of up to 60; \
over that the answer is 429 with `Retry-After`."
    ),
    modifiers(&BearerKey),
    tags(
        (name = "accounts", description = "WeChat accounts and their dashboard numbers"),
        (name = "campaigns", description = "Campaigns, their series, and campaigns compared"),
    )
)]
struct ApiDoc;

/// Declares the bearer key every route asks for.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("sbk_…").build();
        doc.components.get_or_insert_with(Default::default).add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// The documented routes and their document, built together.
fn parts() -> (Router<ServerState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(read::accounts))
        .routes(routes!(read::dashboard))
        .routes(routes!(read::campaign_list))
        .routes(routes!(read::campaign))
        .routes(routes!(read::series))
        .routes(routes!(read::compare))
        .split_for_parts()
}

/// The OpenAPI document of `/api/v1`, built once.
pub fn document() -> Arc<utoipa::openapi::OpenApi> {
    static DOC: OnceLock<Arc<utoipa::openapi::OpenApi>> = OnceLock::new();
    DOC.get_or_init(|| Arc::new(parts().1)).clone()
}

/// The routes of `/api/v1`, its document and its reference page.
pub fn routes() -> Router<ServerState> {
    let (router, _) = parts();
    router.merge(docs::routes(document()))
}
