//! The web pieces the relay serves to browsers: `embed.js` (on the app's page), the
//! connect page (the only origin allowed to message the extension) and the hidden status
//! frame. Pages carry their configuration in data attributes; no inline scripts.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use latch_wire::api::ErrorBody;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(embed_js))
        .routes(routes!(connect_js))
        .routes(routes!(status_frame_js))
        .routes(routes!(page_css))
        .routes(routes!(connect))
        .routes(routes!(install))
        .routes(routes!(status_frame))
}

/// The script an app's page loads to show Connect (see README).
#[utoipa::path(get, path = "/embed.js", operation_id = "getEmbedScript", tag = "pages",
    responses((status = 200, description = "The embed script.", content_type = "text/javascript", body = String)))]
async fn embed_js() -> Response {
    asset("text/javascript", EMBED_JS)
}

#[utoipa::path(get, path = "/static/connect.js", operation_id = "getConnectScript", tag = "pages",
    responses((status = 200, description = "The connect page's script.", content_type = "text/javascript", body = String)))]
async fn connect_js() -> Response {
    asset("text/javascript", CONNECT_JS)
}

#[utoipa::path(get, path = "/static/status-frame.js", operation_id = "getStatusFrameScript", tag = "pages",
    responses((status = 200, description = "The status frame's script.", content_type = "text/javascript", body = String)))]
async fn status_frame_js() -> Response {
    asset("text/javascript", STATUS_FRAME_JS)
}

#[utoipa::path(get, path = "/static/page.css", operation_id = "getPageStyles", tag = "pages",
    responses((status = 200, description = "The pages' style sheet.", content_type = "text/css", body = String)))]
async fn page_css() -> Response {
    asset("text/css", PAGE_CSS)
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
#[utoipa::path(get, path = "/connect", operation_id = "getConnectPage", tag = "pages",
    responses((status = 200, description = "The connect page. The pairing token travels in the fragment (`#token=…`), never to the relay.", content_type = "text/html", body = String)))]
async fn connect(State(s): State<AppState>) -> Response {
    let install = s.cfg.install_url.as_deref().unwrap_or("/install");
    let html = CONNECT_HTML
        .replace("{{EXTENSION_IDS}}", &attr(&extension_ids_json(&s)))
        .replace("{{INSTALL_URL}}", &attr(install))
        .replace("{{ARM_MS}}", &latch_wire::consent::CONSENT_ARM_DELAY_MS.to_string());
    page(html, "'none'")
}

/// The load-unpacked steps, for a relay without a store listing; with one, that listing.
#[utoipa::path(get, path = "/install", operation_id = "getInstallPage", tag = "pages",
    responses(
        (status = 200, description = "How to load the extension (no store listing configured).", content_type = "text/html", body = String),
        (status = 303, description = "To the store listing (`--install-url`).", headers(("location" = String, description = "The listing."))),
    ))]
async fn install(State(s): State<AppState>) -> Response {
    match s.cfg.install_url.as_deref() {
        Some(listing) => axum::response::Redirect::to(listing).into_response(),
        None => page(INSTALL_HTML.to_owned(), "'none'"),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// The app's tenant id; the frame answers only its registered origins.
    tenant: Option<String>,
}

/// Only the tenant's registered origins may frame the status frame or receive its
/// answers; an unknown tenant gets a frame that answers nobody.
#[utoipa::path(get, path = "/status-frame", operation_id = "getStatusFrame", tag = "pages", params(StatusQuery),
    responses(
        (status = 200, description = "The hidden frame embed.js asks whether this browser is connected. Framed only by the tenant's registered origins.", content_type = "text/html", body = String),
        (status = 400, description = "`invalid_query`: the query string is not of the documented shape.", body = ErrorBody),
        (status = 503, description = "`storage_unavailable`: the relay's database is unavailable.", body = ErrorBody),
    ))]
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
