//! Every message that crosses a boundary: external messages from the connect page,
//! relay HTTP bodies, panel ↔ background messages and stored records. The relay and the
//! extension both use these types, so a renamed field breaks the build, not production.
//! Field names follow PROTOCOL.md (camelCase). Times are milliseconds since the Unix epoch.

use serde::{Deserialize, Serialize};

mod flat;

/// Messages the connect page sends with `chrome.runtime.sendMessage(EXT_ID, msg)` (§5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", try_from = "flat::ExternalFields")]
pub enum ExternalMessage {
    /// `opener`: the origin the connect page verified as its opener (§4 "Opener check"),
    /// absent when it could not.
    #[serde(rename = "pairing.offer", rename_all = "camelCase")]
    PairingOffer {
        pairing_token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opener: Option<String>,
    },
    #[serde(rename = "pairing.result", rename_all = "camelCase")]
    PairingResult { offer_id: String },
    #[serde(rename = "status", rename_all = "camelCase")]
    Status { tenant_id: String },
}

/// Reply to `pairing.offer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OfferReply {
    Parked {
        ok: True,
        #[serde(rename = "offerId")]
        offer_id: String,
        state: OfferState,
    },
    Refused {
        ok: False,
        error: OfferRefusal,
    },
}

/// Serialises as the JSON literal `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "bool", into = "bool")]
pub struct True;
impl TryFrom<bool> for True {
    type Error = &'static str;
    fn try_from(b: bool) -> Result<Self, Self::Error> {
        if b {
            Ok(True)
        } else {
            Err("expected true")
        }
    }
}
impl From<True> for bool {
    fn from(_: True) -> bool {
        true
    }
}
/// Serialises as the JSON literal `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "bool", into = "bool")]
pub struct False;
impl TryFrom<bool> for False {
    type Error = &'static str;
    fn try_from(b: bool) -> Result<Self, Self::Error> {
        if b {
            Err("expected false")
        } else {
            Ok(False)
        }
    }
}
impl From<False> for bool {
    fn from(_: False) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferRefusal {
    BadTokenShape,
    RateLimited,
    Busy,
}

impl OfferRefusal {
    /// The wire name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadTokenShape => "bad_token_shape",
            Self::RateLimited => "rate_limited",
            Self::Busy => "busy",
        }
    }
}

/// Lifecycle of a parked offer as the connect page sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferState {
    AwaitingApproval,
    Approved,
    Denied,
    Failed,
}

/// Reply to `pairing.result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultReply {
    pub state: OfferState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reply to `status`: nothing else about bindings leaks to the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    pub connected: bool,
}

// ---- Relay HTTP bodies (§3) ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MintRequest {
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MintResponse {
    pub pairing_token: String,
    pub expires_at: u64,
    pub connect_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingTokenRequest {
    pub pairing_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeResponse {
    pub app_name: String,
    pub tenant_id: String,
    /// Extension of PROTOCOL.md: the prompt shows the user id beneath the name.
    pub user_id: String,
    pub expires_at: u64,
    /// Extension of PROTOCOL.md: the tenant's registered web origins. The connect page
    /// runs its opener check against them (§4); the extension shows an opener only when it
    /// is one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_origins: Vec<String>,
    /// Extension of PROTOCOL.md: the relay's clock when it answered, so the extension can
    /// read the times above on its own clock (see [`to_local_time`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedeemRequest {
    pub pairing_token: String,
    /// Informational; the relay says "Browser" when it is missing or empty.
    #[serde(default)]
    pub device_name: String,
    /// Extension of PROTOCOL.md: the same `lrk_…` key on every attempt of one approval.
    /// A retry whose first attempt committed but lost its answer gets that same binding
    /// and refresh token back (while the refresh token is unused), never a second binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeem_key: Option<String>,
}

/// `POST /api/enterprise/enroll` (PROTOCOL §8): the admin's assertion from the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub enroll_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingInfo {
    pub binding_id: String,
    pub tenant_id: String,
    pub app_name: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenGrant {
    pub binding: BindingInfo,
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: u64,
    pub refresh_expires_at: u64,
    /// Extension of PROTOCOL.md: the relay's clock when it answered, so the extension can
    /// read the times above on its own clock (see [`to_local_time`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshTokenRequest {
    pub refresh_token: String,
}

/// 200 answer to `POST /api/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: u64,
    pub refresh_expires_at: u64,
    /// Extension of PROTOCOL.md: the relay's clock when it answered, so the extension can
    /// read the times above on its own clock (see [`to_local_time`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<u64>,
}

/// `POST /api/inbox/v1/captures` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    pub url: String,
    pub title: String,
    pub text: String,
}

