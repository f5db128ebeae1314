//! `POST /api/enterprise/enroll`: a browser under an organization's policy presents the
//! admin's signed assertion and gets a managed binding, with no click (PROTOCOL §8).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use latch_wire::api::{BindingInfo, EnrollRequest, ErrorBody, TokenGrant, REDEEM_RETRY_MS};
use latch_wire::token::{is_redeem_key, REFRESH_TOKEN_PREFIX};

use super::code_approval::app_name_for;
use super::device::pairing_device_name;
use super::dpop::{holds_key, Proof};
use super::extract::{Enrollments, JsonBody, PerAddress};
use super::openapi::{DPOP_HEADER, RATE_LIMITED, STORAGE_UNAVAILABLE};
use super::pairing::{is_valid_user_id, token_grant};
use crate::clock::now_ms;
use crate::db;
use crate::db::enrollment::Enrollment;
use crate::enrollment::{self, Claims, Refusal};
use crate::error::{ApiError, ApiResult};
use crate::secrets::{derived_refresh_token, new_secret, token_hash};
use crate::AppState;

/// An assertion is a short JWT; anything much longer is not one.
const MAX_ASSERTION_BYTES: usize = 4096;

fn refused(r: Refusal) -> ApiError {
    use StatusCode as S;
    let (status, code, message) = match r {
        Refusal::Malformed => (
            S::BAD_REQUEST,
            "malformed_assertion",
            "This is not an enrollment assertion made by `latch-relay tenant sign-assertion`.",
        ),
        Refusal::Invalid => (
            S::UNAUTHORIZED,
            "assertion_invalid",
            "The assertion is not signed by an enrollment key registered for its tenant (tampered, or the key was revoked).",
        ),
        Refusal::Expired => (S::UNAUTHORIZED, "assertion_expired", "The assertion has expired; sign a new one."),
        Refusal::WrongAudience => {
            (S::UNAUTHORIZED, "wrong_audience", "The assertion was made for another relay (its aud is not this relay's URL).")
        }
        Refusal::TooLongLived => {
            (S::BAD_REQUEST, "assertion_too_long_lived", "An assertion may be valid for at most 30 days; sign a shorter one.")
        }
        Refusal::Replayed => (
            S::CONFLICT,
            "assertion_replayed",
            "This assertion has already enrolled a browser; sign a new one for each browser.",
        ),
    };
    ApiError::new(status, code, message)
}

