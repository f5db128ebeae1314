//! Flat decode shapes for the tagged messages. serde's derive for an internally tagged
//! enum (`#[serde(tag = "type")]`) or a `flatten`ed field first buffers the whole value
//! into its private `Content` tree and then decodes it again; in the worker's wasm that
//! machinery (one copy per message type and deserializer) was ~40 KB. These structs decode
//! in one pass, and `TryFrom` picks the variant: what the encoders write decodes to the
//! same value (wire.rs tests) and unknown fields are still ignored. Two refusals are
//! stricter than serde's: a message carrying another variant's field with the wrong type
//! (`pairing.offer` with `"offerId": 5`), and a status answer with a malformed requester
//! field (`"appName": 5`: the answer does not decode and the poller treats it as a server
//! error, retried with backoff).

use serde::Deserialize;

use crate::api::{ChallengeStatus, ChallengeStatusReply, CodeRequester};
use crate::external::ExternalMessage;
use crate::panel::PanelRequest;
use crate::socket::ServerFrame;

/// The error for a message whose `type` is known but a field it needs is missing.
fn missing(field: &'static str) -> String {
    format!("missing field `{field}`")
}

fn unknown(kind: &str) -> String {
    format!("unknown type `{kind}`")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalFields {
    #[serde(rename = "type")]
    kind: String,
    pairing_token: Option<String>,
    offer_id: Option<String>,
    tenant_id: Option<String>,
    opener: Option<String>,
}

impl TryFrom<ExternalFields> for ExternalMessage {
    type Error = String;
    fn try_from(m: ExternalFields) -> Result<Self, String> {
        Ok(match m.kind.as_str() {
            "pairing.offer" => Self::PairingOffer {
                pairing_token: m.pairing_token.ok_or_else(|| missing("pairingToken"))?,
                opener: m.opener,
            },
            "pairing.result" => Self::PairingResult { offer_id: m.offer_id.ok_or_else(|| missing("offerId"))? },
            "status" => Self::Status { tenant_id: m.tenant_id.ok_or_else(|| missing("tenantId"))? },
            other => return Err(unknown(other)),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PanelFields {
    #[serde(rename = "type")]
    kind: String,
    offer_id: Option<String>,
    pairing_token: Option<String>,
    binding_id: Option<String>,
    device_name: Option<String>,
}

impl TryFrom<PanelFields> for PanelRequest {
    type Error = String;
    fn try_from(m: PanelFields) -> Result<Self, String> {
        let offer_id = || m.offer_id.clone().ok_or_else(|| missing("offerId"));
        let binding_id = || m.binding_id.clone().ok_or_else(|| missing("bindingId"));
        Ok(match m.kind.as_str() {
            "panel.state" => Self::State,
            "panel.approve" => Self::Approve { offer_id: offer_id()? },
            "panel.deny" => Self::Deny { offer_id: offer_id()? },
            "panel.approveCode" => Self::ApproveCode { offer_id: offer_id()? },
            "panel.denyCode" => Self::DenyCode { offer_id: offer_id()? },
            "panel.connect" => {
                Self::Connect { pairing_token: m.pairing_token.clone().ok_or_else(|| missing("pairingToken"))? }
            }
            "panel.disconnect" => Self::Disconnect { binding_id: binding_id()? },
            "panel.pairCode" => Self::PairCode,
            "panel.cancelCode" => Self::CancelCode,
            "panel.capture" => Self::Capture { binding_id: binding_id()? },
            "panel.pause" => Self::Pause { binding_id: binding_id()? },
            "panel.resume" => Self::Resume { binding_id: binding_id()? },
            "panel.rename" => Self::Rename {
                binding_id: binding_id()?,
                device_name: m.device_name.clone().ok_or_else(|| missing("deviceName"))?,
            },
            "panel.activity" => Self::Activity { binding_id: binding_id()? },
            "panel.disconnectAll" => Self::DisconnectAll,
            other => return Err(unknown(other)),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerFrameFields<P> {
    #[serde(rename = "type")]
    kind: String,
    binding_id: Option<String>,
    scopes: Option<Vec<String>>,
    code: Option<String>,
    id: Option<String>,
    #[serde(rename = "kind")]
    errand_kind: Option<String>,
    // Default, as fields added after the first release: serde_json then still reads the
    // array spelling of the older frames (shell tests, differences.rs).
    #[serde(default = "first_protocol")]
    protocol: u32,
    #[serde(default)]
    nonce: Option<String>,
    // Absent: the errand has none (`null` to the relay, nothing to the extension).
    #[serde(default)]
    params: P,
}

/// A relay older than the `protocol` field spoke version 1.
fn first_protocol() -> u32 {
    1
}

impl<P: Default> TryFrom<ServerFrameFields<P>> for ServerFrame<P> {
    type Error = String;
    fn try_from(f: ServerFrameFields<P>) -> Result<Self, String> {
        Ok(match f.kind.as_str() {
            "hello" => Self::Hello { protocol: f.protocol, nonce: f.nonce },
            "auth_ack" => Self::AuthAck {
                binding_id: f.binding_id.ok_or_else(|| missing("bindingId"))?,
                scopes: f.scopes.ok_or_else(|| missing("scopes"))?,
                nonce: f.nonce,
            },
            "error" => Self::Error { code: f.code.ok_or_else(|| missing("code"))? },
            "errand" => Self::Errand {
                id: f.id.ok_or_else(|| missing("id"))?,
                kind: f.errand_kind.ok_or_else(|| missing("kind"))?,
                params: f.params,
            },
            "pong" => Self::Pong,
            other => return Err(unknown(other)),
        })
    }
}

/// `ChallengeStatusReply` with its requester's fields side by side (the relay sends them flat).
/// It is also that reply's OpenAPI schema: the shape on the wire.
#[derive(Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        as = ChallengeStatusReply,
        description = "A code's status; with `awaiting_confirmation`, who asks, side by side with it."
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeStatusFields {
    status: ChallengeStatus,
    /// The poll interval in force, seconds.
    #[serde(default)]
    interval: Option<u64>,
    /// With `awaiting_confirmation`: the app that asks (as the prompt shows it).
    app_name: Option<String>,
    /// With `awaiting_confirmation`: the app's tenant id.
    tenant_id: Option<String>,
    /// With `awaiting_confirmation`: the app's user.
    user_id: Option<String>,
    /// With `awaiting_confirmation`, when the app registered one: its web origin.
    app_origin: Option<String>,
}

impl From<ChallengeStatusFields> for ChallengeStatusReply {
    /// Like `#[serde(flatten)]` on an `Option`: a requester only when its required fields are there.
    fn from(f: ChallengeStatusFields) -> Self {
        let requester = (|| {
            Some(CodeRequester {
                app_name: f.app_name?,
                tenant_id: f.tenant_id?,
                user_id: f.user_id?,
                app_origin: f.app_origin,
            })
        })();
        Self { status: f.status, interval: f.interval, requester }
    }
}
