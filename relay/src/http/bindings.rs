//! The tenant's own view of its users' bindings: list and revoke, one or all of a user's
//! (API key).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use latch_wire::api::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{App, Path, Query};
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

/// `DELETE /api/bindings?userId=`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserBindingsRevoked {
    /// How many active bindings this call revoked (0 when there were none).
    revoked_count: usize,
    binding_ids: Vec<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// The app's user whose bindings go.
    user_id: String,
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
    if !db::revoke_binding(&s.db, &binding.binding_id, now_ms(), db::RevokedBy::App).await? {
        return Err(not_found());
    }
    s.binding_revoked().await;
    tracing::info!(tenant = %tenant_id, binding = %binding.binding_id, "binding revoked by the app");
    Ok(Json(BindingRevoked { revoked: true, binding_id: binding.binding_id }))
}

/// The app removes all of one user's bindings with it (every browser they connected): the
/// sockets close and the tokens stop. Idempotent: a second call revokes none.
#[utoipa::path(
    delete,
    path = "/api/bindings", operation_id = "revokeUserBindings",
    tag = "app",
    security(("apiKey" = [])),
    params(UserQuery),
    responses(
        (status = 200, description = "What this call revoked.", body = UserBindingsRevoked),
        (status = 400, description = "`invalid_query`: `userId` is missing.", body = ErrorBody),
        (status = 401, description = API_KEY_REFUSED, body = ErrorBody),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn revoke_all(
    State(s): State<AppState>,
    // The key first: a caller without one learns 401, not how the query is checked.
    App { tenant_id, .. }: App,
    Query(q): Query<UserQuery>,
) -> ApiResult<Json<UserBindingsRevoked>> {
    let binding_ids = db::revoke_user_bindings(&s.db, &tenant_id, &q.user_id, now_ms()).await?;
    if !binding_ids.is_empty() {
        s.binding_revoked().await;
        tracing::info!(tenant = %tenant_id, revoked = binding_ids.len(), "a user's bindings revoked by the app");
    }
    Ok(Json(UserBindingsRevoked { revoked_count: binding_ids.len(), binding_ids }))
}
