use latch_wire::testing::ms;
use latch_wire::token::{encode_secret, PAIRING_TOKEN_PREFIX};

use super::*;
use proptest::prelude::*;

fn token(n: u8) -> String {
    encode_secret(PAIRING_TOKEN_PREFIX, &[n; 32])
}

fn ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("offer-{n}")
    }
}

fn park(book: &mut OfferBook, t: &str, now: u64, id: &str) -> OfferOutcome {
    book.offer(t, Some(1), ms(now), || id.to_string())
}

fn describe(book: &mut OfferBook, id: &str, expires_at: u64) {
    let d = DescribeResponse {
        app_name: "Acme".into(),
        tenant_id: "acme".into(),
        user_id: "dana".into(),
        expires_at: ms(expires_at),
        app_origins: vec!["http://localhost:8788".into()],
        server_time: None,
    };
    book.described(id, &d, d.app_name.clone());
}

#[test]
fn bad_shapes_are_never_parked() {
    let mut book = OfferBook::default();
    for t in ["", "lpt_short", "hello", &"x".repeat(1 << 20)] {
        assert_eq!(park(&mut book, t, 0, "x"), OfferOutcome::Refused(OfferRefusal::BadTokenShape));
    }
    assert!(book.offers.is_empty());
}

#[test]
fn same_token_resumes_the_same_offer() {
    let mut book = OfferBook::default();
    assert_eq!(park(&mut book, &token(1), 0, "a"), OfferOutcome::Parked { offer_id: "a".into() });
    assert_eq!(
        book.offer(&token(1), Some(9), ms(10), || "b".into()),
        OfferOutcome::AlreadyParked { offer_id: "a".into() }
    );
    assert_eq!(book.get("a").unwrap().tab_id, Some(9));
    assert_eq!(book.pending_count(), 1);
}

#[test]
fn the_prompt_names_an_opener_only_after_the_relay_lists_it() {
    let mut book = OfferBook::default();
    let from = |o: &str| Arrival::connect_page(Some(1), Some(o.into()));
    book.offer_from(&token(1), from("http://localhost:8788"), ms(0), || "a".into());
    book.offer_from(&token(2), from("https://evil.example"), ms(0), || "b".into());
    book.offer(&token(3), None, ms(0), || "c".into());
    // Undescribed: no opener shown yet, whatever the page claimed.
    assert!(book.pending_views().iter().all(|v| v.opener.is_none()));
    for id in ["a", "b", "c"] {
        describe(&mut book, id, 100_000);
    }
    let views = book.pending_views();
    let opener = |id: &str| views.iter().find(|v| v.offer_id == id).unwrap().opener.clone();
    assert_eq!(opener("a").as_deref(), Some("http://localhost:8788"));
    assert_eq!(opener("b"), None, "an origin the tenant did not register is dropped");
    assert_eq!(opener("c"), None);
    let via = |id: &str| views.iter().find(|v| v.offer_id == id).unwrap().via;
    assert_eq!((via("a"), via("c")), (PromptVia::OneClick, PromptVia::PastedToken));
    // Re-offering the same token from another page resumes it without relabelling it.
    let again = book.offer_from(&token(2), from("http://localhost:8788"), ms(1), || "d".into());
    assert_eq!(again, OfferOutcome::AlreadyParked { offer_id: "b".into() });
    assert_eq!(book.get("b").unwrap().opener, None);
}

#[test]
fn sixth_offer_is_busy() {
    let mut book = OfferBook::default();
    for n in 0..5 {
        assert!(matches!(park(&mut book, &token(n), 0, &format!("o{n}")), OfferOutcome::Parked { .. }));
    }
    assert_eq!(park(&mut book, &token(9), 0, "o9"), OfferOutcome::Refused(OfferRefusal::Busy));
    // Deciding one frees a slot.
    book.decide("o0", OfferState::Denied, None, ms(1));
    assert!(matches!(park(&mut book, &token(9), 2, "o9"), OfferOutcome::Parked { .. }));
}

