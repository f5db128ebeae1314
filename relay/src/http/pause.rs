//! `POST /api/me/pause` and `/resume`: the user pauses one app's connection in the panel
//! (PROTOCOL §10). The relay keeps the binding and its tokens and answers the app's errands
//! with 409 `extension_paused` until the user resumes; the extension closes the socket and
//! stops refreshing and capturing meanwhile.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use latch_wire::api::{ErrorBody, MeResponse, PauseState};

use super::auth::{invalid, Me};
use super::openapi::{ACCESS_TOKEN_REFUSED, DPOP_HEADER, RATE_LIMITED, STORAGE_UNAVAILABLE};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::{db, AppState};

/// The user pauses this app's connection: errands get 409 `extension_paused` until resumed.
#[utoipa::path(
    post,
    path = "/api/me/pause", operation_id = "pauseBinding",
    tag = "extension",
    security(("accessToken" = [])),
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 200, description = "Paused (also when it already was).", body = PauseState),
        (status = 401, description = ACCESS_TOKEN_REFUSED, body = ErrorBody),
        (status = 403, description = "`managed_binding`: the organization's binding can't be paused.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn pause(State(s): State<AppState>, Me(me): Me) -> ApiResult<Json<PauseState>> {
    set(&s, me, true).await
}

/// The user resumes this app's connection.
#[utoipa::path(
    post,
    path = "/api/me/resume", operation_id = "resumeBinding",
    tag = "extension",
    security(("accessToken" = [])),
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 200, description = "Resumed (also when it was not paused).", body = PauseState),
        (status = 401, description = ACCESS_TOKEN_REFUSED, body = ErrorBody),
        (status = 403, description = "`managed_binding`: the organization's binding can't be paused.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn resume(State(s): State<AppState>, Me(me): Me) -> ApiResult<Json<PauseState>> {
    set(&s, me, false).await
}

/// Both are idempotent: pausing a paused binding keeps the time it was first paused.
async fn set(s: &AppState, me: MeResponse, paused: bool) -> ApiResult<Json<PauseState>> {
    s.limits.binding_changes.admit(&me.binding_id, "changes of this binding")?;
    users_own(s, &me.binding_id).await?;
    // Revoked since the gate let the token pass (the gate remembers a pass for 2 s).
    if !db::set_paused(&s.db, &me.binding_id, paused, now_ms()).await? {
        return Err(invalid());
    }
    if paused {
        // The sockets' re-check (as after a revocation) closes this binding's, wherever it is.
        s.binding_revoked().await;
    }
    let what = if paused { "binding paused by its user" } else { "binding resumed by its user" };
    tracing::info!(tenant = %me.tenant_id, binding = %me.binding_id, "{what}");
    Ok(Json(PauseState { binding_id: me.binding_id, paused }))
}

/// Refuses a change by the user to the organization's binding (403 `managed_binding`, as
/// revoking it is): its administrator manages it, and a user who copies its access token
/// out of the extension must not pause or rename it behind the panel's back.
pub(super) async fn users_own(s: &AppState, binding_id: &str) -> ApiResult<()> {
    match db::active_binding(&s.db, binding_id).await? {
        Some(b) if b.managed => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "managed_binding",
            "Your organization manages this connection; your administrator can change it.",
        )),
        Some(_) => Ok(()),
        None => Err(invalid()),
    }
}
