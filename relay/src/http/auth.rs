//! Sessions after pairing: revoke by refresh token, and the token gate of `/api/me`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::Json;

use latch_wire::api::{ErrorBody, MeResponse, RefreshTokenRequest, RefreshedTokens, RevokeResponse};
use latch_wire::token::{is_refresh_token, REFRESH_TOKEN_PREFIX};
use latch_wire::EpochMs;

use super::body::{access_credential, Scheme};
use super::client_addr::ClientAddr;
use super::dpop::{self, holds_key};
use super::extract::JsonBody;
use super::openapi::{
    ACCESS_TOKEN_REFUSED, DPOP_HEADER, DPOP_REFUSED, INVALID_REQUEST, RATE_LIMITED, STORAGE_UNAVAILABLE,
};
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
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 200, description = "A new access token and the successor refresh token; the one sent is used up.", body = RefreshedTokens),
        (status = 400, description = INVALID_REQUEST, body = ErrorBody),
        (status = 401, description = "`refresh_token_invalid`: unknown, expired or not a refresh token; `refresh_token_reused`: an already rotated token was presented, and its family and binding are now revoked; `refresh_token_revoked`: the binding was revoked (with `revokedBy: \"idle\"` and `idleSeconds` when the relay revoked it for going unused and the proof is by the binding's own key, however long ago the token expired); `invalid_dpop_proof`: the binding is key-bound and no proof by its key came (the token is left unused: a copy without the key can neither refresh nor revoke), or the proof is malformed, replayed or for another request; `use_dpop_nonce`: the proof's `iat` is too far from the relay's clock, make it again with the `DPoP-Nonce` answered. A binding without a key is bound to the key of the first refresh that brings a proof.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn refresh(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    JsonBody(req): JsonBody<RefreshTokenRequest>,
) -> ApiResult<Json<RefreshedTokens>> {
    s.limits.refresh_by_address.admit(&addr, "refreshes from this address")?;
    // After the address's limit: a proof costs a signature check.
    let proof = dpop::verify(&s, &Method::POST, REFRESH_PATH, &headers, None).await?;
    let presented_jkt = proof.map(|p| p.jkt);
    let invalid =
        || ApiError::unauthorized("refresh_token_invalid", "This refresh token is unknown or expired; pair again.");
    if !is_refresh_token(&req.refresh_token) {
        return Err(invalid());
    }
    let successor = successor_token(&s.pepper, REFRESH_TOKEN_PREFIX, &req.refresh_token);
    let now = now_ms();
    let old_hash = token_hash(&s.pepper, &req.refresh_token);
    // Keyed by the token's hash (the limiter's memory holds no usable secret) and the key
    // that signed the proof: a copy of the token without the browser's key can't spend the
    // browser's budget and lock it out of refreshing.
    let bucket = format!("{}:{}", hex::encode(&old_hash), presented_jkt.as_deref().unwrap_or("-"));
    s.limits.refresh_by_token.admit(&bucket, "refreshes of this token")?;
    let successor_hash = token_hash(&s.pepper, &successor);
    let ttl_ms = s.cfg.refresh_ttl_ms;
    let rotation = |old_hash, successor_hash| Rotation {
        old_hash,
        successor_hash,
        now,
        ttl_ms,
        presented_jkt: presented_jkt.clone(),
    };
    let mut outcome = db::rotation::refresh(&s.store, rotation(old_hash, successor_hash.clone())).await?;
    if let (Refreshed::Invalid, Some(previous)) = (&outcome, &s.previous_pepper) {
        // Hashed before the pepper was rotated: it rotates onto the current pepper.
        let old_hash = token_hash(previous, &req.refresh_token);
        outcome = db::rotation::refresh(&s.store, rotation(old_hash, successor_hash)).await?;
    }
    match outcome {
        Refreshed::Ok { binding_id, tenant_id, user_id, refresh_expires_at, dpop_jkt, upgraded } => {
            s.metrics.refreshed(if upgraded { "bound_key" } else { "ok" });
            s.last_seen.touch(&s.db, &binding_id, now);
            if upgraded {
                tracing::info!(binding = %binding_id, "binding bound to its browser's key on refresh");
                // As a revocation is: remembered gate passes and open sockets of the binding's
                // bearer tokens re-check, and no longer pass.
                s.binding_revoked().await;
            }
            let (access_token, access_expires_at) =
                s.signer.issue(&binding_id, &tenant_id, &user_id, dpop_jkt.as_deref(), now, s.cfg.access_ttl_ms);
            Ok(Json(RefreshedTokens {
                access_token,
                refresh_token: successor,
                access_expires_at: EpochMs::from_ms(access_expires_at),
                refresh_expires_at: EpochMs::from_ms(refresh_expires_at),
                server_time: Some(EpochMs::from_ms(now)),
                token_type: Some(token_type(dpop_jkt.as_deref()).into()),
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
        Refreshed::WrongKey => {
            // A copy of the token without the browser's key: refused, the family left alone.
            s.metrics.refreshed("wrong_key");
            tracing::warn!("refresh of a key-bound binding without a proof by its key refused");
            Err(dpop::invalid("this binding is key-bound; send a DPoP proof signed by its key"))
        }
        Refreshed::Revoked { idle_ms: Some(unused_ms) } => Err(expired_idle(&s, unused_ms)),
        Refreshed::Revoked { idle_ms: None } => {
            s.metrics.refreshed("revoked");
            Err(ApiError::unauthorized("refresh_token_revoked", "This app was disconnected; pair again to reconnect."))
        }
        Refreshed::Invalid => match idle_revocation(&s, presented_jkt.as_deref()).await? {
            Some(unused_ms) => Err(expired_idle(&s, unused_ms)),
            None => {
                s.metrics.refreshed("invalid");
                Err(invalid())
            }
        },
    }
}

/// The extension's Disconnect: revokes the binding its refresh token belongs to.
#[utoipa::path(
    post,
    path = "/api/auth/revoke", operation_id = "revokeRefreshToken",
    tag = "extension",
    request_body = RefreshTokenRequest,
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 200, description = "`revoked` is true when this call revoked the binding, false when the token was unknown or already revoked.", body = RevokeResponse),
        (status = 400, description = "`invalid_request`: the body is not of this shape; `refresh_token_invalid`: this is not a refresh token.", body = ErrorBody),
        (status = 401, description = DPOP_REFUSED, body = ErrorBody),
        (status = 403, description = "`managed_binding`: the organization's binding; only the app or the owner removes it.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn revoke(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    JsonBody(req): JsonBody<RefreshTokenRequest>,
) -> ApiResult<Json<RevokeResponse>> {
    s.limits.revoke.admit(&addr, "revocations from this address")?;
    let proof = dpop::verify(&s, &Method::POST, REVOKE_PATH, &headers, None).await?;
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
    // A copy of a key-bound binding's token can't disconnect the user either.
    holds_key(db::key_by_refresh(&s.db, &hash).await?.as_deref(), proof.as_ref())?;
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

/// For an unknown token: how long the binding of the key that signed the proof had gone
/// unused when the relay revoked it as idle, if it did. Its browser is told so (PROTOCOL
/// §11), however long ago its token expired and was deleted. Only that key's holder can
/// ask, and the refresh limiter has already counted the request.
async fn idle_revocation(s: &AppState, presented_jkt: Option<&str>) -> ApiResult<Option<u64>> {
    match presented_jkt {
        Some(jkt) => Ok(db::idle_revocation_of_key(&s.db, jkt).await?),
        None => Ok(None),
    }
}

/// 401 `refresh_token_revoked` for a binding revoked as idle, with `revokedBy: "idle"` and
/// how long it had gone unused (`idleSeconds`).
fn expired_idle(s: &AppState, unused_ms: u64) -> ApiError {
    s.metrics.refreshed("idle");
    let mut err = ApiError::unauthorized(
        "refresh_token_revoked",
        "This connection expired: it went unused for too long. Pair again to reconnect.",
    );
    err.idle_seconds = Some(u32::try_from(unused_ms / 1000).unwrap_or(u32::MAX));
    err
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

/// RFC 9449 §5's `token_type` of an answer that hands out tokens.
pub(super) fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

const REFRESH_PATH: &str = "/api/auth/refresh";
const REVOKE_PATH: &str = "/api/auth/revoke";

/// A token that passed the gate: the gate's answer, the token's expiry (JWT seconds) and
/// the key it is bound to.
pub struct Passed {
    me: MeResponse,
    exp: u64,
    jkt: Option<String>,
}

/// Verifies an access token and that its binding is still active. A pass is remembered by
/// the token's text (`remembered.rs`: until a revocation is heard, at most 2 s), so a client
/// calling again skips the JWT verification (~4.4 µs) and the binding read; expiry is checked
/// on every call. The text, not a hash of it: hashing cost as much as verifying (perf), and
/// the map compares whole keys, so only the exact token that passed finds its pass.
///
/// A token bound to a key (PROTOCOL §12) passes only as `Authorization: DPoP` with a proof
/// by that key for this request (`method`, `path`), checked on every call.
pub async fn gate(s: &AppState, method: &Method, path: &str, headers: &HeaderMap) -> ApiResult<MeResponse> {
    let (scheme, token) = access_credential(headers).ok_or_else(required)?;
    let load = || async {
        let Some(claims) = s.signer.verify(token) else {
            return Ok(None);
        };
        let binding = db::active_binding(&s.db, &claims.sub).await?;
        // A token must name the key the binding holds now: a bearer token issued before
        // the binding was bound to a key (PROTOCOL §12) is dead from that moment.
        let passes = binding.is_some_and(|b| {
            b.tenant_id == claims.tid && b.user_id == claims.uid && b.dpop_jkt.as_deref() == claims.jkt()
        });
        let jkt = claims.cnf.map(|c| c.jkt);
        let me =
            MeResponse { binding_id: claims.sub, tenant_id: claims.tid, user_id: claims.uid, scopes: claims.scopes };
        Ok::<_, sqlx::Error>(passes.then(|| Arc::new(Passed { me, exp: claims.exp, jkt })))
    };
    let passed = s.gate_cache.get_or_load(token, load).await?.ok_or_else(invalid)?;
    // As the JWT validation (leeway 0): expired once `exp` is in the past.
    if passed.exp < now_ms() / 1000 {
        return Err(invalid());
    }
    match (passed.jkt.as_deref(), scheme) {
        (None, Scheme::Bearer) => {}
        (None, Scheme::Dpop) => {
            return Err(dpop::invalid("this access token is not bound to a key; send it as Bearer"))
        }
        (Some(_), Scheme::Bearer) => {
            return Err(dpop::invalid("this access token is key-bound; send it as 'Authorization: DPoP' with a proof"))
        }
        (Some(jkt), Scheme::Dpop) => {
            let proof = dpop::verify(s, method, path, headers, Some(token)).await?;
            holds_key(Some(jkt), proof.as_ref())?;
        }
    }
    s.last_seen.touch(&s.db, &passed.me.binding_id, now_ms());
    Ok(passed.me.clone())
}

/// Who the request's access token speaks for, as an extractor: the gate ([`gate`]) with the
/// request's method and path.
pub struct Me(pub MeResponse);

impl FromRequestParts<AppState> for Me {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> ApiResult<Self> {
        gate(s, &parts.method, parts.uri.path(), &parts.headers).await.map(Self)
    }
}

/// The token gate: who this access token speaks for.
#[utoipa::path(
    get,
    path = "/api/me", operation_id = "getMe",
    tag = "extension",
    security(("accessToken" = [])),
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 200, description = "The binding, app and user behind the token, and its scopes.", body = MeResponse),
        (status = 401, description = ACCESS_TOKEN_REFUSED, body = ErrorBody),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn me(Me(me): Me) -> ApiResult<Json<MeResponse>> {
    Ok(Json(me))
}
