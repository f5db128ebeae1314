//! Every route of the relay, assembled in one place.

pub mod auth;
mod bindings;
mod body;
mod captures;
pub mod client_addr;
pub mod code_approval;
mod code_confirmation;
pub mod code_pairing;
mod device;
mod edge;
mod enterprise;
mod errands;
mod extract;
mod pairing;
mod pause;
pub mod request_id;
pub mod server;
mod session;
pub mod web;

pub use edge::ApiShapeLayer;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
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
        .route("/api/me/device", patch(device::rename))
        .route("/api/me/pause", post(pause::pause))
        .route("/api/me/resume", post(pause::resume))
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
pub use pairing::{is_valid_user_id, page_on_origins};
pub use web::is_plain_origin;
