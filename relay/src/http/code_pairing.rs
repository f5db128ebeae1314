//! Code pairing (challenge), the browser's half: the extension requests a code and
//! long-polls its status. An app (or the owner's CLI) approves the code for one of its
//! users (`code_approval.rs`); that only names who asks. The extension's user then
//! confirms or rejects it (`code_confirmation.rs`): only a confirm binds.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use latch_wire::api::{ChallengeIssued, ChallengeRequest, ChallengeStatus, ChallengeStatusReply, ErrorBody};
use latch_wire::EpochMs;

use super::client_addr::ClientAddr;
use super::device::pairing_device_name;
use super::extract::{CodesRequested, JsonBody, PerAddress, Query};
use super::openapi::STORAGE_UNAVAILABLE;
use crate::clock::now_ms;
use crate::db::challenges::{self, ChallengeRow, Created};
use crate::error::{ApiError, ApiResult};
use crate::secrets::{new_secret, token_hash};
use crate::{code, db, AppState};

/// Challenge ids are 256-bit secrets: whoever holds one answers the prompt.
pub const CHALLENGE_ID_PREFIX: &str = "lch_";
/// Longest long-poll: Chrome kills an extension worker whose fetch waits over 30 s.
pub const MAX_WAIT_SECONDS: u64 = 25;
/// The app's page where the user types `code`, with `?code=` filled in, when the relay can
/// tell which app (see `db::sole_pair_url`).
async fn pair_page(s: &AppState, code: &str) -> ApiResult<Option<String>> {
    let Some(page) = db::sole_pair_url(&s.db).await? else {
        return Ok(None);
    };
    let Ok(mut url) = url::Url::parse(&page) else {
        return Ok(None);
    };
    url.query_pairs_mut().append_pair("code", &latch_wire::code::display(code));
    Ok(Some(url.into()))
}

/// RFC 8628: each `slow_down` adds 5 s to the interval.
pub const SLOW_DOWN_MS: u64 = 5_000;

pub(super) fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// The extension asks for a code its user types into an app.
#[utoipa::path(
    post,
    path = "/api/pairing/request", operation_id = "requestPairingCode",
    tag = "extension",
    request_body = ChallengeRequest,
    responses(
        (status = 201, description = "The code (shown as XXXX-XXXX), the challenge id to poll with, and where to type it when the relay knows the app.", body = ChallengeIssued),
        (status = 400, description = "`invalid_request`: the body is not of this shape; `invalid_device_id`: `deviceId` is empty, longer than 128 bytes or has control characters.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many codes requested from this address (`retryAfter`, `Retry-After`); `max_pending`: this browser already has 3 open codes.", body = ErrorBody),
        (status = 503, description = "`code_space_busy`: no free code was found, try again; `storage_unavailable`: the relay's database is unavailable.", body = ErrorBody),
    ),
)]
pub async fn request(
    State(s): State<AppState>,
    PerAddress(addr, _): PerAddress<CodesRequested>,
    JsonBody(req): JsonBody<ChallengeRequest>,
) -> ApiResult<(StatusCode, Json<ChallengeIssued>)> {
    let now = now_ms();
    let device_id = req.device_id.trim();
    if device_id.is_empty() || device_id.len() > 128 || device_id.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_device_id", "deviceId must be 1–128 printable characters."));
    }
    let device_name = pairing_device_name(&req.device_name);
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
                let url = pair_page(&s, &code).await?;
                return Ok((
                    StatusCode::CREATED,
                    Json(ChallengeIssued {
                        challenge_id,
                        code,
                        expires_at: EpochMs::from_ms(expires_at),
                        interval,
                        server_time: Some(EpochMs::from_ms(now)),
                        url,
                    }),
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

/// The statuses a long-poll can wait on (`seen`); any other is 400 `invalid_seen`.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum SeenStatus {
    Pending,
    AwaitingConfirmation,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// The challenge id from the code request (`lch_…`).
    #[param(required = true, value_type = String)]
    challenge_id: Option<String>,
    /// Seconds to wait for a change (long-poll), at most 25; 0 or none answers at once.
    #[param(value_type = Option<u64>)]
    wait: Option<String>,
    /// Extension of PROTOCOL.md: the status the extension already knows (`pending`, the
    /// default, or `awaiting_confirmation`). A long-poll waits while the status is still
    /// that one, and answers as soon as it differs.
    #[param(value_type = Option<SeenStatus>, inline)]
    seen: Option<String>,
}

pub(super) fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "challenge_not_found", "This pairing code is unknown.")
}

