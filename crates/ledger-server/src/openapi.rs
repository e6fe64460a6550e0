//! The OpenAPI 3 description, generated from the handlers and views (served at
//! `/v1/openapi.json`, checked in as docs/openapi.json).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(title = "tiered-ledger server", description = "Class I/II/III account ledger over HTTP/JSON. Commands: docs/COMMANDS.md; this server: docs/SERVER.md."),
    paths(
        api::post_command, api::post_batch, api::post_check,
        api::get_head, api::get_balance, api::get_usage, api::get_history, api::get_protections,
        api::get_accounts, api::get_pending, api::get_risk, api::get_events,
        api::post_tick, api::get_risk_list, api::post_backup,
        api::get_healthz, api::get_readyz, api::get_metrics, get_openapi,
    ),
    modifiers(&Bearer),
    tags(
        (name = "commands", description = "Submit, batch, dry run"),
        (name = "queries", description = "Read models: balances, usage, history, accounts, protections"),
        (name = "events", description = "Change data capture: follow the log"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
        (name = "operator", description = "The operator role's tick, risk list and backups"),
    )
)]
struct Doc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON, with a final newline (the form checked in).
pub fn json() -> String {
    let mut doc = Doc::openapi();
    // The crate's version, not a build's: the checked-in copy stays equal across builds.
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut text = doc.to_pretty_json().unwrap_or_else(|err| format!("{{\"error\": \"{err}\"}}"));
    text.push('\n');
    text
}

/// This API's OpenAPI 3 description.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", body = Object)))]
pub async fn get_openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json()).into_response()
}
