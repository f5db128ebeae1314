//! Records the extension keeps in `chrome.storage.local` (PROTOCOL §7).

use serde::{Deserialize, Serialize};

use crate::api::{CodeRequester, TokenGrant};
use crate::EpochMs;

/// The shape of a stored binding this build writes. 1 (no `version` field): before
/// key-bound sessions; 2: `dpopKey` names the binding's key when it has one.
pub const BINDING_RECORD_VERSION: u32 = 2;

fn first_version() -> u32 {
    1
}

/// One element of `chrome.storage.local["latch.bindings"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredBinding {
    /// The record's shape ([`BINDING_RECORD_VERSION`]); older records are migrated on read
    /// ([`StoredBinding::migrated`]), never dropped.
    #[serde(default = "first_version")]
    pub version: u32,
    pub binding_id: String,
    pub tenant_id: String,
    pub app_name: String,
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: EpochMs,
    pub refresh_expires_at: EpochMs,
    pub paired_at: EpochMs,
    /// When the current access token was obtained (refresh schedule); `pairedAt` if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_obtained_at: Option<EpochMs>,
    /// Set when the relay refused a refresh: the user must pair again. Never deleted silently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_repair: Option<String>,
    /// Made by the organization's policy (enterprise auto-pair): the user can't disconnect it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub managed: bool,
    /// The name this browser goes by for the app, as sent at pairing or as last renamed.
    /// Absent in records stored before names were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The user paused it (PROTOCOL §10): tokens kept, no socket, no refreshes or captures.
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused: bool,
    /// Where this binding's key is kept (PROTOCOL §12): the IndexedDB slot of its
    /// non-extractable P-256 key, set once the relay answered `tokenType: "DPoP"`. Absent in
    /// records stored before keys (and where no key could be made): the binding refreshes as
    /// a bearer binding and is bound to a new key on that refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_key: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl StoredBinding {
    /// This record in the shape this build writes. Version 1 → 2: a record from before
    /// key-bound sessions names no key (whatever it holds there is not one this build made),
    /// so the binding refreshes as a bearer binding and is bound to a new key by that
    /// refresh (PROTOCOL §12). Every other field is kept as it was.
    pub fn migrated(mut self) -> Self {
        if self.version < 2 {
            self.dpop_key = None;
        }
        self.version = self.version.max(BINDING_RECORD_VERSION);
        self
    }

    pub fn from_grant(grant: TokenGrant, paired_at: EpochMs) -> Self {
        let TokenGrant { binding, access_token, refresh_token, access_expires_at, refresh_expires_at, .. } = grant;
        Self {
            version: BINDING_RECORD_VERSION,
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
            device_name: None,
            paused: false,
            dpop_key: None,
        }
    }
}

/// `chrome.storage.local["latch.challenge"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredChallenge {
    pub challenge_id: Option<String>,
    pub code: Option<String>,
    pub expires_at: EpochMs,
    pub next_poll_at: EpochMs,
    /// Consecutive failures (5xx / network).
    pub attempt: u32,
    #[serde(default)]
    pub interval_ms: u64,
    #[serde(default)]
    pub last_poll_at: Option<EpochMs>,
    #[serde(default)]
    pub reissues: u32,
    /// An app approved the code: who asks, and since when the prompt shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<CodePrompt>,
    /// The user clicked Approve: the `lrk_…` key every confirm attempt carries. Stored
    /// before the first attempt, so a new worker repeats it and gets the same binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_key: Option<String>,
    /// The app's page where the user can type this code (the relay's `url`), if web.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The code prompt: an app's approval waiting for the user's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodePrompt {
    /// Nested, not flattened: serde's `flatten` buffers through its `Content` tree, which
    /// cost the worker 2.4 KB gzip of wasm (measured: 91,491 → 89,137 bytes).
    pub requester: CodeRequester,
    /// When the prompt first showed (Approve arms a moment later).
    pub shown_at: EpochMs,
}

/// `chrome.storage.managed`, as declared in `extension/managed_schema.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedPolicy {
    #[serde(default)]
    pub relay_url: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub assertion: Option<String>,
}

/// How the last enrollment attempt for an assertion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedOutcome {
    Enrolled,
    /// The relay (or this extension) refused it: only a new policy can change that.
    Refused,
    /// The relay did not answer: tried again at `retry_at`.
    Retrying,
}

/// `chrome.storage.local["latch.managed"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRecord {
    /// Of the assertion this record is about (not a secret; change detection only).
    pub fingerprint: String,
    pub outcome: ManagedOutcome,
    #[serde(default)]
    pub error: Option<String>,
    /// The managed binding this browser holds from its latest enrollment (kept through
    /// later attempts, so a new enrollment can replace it).
    #[serde(default)]
    pub binding_id: Option<String>,
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub retry_at: Option<EpochMs>,
    /// Sent with every attempt for this assertion (`EnrollRequest::enroll_key`): stored
    /// before the first, so a retry after a lost answer gets the same binding back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enroll_key: Option<String>,
}