/// A managed browser enrolls with the assertion its organization's policy holds.
#[utoipa::path(
    post,
    path = "/api/enterprise/enroll", operation_id = "enrollManagedBrowser",
    tag = "extension",
    request_body = EnrollRequest,
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 200, description = "The managed binding and its first tokens. A retry with the same `enrollKey` whose first answer was lost gets the same binding.", body = TokenGrant),
        (status = 400, description = "`invalid_request`: the body is not of this shape; `invalid_enroll_key`: `enrollKey` is not `lrk_` and 43 base64url characters; `malformed_assertion`: not an assertion made by `latch-relay tenant sign-assertion`; `assertion_too_long_lived`: valid for more than 30 days.", body = ErrorBody),
        (status = 401, description = "`assertion_invalid`: not signed by an enrollment key registered for its tenant; `assertion_expired`: it expired; `wrong_audience`: it was made for another relay; `invalid_dpop_proof`: the `DPoP` proof is malformed, replayed, made for another request, or (a retry) not by the binding's key; `use_dpop_nonce`: its `iat` is too far from the relay's clock, make it again with the `DPoP-Nonce` answered.", body = ErrorBody),
        (status = 409, description = "`assertion_replayed`: this assertion already enrolled a browser.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn enroll(
    State(s): State<AppState>,
    _: PerAddress<Enrollments>,
    proof: Proof,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> ApiResult<Json<TokenGrant>> {
    if req.enroll_key.as_deref().is_some_and(|k| !is_redeem_key(k)) {
        return Err(ApiError::bad_request(
            "invalid_enroll_key",
            "enrollKey must be lrk_ followed by 43 base64url characters.",
        ));
    }
    if req.assertion.len() > MAX_ASSERTION_BYTES {
        return Err(refused(Refusal::Malformed));
    }
    let now = now_ms();
    let key_id = enrollment::kid(&req.assertion).map_err(refused)?;
    let (tenant_id, public_key) = db::enrollment::active_key(&s.db, &key_id).await?.ok_or(refused(Refusal::Invalid))?;
    let audience = s.cfg.public_url.trim_end_matches('/');
    let claims = enrollment::verify(&req.assertion, &public_key, &tenant_id, audience, now).map_err(refused)?;
    if !is_valid_user_id(&claims.user_id) {
        return Err(refused(Refusal::Malformed));
    }
    let app_name = app_name_for(&s, &tenant_id, None).await?;
    // With the browser's enroll key, derived from it and the nonce: a retry whose first
    // answer was lost gets the same refresh token, and so the same binding (below), never
    // a second one. Without a key (or with another) a used nonce is a replay.
    let refresh_token = match &req.enroll_key {
        Some(k) => derived_refresh_token(&s.pepper, b"latch enrollment\0", &format!("{key_id}\0{}\0{k}", claims.nonce)),
        None => new_secret(REFRESH_TOKEN_PREFIX),
    };
    let refresh_hash = token_hash(&s.pepper, &refresh_token);
    let refresh_expires_at = now + s.cfg.refresh_ttl_ms;
    let e = Enrollment {
        key_id: &key_id,
        app_name: &app_name,
        device_name: &pairing_device_name(&req.device_name),
        dpop_jkt: proof.jkt(),
        refresh_hash: &refresh_hash,
        refresh_expires_at,
        now,
    };
    let grant = |binding_id: String, app_name: String, jkt: Option<&str>, refresh_expires_at: u64| {
        let binding =
            BindingInfo { binding_id, tenant_id: tenant_id.clone(), app_name, user_id: claims.user_id.clone() };
        Json(token_grant(&s, binding, jkt, refresh_token.clone(), refresh_expires_at, now))
    };
    if let Some(binding_id) = db::enrollment::enroll(&s.db, &claims, &e).await? {
        tracing::info!(tenant = %tenant_id, binding = %binding_id, key = %key_id, "browser enrolled by policy");
        s.metrics.completed("enrollment");
        return Ok(grant(binding_id, app_name, proof.jkt(), refresh_expires_at));
    }
    let (binding_id, jkt, exp) =
        again(&s, &key_id, &claims, &refresh_hash, now).await?.ok_or(refused(Refusal::Replayed))?;
    // The retry must come from the browser that holds the binding's key.
    holds_key(jkt.as_deref(), proof.0.as_ref())?;
    Ok(grant(binding_id, app_name, jkt.as_deref(), exp))
}

/// A used nonce whose binding's first session is still unused, within the retry window:
/// the first answer was lost. `(binding id, its key, refresh expiry)`.
async fn again(
    s: &AppState,
    key_id: &str,
    claims: &Claims,
    refresh_hash: &[u8],
    now: u64,
) -> ApiResult<Option<(String, Option<String>, u64)>> {
    let used_at = db::enrollment::nonce_used_at(&s.db, key_id, &claims.nonce).await?;
    if used_at.is_none_or(|t| now >= t + REDEEM_RETRY_MS) {
        return Ok(None);
    }
    let found = db::unanswered_redeem(&s.db, refresh_hash).await?;
    Ok(found.map(|(b, refresh_expires_at)| {
        tracing::info!(tenant = %b.tenant_id, binding = %b.binding_id, "enrollment answered again after a lost answer");
        (b.binding_id, b.dpop_jkt, refresh_expires_at)
    }))
}
