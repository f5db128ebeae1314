//! Why a panel command failed. The panel gets the error's code and shows the catalogue's
//! sentence for it (`panel/api.rs::explain`: `err_<code>`, else the generic one).

use latch_wire::external::OfferRefusal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// No answer from the relay: unreachable, a 5xx, or nothing within the call's deadline.
    RelayUnreachable,
    /// The relay refused, with its own error code (PROTOCOL §3: `token_used`, …).
    Refused(String),
    /// The offer gate refused a pasted token (`bad_token_shape`, `rate_limited`, `busy`).
    Offer(OfferRefusal),
    /// No such offer (expired and pruned, or never parked).
    UnknownOffer,
    /// The offer or the code prompt was already answered, replaced or is gone.
    AlreadyDecided,
    /// This worker is already redeeming the offer.
    InProgress,
    /// The relay has not described the token yet: nothing to approve.
    NotDescribed,
    UnknownBinding,
    /// The organization's binding: the user can't disconnect it.
    ManagedBinding,
    /// The binding's refresh was refused: it must be paired again.
    NeedsRepair,
    /// The user paused the binding: resume it first.
    Paused,
    /// The page can't be read (a browser page, or no permission).
    NoPageAccess,
    /// A capture answered 5xx: the app takes no captures, or the relay is down.
    NoConsumerOrRelayDown,
    /// The relay refused the access token even after a refresh.
    AccessTokenInvalid,
    /// A fresh access token was needed and the refresh failed.
    RefreshFailed,
    /// `chrome.storage` refused a read or write.
    StorageUnavailable,
}

impl CommandError {
    /// The code the panel explains (the wire's `PanelReply::error`).
    pub fn code(&self) -> &str {
        match self {
            Self::RelayUnreachable => "relay_unreachable",
            Self::Refused(code) => code,
            Self::Offer(refusal) => refusal.as_str(),
            Self::UnknownOffer => "unknown_offer",
            Self::AlreadyDecided => "already_decided",
            Self::InProgress => "in_progress",
            Self::NotDescribed => "not_described",
            Self::UnknownBinding => "unknown_binding",
            Self::ManagedBinding => "managed_binding",
            Self::NeedsRepair => "needs_repair",
            Self::Paused => "paused",
            Self::NoPageAccess => "no_page_access",
            Self::NoConsumerOrRelayDown => "no_consumer_or_relay_down",
            // The relay's wording for a refused access token (PROTOCOL §3, token gate).
            Self::AccessTokenInvalid => "access token invalid",
            Self::RefreshFailed => "refresh_failed",
            Self::StorageUnavailable => "storage_unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: [CommandError; 15] = [
        CommandError::RelayUnreachable,
        CommandError::UnknownOffer,
        CommandError::AlreadyDecided,
        CommandError::InProgress,
        CommandError::NotDescribed,
        CommandError::UnknownBinding,
        CommandError::ManagedBinding,
        CommandError::NeedsRepair,
        CommandError::Paused,
        CommandError::NoPageAccess,
        CommandError::NoConsumerOrRelayDown,
        CommandError::AccessTokenInvalid,
        CommandError::RefreshFailed,
        CommandError::StorageUnavailable,
        CommandError::Offer(OfferRefusal::Busy),
    ];

    #[test]
    fn each_error_has_its_own_code() {
        let mut codes: Vec<&str> = FIXED.iter().map(CommandError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), FIXED.len());
        assert_eq!(CommandError::Refused("token_used".into()).code(), "token_used");
        assert_eq!(CommandError::Offer(OfferRefusal::BadTokenShape).code(), "bad_token_shape");
    }

    /// Which codes the panel explains with their own sentence, and which fall back to the
    /// generic one: a new error without a sentence fails here until it gets one or is
    /// listed.
    #[test]
    fn the_panel_has_a_sentence_for_each_code_but_the_listed_few() {
        let catalogue: serde_json::Value =
            serde_json::from_str(include_str!("../../extension/_locales/en/messages.json")).unwrap();
        // `unknown_offer` is explained as `already_decided` (panel/api.rs).
        let generic = [
            "in_progress",
            "no_consumer_or_relay_down",
            "access token invalid",
            "refresh_failed",
            "storage_unavailable",
        ];
        for e in &FIXED {
            let code = if e.code() == "unknown_offer" { "already_decided" } else { e.code() };
            let has_sentence = catalogue.get(format!("err_{code}")).is_some();
            assert_eq!(has_sentence, !generic.contains(&code), "{code}");
        }
    }
}
