//! Offer parking (`latch::core::offers`) under arbitrary sequences of offers, relay
//! descriptions, approvals, denials and clock movement. Invariants:
//! * never more than `MAX_PARKED` awaiting approval, never more than the rate limit a minute;
//! * a token of the wrong shape is refused and changes nothing;
//! * re-offering a parked token answers with the same offer id;
//! * a decided offer keeps no token; only a described, awaiting offer yields its token for
//!   redeem, and not twice while a redeem is in flight;
//! * the book survives a JSON round trip (it lives in `chrome.storage.session`).
#![no_main]

use arbitrary::Arbitrary;
use latch::core::offers::{OfferBook, OfferOutcome, MAX_OFFERS_PER_MINUTE, MAX_PARKED};
use libfuzzer_sys::fuzz_target;

use latch_wire::api::DescribeResponse;
use latch_wire::external::{OfferRefusal, OfferState};
use latch_wire::token::{encode_secret, is_pairing_token};
use latch_wire::EpochMs;

#[derive(Debug, Arbitrary)]
enum Op {
    /// A well-formed token from a small pool (so re-offers happen).
    Offer {
        token: u8,
        tab: Option<i32>,
    },
    OfferJunk(String),
    Describe {
        offer: u8,
        expires_in: i64,
    },
    /// By worker instance 0 or 1 (a restart in between).
    BeginApproval {
        offer: u8,
        worker: bool,
    },
    AbortApproval {
        offer: u8,
    },
    Decide {
        offer: u8,
        state: u8,
    },
    Advance(u32),
    StepBack(u16),
    Reload,
}

fn token(i: u8) -> String {
    encode_secret("lpt_", &[i % 16; 32])
}

fuzz_target!(|ops: Vec<Op>| {
    let mut book = OfferBook::default();
    let mut now = EpochMs::from_ms(1_700_000_000_000);
    let mut ids: Vec<String> = Vec::new();
    let mut next_id = 0u32;
    for op in ops.into_iter().take(300) {
        let pick = |ids: &Vec<String>, i: u8| ids.get(usize::from(i) % ids.len().max(1)).cloned().unwrap_or_default();
        match op {
            Op::Offer { token: t, tab } => {
                let tok = token(t);
                book.prune(now); // what `offer` does first: expired offers can't be resumed
                let parked_before = book
                    .offers
                    .iter()
                    .find(|o| {
                        o.state == OfferState::AwaitingApproval && o.pairing_token.as_deref() == Some(tok.as_str())
                    })
                    .map(|o| o.offer_id.clone());
                let outcome = book.offer(&tok, tab, now, || {
                    next_id += 1;
                    format!("o{next_id}")
                });
                match outcome {
                    OfferOutcome::Parked { offer_id } => {
                        assert!(parked_before.is_none(), "parked twice");
                        ids.push(offer_id);
                    }
                    OfferOutcome::AlreadyParked { offer_id } => assert_eq!(parked_before, Some(offer_id)),
                    OfferOutcome::Refused(r) => assert_ne!(r, OfferRefusal::BadTokenShape),
                }
            }
            Op::OfferJunk(s) => {
                if !is_pairing_token(&s) {
                    let copy = book.clone();
                    assert_eq!(
                        book.offer(&s, None, now, || unreachable!()),
                        OfferOutcome::Refused(OfferRefusal::BadTokenShape)
                    );
                    assert_eq!(book, copy, "junk changed the book");
                }
            }
            Op::Describe { offer, expires_in } => {
                let id = pick(&ids, offer);
                let d = DescribeResponse {
                    app_name: "Acme".into(),
                    tenant_id: "acme".into(),
                    user_id: "dana".into(),
                    expires_at: EpochMs::from_ms(now.as_ms().saturating_add_signed(expires_in)),
                    app_origins: vec![],
                    server_time: None,
                };
                book.described(&id, &d, "Acme".into());
            }
            Op::BeginApproval { offer, worker } => {
                let id = pick(&ids, offer);
                let worker = if worker { "w1" } else { "w0" };
                let before = book.get(&id).cloned();
                let mut made = None;
                if let Ok(r) = book.begin_approval(&id, now, worker, || {
                    next_id += 1;
                    made = Some(format!("lrk_{next_id}"));
                    made.clone().unwrap()
                }) {
                    let o = before.expect("approved an unknown offer");
                    assert_eq!(o.state, OfferState::AwaitingApproval);
                    assert!(o.app_name.is_some(), "approved before the relay described it");
                    assert_eq!(o.pairing_token.as_deref(), Some(r.pairing_token.as_str()));
                    // Every attempt of one approval carries the key of the first.
                    assert_eq!(Some(r.redeem_key.clone()), o.redeem_key.or(made));
                    assert!(book.begin_approval(&id, now, worker, || unreachable!()).is_err(), "two redeems in flight");
                    assert!(
                        !book.interrupted_redeems(worker).contains(&id),
                        "its own redeem taken for an interrupted one"
                    );
                }
            }
            Op::AbortApproval { offer } => book.abort_approval(&pick(&ids, offer)),
            Op::Decide { offer, state } => {
                let state = [OfferState::Approved, OfferState::Denied, OfferState::Failed][usize::from(state % 3)];
                book.decide(&pick(&ids, offer), state, None, now);
            }
            Op::Advance(ms) => now += u64::from(ms),
            Op::StepBack(ms) => now = now - u64::from(ms),
            Op::Reload => {
                let json = serde_json::to_string(&book).expect("encodes");
                book = serde_json::from_str(&json).expect("decodes");
            }
        }
        assert!(book.pending_count() <= MAX_PARKED, "{} parked", book.pending_count());
        assert!(book.recent.len() <= MAX_OFFERS_PER_MINUTE);
        for o in &book.offers {
            if o.state != OfferState::AwaitingApproval {
                assert!(o.pairing_token.is_none(), "a decided offer kept its token");
                assert!(o.redeem_key.is_none(), "a decided offer kept its redeem key");
            }
        }
    }
});
