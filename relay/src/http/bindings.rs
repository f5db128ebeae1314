//! The tenant's own view of its users' bindings: list and revoke (API key).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use latch_wire::api::ErrorBody;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::App;
use super::extract::Path;
use super::openapi::{API_KEY_REFUSED, STORAGE_UNAVAILABLE};
use crate::clock::now_ms;
use crate::db::BindingRow;
use crate::error::{ApiError, ApiResult};
use crate::{db, AppState};

/// `GET /api/bindings`.
#[derive(Serialize, ToSchema)]
pub struct BindingList {
    bindings: Vec<BindingRow>,
}

/// `DELETE /api/bindings/{id}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindingRevoked {
    /// Always true.
    revoked: bool,
    binding_id: String,
}

/// Every binding of this app's users, revoked ones included, oldest first.
#[utoipa::path(
    get,
    path = "/api/bindings", operation_id = "listBindings",
    tag = "app",
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "This app's bindings.", body = BindingList),
        (status = 401, description = API_KEY_REFUSED, body = ErrorBody),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn list(State(s): State<AppState>, App { tenant_id, .. }: App) -> ApiResult<Json<BindingList>> {
    let bindings = db::list_bindings(&s.db, Some(&tenant_id)).await?;
    Ok(Json(BindingList { bindings }))
}

/// The app removes one of its bindings: the browser's socket closes and its tokens stop.
#[utoipa::path(
    delete,
    path = "/api/bindings/{id}", operation_id = "revokeBinding",
    tag = "app",
    security(("apiKey" = [])),
    params(("id" = String, Path, description = "The binding's id (`bindingId`).")),
    responses(
        (status = 200, description = "Revoked.", body = BindingRevoked),
        (status = 400, description = "`invalid_path`: the id is not valid UTF-8.", body = ErrorBody),
        (status = 401, description = API_KEY_REFUSED, body = ErrorBody),
        (status = 404, description = "`binding_not_found`: no active binding of this app has this id.", body = ErrorBody),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn revoke(
    State(s): State<AppState>,
    Path(id): Path<String>,
    App { tenant_id, .. }: App,
) -> ApiResult<Json<BindingRevoked>> {
    let not_found =
        || ApiError::new(StatusCode::NOT_FOUND, "binding_not_found", "No active binding of this app has this id.");
    let binding = db::active_binding(&s.db, &id).await?.filter(|b| b.tenant_id == tenant_id).ok_or_else(not_found)?;
    if !db::revoke_binding(&s.db, &binding.binding_id, now_ms()).await? {
        return Err(not_found());
    }
    s.binding_revoked().await;
    tracing::info!(tenant = %tenant_id, binding = %binding.binding_id, "binding revoked by the app");
    Ok(Json(BindingRevoked { revoked: true, binding_id: binding.binding_id }))
}