#[test]
fn burst_is_rate_limited_then_recovers() {
    let mut book = OfferBook::default();
    for n in 0..MAX_OFFERS_PER_MINUTE as u8 {
        park(&mut book, &token(n), 0, &format!("o{n}"));
        book.decide(&format!("o{n}"), OfferState::Denied, None, ms(0));
    }
    assert_eq!(park(&mut book, &token(200), 1, "z"), OfferOutcome::Refused(OfferRefusal::RateLimited));
    assert!(matches!(park(&mut book, &token(200), MINUTE_MS + 1, "z"), OfferOutcome::Parked { .. }));
}

#[test]
fn expired_offers_fail_and_cannot_be_approved() {
    let mut book = OfferBook::default();
    park(&mut book, &token(1), 0, "a");
    describe(&mut book, "a", 50_000);
    assert_eq!(book.begin_approval("a", ms(50_000), "w1", key), Err(CommandError::AlreadyDecided));
    let r = book.result("a");
    assert_eq!(r.state, OfferState::Failed);
    assert_eq!(r.error.as_deref(), Some("token_expired"));
    assert_eq!(book.get("a").unwrap().pairing_token, None);
}

#[test]
fn approval_needs_a_description_and_runs_once() {
    let mut book = OfferBook::default();
    park(&mut book, &token(1), 0, "a");
    assert_eq!(book.begin_approval("a", ms(1), "w1", key), Err(CommandError::NotDescribed));
    describe(&mut book, "a", 100_000);
    assert_eq!(book.begin_approval("a", ms(1), "w1", key), Ok(redeem(1)));
    assert_eq!(book.begin_approval("a", ms(1), "w1", || unreachable!()), Err(CommandError::InProgress));
    book.abort_approval("a");
    // A retry reuses the first attempt's redeem key.
    assert_eq!(book.begin_approval("a", ms(2), "w1", || "lrk_other".into()), Ok(redeem(1)));
    assert_eq!(book.decide("a", OfferState::Approved, None, ms(3)), Some(Some(1)));
    assert_eq!(book.decide("a", OfferState::Denied, None, ms(4)), None);
    assert_eq!(book.result("a").state, OfferState::Approved);
    assert_eq!(book.result("zzz").error.as_deref(), Some("unknown_offer"));
}

fn key() -> String {
    "lrk_first".into()
}

fn redeem(t: u8) -> Redeem {
    Redeem { pairing_token: token(t), redeem_key: key(), via: PromptVia::OneClick }
}

#[test]
fn a_redeem_says_how_its_token_came() {
    let mut book = OfferBook::default();
    park(&mut book, &token(1), 0, "a");
    book.offer(&token(2), None, ms(0), || "b".into());
    describe(&mut book, "a", 100_000);
    describe(&mut book, "b", 100_000);
    let via = |book: &mut OfferBook, id: &str| book.begin_approval(id, ms(1), "w1", key).unwrap().via;
    assert_eq!(via(&mut book, "a"), PromptVia::OneClick);
    assert_eq!(via(&mut book, "b"), PromptVia::PastedToken);
}

#[test]
fn a_redeem_cut_off_by_a_stopped_worker_is_repeated_by_the_next_one() {
    let mut book = OfferBook::default();
    park(&mut book, &token(1), 0, "a");
    describe(&mut book, "a", 100_000);
    assert_eq!(book.begin_approval("a", ms(1), "w1", key), Ok(redeem(1)));
    assert!(book.interrupted_redeems("w1").is_empty(), "w1's own redeem is still running");
    // w1 stopped mid-redeem; w2 starts and finds the approval it must finish.
    assert_eq!(book.interrupted_redeems("w2"), vec!["a".to_string()]);
    assert_eq!(book.begin_approval("a", ms(2), "w2", || unreachable!()), Ok(redeem(1)));
    assert!(book.interrupted_redeems("w2").is_empty());
}

