//! Every route of the relay, assembled in one place.

mod activity;
pub mod auth;
mod bindings;
mod body;
mod captures;
pub mod client_addr;
pub mod code_approval;
mod code_confirmation;
pub mod code_pairing;
mod device;
pub mod dpop;
mod edge;
mod enterprise;
mod errands;
mod extract;
mod openapi;
mod pairing;
mod pause;
pub mod request_id;
pub mod server;
mod session;
pub mod web;

pub use edge::ApiShapeLayer;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use latch_wire::api::ErrorBody;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;

use crate::AppState;

/// No request body the relay accepts is anywhere near this size.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route, each answering in the error shape; anything else is 404 `not_found`.
pub fn router() -> Router<AppState> {
    let (router, _) = documented().split_for_parts();
    router.fallback(unknown_route).layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The OpenAPI document of [`router`]'s routes (served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = documented().into_openapi();
    utoipa::Modify::modify(&openapi::EdgeAnswers, &mut doc);
    doc
}

/// Every route with its documentation: `routes!` takes each handler's path and method from
/// its `#[utoipa::path]`, so the router and the document are one list (see `openapi.rs`).
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(pairing::mint))
        .routes(routes!(pairing::describe))
        .routes(routes!(pairing::redeem))
        .routes(routes!(code_pairing::request))
        .routes(routes!(code_pairing::status))
        .routes(routes!(code_confirmation::confirm))
        .routes(routes!(code_confirmation::reject))
        .routes(routes!(code_approval::pending))
        .routes(routes!(code_approval::approve))
        .routes(routes!(code_approval::deny))
        .routes(routes!(enterprise::enroll))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::revoke))
        .routes(routes!(session::upgrade))
        .routes(routes!(errands::create))
        .routes(routes!(bindings::list, bindings::revoke_all))
        .routes(routes!(bindings::revoke))
        .routes(routes!(activity::binding_events))
        .routes(routes!(activity::my_events))
        .routes(captures::routes())
        .routes(routes!(auth::me))
        .routes(routes!(device::rename))
        .routes(routes!(pause::pause))
        .routes(routes!(pause::resume))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi::document))
        .merge(web::routes())
}

/// 404 for a path the relay does not serve.
async fn unknown_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "The relay has no endpoint at this path.")
}

/// `/readyz` refusing: the error shape, its code repeated as `status`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Unready {
    status: &'static str,
    #[serde(flatten)]
    error: ErrorBody,
}

/// `/healthz` and `/readyz`: `ok` / `ready`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
}

/// Liveness: the process answers. Never depends on the database, so an orchestrator does
/// not restart every instance when the database has a bad minute.
#[utoipa::path(
    get,
    path = "/healthz", operation_id = "getHealth",
    tag = "operations",
    responses((status = 200, description = "The process answers: `{\"status\": \"ok\"}`.", body = Health)),
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: send traffic here. 503 while the database does not answer or once the relay
/// is shutting down, so a load balancer drains this instance first. The 503 carries the
/// error shape beside `status`.
#[utoipa::path(
    get,
    path = "/readyz", operation_id = "getReadiness",
    tag = "operations",
    responses(
        (status = 200, description = "Send traffic here: `{\"status\": \"ready\"}`.", body = Health),
        (status = 503, description = "`shutting_down`: this instance is draining; `database_unavailable`: it can't reach its database. `status` repeats the code.", body = Unready),
    ),
)]
async fn readyz(State(s): State<AppState>) -> Response {
    let unready = |status: &'static str, message: &str| {
        let error = ErrorBody {
            error: status.into(),
            message: message.into(),
            interval: None,
            retry_after: None,
            revoked_by: None,
            idle_seconds: None,
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(Unready { status, error })).into_response()
    };
    if *s.shutdown.borrow() {
        return unready("shutting_down", "This relay instance is shutting down; send requests to another.");
    }
    match sqlx::query("SELECT 1").execute(&s.db).await {
        Ok(_) => Json(Health { status: "ready" }).into_response(),
        Err(_) => unready("database_unavailable", "This relay instance can't reach its database."),
    }
}
pub use pairing::{is_valid_user_id, page_on_origins};
pub use web::is_plain_origin;