/// 202 answer to a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureAccepted {
    pub status: String,
    pub capture_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeResponse {
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    pub binding_id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
}

/// Every relay error: `{"error": code, "message": sentence}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default)]
    pub message: String,
    /// With 429 `slow_down`: the poll interval now in force, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// With 429 `rate_limited`: seconds until a retry can succeed (also `Retry-After`).
    #[serde(default, rename = "retryAfter", skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

// ---- Code pairing (§3 "Code pairing") ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeRequest {
    pub device_id: String,
    pub device_name: String,
}

/// 201 answer to `POST /api/pairing/request`. `interval` is in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeIssued {
    pub challenge_id: String,
    pub code: String,
    pub expires_at: u64,
    pub interval: u64,
    /// Extension of PROTOCOL.md: the relay's clock when it answered, so the extension can
    /// read the times above on its own clock (see [`to_local_time`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[serde(rename_all = "camelCase")]
pub struct ConfirmRequest {
    pub challenge_id: String,
    pub redeem_key: String,
    /// Informational, as in a redeem.
    #[serde(default)]
    pub device_name: String,
}

/// `POST /api/pairing/reject`: the user clicked Deny (or cancelled the code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectRequest {
    pub challenge_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApproveCodeRequest {
    pub code: String,
    pub user_id: String,
}

/// 202 answer to `POST /api/pairing/approve`: the browser now asks its user.
/// `status` is `awaiting_confirmation` (or, for a retry after the user already approved,
/// `confirmed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApproveCodeReply {
    pub status: ChallengeStatus,
    pub app_name: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRequest {
    pub code: String,
}

// ---- WebSocket `/api/session` frames (§3 "WebSocket") ----

/// Frames the relay sends. Unknown fields are ignored; unknown types fail to decode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", try_from = "flat::ServerFrameFields")]
pub enum ServerFrame {
    Hello,
    #[serde(rename_all = "camelCase")]
    AuthAck {
        binding_id: String,
        scopes: Vec<String>,
    },
    Error {
        code: String,
    },
    Errand {
        id: String,
        kind: String,
    },
    Pong,
}

/// Frames the extension sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Hello,
    #[serde(rename_all = "camelCase")]
    Auth {
        access_token: String,
    },
    ErrandResult {
        id: String,
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<PingResult>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Ping,
}

/// The `ping` errand's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PingResult {
    pub pong: bool,
    pub app_name: String,
}

// ---- Extension storage (§7) ----

/// One element of `chrome.storage.local["latch.bindings"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredBinding {
    pub binding_id: String,
    pub tenant_id: String,
    pub app_name: String,
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: u64,
    pub refresh_expires_at: u64,
    pub paired_at: u64,
    /// When the current access token was obtained (refresh schedule); `pairedAt` if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_obtained_at: Option<u64>,
    /// Set when the relay refused a refresh: the user must pair again. Never deleted silently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_repair: Option<String>,
    /// Made by the organization's policy (enterprise auto-pair): the user can't disconnect it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub managed: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl StoredBinding {
    pub fn from_grant(grant: TokenGrant, paired_at: u64) -> Self {
        let TokenGrant { binding, access_token, refresh_token, access_expires_at, refresh_expires_at, .. } = grant;
        Self {
            binding_id: binding.binding_id,
            tenant_id: binding.tenant_id,
            app_name: binding.app_name,
            user_id: binding.user_id,
            access_token,
            refresh_token,
            access_expires_at,
            refresh_expires_at,
            paired_at,
            access_obtained_at: Some(paired_at),
            needs_repair: None,
            managed: false,
        }
    }
}

