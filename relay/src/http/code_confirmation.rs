//! Code pairing, the browser user's answer to the prompt an app's approval raised:
//! confirm (Approve) creates the binding and hands over its tokens, exactly once; reject
//! (Deny) ends the request. No auth: the 256-bit challenge id is the credential.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use latch_wire::api::{ConfirmRequest, ErrorBody, RejectRequest, TokenGrant};
use latch_wire::token::{is_redeem_key, is_refresh_token};

use super::code_approval::DeniedAnswer;
use super::code_pairing::not_found;
use super::device::pairing_device_name;
use super::dpop::{holds_key, Proof};
use super::extract::{CodesConfirmed, CodesRejected, JsonBody, PerAddress};
use super::openapi::{DPOP_HEADER, DPOP_REFUSED, INVALID_REQUEST, RATE_LIMITED, STORAGE_UNAVAILABLE};
use super::pairing::token_grant;
use crate::clock::now_ms;
use crate::db::challenges::{self, Rejected};
use crate::error::{ApiError, ApiResult};
use crate::secrets::{confirmed_refresh_token, token_hash};
use crate::{db, AppState};

fn not_awaiting() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_awaiting_confirmation",
        "This code is not waiting for your approval (no app approved it, or it was already answered).",
    )
}

/// The user approved a code's prompt in the extension: the binding is made now.
#[utoipa::path(
    post,
    path = "/api/pairing/confirm", operation_id = "confirmPairingCode",
    tag = "extension",
    request_body = ConfirmRequest,
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 200, description = "The binding and its first tokens. A retry with the same `redeemKey` whose first answer was lost gets the same binding.", body = TokenGrant),
        (status = 400, description = "`invalid_request`: the body is not of this shape; `invalid_redeem_key`: `redeemKey` is not `lrk_` and 43 base64url characters.", body = ErrorBody),
        (status = 401, description = DPOP_REFUSED, body = ErrorBody),
        (status = 404, description = "`challenge_not_found`: no such challenge.", body = ErrorBody),
        (status = 409, description = "`not_awaiting_confirmation`: no app approved the code, it was already answered, or the approving key was revoked.", body = ErrorBody),
        (status = 410, description = "`code_expired`: the code expired before the user answered.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn confirm(
    State(s): State<AppState>,
    _: PerAddress<CodesConfirmed>,
    proof: Proof,
    JsonBody(req): JsonBody<ConfirmRequest>,
) -> ApiResult<Json<TokenGrant>> {
    if !is_redeem_key(&req.redeem_key) {
        return Err(ApiError::bad_request(
            "invalid_redeem_key",
            "redeemKey must be lrk_ followed by 43 base64url characters.",
        ));
    }
    let now = now_ms();
    let id_hash = token_hash(&s.pepper, &req.challenge_id);
    // A guessed id costs a read, never a write transaction (SQLite's one write lock).
    challenges::get(&s.db, &id_hash).await?.ok_or_else(not_found)?;
    // Derived, not random: a retry with the same key after a lost answer gets it again.
    let refresh_token = confirmed_refresh_token(&s.pepper, &req.challenge_id, &req.redeem_key);
    debug_assert!(is_refresh_token(&refresh_token));
    let refresh_hash = token_hash(&s.pepper, &refresh_token);
    let refresh_expires_at = now + s.cfg.refresh_ttl_ms;
    let device_name = (!req.device_name.trim().is_empty()).then(|| pairing_device_name(&req.device_name));
    let name = device_name.as_deref();
    let confirmed =
        challenges::confirm(&s.db, &id_hash, name, proof.jkt(), &refresh_hash, now, refresh_expires_at).await?;
    if let Some(b) = confirmed {
        tracing::info!(tenant = %b.tenant_id, binding = %b.binding_id, "code pairing confirmed by the browser user");
        s.metrics.completed("code");
        s.challenges_changed().await;
        let jkt = b.dpop_jkt.clone();
        return Ok(Json(token_grant(&s, b.into(), jkt.as_deref(), refresh_token, refresh_expires_at, now)));
    }
    let row = challenges::get(&s.db, &id_hash).await?.ok_or_else(not_found)?;
    match row.status.as_str() {
        // A confirm that committed but whose answer was lost: same key, same binding and
        // refresh token, while that token is unused and the binding stands, however late
        // (a browser closed for a day repeats its confirm on start-up; refusing it would
        // leave a binding nobody holds). Never a second binding.
        challenges::CONFIRMED => {
            let Some((b, refresh_expires_at)) = db::unanswered_redeem(&s.db, &refresh_hash).await? else {
                return Err(not_awaiting());
            };
            // The retry must come from the browser that holds the binding's key.
            holds_key(b.dpop_jkt.as_deref(), proof.0.as_ref())?;
            tracing::info!(tenant = %b.tenant_id, binding = %b.binding_id, "code confirm answered again after a lost answer");
            let jkt = b.dpop_jkt.clone();
            Ok(Json(token_grant(&s, b.into(), jkt.as_deref(), refresh_token, refresh_expires_at, now)))
        }
        challenges::AWAITING if row.expires_at <= now => {
            Err(ApiError::new(StatusCode::GONE, "code_expired", "This code has expired; ask for a new one."))
        }
        // Awaiting and unexpired, yet not confirmable: the approving app's key was revoked.
        challenges::AWAITING => {
            if challenges::deny_if_key_revoked(&s.db, &id_hash).await? {
                tracing::info!("code approval of a revoked API key denied at confirm");
                s.challenges_changed().await;
            }
            Err(not_awaiting())
        }
        _ => Err(not_awaiting()),
    }
}

/// The user denied a code's prompt (or cancelled the code) in the extension.
#[utoipa::path(
    post,
    path = "/api/pairing/reject", operation_id = "rejectPairingCode",
    tag = "extension",
    request_body = RejectRequest,
    responses(
        (status = 200, description = "The code is denied (also when it already was).", body = DeniedAnswer),
        (status = 400, description = INVALID_REQUEST, body = ErrorBody),
        (status = 404, description = "`challenge_not_found`: no such challenge.", body = ErrorBody),
        (status = 409, description = "`not_awaiting_confirmation`: the user already approved it.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn reject(
    State(s): State<AppState>,
    _: PerAddress<CodesRejected>,
    JsonBody(req): JsonBody<RejectRequest>,
) -> ApiResult<Json<DeniedAnswer>> {
    let id_hash = token_hash(&s.pepper, &req.challenge_id);
    challenges::get(&s.db, &id_hash).await?.ok_or_else(not_found)?;
    match challenges::reject(&s.db, &id_hash, now_ms()).await? {
        Rejected::Now => {
            tracing::info!("code pairing rejected by the browser user");
            s.metrics.pairings_denied.inc();
            s.challenges_changed().await;
        }
        Rejected::Already => {}
        Rejected::Confirmed => return Err(not_awaiting()),
        Rejected::NotFound => return Err(not_found()),
    }
    Ok(Json(DeniedAnswer::DENIED))
}
