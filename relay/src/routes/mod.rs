//! Every route of the relay, assembled in one place.

pub mod auth;
mod bindings;
mod body;
mod captures;
pub mod client_addr;
pub mod code_approval;
mod code_confirmation;
pub mod code_pairing;
mod enterprise;
mod errands;
mod pairing;
mod session;
pub mod web;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::error::ApiError;

use crate::AppState;

/// No request body the relay accepts is anywhere near this size.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pairing-tokens", post(pairing::mint))
        .route("/pairing-tokens/describe", post(pairing::describe))
        .route("/pairing-tokens/redeem", post(pairing::redeem))
        .route("/api/pairing/request", post(code_pairing::request))
        .route("/api/pairing/status", get(code_pairing::status))
        .route("/api/pairing/confirm", post(code_confirmation::confirm))
        .route("/api/pairing/reject", post(code_confirmation::reject))
        .route("/api/pairing/pending", get(code_approval::pending))
        .route("/api/pairing/approve", post(code_approval::approve))
        .route("/api/pairing/deny", post(code_approval::deny))
        .route("/api/enterprise/enroll", post(enterprise::enroll))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/revoke", post(auth::revoke))
        .route("/api/session", get(session::upgrade))
        .route("/api/errands", post(errands::create))
        .route("/api/bindings", get(bindings::list))
        .route("/api/bindings/{id}", axum::routing::delete(bindings::revoke))
        .route(
            "/api/inbox/v1/captures",
            post(captures::post)
                .get(captures::drain)
                .fallback(captures::other_method)
                .layer(DefaultBodyLimit::max(captures::MAX_CAPTURE_BYTES)),
        )
        .route("/api/me", get(auth::me))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(web::routes())
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// 404 for a path the relay does not serve.
async fn unknown_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "The relay has no endpoint at this path.")
}

/// The relay's shape at its edge, in one layer (`app()` puts it outermost; every layer
/// costs on every request, measured: two layers here cost ~15 % of `/api/me`):
/// - a request must arrive (body included) and be answered within the request timeout,
///   else 408;
/// - a request that carries a body (POST, PUT, PATCH) must say it is JSON, else 415
///   `unsupported_media_type` before anything else happens (no CORS-free cross-site form
///   post can reach a handler);
/// - every error is `{"error", "message"}`. The relay's own answers already are; this
///   turns the rest into that shape: axum's plain-text or empty answers (405 for a wrong
///   method, 413 past the body limit, 408 past the request timeout, the WebSocket
///   upgrade's refusals, a body that could not be read) and anything a new route might
///   leak. An error whose body is already JSON passes unchanged; `Allow` and `Retry-After`
///   are kept.
pub async fn api_shape(State(timeout): State<std::time::Duration>, req: Request, next: Next) -> Response {
    if body::carries_body(req.method()) && !body::is_json(req.headers()) {
        return body::unsupported_media_type().into_response();
    }
    let websocket = req.uri().path() == "/api/session";
    // The whole request, its body included (handlers read it inside), within the timeout.
    let res = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    };
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || body::is_json(res.headers()) {
        return res;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "The relay has no endpoint at this path."),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "This endpoint does not answer this method."),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("payload_too_large", "The request body is larger than this endpoint accepts.")
        }
        StatusCode::REQUEST_TIMEOUT => {
            ("request_timeout", "The request took too long to arrive or to answer; try again.")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "Send the request body as JSON with 'Content-Type: application/json'.")
        }
        StatusCode::BAD_REQUEST | StatusCode::UPGRADE_REQUIRED if websocket => (
            "websocket_required",
            "This endpoint is a WebSocket: open it with a WebSocket client (GET with 'Upgrade: websocket').",
        ),
        s if s.is_client_error() => ("bad_request", "The relay could not read this request."),
        _ => ("internal_error", "The relay failed to answer this request; try again."),
    };
    let mut json = ApiError::new(status, code, message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = res.headers().get(&name) {
            json.headers_mut().insert(name, v.clone());
        }
    }
    json
}

/// Liveness: the process answers. Never depends on the database, so an orchestrator does
/// not restart every instance when the database has a bad minute.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: send traffic here. 503 while the database does not answer or once the relay
/// is shutting down, so a load balancer drains this instance first. The 503 carries the
/// error shape beside `status`.
async fn readyz(State(s): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let unready = |status: &str, message: &str| {
        let body = serde_json::json!({"status": status, "error": status, "message": message});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    };
    if *s.shutdown.borrow() {
        return unready("shutting_down", "This relay instance is shutting down; send requests to another.");
    }
    match sqlx::query("SELECT 1").execute(&s.db).await {
        Ok(_) => (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))),
        Err(_) => unready("database_unavailable", "This relay instance can't reach its database."),
    }
}
pub use pairing::is_valid_user_id;
pub use web::is_plain_origin;