// ---- Panel ↔ background (`chrome.runtime.sendMessage` inside the extension) ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", try_from = "flat::PanelFields")]
pub enum PanelRequest {
    #[serde(rename = "panel.state")]
    State,
    #[serde(rename = "panel.approve", rename_all = "camelCase")]
    Approve { offer_id: String },
    #[serde(rename = "panel.deny", rename_all = "camelCase")]
    Deny { offer_id: String },
    /// Approve on a code prompt (`offer_id` is that prompt's [`PendingView::offer_id`]).
    #[serde(rename = "panel.approveCode", rename_all = "camelCase")]
    ApproveCode { offer_id: String },
    /// Deny on a code prompt.
    #[serde(rename = "panel.denyCode", rename_all = "camelCase")]
    DenyCode { offer_id: String },
    #[serde(rename = "panel.connect", rename_all = "camelCase")]
    Connect { pairing_token: String },
    #[serde(rename = "panel.disconnect", rename_all = "camelCase")]
    Disconnect { binding_id: String },
    /// "Pair with a code" (also "Get a new code").
    #[serde(rename = "panel.pairCode")]
    PairCode,
    #[serde(rename = "panel.cancelCode")]
    CancelCode,
    /// "Send this page to {appName}": capture the active tab for this binding's app.
    #[serde(rename = "panel.capture", rename_all = "camelCase")]
    Capture { binding_id: String },
}

/// What the panel renders. Tokens never leave the background.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PanelState {
    pub pending: Vec<PendingView>,
    pub bindings: Vec<BindingView>,
    /// "Pair with a code", when a code pairing is running or has just ended.
    #[serde(default)]
    pub challenge: Option<crate::core::challenge::ChallengeView>,
    /// The organization's policy, when one is set and was acted on.
    #[serde(default)]
    pub managed: Option<crate::core::managed::ManagedView>,
}

