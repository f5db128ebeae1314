//! The tenant's own view of its users' bindings: list and revoke (API key).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::extract::App;
use super::extract::Path;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::{db, AppState};

pub async fn list(State(s): State<AppState>, App { tenant_id, .. }: App) -> ApiResult<Json<serde_json::Value>> {
    let bindings = db::list_bindings(&s.db, Some(&tenant_id)).await?;
    Ok(Json(serde_json::json!({ "bindings": bindings })))
}

pub async fn revoke(
    State(s): State<AppState>,
    Path(id): Path<String>,
    App { tenant_id, .. }: App,
) -> ApiResult<Json<serde_json::Value>> {
    let not_found =
        || ApiError::new(StatusCode::NOT_FOUND, "binding_not_found", "No active binding of this app has this id.");
    let binding = db::active_binding(&s.db, &id).await?.filter(|b| b.tenant_id == tenant_id).ok_or_else(not_found)?;
    if !db::revoke_binding(&s.db, &binding.binding_id, now_ms()).await? {
        return Err(not_found());
    }
    s.binding_revoked().await;
    tracing::info!(tenant = %tenant_id, binding = %binding.binding_id, "binding revoked by the app");
    Ok(Json(serde_json::json!({ "revoked": true, "bindingId": binding.binding_id })))
}
