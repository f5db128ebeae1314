//! The web pieces the relay serves to browsers: `embed.js` (on the app's page), the
//! connect page (the only origin allowed to message the extension) and the hidden status
//! frame. Pages carry their configuration in data attributes; no inline scripts.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::extract::Query;
use crate::error::ApiResult;
use crate::{db, AppState};

const EMBED_JS: &str = include_str!("../../assets/embed.js");
const CONNECT_HTML: &str = include_str!("../../assets/connect.html");
const CONNECT_JS: &str = include_str!("../../assets/connect.js");
const STATUS_FRAME_HTML: &str = include_str!("../../assets/status-frame.html");
const STATUS_FRAME_JS: &str = include_str!("../../assets/status-frame.js");
const PAGE_CSS: &str = include_str!("../../assets/page.css");
const INSTALL_HTML: &str = include_str!("../../assets/install.html");

const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/embed.js", get(|| async { asset("text/javascript", EMBED_JS) }))
        .route("/static/connect.js", get(|| async { asset("text/javascript", CONNECT_JS) }))
        .route("/static/status-frame.js", get(|| async { asset("text/javascript", STATUS_FRAME_JS) }))
        .route("/static/page.css", get(|| async { asset("text/css", PAGE_CSS) }))
        .route("/connect", get(connect))
        .route("/install", get(install))
        .route("/status-frame", get(status_frame))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

fn page(html: String, frame_ancestors: &str) -> Response {
    let csp = format!("{PAGE_CSP}; frame-ancestors {frame_ancestors}");
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static("frame-ancestors 'none'")),
            ),
        ],
        html,
    )
        .into_response()
}

/// Escapes text for an HTML attribute value in double quotes.
fn attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

fn extension_ids_json(s: &AppState) -> String {
    serde_json::to_string(&s.cfg.extension_ids).expect("strings serialise")
}

/// The connect page may never be framed: a hostile page must not overlay its button.
async fn connect(State(s): State<AppState>) -> Response {
    let install = s.cfg.install_url.as_deref().unwrap_or("/install");
    let html = CONNECT_HTML
        .replace("{{EXTENSION_IDS}}", &attr(&extension_ids_json(&s)))
        .replace("{{INSTALL_URL}}", &attr(install));
    page(html, "'none'")
}

/// The load-unpacked steps, for a relay without a store listing; with one, that listing.
async fn install(State(s): State<AppState>) -> Response {
    match s.cfg.install_url.as_deref() {
        Some(listing) => axum::response::Redirect::to(listing).into_response(),
        None => page(INSTALL_HTML.to_owned(), "'none'"),
    }
}

#[derive(Deserialize)]
pub struct StatusQuery {
    tenant: Option<String>,
}

/// Only the tenant's registered origins may frame the status frame or receive its
/// answers; an unknown tenant gets a frame that answers nobody.
async fn status_frame(State(s): State<AppState>, Query(q): Query<StatusQuery>) -> ApiResult<Response> {
    let tenant = match q.tenant.as_deref() {
        Some(id) if id.len() <= 64 => db::tenant(&s.db, id).await?,
        _ => None,
    };
    let (tenant_id, origins) = tenant.map(|t| (t.id, t.origins)).unwrap_or_default();
    let origins: Vec<String> = origins.into_iter().filter(|o| is_plain_origin(o)).collect();
    let ancestors = if origins.is_empty() { "'none'".to_string() } else { origins.join(" ") };
    let html = STATUS_FRAME_HTML
        .replace("{{EXTENSION_IDS}}", &attr(&extension_ids_json(&s)))
        .replace("{{TENANT}}", &attr(&tenant_id))
        .replace("{{ORIGINS}}", &attr(&serde_json::to_string(&origins).expect("strings serialise")));
    Ok(page(html, &ancestors))
}

/// `scheme://host[:port]` with nothing that could break out of a CSP source list: the same
/// rule the extension holds an opener to before a prompt names it.
pub use latch_wire::origin::is_plain_origin;
