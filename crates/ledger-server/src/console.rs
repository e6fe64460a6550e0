//! The operators' console: static pages embedded in the binary, served at `/console` without a
//! token (they hold no data: the page asks for a token and calls the JSON API with it). Every
//! answer carries a Content-Security-Policy that allows only this server's own scripts, styles
//! and API (no inline script, no other origin), so a client's text shown in the page can never
//! run.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;

/// The page, its scripts and its style sheet, by the name they are served under.
const ASSETS: [(&str, &str, &str); 4] = [
    ("index.html", "text/html; charset=utf-8", include_str!("../console/index.html")),
    ("console.js", "text/javascript; charset=utf-8", include_str!("../console/console.js")),
    ("charts.js", "text/javascript; charset=utf-8", include_str!("../console/charts.js")),
    ("console.css", "text/css; charset=utf-8", include_str!("../console/console.css")),
];

/// Only this server's own files and API; no inline script or style, no frames, no forms posted
/// elsewhere. `data:` images for the empty favicon.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn serve(name: &str) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(asset, _, _)| *asset == name) else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such console file").into_response();
    };
    let mut response = (StatusCode::OK, *body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The operators' console (HTML; no token needed: the page holds no data).
#[utoipa::path(get, path = "/console", tag = "console",
    responses((status = 200, description = "The console's page", content_type = "text/html", body = String)))]
pub async fn get_console() -> Response {
    serve("index.html")
}

/// `/console/` (a trailing slash typed by hand): a permanent redirect to `/console`.
#[utoipa::path(get, path = "/console/", tag = "console",
    responses((status = 308, description = "Redirect to /console", headers(("location" = String)))))]
pub async fn get_console_slash() -> Response {
    axum::response::Redirect::permanent("/console").into_response()
}

/// One of the console's files: `console.js`, `charts.js`, `console.css` (no token needed).
#[utoipa::path(get, path = "/console/{file}", tag = "console",
    params(("file" = String, Path)),
    responses((status = 200, description = "The file", body = String),
        (status = 404, description = "not_found: no such console file", body = crate::views::ErrorView)))]
pub async fn get_console_file(Path(file): Path<String>) -> Response {
    if file == "index.html" {
        return serve("");
    }
    serve(&file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_no_inline_script_and_nothing_from_elsewhere() {
        let page = ASSETS[0].2;
        assert!(page.contains(r#"<script src="/console/console.js" defer></script>"#));
        assert!(page.contains(r#"<script src="/console/charts.js" defer></script>"#));
        assert!(!page.contains("<script>"), "no inline script");
        assert!(!page.contains("http://") && !page.contains("https://"), "nothing from another origin");
        assert!(!page.contains(" style="), "no inline style (style-src 'self')");
        let handler = page.split(|c: char| c.is_whitespace()).any(|word| {
            word.strip_prefix("on").is_some_and(|rest| rest.split_once('=').is_some_and(|(name, _)| !name.is_empty()))
        });
        assert!(!handler, "no inline event handler");
    }

    #[test]
    fn the_scripts_never_write_markup_from_data() {
        for (name, _, script) in ASSETS.iter().filter(|(name, _, _)| name.ends_with(".js")) {
            for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
                assert!(!script.contains(sink), "{name} uses {sink}");
            }
        }
    }
}
