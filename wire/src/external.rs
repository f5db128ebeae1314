//! The connect page ↔ extension boundary (PROTOCOL §5): what a web page may send with
//! `chrome.runtime.sendMessage(EXT_ID, msg)` and what it hears back.

use monostate::MustBeBool;
use serde::{Deserialize, Serialize};

use crate::flat;

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
        ok: MustBeBool<true>,
        #[serde(rename = "offerId")]
        offer_id: String,
        state: OfferState,
    },
    Refused {
        ok: MustBeBool<false>,
        error: OfferRefusal,
    },
}

impl OfferReply {
    pub fn parked(offer_id: String, state: OfferState) -> Self {
        Self::Parked { ok: MustBeBool, offer_id, state }
    }

    pub fn refused(error: OfferRefusal) -> Self {
        Self::Refused { ok: MustBeBool, error }
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
