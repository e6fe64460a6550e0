//! The OpenAPI 3.1 description, generated from the handlers and views (served at
//! `/v1/openapi.json`, checked in as docs/openapi.json).
//!
//! Each handler's `#[utoipa::path]` declares the answers of its own guards (400, 404, 409,
//! 413...); [`SharedAnswers`] adds those every operation shares: 408 from the request timeout of
//! `serve::log_request` on every route, and on every operation needing a token the shared
//! guards and ledger calls: 400 (path or query), 401 (token), 403 (role), 413 (declared length),
//! 500 (internal), 503 (the ledger stopped,
//! fenced or failed to write), and the `ledger-seq` header of their 200s.

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(title = "tiered-ledger server", description = "Class I/II/III account ledger over HTTP/JSON. Commands: docs/COMMANDS.md; this server: docs/SERVER.md."),
    paths(
        api::post_command, api::post_batch, api::post_check,
        api::get_head, api::get_whoami, api::get_balance, api::get_usage, api::get_history, api::get_rejections, api::get_protections,
        api::get_accounts, api::get_pending, api::get_risk, api::get_recent, api::get_events,
        api::get_checkpoint, api::get_inclusion_proof, api::get_consistency_proof,
        api::post_tick, api::get_risk_list, api::post_backup,
        api::get_healthz, api::get_readyz, api::get_metrics, get_openapi,
        crate::console::get_console, crate::console::get_console_slash, crate::console::get_console_file,
    ),
    modifiers(&Bearer, &SharedAnswers),
    tags(
        (name = "commands", description = "Submit, batch, dry run"),
        (name = "queries", description = "Read models: balances, usage, history, accounts, protections"),
        (name = "events", description = "Change data capture: follow the log"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
        (name = "proofs", description = "Signed checkpoints and RFC 9162 proofs, as ledger-cli makes them"),
        (name = "operator", description = "The operator role's tick, risk list and backups"),
        (name = "console", description = "The operators' console: static pages, no token (docs/SERVER.md)"),
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

/// The answers every operation shares (added where a handler did not declare its own).
struct SharedAnswers;

impl SharedAnswers {
    fn error(description: &str) -> ResponseBuilder {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorView"))).build();
        ResponseBuilder::new().description(description).content("application/json", content)
    }

    fn add(operation: &mut Operation, status: &str, response: utoipa::openapi::Response) {
        operation.responses.responses.entry(status.to_owned()).or_insert(RefOr::T(response));
    }
}

impl Modify for SharedAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let timeout = SharedAnswers::error("timeout: no answer within `request_timeout_seconds`; a command may still be recorded: retry with the same id").build();
        let unauthorized = SharedAnswers::error("unauthorized: no bearer token, or one not accepted")
            .header(
                "WWW-Authenticate",
                HeaderBuilder::new().schema(ObjectBuilder::new().schema_type(Type::String)).build(),
            )
            .build();
        let forbidden = SharedAnswers::error("forbidden: the token's role may not do this").build();
        let internal = SharedAnswers::error("internal: the ledger failed unexpectedly").build();
        let malformed =
            SharedAnswers::error("malformed: a bad path or query parameter (a route without any: any query)").build();
        let too_large = SharedAnswers::error(
            "too_large: the declared Content-Length is over `body_bytes_max` (before any byte is read)",
        )
        .build();
        let unavailable = SharedAnswers::error(
            "unavailable, fenced or storage: the ledger stopped, another writer is in charge, or a write failed \
             (nothing recorded); retry with the same ids",
        )
        .build();
        let seq = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::Integer))
            .description(Some(
                "The head's seq this server knew when the request came: the answer reflects the log at least up \
                 to it (on a standby, as of its database node)",
            ))
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                SharedAnswers::add(operation, "408", timeout.clone());
                if operation.security.as_ref().is_some_and(|security| !security.is_empty()) {
                    SharedAnswers::add(operation, "401", unauthorized.clone());
                    SharedAnswers::add(operation, "400", malformed.clone());
                    SharedAnswers::add(operation, "403", forbidden.clone());
                    SharedAnswers::add(operation, "413", too_large.clone());
                    SharedAnswers::add(operation, "500", internal.clone());
                    SharedAnswers::add(operation, "503", unavailable.clone());
                    // Every answer carries it; declared on the 200 (what a reader acts on).
                    if let Some(RefOr::T(answer)) = operation.responses.responses.get_mut("200") {
                        answer.headers.insert(api::SEQ_HEADER.to_owned(), seq.clone());
                    }
                }
            }
        }
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

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub async fn get_openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json()).into_response()
}

#[cfg(test)]
mod tests {
    use crate::api::ROUTES;

    /// Every operation the OpenAPI document says needs a token is in the route table the
    /// authentication layer checks (a new route cannot skip the 403-before-the-body guard).
    #[test]
    fn the_route_table_names_every_authenticated_operation() {
        let doc: serde_json::Value = serde_json::from_str(&super::json()).unwrap();
        let mut secured = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if operation.get("security").is_some_and(|security| security.as_array().is_some_and(|s| !s.is_empty()))
                {
                    secured.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        secured.sort();
        let mut table: Vec<(String, String)> =
            ROUTES.iter().map(|(method, path, ..)| ((*method).to_owned(), (*path).to_owned())).collect();
        table.sort();
        assert_eq!(table, secured);
    }
}
