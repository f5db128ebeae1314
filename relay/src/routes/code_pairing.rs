//! Code pairing (challenge): the extension requests a code and long-polls its status; the
//! app (with its API key) or the owner (CLI) approves the code for a user.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use latch::core::offers::REDEEM_RETRY_MS;
use latch::core::token::is_refresh_token;
use latch::core::wire::{
    ApproveCodeRequest, BindingInfo, ChallengeIssued, ChallengeRequest, ChallengeStatus, ChallengeStatusReply,
    CodeRequest,
};
use serde::Deserialize;

use super::body::parse_json;
use super::client_addr::ClientAddr;
use super::pairing::{authenticate_app, clean_device_name, token_grant, valid_user_id, App};
use crate::challenges::{self, Approver, Created, Decided};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::secrets::{derived_refresh_token, new_secret, token_hash};
use crate::store;
use crate::{code, AppState};

/// Challenge ids are 256-bit secrets: whoever holds one collects the tokens.
pub const CHALLENGE_ID_PREFIX: &str = "lch_";
/// Longest long-poll: Chrome kills an extension worker whose fetch waits over 30 s.
pub const MAX_WAIT_SECONDS: u64 = 25;
/// RFC 8628: each `slow_down` adds 5 s to the interval.
pub const SLOW_DOWN_MS: u64 = 5_000;

fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

pub async fn request(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ChallengeIssued>)> {
    let now = now_ms();
    s.limits.challenge.admit(&addr, now, "codes requested")?;
    let req: ChallengeRequest = parse_json(&body)?;
    let device_id = req.device_id.trim();
    if device_id.is_empty() || device_id.len() > 128 || device_id.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_device_id", "deviceId must be 1–128 printable characters."));
    }
    let device_name = clean_device_name(&req.device_name);
    let challenge_id = new_secret(CHALLENGE_ID_PREFIX);
    let id_hash = token_hash(&s.pepper, &challenge_id);
    let expires_at = now + s.cfg.challenge_ttl_ms;
    for _ in 0..3 {
        let code = code::new_code();
        let created = challenges::create(
            &s.db,
            &id_hash,
            &code,
            device_id,
            &device_name,
            &addr,
            s.cfg.poll_interval_ms,
            now,
            expires_at,
        )
        .await?;
        match created {
            Created::Ok => {
                tracing::info!("pairing challenge issued");
                s.metrics.started("code");
                let interval = secs(s.cfg.poll_interval_ms);
                return Ok((
                    StatusCode::CREATED,
                    Json(ChallengeIssued { challenge_id, code, expires_at, interval, server_time: Some(now) }),
                ));
            }
            Created::MaxPending => {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "max_pending",
                    "This browser already has 3 codes waiting; use one of them or let them expire.",
                ));
            }
            Created::CodeTaken => continue,
        }
    }
    Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "code_space_busy", "Could not allocate a code; try again."))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusQuery {
    challenge_id: Option<String>,
    wait: Option<String>,
    /// Extension of PROTOCOL.md: `redeliver=1` asks for an approval whose answer was lost
    /// (worker stopped, connection dropped) to be answered again: the same binding and
    /// refresh token, while that refresh token is unused. Without it a delivered challenge
    /// answers 404, as documented.
    redeliver: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "challenge_not_found", "This pairing code is unknown or was already used.")
}

