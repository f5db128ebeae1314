//! Sessions after pairing: revoke by refresh token, and the token gate of `/api/me`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use latch::core::token::is_refresh_token;
use latch::core::wire::{MeResponse, RefreshTokenRequest, RevokeResponse};

use super::body::{bearer, parse_json};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::secrets::token_hash;
use crate::store;
use crate::AppState;

pub async fn revoke(State(s): State<AppState>, body: Bytes) -> ApiResult<Json<RevokeResponse>> {
    let req: RefreshTokenRequest = parse_json(&body)?;
    if !is_refresh_token(&req.refresh_token) {
        return Err(ApiError::bad_request("refresh_token_invalid", "This is not a Latch refresh token."));
    }
    let revoked = store::revoke_by_refresh(&s.db, &token_hash(&s.pepper, &req.refresh_token), now_ms()).await?;
    if revoked {
        tracing::info!("binding revoked by its refresh token");
    }
    Ok(Json(RevokeResponse { revoked }))
}

/// The gate's exact error strings (PROTOCOL §3).
fn required() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "access token required",
        "Send the access token as 'Authorization: Bearer <accessToken>'.",
    )
}
fn invalid() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "access token invalid", "The access token is wrong, expired or revoked.")
}

/// Verifies an access token and that its binding is still active.
pub async fn gate(s: &AppState, headers: &HeaderMap) -> ApiResult<MeResponse> {
    let token = bearer(headers).ok_or_else(required)?;
    let claims = s.signer.verify(token).ok_or_else(invalid)?;
    let binding = store::active_binding(&s.db, &claims.sub).await?.ok_or_else(invalid)?;
    if binding.tenant_id != claims.tid || binding.user_id != claims.uid {
        return Err(invalid());
    }
    Ok(MeResponse { binding_id: claims.sub, tenant_id: claims.tid, user_id: claims.uid, scopes: claims.scopes })
}

pub async fn me(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Json<MeResponse>> {
    gate(&s, &headers).await.map(Json)
}
