//! Every answer a test sees through [`super::Client`] is one the OpenAPI document declares for
//! its operation: the status, and the media type of its body. Checked as each answer arrives,
//! in the process that got it, so tests running in parallel processes need no shared record.

use std::sync::OnceLock;

use serde_json::Value;

/// The document the code generates (docs/openapi.json is checked equal to it).
fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        serde_json::from_str(&ledger_server::openapi::json()).unwrap_or_else(|err| panic!("the document: {err}"))
    })
}

/// The path template of the document that `path` (without its query) matches: literal
/// segments equal, `{name}` segments anything; of several, the one with most literal segments
/// (as the router picks).
fn template(paths: &serde_json::Map<String, Value>, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('?').next().unwrap_or_default().split('/').collect();
    paths
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(part, segment)| part.starts_with('{') || part == segment);
            matches.then(|| (parts.iter().filter(|part| !part.starts_with('{')).count(), template))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, template)| template.clone())
}

/// The problem with an answer of `status` (body of `content_type`) to `method path`, if any.
pub fn undeclared(method: &str, path: &str, status: u16, content_type: Option<&str>) -> Option<String> {
    let Some(paths) = document()["paths"].as_object() else { return Some("the document has no paths".into()) };
    let Some(template) = template(paths, path) else {
        return (status != 404).then(|| format!("{method} {path}: no operation, yet answered {status} (not 404)"));
    };
    let operation = &paths[&template][method.to_ascii_lowercase()];
    if !operation.is_object() {
        return (status != 405).then(|| format!("{method} {template} is no operation, yet answered {status}"));
    }
    let response = &operation["responses"][status.to_string()];
    if !response.is_object() {
        return Some(format!("{method} {template} answered {status}, which the document does not declare for it"));
    }
    let (Some(declared), Some(content_type)) = (response["content"].as_object(), content_type) else { return None };
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    (!declared.contains_key(media_type)).then(|| {
        let keys: Vec<&String> = declared.keys().collect();
        format!("{method} {template} {status} answered {media_type}; the document declares {keys:?}")
    })
}

/// Fails the test when the answer is not declared.
pub fn check(method: &str, path: &str, status: u16, content_type: Option<&str>) {
    if let Some(problem) = undeclared(method, path, status, content_type) {
        panic!("{problem} (docs/openapi.json, crates/ledger-server/src/openapi.rs)");
    }
}