pub async fn status(State(s): State<AppState>, Query(q): Query<StatusQuery>) -> ApiResult<Json<ChallengeStatusReply>> {
    let id = q.challenge_id.unwrap_or_default();
    let redeliver = matches!(q.redeliver.as_deref(), Some("1" | "true"));
    let id_hash = token_hash(&s.pepper, &id);
    let wait = match q.wait.as_deref() {
        None | Some("") => 0,
        Some(w) => {
            w.parse::<u64>().map_err(|_| ApiError::bad_request("invalid_wait", "wait must be whole seconds."))?
        }
    }
    .min(MAX_WAIT_SECONDS);
    // Subscribe before reading, so a change between the read and the wait still wakes us.
    let mut changed = s.changes.subscribe();
    let mut stopping = s.shutdown.subscribe();
    let started = now_ms();
    if challenges::get(&s.db, &id_hash).await?.is_none() {
        return Err(not_found());
    }
    let (allowed, interval_ms) = challenges::record_poll(&s.db, &id_hash, started, SLOW_DOWN_MS).await?;
    if !allowed {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "slow_down", "Polling too fast; wait the interval.");
        e.interval = Some(secs(interval_ms));
        return Err(e);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let row = challenges::get(&s.db, &id_hash).await?.ok_or_else(not_found)?;
        let now = now_ms();
        let reply = |status| Json(ChallengeStatusReply { status, interval: Some(secs(row.interval_ms)), grant: None });
        match row.status.as_str() {
            "pending" if row.expires_at <= now => return Ok(reply(ChallengeStatus::Expired)),
            "pending" => {
                let until_expiry = tokio::time::Instant::now() + Duration::from_millis(row.expires_at - now);
                let wake_at = deadline.min(until_expiry);
                // A relay shutting down answers at once; the next poll goes elsewhere.
                if tokio::time::Instant::now() >= deadline || *stopping.borrow() {
                    return Ok(reply(ChallengeStatus::Pending));
                }
                // Wait for any change (or the deadline, or shutdown), then re-read.
                tokio::select! {
                    _ = tokio::time::timeout_at(wake_at, changed.changed()) => {}
                    _ = stopping.changed() => {}
                }
            }
            "approved" => return deliver(&s, &id, &id_hash, now).await,
            "delivered" if redeliver && now < row.expires_at + REDEEM_RETRY_MS => {
                return deliver_again(&s, &id, now).await;
            }
            "denied" => return Ok(reply(ChallengeStatus::Denied)),
            _ => return Err(not_found()),
        }
    }
}

/// The refresh token delivered for a challenge: derived from its id (a secret only the
/// requesting extension holds), so a lost answer can be given again; only its hash is stored.
fn delivered_refresh_token(s: &AppState, challenge_id: &str) -> String {
    derived_refresh_token(&s.pepper, b"latch challenge delivery\0", challenge_id)
}

/// Issues the tokens of an approved challenge, once (see [`deliver_again`] for a lost answer).
async fn deliver(s: &AppState, challenge_id: &str, id_hash: &[u8], now: u64) -> ApiResult<Json<ChallengeStatusReply>> {
    let refresh_token = delivered_refresh_token(s, challenge_id);
    debug_assert!(is_refresh_token(&refresh_token));
    let refresh_expires_at = now + s.cfg.refresh_ttl_ms;
    let delivered =
        challenges::deliver(&s.db, id_hash, &token_hash(&s.pepper, &refresh_token), now, refresh_expires_at).await?;
    let Some((binding_id, tenant_id, user_id, app_name)) = delivered else {
        return Err(not_found());
    };
    tracing::info!(tenant = %tenant_id, binding = %binding_id, "code pairing delivered");
    s.metrics.completed("code");
    let binding = BindingInfo { binding_id, tenant_id, app_name, user_id };
    Ok(approved(s, binding, refresh_token, refresh_expires_at, now))
}

/// The same grant again, while its refresh token is unused and the binding stands.
async fn deliver_again(s: &AppState, challenge_id: &str, now: u64) -> ApiResult<Json<ChallengeStatusReply>> {
    let refresh_token = delivered_refresh_token(s, challenge_id);
    let found = store::unanswered_redeem(&s.db, &token_hash(&s.pepper, &refresh_token)).await?;
    let Some((b, refresh_expires_at)) = found else {
        return Err(not_found());
    };
    tracing::info!(tenant = %b.tenant_id, binding = %b.binding_id, "code pairing delivered again after a lost answer");
    Ok(approved(s, b.into(), refresh_token, refresh_expires_at, now))
}

