//! `POST /api/me/pause` and `/resume`: the user pauses one app's connection in the panel
//! (PROTOCOL §10). The relay keeps the binding and its tokens and answers the app's errands
//! with 409 `extension_paused` until the user resumes; the extension closes the socket and
//! stops refreshing and capturing meanwhile.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use latch_wire::api::PauseState;

use super::auth::{gate, invalid};
use crate::clock::now_ms;
use crate::error::ApiResult;
use crate::{db, AppState};

pub async fn pause(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Json<PauseState>> {
    set(&s, &headers, true).await
}

pub async fn resume(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Json<PauseState>> {
    set(&s, &headers, false).await
}

/// Both are idempotent: pausing a paused binding keeps the time it was first paused.
async fn set(s: &AppState, headers: &HeaderMap, paused: bool) -> ApiResult<Json<PauseState>> {
    let me = gate(s, headers).await?;
    s.limits.binding_changes.admit(&me.binding_id, "changes of this binding")?;
    // Revoked since the gate let the token pass (the gate remembers a pass for 2 s).
    if !db::set_paused(&s.db, &me.binding_id, paused.then(now_ms)).await? {
        return Err(invalid());
    }
    let what = if paused { "binding paused by its user" } else { "binding resumed by its user" };
    tracing::info!(tenant = %me.tenant_id, binding = %me.binding_id, "{what}");
    Ok(Json(PauseState { binding_id: me.binding_id, paused }))
}
