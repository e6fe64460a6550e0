//! The OpenAPI description checked in as docs/openapi.json is the one the code generates.

#[test]
fn docs_openapi_json_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = ledger_server::openapi::json();
    assert!(
        checked_in == generated,
        "docs/openapi.json differs from the code; regenerate it with\n  \
         cargo run -p ledger-server -- openapi > docs/openapi.json"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    for path in ["/v1/commands", "/v1/batches", "/v1/check", "/v1/events", "/v1/head", "/metrics", "/readyz"] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
}
