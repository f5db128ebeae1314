//! Sessions after pairing: revoke by refresh token, and the token gate of `/api/me`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use latch_wire::api::{ErrorBody, MeResponse, RefreshTokenRequest, RefreshedTokens, RevokeResponse};
use latch_wire::token::{is_refresh_token, REFRESH_TOKEN_PREFIX};
use latch_wire::EpochMs;

use super::body::bearer;
use super::client_addr::ClientAddr;
use super::extract::JsonBody;
use super::openapi::{ACCESS_TOKEN_REFUSED, INVALID_REQUEST, RATE_LIMITED, STORAGE_UNAVAILABLE};
use crate::clock::now_ms;
use crate::db;
use crate::db::{Refreshed, Rotation};
use crate::error::{ApiError, ApiResult};
use crate::secrets::{successor_token, token_hash};
use crate::AppState;

/// Rotates a refresh token: a new access token and the successor refresh token.
/// Held to a rate per client address and per token named: a refresh costs a write, and a
/// stolen-token holder must not be able to hammer one family.
#[utoipa::path(
    post,
    path = "/api/auth/refresh", operation_id = "refreshTokens",
    tag = "extension",
    request_body = RefreshTokenRequest,
    responses(
        (status = 200, description = "A new access token and the successor refresh token; the one sent is used up.", body = RefreshedTokens),
        (status = 400, description = INVALID_REQUEST, body = ErrorBody),
        (status = 401, description = "`refresh_token_invalid`: unknown, expired or not a refresh token; `refresh_token_reused`: an already rotated token was presented, and its family and binding are now revoked; `refresh_token_revoked`: the binding was revoked.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn refresh(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(req): JsonBody<RefreshTokenRequest>,
) -> ApiResult<Json<RefreshedTokens>> {
    s.limits.refresh_by_address.admit(&addr, "refreshes from this address")?;
    let invalid =
        || ApiError::unauthorized("refresh_token_invalid", "This refresh token is unknown or expired; pair again.");
    if !is_refresh_token(&req.refresh_token) {
        return Err(invalid());
    }
    let successor = successor_token(&s.pepper, REFRESH_TOKEN_PREFIX, &req.refresh_token);
    let now = now_ms();
    let old_hash = token_hash(&s.pepper, &req.refresh_token);
    // Keyed by the token's hash: the limiter's memory holds no usable secret.
    s.limits.refresh_by_token.admit(&hex::encode(&old_hash), "refreshes of this token")?;
    let successor_hash = token_hash(&s.pepper, &successor);
    let ttl_ms = s.cfg.refresh_ttl_ms;
    let rotation = |old_hash, successor_hash| Rotation { old_hash, successor_hash, now, ttl_ms };
    let mut outcome = db::rotation::refresh(&s.store, rotation(old_hash, successor_hash.clone())).await?;
    if let (Refreshed::Invalid, Some(previous)) = (&outcome, &s.previous_pepper) {
        // Hashed before the pepper was rotated: it rotates onto the current pepper.
        let old_hash = token_hash(previous, &req.refresh_token);
        outcome = db::rotation::refresh(&s.store, rotation(old_hash, successor_hash)).await?;
    }
    match outcome {
        Refreshed::Ok { binding_id, tenant_id, user_id, refresh_expires_at } => {
            s.metrics.refreshed("ok");
            let (access_token, access_expires_at) =
                s.signer.issue(&binding_id, &tenant_id, &user_id, now, s.cfg.access_ttl_ms);
            Ok(Json(RefreshedTokens {
                access_token,
                refresh_token: successor,
                access_expires_at: EpochMs::from_ms(access_expires_at),
                refresh_expires_at: EpochMs::from_ms(refresh_expires_at),
                server_time: Some(EpochMs::from_ms(now)),
            }))
        }
        Refreshed::Reused => {
            s.metrics.refreshed("reused");
            s.binding_revoked().await; // the binding died with its family
            Err(ApiError::unauthorized(
                "refresh_token_reused",
                "This refresh token was already used; the session was revoked for safety. Pair again.",
            ))
        }
        Refreshed::Revoked => {
            s.metrics.refreshed("revoked");
            Err(ApiError::unauthorized("refresh_token_revoked", "This app was disconnected; pair again to reconnect."))
        }
        Refreshed::Invalid => {
            s.metrics.refreshed("invalid");
            Err(invalid())
        }
    }
}

/// The extension's Disconnect: revokes the binding its refresh token belongs to.
#[utoipa::path(
    post,
    path = "/api/auth/revoke", operation_id = "revokeRefreshToken",
    tag = "extension",
    request_body = RefreshTokenRequest,
    responses(
        (status = 200, description = "`revoked` is true when this call revoked the binding, false when the token was unknown or already revoked.", body = RevokeResponse),
        (status = 400, description = "`invalid_request`: the body is not of this shape; `refresh_token_invalid`: this is not a refresh token.", body = ErrorBody),
        (status = 403, description = "`managed_binding`: the organization's binding; only the app or the owner removes it.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn revoke(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(req): JsonBody<RefreshTokenRequest>,
) -> ApiResult<Json<RevokeResponse>> {
    s.limits.revoke.admit(&addr, "revocations from this address")?;
    if !is_refresh_token(&req.refresh_token) {
        return Err(ApiError::bad_request("refresh_token_invalid", "This is not a Latch refresh token."));
    }
    // Hashed under the current pepper, or (not yet rotated since) the previous one.
    let mut hash = token_hash(&s.pepper, &req.refresh_token);
    if let Some(previous) = &s.previous_pepper {
        if !db::session_exists(&s.db, &hash).await? {
            hash = token_hash(previous, &req.refresh_token);
        }
    }
    if crate::db::enrollment::managed_by_refresh(&s.db, &hash).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "managed_binding",
            "Your organization manages this connection; your administrator can remove it.",
        ));
    }
    let revoked = db::revoke_by_refresh(&s.db, &hash, now_ms()).await?;
    if revoked {
        tracing::info!("binding revoked by its refresh token");
        s.binding_revoked().await;
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
pub(super) fn invalid() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "access token invalid", "The access token is wrong, expired or revoked.")
}