impl PanelState {
    /// The state as the panel may show it: every app name re-checked against the
    /// consent-name policy, a failing one replaced by the tenant id (PROTOCOL §6). The
    /// background stores names as the relay sent them and never shows them itself.
    pub fn with_shown_names(mut self) -> Self {
        use crate::core::name_policy::shown_name;
        for p in &mut self.pending {
            if let Some(name) = &p.app_name {
                p.app_name = Some(shown_name(name, p.tenant_id.as_deref().unwrap_or_default()));
            }
        }
        for b in &mut self.bindings {
            b.app_name = shown_name(&b.app_name, &b.tenant_id);
        }
        if let Some(r) = self.challenge.as_mut().and_then(|c| c.prompt.as_mut()).map(|p| &mut p.requester) {
            r.app_name = shown_name(&r.app_name, &r.tenant_id);
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingView {
    pub offer_id: String,
    /// `None` until the relay has described the token.
    pub app_name: Option<String>,
    pub tenant_id: Option<String>,
    pub user_id: Option<String>,
    pub expires_at: u64,
    /// When the prompt first became visible; Approve stays disabled briefly after it.
    pub shown_at: u64,
    /// Which path asked: the prompt's opener line (§4) depends on it.
    #[serde(default)]
    pub via: PromptVia,
    /// One-click: the site the connect page verified as its opener (§4), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opener: Option<String>,
    /// Code pairing: the code (`XXXX-XXXX`) the app approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Code pairing: the app's registered web origin, as the relay names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_origin: Option<String>,
}

/// How a prompt came to be (PROTOCOL §11 `via` uses the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PromptVia {
    #[default]
    OneClick,
    PastedToken,
    Code,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingView {
    pub binding_id: String,
    pub app_name: String,
    pub tenant_id: String,
    pub user_id: String,
    pub paired_at: u64,
    /// Why the binding stopped working and needs pairing again.
    #[serde(default)]
    pub needs_repair: Option<String>,
    /// The organization's (enterprise auto-pair): shown without Disconnect.
    #[serde(default)]
    pub managed: bool,
}

impl From<&StoredBinding> for BindingView {
    fn from(b: &StoredBinding) -> Self {
        Self {
            binding_id: b.binding_id.clone(),
            app_name: b.app_name.clone(),
            tenant_id: b.tenant_id.clone(),
            user_id: b.user_id.clone(),
            paired_at: b.paired_at,
            needs_repair: b.needs_repair.clone(),
            managed: b.managed,
        }
    }
}

/// Reply to any panel command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PanelReply {
    pub ok: bool,
    /// A confirmation to show; for a capture, the page's title (the panel names the app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<PanelState>,
}

// ---- Relay clock → local clock ----

/// A relay time `t`, stamped by a relay whose clock read `server_time` when it answered,
/// on the local clock that reads `local_now`: the same distance from now. Without a stamp
/// (an older relay) the clocks are taken to agree. Relay and browser clocks can be minutes
/// apart; comparing a relay expiry with the local clock directly would expire offers and
/// challenges early (relay behind) or refresh tokens late (relay ahead).
pub fn to_local_time(t: u64, server_time: Option<u64>, local_now: u64) -> u64 {
    match server_time {
        Some(st) => (i128::from(local_now) + i128::from(t) - i128::from(st)).clamp(0, i128::from(u64::MAX)) as u64,
        None => t,
    }
}

impl DescribeResponse {
    /// The same answer with its times on the local clock.
    pub fn localized(mut self, local_now: u64) -> Self {
        self.expires_at = to_local_time(self.expires_at, self.server_time.take(), local_now);
        self
    }
}

impl TokenGrant {
    /// The same grant with its expiries on the local clock.
    pub fn localized(mut self, local_now: u64) -> Self {
        let st = self.server_time.take();
        self.access_expires_at = to_local_time(self.access_expires_at, st, local_now);
        self.refresh_expires_at = to_local_time(self.refresh_expires_at, st, local_now);
        self
    }
}

impl RefreshedTokens {
    /// The same tokens with their expiries on the local clock.
    pub fn localized(mut self, local_now: u64) -> Self {
        let st = self.server_time.take();
        self.access_expires_at = to_local_time(self.access_expires_at, st, local_now);
        self.refresh_expires_at = to_local_time(self.refresh_expires_at, st, local_now);
        self
    }
}

impl ChallengeIssued {
    /// The same challenge with its expiry on the local clock.
    pub fn localized(mut self, local_now: u64) -> Self {
        self.expires_at = to_local_time(self.expires_at, self.server_time.take(), local_now);
        self
    }
}

/// A requester for tests of the wire and of the code-pairing poller.
#[cfg(test)]
pub(crate) fn test_requester() -> CodeRequester {
    CodeRequester {
        app_name: "Acme".into(),
        tenant_id: "acme".into(),
        user_id: "dana".into(),
        app_origin: Some("http://localhost:8788".into()),
    }
}

/// A grant for tests of the wire and of the code-pairing poller.
#[cfg(test)]
pub(crate) fn test_grant() -> TokenGrant {
    TokenGrant {
        binding: BindingInfo {
            binding_id: "b".into(),
            tenant_id: "acme".into(),
            app_name: "Acme".into(),
            user_id: "dana".into(),
        },
        access_token: "a".into(),
        refresh_token: "r".into(),
        access_expires_at: 1,
        refresh_expires_at: 2,
        server_time: None,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn relay_times_move_onto_the_local_clock() {
        let local = 1_700_000_000_000;
        let behind = local - 600_000; // the relay's clock is 10 min behind
        assert_eq!(to_local_time(behind + 120_000, Some(behind), local), local + 120_000);
        let ahead = local + 600_000;
        assert_eq!(to_local_time(ahead + 900_000, Some(ahead), local), local + 900_000);
        assert_eq!(to_local_time(ahead - 5_000, Some(ahead), local), local - 5_000, "already past stays past");
        assert_eq!(to_local_time(42, None, local), 42, "an unstamped time is taken as is");
        assert_eq!(to_local_time(0, Some(u64::MAX), 0), 0);
        let d = DescribeResponse {
            app_name: "Acme".into(),
            tenant_id: "acme".into(),
            user_id: "dana".into(),
            expires_at: behind + 120_000,
            app_origins: vec![],
            server_time: Some(behind),
        };
        let d = d.localized(local);
        assert_eq!((d.expires_at, d.server_time), (local + 120_000, None));
    }
    use super::*;
    use serde_json::json;

    #[test]
    fn external_messages_decode_from_protocol_json() {
        let m: ExternalMessage = serde_json::from_value(json!({"type":"pairing.offer","pairingToken":"x"})).unwrap();
        assert_eq!(m, ExternalMessage::PairingOffer { pairing_token: "x".into(), opener: None });
        let m: ExternalMessage =
            serde_json::from_value(json!({"type":"pairing.offer","pairingToken":"x","opener":"http://localhost:8788"}))
                .unwrap();
        assert_eq!(
            m,
            ExternalMessage::PairingOffer { pairing_token: "x".into(), opener: Some("http://localhost:8788".into()) }
        );
        let m: ExternalMessage = serde_json::from_value(json!({"type":"pairing.result","offerId":"o"})).unwrap();
        assert_eq!(m, ExternalMessage::PairingResult { offer_id: "o".into() });
        let m: ExternalMessage = serde_json::from_value(json!({"type":"status","tenantId":"acme"})).unwrap();
        assert_eq!(m, ExternalMessage::Status { tenant_id: "acme".into() });
        for bad in [
            json!({"type":"pairing.offer"}),
            json!({"type":"pairing.offer","pairingToken":5}),
            json!({"type":"nope"}),
            json!("pairing.offer"),
            json!(null),
        ] {
            assert!(serde_json::from_value::<ExternalMessage>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn socket_frames_match_the_protocol() {
        let f: ServerFrame = serde_json::from_value(json!({"type":"hello","protocol":1})).unwrap();
        assert_eq!(f, ServerFrame::Hello);
        let f: ServerFrame =
            serde_json::from_value(json!({"type":"errand","id":"e1","kind":"ping","params":{}})).unwrap();
        assert_eq!(f, ServerFrame::Errand { id: "e1".into(), kind: "ping".into() });
        let f: ServerFrame =
            serde_json::from_value(json!({"type":"auth_ack","bindingId":"b","scopes":["errands"]})).unwrap();
        assert_eq!(f, ServerFrame::AuthAck { binding_id: "b".into(), scopes: vec!["errands".into()] });
        let c = ClientFrame::Auth { access_token: "t".into() };
        assert_eq!(serde_json::to_value(c).unwrap(), json!({"type":"auth","accessToken":"t"}));
        let r = ClientFrame::ErrandResult {
            id: "e1".into(),
            ok: true,
            result: Some(PingResult { pong: true, app_name: "Acme".into() }),
            error: None,
        };
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            json!({"type":"errand_result","id":"e1","ok":true,"result":{"pong":true,"appName":"Acme"}})
        );
    }

    #[test]
    fn replies_encode_as_protocol_json() {
        let r = OfferReply::Parked { ok: True, offer_id: "o1".into(), state: OfferState::AwaitingApproval };
        assert_eq!(serde_json::to_value(r).unwrap(), json!({"ok":true,"offerId":"o1","state":"awaiting_approval"}));
        let r = OfferReply::Refused { ok: False, error: OfferRefusal::BadTokenShape };
        assert_eq!(serde_json::to_value(r).unwrap(), json!({"ok":false,"error":"bad_token_shape"}));
        let r = ResultReply { state: OfferState::Denied, app_name: Some("Acme".into()), error: None };
        assert_eq!(serde_json::to_value(r).unwrap(), json!({"state":"denied","appName":"Acme"}));
    }

    #[test]
    fn the_panel_shows_only_names_that_pass_the_recheck() {
        let pending = |name: Option<&str>| PendingView {
            offer_id: "o".into(),
            app_name: name.map(Into::into),
            tenant_id: Some("acme".into()),
            user_id: Some("dana".into()),
            expires_at: 0,
            shown_at: 0,
            via: PromptVia::OneClick,
            opener: None,
            code: None,
            app_origin: None,
        };
        let binding = |name: &str| BindingView {
            binding_id: "b".into(),
            app_name: name.into(),
            tenant_id: "acme".into(),
            user_id: "dana".into(),
            paired_at: 0,
            needs_repair: None,
            managed: false,
        };
        let prompt = crate::core::challenge::CodePrompt {
            requester: CodeRequester { app_name: "Latch Support".into(), ..test_requester() },
            shown_at: 0,
        };
        let challenge = crate::core::challenge::ChallengeView {
            state: crate::core::challenge::ViewState::AwaitingConfirmation,
            code: Some("ABCD-EFGH".into()),
            expires_at: None,
            retry_at: None,
            error: None,
            reissued: false,
            prompt: Some(prompt),
        };
        let state = PanelState {
            pending: vec![pending(Some("Acme")), pending(Some("Latch Verified")), pending(None)],
            bindings: vec![binding("Acme Store"), binding("Ac\u{202E}me")],
            challenge: Some(challenge),
            managed: None,
        }
        .with_shown_names();
        let code_prompt = state.challenge.as_ref().and_then(|c| c.prompt.as_ref()).unwrap();
        assert_eq!(code_prompt.requester.app_name, "acme", "the code prompt's name is re-checked too");
        let names: Vec<_> = state.pending.iter().map(|p| p.app_name.as_deref()).collect();
        assert_eq!(names, [Some("Acme"), Some("acme"), None]);
        let names: Vec<_> = state.bindings.iter().map(|b| b.app_name.as_str()).collect();
        assert_eq!(names, ["Acme Store", "acme"]);
    }

    /// The flat decode shapes (flat.rs) read exactly what the derived encoders write.
    #[test]
    fn tagged_messages_round_trip_through_their_flat_decoders() {
        fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(v: T) {
            let json = serde_json::to_value(&v).unwrap();
            assert_eq!(serde_json::from_value::<T>(json.clone()).unwrap(), v, "{json}");
        }
        for m in [
            PanelRequest::State,
            PanelRequest::Approve { offer_id: "o".into() },
            PanelRequest::Deny { offer_id: "o".into() },
            PanelRequest::ApproveCode { offer_id: "code-o".into() },
            PanelRequest::DenyCode { offer_id: "code-o".into() },
            PanelRequest::Connect { pairing_token: "t".into() },
            PanelRequest::Disconnect { binding_id: "b".into() },
            PanelRequest::PairCode,
            PanelRequest::CancelCode,
            PanelRequest::Capture { binding_id: "b".into() },
        ] {
            round_trip(m);
        }
        for f in [
            ServerFrame::Hello,
            ServerFrame::AuthAck { binding_id: "b".into(), scopes: vec!["errands".into()] },
            ServerFrame::Error { code: "c".into() },
            ServerFrame::Errand { id: "e".into(), kind: "ping".into() },
            ServerFrame::Pong,
        ] {
            round_trip(f);
        }
        for m in [
            ExternalMessage::PairingOffer { pairing_token: "t".into(), opener: None },
            ExternalMessage::PairingOffer { pairing_token: "t".into(), opener: Some("https://app.example".into()) },
            ExternalMessage::PairingResult { offer_id: "o".into() },
            ExternalMessage::Status { tenant_id: "acme".into() },
        ] {
            round_trip(m);
        }
        round_trip(ChallengeStatusReply {
            status: ChallengeStatus::AwaitingConfirmation,
            interval: Some(5),
            requester: Some(test_requester()),
        });
        round_trip(ChallengeStatusReply { status: ChallengeStatus::Pending, interval: None, requester: None });
        let awaiting: ChallengeStatusReply = serde_json::from_value(json!({"status":"awaiting_confirmation",
            "appName":"Acme","tenantId":"acme","userId":"dana","appOrigin":"http://localhost:8788"}))
        .unwrap();
        assert_eq!(awaiting.requester, Some(test_requester()));
        // A partial requester is no requester (as with `flatten` on an Option).
        let partial: ChallengeStatusReply =
            serde_json::from_value(json!({"status":"awaiting_confirmation","appName":"Acme"})).unwrap();
        assert_eq!(partial.requester, None);
        assert!(serde_json::from_value::<ChallengeStatusReply>(json!({"status":"approved"})).is_err());
        for bad in [
            json!({"type":"panel.approve"}),
            json!({"type":"panel.connect","pairingToken":7}),
            json!({"type":"panel.nope"}),
            json!({"offerId":"o"}),
        ] {
            assert!(serde_json::from_value::<PanelRequest>(bad.clone()).is_err(), "{bad}");
        }
        for bad in [json!({"type":"errand","id":"e"}), json!({"type":"auth_ack","bindingId":"b"}), json!({"type":"x"})]
        {
            assert!(serde_json::from_value::<ServerFrame>(bad.clone()).is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<ChallengeStatusReply>(json!({"status":"nope"})).is_err());
    }
}
