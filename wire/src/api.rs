//! The relay's HTTP bodies (PROTOCOL §3): pairing, tokens, captures, code pairing and the
//! error shape. Field names follow PROTOCOL.md (camelCase); times are milliseconds since
//! the Unix epoch on the relay's clock (see [`crate::clock`]).

use serde::{Deserialize, Serialize};

use crate::flat;
use crate::EpochMs;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MintRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub user_id: String,
    /// Extension of PROTOCOL.md: the app page the connect page's "Back to" link leads to,
    /// carried in `connectUrl` (an http(s) URL on one of the tenant's registered origins;
    /// otherwise 400 `invalid_return_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MintResponse {
    pub pairing_token: String,
    pub expires_at: EpochMs,
    pub connect_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PairingTokenRequest {
    #[cfg_attr(feature = "openapi", schema(pattern = "^lpt_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))]
    pub pairing_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DescribeResponse {
    pub app_name: String,
    pub tenant_id: String,
    /// Extension of PROTOCOL.md: the prompt shows the user id beneath the name.
    pub user_id: String,
    pub expires_at: EpochMs,
    /// Extension of PROTOCOL.md: the tenant's registered web origins. The connect page
    /// runs its opener check against them (§4); the extension shows an opener only when it
    /// is one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_origins: Vec<String>,
    /// Extension of PROTOCOL.md: the relay's clock when it answered, so the extension can
    /// read the times above on its own clock (see [`to_local_time`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<EpochMs>,
}

/// A used pairing token (and an enrollment's key) answers a lost redeem's retry this long:
/// the relay keeps it and its binding's refresh token that long past its expiry, and the
/// extension keeps the offer's redeem key as long.
pub const REDEEM_RETRY_MS: u64 = 10 * 60_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RedeemRequest {
    #[cfg_attr(feature = "openapi", schema(pattern = "^lpt_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))]
    pub pairing_token: String,
    /// Informational; the relay says "Browser" when it is missing, empty, or not a string
    /// (a name never fails a pairing).
    #[serde(default, deserialize_with = "crate::lenient::string")]
    pub device_name: String,
    /// Extension of PROTOCOL.md: the same `lrk_…` key on every attempt of one approval.
    /// A retry whose first attempt committed but lost its answer gets that same binding
    /// and refresh token back (while the refresh token is unused), never a second binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^lrk_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))]
    pub redeem_key: Option<String>,
    /// Extension of PROTOCOL.md §11: how the user brought the token, `one_click` (the
    /// connect page) or `pasted_token`, for the binding's `via`. Absent: `pasted_token`
    /// (API clients). `code` is refused here: a code pairing has its own confirm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<crate::panel::PromptVia>,
}

/// `POST /api/enterprise/enroll` (PROTOCOL §8): the admin's assertion from the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnrollRequest {
    pub assertion: String,
    /// Informational, as in a redeem.
    #[serde(default)]
    pub device_name: String,
    /// The same `lrk_…` key on every attempt with this assertion, made by the browser: a
    /// retry whose first answer was lost gets that binding again; a copy of the assertion
    /// presented by anyone else (another key) is a replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^lrk_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))]
    pub enroll_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BindingInfo {
    pub binding_id: String,
    pub tenant_id: String,
    pub app_name: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenGrant {
    pub binding: BindingInfo,
    pub access_token: String,
    #[cfg_attr(feature = "openapi", schema(pattern = "^lrt_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))]
    pub refresh_token: String,
    pub access_expires_at: EpochMs,
    pub refresh_expires_at: EpochMs,
    /// Extension of PROTOCOL.md: the relay's clock when it answered, so the extension can
    /// read the times above on its own clock (see [`to_local_time`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<EpochMs>,
    /// Extension of PROTOCOL.md (§12, RFC 9449 `token_type`): `DPoP` when the binding's
    /// tokens are bound to the key whose proof came with the request, `Bearer` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefreshTokenRequest {
    #[cfg_attr(feature = "openapi", schema(pattern = "^lrt_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))]
    pub refresh_token: String,
}

/// 200 answer to `POST /api/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefreshedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: EpochMs,
    pub refresh_expires_at: EpochMs,
    /// Extension of PROTOCOL.md: the relay's clock when it answered, so the extension can
    /// read the times above on its own clock (see [`to_local_time`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<EpochMs>,
    /// Extension of PROTOCOL.md (§12, RFC 9449 `token_type`): `DPoP` when the binding's
    /// tokens are bound to the key whose proof came with the request, `Bearer` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

/// `POST /api/inbox/v1/captures` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capture {
    pub url: String,
    pub title: String,
    pub text: String,
}

/// 202 answer to a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CaptureAccepted {
    pub status: String,
    pub capture_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeResponse {
    pub revoked: bool,
}

/// `PATCH /api/me/device` (access token): the name this browser goes by for the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceRename {
    pub device_name: String,
}

