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

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
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
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(json_payload_too_large))
}

/// axum's body limit answers 413 in plain text; every error of the relay is JSON.
async fn json_payload_too_large(res: Response) -> Response {
    if res.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return res;
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "The request body is larger than this endpoint accepts.",
    )
    .into_response()
}

/// Liveness: the process answers. Never depends on the database, so an orchestrator does
/// not restart every instance when the database has a bad minute.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: send traffic here. 503 while the database does not answer or once the relay
/// is shutting down, so a load balancer drains this instance first.
async fn readyz(State(s): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    if *s.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "shutting_down"})));
    }
    match sqlx::query("SELECT 1").execute(&s.db).await {
        Ok(_) => (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "database_unavailable"}))),
    }
}
pub use pairing::is_valid_user_id;
pub use web::is_plain_origin;
