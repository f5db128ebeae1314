//! The panel ↔ worker boundary (`chrome.runtime.sendMessage` inside the extension): the
//! panel's commands and the state it renders. Tokens never cross it.

use serde::{Deserialize, Serialize};

use crate::flat;
use crate::stored::{CodePrompt, ManagedOutcome, ManagedRecord, StoredBinding};
use crate::EpochMs;

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
    /// "Rename": the name this browser goes by for this binding's app.
    #[serde(rename = "panel.rename", rename_all = "camelCase")]
    Rename { binding_id: String, device_name: String },
    /// "Pause": tokens kept, the app can't reach this browser until "Resume".
    #[serde(rename = "panel.pause", rename_all = "camelCase")]
    Pause { binding_id: String },
    #[serde(rename = "panel.resume", rename_all = "camelCase")]
    Resume { binding_id: String },
    /// "Activity": what the relay logged for this binding (`GET /api/me/events`), handed to
    /// the panel as the reply's `activity` ([`ActivityPage`]).
    #[serde(rename = "panel.activity", rename_all = "camelCase")]
    Activity { binding_id: String },
    /// "Disconnect all": every binding the user can disconnect (not the organization's).
    #[serde(rename = "panel.disconnectAll")]
    DisconnectAll,
}

/// A binding's activity, newest first, as the relay tells it (PROTOCOL §11). The worker
/// passes it on undecoded; the panel reads it with this type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ActivityPage {
    pub events: Vec<ActivityItem>,
}

/// One entry of the log: `type` says which; the other fields are those of its type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityItem {
    /// `paired`, `refreshed`, `refresh_reuse_detected`, `paused`, `resumed`, `errand`,
    /// `capture` or `revoked`; another (a newer relay's) is shown as it is named.
    #[serde(rename = "type")]
    pub event: String,
    pub at: EpochMs,
    /// `refreshed`: how many that day.
    #[serde(default)]
    pub count: Option<u64>,
    /// `paired`: `one_click`, `pasted_token`, `code` or `managed`.
    #[serde(default)]
    pub via: Option<String>,
    /// `errand`: its kind (`ping`, `capture_page`…).
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub ok: Option<bool>,
    /// `errand` that failed: the extension's error code, or `timeout`.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// `capture`: its size.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// `revoked`: `user`, `app`, `owner`, `reuse` or `idle`.
    #[serde(default)]
    pub by: Option<String>,
}

impl ActivityItem {
    /// The app used this browser: an errand or a capture (what "last used" counts).
    pub fn is_use(&self) -> bool {
        matches!(self.event.as_str(), "errand" | "capture")
    }
}

/// What the panel renders. Tokens never leave the background.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PanelState {
    pub pending: Vec<PendingView>,
    pub bindings: Vec<BindingView>,
    /// "Pair with a code", when a code pairing is running or has just ended.
    #[serde(default)]
    pub challenge: Option<ChallengeView>,
    /// The organization's policy, when one is set and was acted on.
    #[serde(default)]
    pub managed: Option<ManagedView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingView {
    pub offer_id: String,
    /// `None` until the relay has described the token.
    pub app_name: Option<String>,
    pub tenant_id: Option<String>,
    pub user_id: Option<String>,
    pub expires_at: EpochMs,
    /// When the prompt first became visible; Approve stays disabled briefly after it.
    pub shown_at: EpochMs,
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    pub paired_at: EpochMs,
    /// Why the binding stopped working and needs pairing again.
    #[serde(default)]
    pub needs_repair: Option<String>,
    /// The organization's (enterprise auto-pair): shown without Disconnect.
    #[serde(default)]
    pub managed: bool,
    /// The name this browser goes by for the app; `None` for a binding stored before
    /// names were kept (the relay has "Chrome with Latch").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The user paused it: shown with Resume.
    #[serde(default)]
    pub paused: bool,
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
            device_name: b.device_name.clone(),
            paused: b.paused,
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

/// What the panel shows under "Pair with a code".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeView {
    pub state: ViewState,
    /// `XXXX-XXXX` while a code is live.
    pub code: Option<String>,
    pub expires_at: Option<EpochMs>,
    /// While waiting for the relay: when the next attempt goes out.
    pub retry_at: Option<EpochMs>,
    pub error: Option<String>,
    pub reissued: bool,
    /// While an app's approval waits for the user: who asks (the panel's prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<CodePrompt>,
    /// The app's page where the user can type the code, when the relay knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewState {
    Idle,
    Requesting,
    Pending,
    WaitingForRelay,
    /// An app approved the code; the prompt waits for the user.
    AwaitingConfirmation,
    /// The user approved; the binding is being made.
    Confirming,
    Approved,
    Denied,
    Expired,
    Failed,
}

/// What the panel shows about the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedView {
    pub outcome: ManagedOutcome,
    #[serde(default)]
    pub error: Option<String>,
}

impl From<&ManagedRecord> for ManagedView {
    fn from(r: &ManagedRecord) -> Self {
        Self { outcome: r.outcome, error: r.error.clone() }
    }
}
