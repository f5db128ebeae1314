//! Code pairing, the app's half (API key) and the owner's (CLI): approving a code names who
//! asks the browser's user; it binds nothing. An app sees and withdraws only the codes it
//! approved itself: a code no app approved is never listed to, nor cancellable by, any key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use latch_wire::api::{ApproveCodeReply, ApproveCodeRequest, ChallengeStatus, CodeRequest, ErrorBody};

use super::extract::{App, CodesTried, JsonBody, PerKey};
use super::openapi::{API_KEY_REFUSED, INVALID_REQUEST, RATE_LIMITED, STORAGE_UNAVAILABLE};
use super::pairing::is_valid_user_id;
use super::web::is_plain_origin;
use crate::clock::now_ms;
use crate::db::challenges::{self, Approval, Approver, AwaitingCode, OwnerDenial};
use crate::error::{ApiError, ApiResult};
use crate::{code, AppState, Db};

/// `{"status": "denied"}`: the answer to a deny (app) and a reject (browser).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DeniedAnswer {
    /// Always `denied`.
    status: ChallengeStatus,
}

impl DeniedAnswer {
    pub const DENIED: Self = Self { status: ChallengeStatus::Denied };
}

/// `GET /api/pairing/pending`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PendingCodes {
    pending: Vec<AwaitingCode>,
}

fn code_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "code_not_found", "No pending pairing has this code.")
}

fn code_expired() -> ApiError {
    ApiError::new(StatusCode::GONE, "code_expired", "This code has expired; ask for a new one.")
}

fn parse_code(raw: &str) -> ApiResult<String> {
    code::normalize(raw).ok_or_else(code_not_found)
}

/// The name the browser will list for this app: key label → tenant name → tenant id.
pub(super) async fn app_name_for(s: &AppState, tenant_id: &str, key_label: Option<&str>) -> ApiResult<String> {
    Ok(requester_of(&s.db, tenant_id, key_label).await?.0)
}

/// The app's name (as [`app_name_for`]) and its web origins a prompt may show (those
/// registered for the tenant that are plain origins).
async fn requester_of(db: &Db, tenant_id: &str, key_label: Option<&str>) -> ApiResult<(String, Vec<String>)> {
    let tenant = crate::db::tenant(db, tenant_id).await?;
    let (tenant_name, origins) = tenant.map(|t| (t.name, t.origins)).unwrap_or_default();
    let name = latch_wire::name_policy::display_name(key_label, &tenant_name, tenant_id);
    Ok((name, origins.into_iter().filter(|o| is_plain_origin(o)).collect()))
}

/// An approval's answer, and whether it is new (then the long-polls waiting on codes must
/// hear of it: the caller announces it, in this process and to the others).
pub struct Approved {
    pub reply: ApproveCodeReply,
    pub is_new: bool,
}

/// Approves `code` for (tenant, user): the code awaits the browser user's confirmation.
/// Shared by the API and the CLI.
pub async fn approve_code(
    db: &Db,
    raw_code: &str,
    tenant_id: &str,
    user_id: &str,
    key_label: Option<&str>,
    key_id: Option<&str>,
) -> ApiResult<Approved> {
    let code = parse_code(raw_code)?;
    let (app_name, origins) = requester_of(db, tenant_id, key_label).await?;
    let app_origin = origins.first().map(String::as_str);
    let who = Approver { tenant_id, user_id, app_name: &app_name, app_origin, key_id };
    let (status, app_name, is_new) = match challenges::approve(db, &code, &who, now_ms()).await? {
        Approval::Recorded => {
            tracing::info!(tenant = %tenant_id, "pairing code approved; awaiting the browser user");
            (ChallengeStatus::AwaitingConfirmation, app_name, true)
        }
        Approval::Repeated { app_name, confirmed: false } => (ChallengeStatus::AwaitingConfirmation, app_name, false),
        Approval::Repeated { app_name, confirmed: true } => (ChallengeStatus::Confirmed, app_name, false),
        Approval::TakenByOther => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "code_already_approved",
                "Another app, or this app for another user, already approved this code.",
            ))
        }
        Approval::Expired => return Err(code_expired()),
        Approval::NotFound => return Err(code_not_found()),
    };
    Ok(Approved { reply: ApproveCodeReply { status, app_name, user_id: user_id.into() }, is_new })
}