#[test]
fn an_attempted_redeem_stays_retryable_past_expiry_for_recovery() {
    let mut book = OfferBook::default();
    park(&mut book, &token(1), 0, "a");
    describe(&mut book, "a", 100_000);
    book.begin_approval("a", ms(1), "w1", key).unwrap();
    book.abort_approval("a"); // the answer was lost
    book.prune(ms(100_000 + REDEEM_RETRY_MS - 1));
    assert_eq!(book.begin_approval("a", ms(100_000 + 1), "w1", || unreachable!()), Ok(redeem(1)));
    book.abort_approval("a");
    book.prune(ms(100_000 + REDEEM_RETRY_MS));
    assert_eq!(book.result("a").error.as_deref(), Some("token_expired"));
    assert_eq!(book.get("a").unwrap().redeem_key, None, "a decided offer keeps no secret");
}

#[test]
fn outcomes_are_forgotten_after_a_while() {
    let mut book = OfferBook::default();
    park(&mut book, &token(1), 0, "a");
    book.decide("a", OfferState::Denied, None, ms(10));
    book.prune(ms(10 + OUTCOME_KEEP_MS - 1));
    assert!(book.get("a").is_some());
    book.prune(ms(10 + OUTCOME_KEEP_MS));
    assert!(book.get("a").is_none());
}

#[derive(Debug, Clone)]
enum Op {
    Offer(u8, u64),
    Describe(usize, u64),
    Approve(usize, u64),
    Abort(usize),
    Decide(usize, bool, u64),
    Prune(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12, 0u64..5_000).prop_map(|(t, dt)| Op::Offer(t, dt)),
        (0usize..12, 0u64..200_000).prop_map(|(i, e)| Op::Describe(i, e)),
        (0usize..12, 0u64..5_000).prop_map(|(i, dt)| Op::Approve(i, dt)),
        (0usize..12).prop_map(Op::Abort),
        (0usize..12, any::<bool>(), 0u64..5_000).prop_map(|(i, ok, dt)| Op::Decide(i, ok, dt)),
        (0u64..400_000).prop_map(Op::Prune),
    ]
}

proptest! {
    /// Whatever happens: ≤ 5 awaiting, no two awaiting offers share a token, decided
    /// offers hold no token, and a token is handed out for redeem at most once at a time.
    #[test]
    fn parking_invariants_hold(ops in proptest::collection::vec(op(), 1..80)) {
        let mut book = OfferBook::default();
        let mut now = 0u64;
        let mut next = ids();
        let mut known: Vec<String> = Vec::new();
        let mut in_flight: std::collections::HashSet<String> = Default::default();
        for op in ops {
            match op {
                Op::Offer(t, dt) => {
                    now += dt;
                    if let OfferOutcome::Parked { offer_id } = book.offer(&token(t), Some(1), ms(now), &mut next) {
                        known.push(offer_id);
                    }
                }
                Op::Describe(i, e) => if let Some(id) = known.get(i).cloned() { describe(&mut book, &id, e) },
                Op::Approve(i, dt) => {
                    now += dt;
                    if let Some(id) = known.get(i).cloned() {
                        if book.begin_approval(&id, ms(now), "w", key).is_ok() {
                            prop_assert!(in_flight.insert(id), "token handed out twice");
                        }
                    }
                }
                Op::Abort(i) => if let Some(id) = known.get(i).cloned() {
                    book.abort_approval(&id);
                    in_flight.remove(&id);
                },
                Op::Decide(i, ok, dt) => {
                    now += dt;
                    if let Some(id) = known.get(i).cloned() {
                        let s = if ok { OfferState::Approved } else { OfferState::Denied };
                        book.decide(&id, s, None, ms(now));
                        in_flight.remove(&id);
                    }
                }
                Op::Prune(dt) => { now += dt; book.prune(ms(now)); }
            }
            prop_assert!(book.pending_count() <= MAX_PARKED);
            let awaiting: Vec<_> = book.offers.iter().filter(|o| o.state == OfferState::AwaitingApproval).collect();
            let mut tokens: Vec<_> = awaiting.iter().map(|o| o.pairing_token.clone()).collect();
            tokens.sort();
            tokens.dedup();
            prop_assert_eq!(tokens.len(), awaiting.len());
            for o in &book.offers {
                if o.state != OfferState::AwaitingApproval {
                    prop_assert!(o.pairing_token.is_none());
                    prop_assert!(o.redeem_by.is_none());
                    prop_assert!(o.redeem_key.is_none());
                }
            }
        }
    }
}
