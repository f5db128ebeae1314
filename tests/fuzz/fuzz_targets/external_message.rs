//! Every decoder of untrusted JSON: messages from web pages (`onMessageExternal`), panel
//! commands, WebSocket frames and the stored records a new worker reads back. Any input
//! must decode or be refused without panicking, and what decodes must re-encode to the same
//! value. A decoded `pairing.offer` goes through offer parking: junk is never parked.
#![no_main]

use latch::core::offers::{Arrival, OfferBook, OfferOutcome};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

use latch_wire::api::{
    ChallengeIssued, ChallengeStatusReply, DescribeResponse, ErrorBody, RedeemRequest, RefreshedTokens, TokenGrant,
};
use latch_wire::clock::Localize;
use latch_wire::external::{ExternalMessage, OfferRefusal};
use latch_wire::panel::PanelRequest;
use latch_wire::socket::{ClientFrame, ServerFrame};
use latch_wire::stored::{StoredBinding, StoredChallenge};
use latch_wire::token::is_pairing_token;
use latch_wire::EpochMs;

fn round_trips<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(data).ok()?;
    let again: T = serde_json::from_str(&serde_json::to_string(&value).expect("encodes")).expect("re-decodes");
    assert_eq!(value, again);
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    if let Some(msg) = round_trips::<ExternalMessage>(data) {
        if let ExternalMessage::PairingOffer { pairing_token, opener } = msg {
            let mut book = OfferBook::default();
            let arrival = Arrival::connect_page(Some(1), opener);
            let outcome = book.offer_from(&pairing_token, arrival, EpochMs::from_ms(1_700_000_000_000), || "o1".into());
            if is_pairing_token(&pairing_token) {
                assert!(matches!(outcome, OfferOutcome::Parked { .. }), "{outcome:?}");
                assert_eq!(book.pending_count(), 1);
                // An opener claim is never shown before the relay's description checked it.
                assert!(book.pending_views().iter().all(|v| v.opener.is_none()));
            } else {
                assert_eq!(outcome, OfferOutcome::Refused(OfferRefusal::BadTokenShape));
                assert_eq!(book, OfferBook::default(), "junk changed the book");
            }
        }
    }
    // Relay answers (the network is not trusted): any times, any clock stamp.
    let now = EpochMs::from_ms(1_700_000_000_000);
    if let Some(d) = round_trips::<DescribeResponse>(data) {
        let _ = d.localized(now);
    }
    if let Some(g) = round_trips::<TokenGrant>(data) {
        let _ = g.localized(now);
    }
    if let Some(t) = round_trips::<RefreshedTokens>(data) {
        let _ = t.localized(now);
    }
    if let Some(c) = round_trips::<ChallengeIssued>(data) {
        let _ = c.localized(now);
    }
    round_trips::<ChallengeStatusReply>(data);
    round_trips::<ErrorBody>(data);
    round_trips::<RedeemRequest>(data);
    round_trips::<PanelRequest>(data);
    round_trips::<ClientFrame>(data);
    round_trips::<ServerFrame>(data);
    round_trips::<StoredChallenge>(data);
    round_trips::<Vec<StoredBinding>>(data);
    if let Some(mut book) = round_trips::<OfferBook>(data) {
        // A stored book of any content is pruned and listed without panicking.
        book.prune(now);
        let _ = book.pending_views();
        let _ = book.undescribed();
    }
});