/// The app names who asks for a code its user typed: the browser's user is asked now.
#[utoipa::path(
    post,
    path = "/api/pairing/approve", operation_id = "approvePairingCode",
    tag = "app",
    security(("apiKey" = [])),
    request_body = ApproveCodeRequest,
    responses(
        (status = 202, description = "The browser now asks its user (`awaiting_confirmation`; `confirmed` for a repeat after the user approved).", body = ApproveCodeReply),
        (status = 400, description = "`invalid_request`: the body is not of this shape; `invalid_user_id`: `userId` is not 1–128 printable characters.", body = ErrorBody),
        (status = 401, description = API_KEY_REFUSED, body = ErrorBody),
        (status = 404, description = "`code_not_found`: no pending pairing has this code.", body = ErrorBody),
        (status = 409, description = "`code_already_approved`: another app, or this app for another user, approved it first.", body = ErrorBody),
        (status = 410, description = "`code_expired`: the code expired.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn approve(
    State(s): State<AppState>,
    PerKey(App { tenant_id, key_id, label, .. }, _): PerKey<CodesTried>,
    JsonBody(req): JsonBody<ApproveCodeRequest>,
) -> ApiResult<(StatusCode, Json<ApproveCodeReply>)> {
    if !is_valid_user_id(&req.user_id) {
        return Err(ApiError::bad_request("invalid_user_id", "userId must be 1–128 printable characters."));
    }
    let approved = approve_code(&s.db, &req.code, &tenant_id, &req.user_id, Some(&label), Some(&key_id)).await?;
    if approved.is_new {
        s.challenges_changed().await;
    }
    Ok((StatusCode::ACCEPTED, Json(approved.reply)))
}

/// The codes this tenant approved that still await the browser's user.
#[utoipa::path(
    get,
    path = "/api/pairing/pending", operation_id = "listPendingCodes",
    tag = "app",
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "This app's approved codes whose browser user has not answered, oldest approval first.", body = PendingCodes),
        (status = 401, description = API_KEY_REFUSED, body = ErrorBody),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn pending(State(s): State<AppState>, App { tenant_id, .. }: App) -> ApiResult<Json<PendingCodes>> {
    let pending = challenges::awaiting_for_tenant(&s.db, &tenant_id, now_ms()).await?;
    Ok(Json(PendingCodes { pending }))
}

/// The app withdraws its own approval before the user answered. Any other code is
/// `code_not_found`, whatever its state: an app learns nothing of codes it did not approve.
#[utoipa::path(
    post,
    path = "/api/pairing/deny", operation_id = "denyPairingCode",
    tag = "app",
    security(("apiKey" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, description = "The approval is withdrawn; the code is denied.", body = DeniedAnswer),
        (status = 400, description = INVALID_REQUEST, body = ErrorBody),
        (status = 401, description = API_KEY_REFUSED, body = ErrorBody),
        (status = 404, description = "`code_not_found`: this app approved no code like this that still awaits its user.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn deny(
    State(s): State<AppState>,
    PerKey(App { tenant_id, .. }, _): PerKey<CodesTried>,
    JsonBody(req): JsonBody<CodeRequest>,
) -> ApiResult<Json<DeniedAnswer>> {
    let code = parse_code(&req.code)?;
    if !challenges::withdraw(&s.db, &code, &tenant_id, now_ms()).await? {
        return Err(code_not_found());
    }
    tracing::info!(tenant = %tenant_id, "pairing code approval withdrawn");
    s.metrics.pairings_denied.inc();
    s.challenges_changed().await;
    Ok(Json(DeniedAnswer::DENIED))
}

/// The owner (CLI) denies any open code, approved or not. The caller announces it.
pub async fn deny_code(db: &Db, raw_code: &str) -> ApiResult<()> {
    let code = parse_code(raw_code)?;
    match challenges::deny_open(db, &code, now_ms()).await? {
        OwnerDenial::Denied => Ok(()),
        OwnerDenial::Expired => Err(code_expired()),
        OwnerDenial::NotFound => Err(code_not_found()),
    }
}