/// 200 answer to a rename: the name as the relay stored it (normalised).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceRenamed {
    pub binding_id: String,
    pub device_name: String,
}

/// 200 answer to `POST /api/me/pause` and `/resume` (access token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PauseState {
    pub binding_id: String,
    pub paused: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    pub binding_id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
}

/// Every relay error: `{"error": code, "message": sentence}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error code (each operation lists its codes).
    pub error: String,
    /// One sentence for a person.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub message: String,
    /// With 429 `slow_down`: the poll interval now in force, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// With 429 `rate_limited`: seconds until a retry can succeed (also `Retry-After`).
    #[serde(default, rename = "retryAfter", skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Extension of PROTOCOL §11, with 401 `refresh_token_revoked`: `idle` when the relay
    /// revoked the binding for going unused (then `idleSeconds` says for how long).
    #[serde(default, rename = "revokedBy", skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// With `revokedBy: "idle"`: the relay's `LATCH_BINDING_IDLE_DAYS`, in seconds.
    #[serde(default, rename = "idleSeconds", skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<u64>,
}

// ---- Code pairing (§3 "Code pairing") ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChallengeRequest {
    pub device_id: String,
    pub device_name: String,
}

/// 201 answer to `POST /api/pairing/request`. `interval` is in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChallengeIssued {
    pub challenge_id: String,
    pub code: String,
    pub expires_at: EpochMs,
    pub interval: u64,
    /// Extension of PROTOCOL.md: the relay's clock when it answered, so the extension can
    /// read the times above on its own clock (see [`to_local_time`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<EpochMs>,
    /// PROTOCOL §13: the app's page where the user types this code, `?code=` filled in,
    /// when the relay can tell which app (`tenant create --pair-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChallengeStatus {
    /// No app has approved the code yet.
    Pending,
    /// An app approved the code; the browser's user has not answered (nothing is bound).
    AwaitingConfirmation,
    /// The user approved in the extension; the binding exists (its tokens were the
    /// answer to `POST /api/pairing/confirm`, never to a status poll).
    Confirmed,
    Denied,
    Expired,
}

/// Who asks to be connected, once an app approved the code: what the prompt shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CodeRequester {
    /// Relay-verified (consent-name policy); re-checked by the panel before it is shown.
    pub app_name: String,
    pub tenant_id: String,
    pub user_id: String,
    /// The tenant's (first) registered web origin, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_origin: Option<String>,
}

/// 200 answer to `GET /api/pairing/status`. With `awaiting_confirmation` it names the
/// requester (flat: `appName`, `tenantId`, `userId`, `appOrigin` beside `status`).
/// Its OpenAPI schema is that of the flat shape it is sent in (`flat::ChallengeStatusFields`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "flat::ChallengeStatusFields")]
pub struct ChallengeStatusReply {
    pub status: ChallengeStatus,
    /// Poll interval in force, seconds (extension of PROTOCOL.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<CodeRequester>,
}

/// `POST /api/pairing/confirm`: the user clicked Approve on a code prompt. The same
/// `lrk_…` key on every attempt: a retry whose first answer was lost gets the same binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRequest {
    pub challenge_id: String,
    #[cfg_attr(feature = "openapi", schema(pattern = "^lrk_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))]
    pub redeem_key: String,
    /// Informational, as in a redeem.
    #[serde(default)]
    pub device_name: String,
}

/// `POST /api/pairing/reject`: the user clicked Deny (or cancelled the code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RejectRequest {
    pub challenge_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApproveCodeRequest {
    pub code: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub user_id: String,
}

/// 202 answer to `POST /api/pairing/approve`: the browser now asks its user.
/// `status` is `awaiting_confirmation` (or, for a retry after the user already approved,
/// `confirmed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApproveCodeReply {
    pub status: ChallengeStatus,
    pub app_name: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeRequest {
    pub code: String,
}
