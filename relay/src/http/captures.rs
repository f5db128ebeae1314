//! The capture inbox behind the token gate (seed 003): the extension posts page captures
//! with its access token; the app drains them with its API key. A rejected request
//! stores nothing.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use axum::extract::DefaultBodyLimit;
use latch_wire::api::{Capture, CaptureAccepted, ErrorBody};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::auth::Me;
use super::extract::App;
use super::openapi::{ACCESS_TOKEN_REFUSED, API_KEY_REFUSED, DPOP_HEADER, RATE_LIMITED, STORAGE_UNAVAILABLE};
use crate::clock::now_ms;
use crate::db::captures::Drained;
use crate::error::{ApiError, ApiResult};
use crate::{db, AppState};

/// The largest capture the extension sends fits with room to spare: `capture.js` takes at
/// most 200,000 UTF-16 units of the page's text, at most 3 UTF-8 bytes each once JSON-encoded
/// (600,000 bytes; only raw C0 control characters other than tab, newline and carriage
/// return would take 6, and page text has next to none), plus a URL of at most 4,096 bytes
/// and a title of at most 1,024 (6,144 with every character escaped) and the keys:
/// ~610,300 bytes. 640 KiB = 655,360 bytes (the limit used to be 1 MiB).
pub const MAX_CAPTURE_BYTES: usize = 640 * 1024;
const MAX_URL: usize = 4096;
const MAX_TITLE: usize = 1024;
const DRAIN_BATCH: i64 = 100;

fn invalid_payload() -> ApiError {
    ApiError::bad_request(
        "invalid_payload",
        "A capture is {\"url\": http(s) URL, \"title\": string, \"text\": string}.",
    )
}

fn valid(c: &Capture) -> bool {
    let url_ok = (c.url.starts_with("https://") || c.url.starts_with("http://")) && c.url.len() <= MAX_URL;
    url_ok && c.title.len() <= MAX_TITLE && !c.url.chars().any(char::is_control)
}

/// Both halves of the inbox on one path, with a 405 naming them for any other method
/// (HEAD included: a HEAD must not drain the inbox as the GET it stands for would).
pub fn routes() -> UtoipaMethodRouter<AppState> {
    let (schemas, paths, methods) = routes!(post, drain);
    let methods = methods.head(other_method).fallback(other_method).layer(DefaultBodyLimit::max(MAX_CAPTURE_BYTES));
    (schemas, paths, methods)
}

/// `GET /api/inbox/v1/captures`.
#[derive(Serialize, ToSchema)]
pub struct CaptureList {
    captures: Vec<Drained>,
}

/// The extension sends the app a page its user chose to capture.
#[utoipa::path(
    post,
    path = "/api/inbox/v1/captures", operation_id = "postCapture",
    tag = "extension",
    security(("accessToken" = [])),
    request_body = Capture,
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 202, description = "Stored until the app collects it.", body = CaptureAccepted),
        (status = 400, description = "`invalid_payload`: not `{url: http(s) URL of at most 4096 bytes, title: at most 1024 bytes, text}`.", body = ErrorBody),
        (status = 401, description = ACCESS_TOKEN_REFUSED, body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = "`no_consumer`: this app does not accept page captures; `storage_unavailable`: the relay's database is unavailable.", body = ErrorBody),
        (status = 507, description = "`inbox_full`: the app's inbox is full until it collects its captures.", body = ErrorBody),
    ),
)]
pub async fn post(
    State(s): State<AppState>,
    Me(me): Me,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CaptureAccepted>)> {
    s.inbox.admit(&me.binding_id)?;
    let capture: Capture = serde_json::from_slice(&body).map_err(|_| invalid_payload())?;
    if !valid(&capture) {
        return Err(invalid_payload());
    }
    let consumes = db::tenant(&s.db, &me.tenant_id).await?.is_some_and(|t| t.captures);
    if !consumes {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_consumer",
            "This app does not accept page captures.",
        ));
    }
    let poster = db::captures::Poster { tenant_id: &me.tenant_id, binding_id: &me.binding_id, user_id: &me.user_id };
    let Some(id) = db::captures::insert(&s.db, &capture, &poster, s.cfg.inbox.cap(), now_ms()).await? else {
        return Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "inbox_full",
            "This app's capture inbox is full until the app collects its captures; try again later.",
        ));
    };
    Ok((StatusCode::ACCEPTED, Json(CaptureAccepted { status: "accepted".into(), capture_id: id })))
}

/// Hands the app up to 100 captures, oldest first, and deletes them in the same statement.
#[utoipa::path(
    get,
    path = "/api/inbox/v1/captures", operation_id = "drainCaptures",
    tag = "app",
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "Up to 100 captures, oldest first; they are removed from the inbox as they are handed over.", body = CaptureList),
        (status = 401, description = API_KEY_REFUSED, body = ErrorBody),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn drain(State(s): State<AppState>, App { tenant_id, .. }: App) -> ApiResult<Json<CaptureList>> {
    let captures = db::captures::drain(&s.db, &tenant_id, DRAIN_BATCH).await?;
    Ok(Json(CaptureList { captures }))
}

/// 405 for every other method, with the error body and `Allow`.
pub async fn other_method() -> Response {
    let mut res =
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Use POST (extension) or GET (app).")
            .into_response();
    res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    res
}