/// A token that passed the gate: the gate's answer and the token's expiry (JWT seconds).
pub struct Passed {
    me: MeResponse,
    exp: u64,
}

/// Verifies an access token and that its binding is still active. A pass is remembered by
/// the token's text (`remembered.rs`: until a revocation is heard, at most 2 s), so a client
/// calling again skips the JWT verification (~4.4 µs) and the binding read; expiry is checked
/// on every call. The text, not a hash of it: hashing cost as much as verifying (perf), and
/// the map compares whole keys, so only the exact token that passed finds its pass.
pub async fn gate(s: &AppState, headers: &HeaderMap) -> ApiResult<MeResponse> {
    let token = bearer(headers).ok_or_else(required)?;
    let load = || async {
        let Some(claims) = s.signer.verify(token) else {
            return Ok(None);
        };
        let binding = db::active_binding(&s.db, &claims.sub).await?;
        let passes = binding.is_some_and(|b| b.tenant_id == claims.tid && b.user_id == claims.uid);
        let me =
            MeResponse { binding_id: claims.sub, tenant_id: claims.tid, user_id: claims.uid, scopes: claims.scopes };
        Ok::<_, sqlx::Error>(passes.then(|| Arc::new(Passed { me, exp: claims.exp })))
    };
    let passed = s.gate_cache.get_or_load(token, load).await?.ok_or_else(invalid)?;
    // As the JWT validation (leeway 0): expired once `exp` is in the past.
    if passed.exp < now_ms() / 1000 {
        return Err(invalid());
    }
    Ok(passed.me.clone())
}

/// The token gate: who this access token speaks for.
#[utoipa::path(
    get,
    path = "/api/me", operation_id = "getMe",
    tag = "extension",
    security(("accessToken" = [])),
    responses(
        (status = 200, description = "The binding, app and user behind the token, and its scopes.", body = MeResponse),
        (status = 401, description = ACCESS_TOKEN_REFUSED, body = ErrorBody),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn me(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Json<MeResponse>> {
    gate(&s, &headers).await.map(Json)
}