/// What a poll of `row` answers at `now`. An unanswered code past its lifetime, approved
/// or not, is expired.
fn reply_for(row: &ChallengeRow, now: u64) -> Option<ChallengeStatusReply> {
    let open = row.expires_at > now;
    let (status, requester) = match row.status.as_str() {
        challenges::PENDING if open => (ChallengeStatus::Pending, None),
        challenges::AWAITING if open => (ChallengeStatus::AwaitingConfirmation, row.requester.clone()),
        challenges::PENDING | challenges::AWAITING => (ChallengeStatus::Expired, None),
        challenges::CONFIRMED => (ChallengeStatus::Confirmed, None),
        challenges::DENIED => (ChallengeStatus::Denied, None),
        _ => return None,
    };
    Some(ChallengeStatusReply { status, interval: Some(secs(row.interval_ms)), requester })
}

/// Held to a rate per client address (unknown ids cost a read each) and, per challenge, to
/// its poll interval (`slow_down`).
/// The extension long-polls its code's status.
#[utoipa::path(
    get,
    path = "/api/pairing/status", operation_id = "getPairingCodeStatus",
    tag = "extension",
    params(StatusQuery),
    responses(
        (status = 200, description = "The status; with `awaiting_confirmation`, who asks (`appName`, `tenantId`, `userId`, `appOrigin`).", body = latch_wire::flat::ChallengeStatusFields),
        (status = 400, description = "`invalid_query`: the query string is not of this shape; `invalid_wait`: `wait` is not a whole number of seconds; `invalid_seen`: `seen` is not `pending` or `awaiting_confirmation`.", body = ErrorBody),
        (status = 404, description = "`challenge_not_found`: no such challenge.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many polls from this address (`retryAfter`); `slow_down`: polled before the interval, which grows by 5 s (`interval`). Both set `Retry-After`.", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn status(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<ChallengeStatusReply>> {
    s.limits.status.admit(&addr, "status polls from this address")?;
    let id = q.challenge_id.unwrap_or_default();
    let id_hash = token_hash(&s.pepper, &id);
    let wait = match q.wait.as_deref() {
        None | Some("") => 0,
        Some(w) => {
            w.parse::<u64>().map_err(|_| ApiError::bad_request("invalid_wait", "wait must be whole seconds."))?
        }
    }
    .min(MAX_WAIT_SECONDS);
    let seen = match q.seen.as_deref() {
        None | Some("" | "pending") => ChallengeStatus::Pending,
        Some("awaiting_confirmation") => ChallengeStatus::AwaitingConfirmation,
        Some(_) => return Err(ApiError::bad_request("invalid_seen", "seen must be pending or awaiting_confirmation.")),
    };
    // Subscribe before reading, so a change between the read and the wait still wakes us.
    let mut changed = s.realtime.changes.subscribe();
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
    // The requester first read while awaiting: a different one is news too. (It cannot
    // change today, since an approved code only goes on to confirmed or denied.)
    let mut first_requester = None;
    loop {
        let row = challenges::get(&s.db, &id_hash).await?.ok_or_else(not_found)?;
        let now = now_ms();
        let reply = reply_for(&row, now).ok_or_else(not_found)?;
        let requester_seen = first_requester.get_or_insert_with(|| reply.requester.clone());
        let unchanged = reply.status == seen && reply.requester == *requester_seen;
        // A relay shutting down answers at once; the next poll goes elsewhere.
        if !unchanged || tokio::time::Instant::now() >= deadline || *stopping.borrow() {
            return Ok(Json(reply));
        }
        // Unchanged means pending or awaiting, so unexpired: wait for any change (or the
        // deadline, the expiry, or shutdown), then re-read.
        let until_expiry = tokio::time::Instant::now() + Duration::from_millis(row.expires_at - now);
        tokio::select! {
            _ = tokio::time::timeout_at(deadline.min(until_expiry), changed.changed()) => {}
            _ = stopping.changed() => {}
        }
    }
}