fn approved(
    s: &AppState,
    binding: BindingInfo,
    refresh_token: String,
    refresh_expires_at: u64,
    now: u64,
) -> Json<ChallengeStatusReply> {
    Json(ChallengeStatusReply {
        status: ChallengeStatus::Approved,
        interval: None,
        grant: Some(token_grant(s, binding, refresh_token, refresh_expires_at, now)),
    })
}

pub async fn pending(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Json<serde_json::Value>> {
    authenticate_app(&s, &headers).await?;
    let list = challenges::pending(&s.db, now_ms()).await?;
    Ok(Json(serde_json::json!({ "pending": list })))
}

fn code_errors(d: Decided) -> ApiError {
    match d {
        Decided::Expired => {
            ApiError::new(StatusCode::GONE, "code_expired", "This code has expired; ask for a new one.")
        }
        _ => ApiError::new(StatusCode::NOT_FOUND, "code_not_found", "No pending pairing has this code."),
    }
}

fn parse_code(raw: &str) -> ApiResult<String> {
    code::normalize(raw).ok_or_else(|| code_errors(Decided::NotFound))
}

/// The name the browser will list for this app: key label → tenant name → tenant id.
pub(super) async fn app_name_for(s: &AppState, tenant_id: &str, key_label: Option<&str>) -> ApiResult<String> {
    let tenant = crate::store::tenant(&s.db, tenant_id).await?;
    let tenant_name = tenant.map(|t| t.name).unwrap_or_default();
    Ok(latch::core::name_policy::display_name(key_label, &tenant_name, tenant_id))
}

/// Approves `code` for (tenant, user); shared by the API and the CLI.
pub async fn approve_code(
    s: &AppState,
    raw_code: &str,
    tenant_id: &str,
    user_id: &str,
    key_label: Option<&str>,
) -> ApiResult<BindingInfo> {
    let code = parse_code(raw_code)?;
    let app_name = app_name_for(s, tenant_id, key_label).await?;
    let who = Approver { tenant_id, user_id, app_name: &app_name };
    match challenges::approve(&s.db, &code, &who, now_ms()).await? {
        Decided::Approved { binding_id } => {
            s.challenges_changed().await;
            Ok(BindingInfo { binding_id, tenant_id: tenant_id.into(), app_name, user_id: user_id.into() })
        }
        other => Err(code_errors(other)),
    }
}

pub async fn approve(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult<Json<serde_json::Value>> {
    let App { tenant_id, key_id, label, .. } = authenticate_app(&s, &headers).await?;
    s.limits.approve.admit(&key_id, now_ms(), "codes tried with this API key")?;
    let req: ApproveCodeRequest = parse_json(&body)?;
    let user_id = valid_user_id(&serde_json::json!({ "userId": req.user_id }))
        .ok_or_else(|| ApiError::bad_request("invalid_user_id", "userId must be 1–128 printable characters."))?;
    let binding = approve_code(&s, &req.code, &tenant_id, &user_id, Some(&label)).await?;
    Ok(Json(serde_json::json!({ "binding": binding })))
}

/// Denies `code`; shared by the API and the CLI.
pub async fn deny_code(s: &AppState, raw_code: &str) -> ApiResult<()> {
    let code = parse_code(raw_code)?;
    match challenges::deny(&s.db, &code, now_ms()).await? {
        Decided::Denied => {
            s.metrics.pairings_denied.inc();
            s.challenges_changed().await;
            Ok(())
        }
        other => Err(code_errors(other)),
    }
}

pub async fn deny(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult<Json<serde_json::Value>> {
    let key_id = authenticate_app(&s, &headers).await?.key_id;
    s.limits.approve.admit(&key_id, now_ms(), "codes tried with this API key")?;
    let req: CodeRequest = parse_json(&body)?;
    deny_code(&s, &req.code).await?;
    Ok(Json(serde_json::json!({ "status": "denied" })))
}
