use latch_wire::api::CodeRequester;
use latch_wire::testing::{test_grant, test_requester};
use latch_wire::EpochMs;
use proptest::prelude::*;

use super::*;

const T0: EpochMs = EpochMs::from_ms(1_800_000_000_000);

fn issued(id: &str, now: EpochMs) -> ChallengeIssued {
    ChallengeIssued {
        challenge_id: id.into(),
        code: "ABCD2345".into(),
        expires_at: now + 600_000,
        interval: 5,
        server_time: None,
        url: None,
    }
}

fn status(s: ChallengeStatus) -> Event {
    Event::Status(ChallengeStatusReply { status: s, interval: Some(5), requester: None })
}

fn grant() -> TokenGrant {
    test_grant()
}

/// The relay says an app approved the code: who asks.
fn awaiting() -> Event {
    Event::Status(ChallengeStatusReply {
        status: ChallengeStatus::AwaitingConfirmation,
        interval: Some(5),
        requester: Some(test_requester()),
    })
}

fn confirms(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| if let Action::Confirm { redeem_key, .. } = a { Some(redeem_key.clone()) } else { None })
        .collect()
}

fn rejects(actions: &[Action]) -> usize {
    actions.iter().filter(|a| matches!(a, Action::Reject { .. })).count()
}

fn delivers(actions: &[Action]) -> usize {
    actions.iter().filter(|a| matches!(a, Action::Deliver(_))).count()
}

/// A poller whose code an app approved at `T0 + 300`: the prompt is on show.
fn prompting() -> (Poller, String) {
    let mut p = started();
    p.handle(Event::Issued(issued("c1", T0)), T0);
    let a = p.handle(awaiting(), T0 + 300);
    assert_eq!(delivers(&a), 0, "an app's approval binds nothing");
    assert!(a.contains(&Action::PromptShown), "a new prompt is brought before the user");
    let view = p.view(T0 + 300);
    assert_eq!(view.state, ViewState::AwaitingConfirmation);
    assert_eq!(view.prompt.as_ref().map(|p| p.requester.app_name.as_str()), Some("Acme"));
    let id = p.prompt_id().expect("a prompt on show");
    (p, id)
}

fn polls(actions: &[Action]) -> Vec<u64> {
    actions.iter().filter_map(|a| if let Action::Poll { wait_s, .. } = a { Some(*wait_s) } else { None }).collect()
}

fn requests(actions: &[Action]) -> usize {
    actions.iter().filter(|a| matches!(a, Action::Request { .. })).count()
}

fn scheduled(actions: &[Action]) -> Option<EpochMs> {
    actions.iter().find_map(|a| if let Action::Schedule(t) = a { Some(*t) } else { None })
}

fn started() -> Poller {
    let mut p = Poller::new(1);
    assert_eq!(requests(&p.handle(Event::Started, T0)), 1);
    p
}

/// The code request's `url` reaches the panel only as an http(s) page.
#[test]
fn only_a_web_page_is_offered_as_the_app_s_pairing_page() {
    let page = "http://localhost:8788/pair?code=ABCD-2345";
    let long = format!("https://a.example/{}", "x".repeat(2100));
    for (sent, shown) in [
        (Some(page), Some(page)),
        (Some("https://app.example/pair?code=ABCD-2345"), Some("https://app.example/pair?code=ABCD-2345")),
        (Some("javascript:alert(1)"), None),
        (Some("chrome-extension://abc/panel.html"), None),
        (Some("data:text/html,hi"), None),
        (Some("https://a.example/pair ?code=x"), None),
        (Some("https://a.example/\npair"), None),
        (Some("https://app.example@evil.example/pair"), None),
        (Some("https:///pair"), None),
        (Some("https://a.example/\u{202E}pair"), None),
        (Some(long.as_str()), None),
        (None, None),
    ] {
        let mut p = started();
        p.handle(Event::Issued(ChallengeIssued { url: sent.map(str::to_owned), ..issued("c1", T0) }), T0);
        assert_eq!(p.view(T0).url.as_deref(), shown, "{sent:?}");
        assert_eq!(p.view(T0).code.as_deref(), Some("ABCD-2345"));
    }
}

#[test]
fn long_polls_first_then_respects_the_interval() {
    let mut p = started();
    let a = p.handle(Event::Issued(issued("c1", T0)), T0);
    assert_eq!(polls(&a), vec![LONG_POLL_WAIT_S], "first poll goes out at once, as a long-poll");
    // A long-poll that came back after 20 s may go again at once (interval measured from its start).
    let a = p.handle(status(ChallengeStatus::Pending), T0 + 20_000);
    assert_eq!(scheduled(&a), Some(T0 + 20_000));
    let a = p.handle(Event::Tick, T0 + 20_000);
    assert_eq!(polls(&a).len(), 1);
    // A pending answer after 1 s waits for the rest of the interval.
    let a = p.handle(status(ChallengeStatus::Pending), T0 + 21_000);
    assert_eq!(scheduled(&a), Some(T0 + 25_000));
    assert!(polls(&p.handle(Event::Tick, T0 + 24_999)).is_empty());
    assert_eq!(polls(&p.handle(Event::Tick, T0 + 25_000)).len(), 1);
}

#[test]
fn an_app_approval_prompts_and_only_approve_confirms() {
    let (mut p, id) = prompting();
    // The next poll says what it has seen, so the relay holds it until something changes.
    let a = p.handle(Event::Tick, T0 + 5_000);
    assert!(a.iter().any(|x| matches!(x, Action::Poll { seen: ChallengeStatus::AwaitingConfirmation, .. })));
    // The same requester again is the same prompt: not brought up a second time.
    assert!(!p.handle(awaiting(), T0 + 5_100).contains(&Action::PromptShown));
    // Approve: one confirm with the key, stored before it goes out.
    let a = p.handle(Event::Approve { prompt_id: id.clone(), redeem_key: "lrk_1".into() }, T0 + 6_000);
    assert_eq!(confirms(&a), vec!["lrk_1".to_string()]);
    let store = a.iter().position(|x| matches!(x, Action::Store(s) if s.confirm_key.as_deref() == Some("lrk_1")));
    let confirm = a.iter().position(|x| matches!(x, Action::Confirm { .. }));
    assert!(store < confirm, "{a:?}");
    assert_eq!(p.view(T0 + 6_000).state, ViewState::Confirming);
    // A second click (or the abandoned poll's answer) changes nothing.
    assert!(p.handle(Event::Approve { prompt_id: id, redeem_key: "lrk_2".into() }, T0 + 6_001).is_empty());
    assert!(p.handle(awaiting(), T0 + 6_002).is_empty());
    let a = p.handle(Event::Confirmed(grant()), T0 + 6_100);
    let deliver = a.iter().position(|x| matches!(x, Action::Deliver(_))).expect("deliver");
    let clear = a.iter().position(|x| matches!(x, Action::Clear)).expect("clear");
    assert!(deliver < clear);
    assert_eq!(p.view(T0 + 6_100).state, ViewState::Approved);
    assert!(p.handle(Event::Confirmed(grant()), T0 + 6_200).is_empty(), "a duplicate answer is ignored");
}

#[test]
fn a_stale_or_foreign_click_confirms_nothing() {
    let (mut p, id) = prompting();
    for wrong in ["code-ABCD2345-1", "", "o1"] {
        assert!(p.handle(Event::Approve { prompt_id: wrong.into(), redeem_key: "k".into() }, T0 + 400).is_empty());
        assert!(p.handle(Event::Reject { prompt_id: wrong.into() }, T0 + 400).is_empty());
    }
    // Another requester replaces the prompt: the old prompt's Approve no longer counts.
    p.handle(Event::Tick, T0 + 5_000);
    let other = CodeRequester { app_name: "Globex".into(), ..test_requester() };
    p.handle(
        Event::Status(ChallengeStatusReply {
            status: ChallengeStatus::AwaitingConfirmation,
            interval: None,
            requester: Some(other),
        }),
        T0 + 5_100,
    );
    let new_id = p.prompt_id().unwrap();
    assert_ne!(new_id, id);
    assert!(p.handle(Event::Approve { prompt_id: id, redeem_key: "k".into() }, T0 + 5_200).is_empty());
    assert_eq!(confirms(&p.handle(Event::Approve { prompt_id: new_id, redeem_key: "k".into() }, T0 + 5_300)).len(), 1);
    // Before any prompt, nothing can be approved.
    let mut q = started();
    q.handle(Event::Issued(issued("c1", T0)), T0);
    assert_eq!(q.prompt_id(), None);
}

#[test]
fn deny_rejects_at_the_relay_and_ends() {
    let (mut p, id) = prompting();
    let a = p.handle(Event::Reject { prompt_id: id }, T0 + 400);
    assert_eq!(rejects(&a), 1);
    assert!(a.contains(&Action::Clear));
    assert_eq!(confirms(&a).len() + delivers(&a), 0);
    assert_eq!(p.view(T0 + 400).state, ViewState::Denied);
    // Cancelling a live code also tells the relay.
    let mut q = started();
    q.handle(Event::Issued(issued("c1", T0)), T0);
    assert_eq!(rejects(&q.handle(Event::Cancelled, T0 + 1)), 1);
}

#[test]
fn a_lost_confirm_is_repeated_with_the_same_key() {
    let (mut p, id) = prompting();
    let a = p.handle(Event::Approve { prompt_id: id, redeem_key: "lrk_1".into() }, T0 + 1_000);
    let saved = a.iter().rev().find_map(|x| if let Action::Store(s) = x { Some(s.clone()) } else { None }).unwrap();
    // The worker is stopped before the answer: the next one confirms again, same key.
    let mut fresh = Poller::new(9);
    assert_eq!(confirms(&fresh.handle(Event::Restored(Some(saved.clone())), T0 + 60_000)), vec!["lrk_1"]);
    // ... even past the code's expiry (the relay decides).
    let mut late = Poller::new(9);
    assert_eq!(confirms(&late.handle(Event::Restored(Some(saved)), T0 + 700_000)), vec!["lrk_1"]);
    // Network errors retry with backoff, same key.
    let a = p.handle(Event::NetworkError, T0 + 1_100);
    let at = scheduled(&a).unwrap();
    assert_eq!(confirms(&p.handle(Event::Tick, at)), vec!["lrk_1"]);
    // Refusals end the run and say why.
    let (mut r, id) = prompting();
    r.handle(Event::Approve { prompt_id: id, redeem_key: "lrk_4".into() }, T0 + 1_000);
    r.handle(Event::Refused("code_expired".into()), T0 + 1_100);
    assert_eq!((r.view(T0).state, r.view(T0).error.as_deref()), (ViewState::Failed, Some("code_expired")));
}

#[test]
fn cancel_after_approve_does_not_drop_the_binding() {
    let (mut p, id) = prompting();
    p.handle(Event::Approve { prompt_id: id, redeem_key: "lrk_1".into() }, T0 + 1_000);
    assert!(p.handle(Event::Cancelled, T0 + 1_001).is_empty(), "the confirm goes on");
    assert_eq!(delivers(&p.handle(Event::Confirmed(grant()), T0 + 1_100)), 1);
}

#[test]
fn an_abandoned_poll_answers_nothing_for_the_confirm() {
    let (mut p, id) = prompting();
    let a = p.handle(Event::Tick, T0 + 5_000);
    let poll_call = a.iter().find_map(|x| if let Action::Poll { call, .. } = x { Some(*call) } else { None }).unwrap();
    let a = p.handle(Event::Approve { prompt_id: id, redeem_key: "lrk_1".into() }, T0 + 6_000);
    let confirm_call =
        a.iter().find_map(|x| if let Action::Confirm { call, .. } = x { Some(*call) } else { None }).unwrap();
    assert_ne!(poll_call, confirm_call);
    for late in [Event::Refused("slow".into()), Event::NotFound, Event::NetworkError] {
        assert!(p.answer(poll_call, late, T0 + 6_050).is_empty());
    }
    assert_eq!(delivers(&p.answer(confirm_call, Event::Confirmed(grant()), T0 + 6_100)), 1);
}

#[test]
fn a_grant_for_someone_else_than_the_prompt_named_is_not_stored() {
    let (mut p, id) = prompting();
    p.handle(Event::Approve { prompt_id: id, redeem_key: "lrk_1".into() }, T0 + 1_000);
    let mut other = grant();
    other.binding.user_id = "mallory".into();
    let a = p.handle(Event::Confirmed(other), T0 + 1_100);
    assert_eq!(delivers(&a), 0);
    assert_eq!(p.view(T0).error.as_deref(), Some("grant_mismatch"));
}

#[test]
fn confirmed_by_someone_else_takes_nothing() {
    let mut p = started();
    p.handle(Event::Issued(issued("c1", T0)), T0);
    let a = p.handle(status(ChallengeStatus::Confirmed), T0 + 300);
    assert_eq!(confirms(&a).len() + delivers(&a), 0);
    assert_eq!(p.view(T0).state, ViewState::Failed);
    // An awaiting answer without its requester is refused, not shown half-empty.
    let mut q = started();
    q.handle(Event::Issued(issued("c1", T0)), T0);
    q.handle(status(ChallengeStatus::AwaitingConfirmation), T0 + 300);
    assert_eq!(q.view(T0).state, ViewState::Failed);
}

#[test]
fn the_prompt_survives_a_restart() {
    let (mut p, id) = prompting();
    let a = p.handle(Event::Tick, T0 + 5_000);
    let saved = a.iter().rev().find_map(|x| if let Action::Store(s) = x { Some(s.clone()) } else { None }).unwrap();
    assert!(saved.prompt.is_some());
    let mut fresh = Poller::new(3);
    let a = fresh.handle(Event::Restored(Some(saved)), T0 + 30_000);
    assert!(a.iter().any(|x| matches!(x, Action::Poll { seen: ChallengeStatus::AwaitingConfirmation, .. })));
    assert_eq!(fresh.prompt_id(), Some(id.clone()), "same prompt, same id");
    assert_eq!(fresh.view(T0 + 30_000).state, ViewState::AwaitingConfirmation);
    assert_eq!(confirms(&fresh.handle(Event::Approve { prompt_id: id, redeem_key: "k".into() }, T0 + 30_001)).len(), 1);
}

/// PLATFORM-NOTES: a worker stopped while a fetch waits never hears the answer, and
/// nothing starts it again unless an alarm is due. Every call goes out covered.
#[test]
fn every_call_is_covered_by_a_wake_up() {
    let (mut p, id) = prompting();
    let check = |a: Vec<Action>, now: EpochMs| {
        for (i, x) in a.iter().enumerate() {
            let covered_until = match x {
                Action::Poll { wait_s, .. } => now + wait_s * 1000,
                Action::Confirm { .. } | Action::Request { .. } => now,
                _ => continue,
            };
            let armed = a[..i].iter().any(|y| matches!(y, Action::Schedule(t) if *t > covered_until));
            assert!(armed, "{x:?} without a wake-up armed before it: {a:?}");
        }
    };
    check(p.handle(Event::Tick, T0 + 5_000), T0 + 5_000);
    // A tick while the poll waits keeps a wake-up armed.
    assert!(scheduled(&p.handle(Event::Tick, T0 + 26_000)).is_some_and(|t| t > T0 + 26_000));
    check(p.handle(Event::Approve { prompt_id: id, redeem_key: "k".into() }, T0 + 27_000), T0 + 27_000);
    let mut q = Poller::new(1);
    check(q.handle(Event::Started, T0), T0);
    check(q.handle(Event::Issued(issued("c1", T0)), T0), T0);
}

#[test]
fn slow_down_adds_five_seconds() {
    let mut p = started();
    p.handle(Event::Issued(issued("c1", T0)), T0);
    let a = p.handle(Event::TooMany { error: "slow_down".into(), retry_after_ms: None, interval_ms: None }, T0 + 10);
    assert_eq!(scheduled(&a), Some(T0 + 10 + 10_000));
    assert_eq!(p.stored().unwrap().interval_ms, 10_000);
}

#[test]
fn server_errors_back_off_with_jitter_then_reissue() {
    let mut p = started();
    p.handle(Event::Issued(issued("c1", T0)), T0);
    let mut now = T0;
    for attempt in 1..=MAX_FAILURES {
        let a = p.handle(Event::ServerError, now);
        let at = scheduled(&a).expect("backoff scheduled");
        assert!(at >= now + 5_000, "never sooner than the interval");
        assert!(at <= now + crate::core::backoff::ceiling_ms(attempt).max(5_000), "capped");
        assert_eq!(p.view(now).state, ViewState::WaitingForRelay);
        now = at;
        assert_eq!(polls(&p.handle(Event::Tick, now)).len(), 1);
    }
    let a = p.handle(Event::NetworkError, now);
    assert_eq!(requests(&a), 0, "the reissue waits out the backoff too");
    assert_eq!(p.stored(), None, "the old challenge is dropped");
    let at = scheduled(&a).expect("reissue scheduled");
    assert!(at <= now + crate::core::backoff::CAP_MS);
    assert_eq!(requests(&p.handle(Event::Tick, at)), 1, "reset and reissue after {MAX_FAILURES} failures");
    assert!(p.view(at).reissued);
}

#[test]
fn a_relay_that_stays_down_ends_the_run() {
    let mut p = started();
    let mut now = T0;
    let mut calls = 0;
    while !p.is_done() {
        let a = p.handle(Event::ServerError, now);
        calls += 1;
        if p.is_done() {
            break;
        }
        now = scheduled(&a).expect("every failure schedules a retry").max(now);
        let a = p.handle(Event::Tick, now);
        assert_eq!(requests(&a) + polls(&a).len(), 1, "one call per tick");
        assert!(calls < 100);
    }
    assert_eq!(p.view(now).state, ViewState::Failed);
    assert_eq!(p.view(now).error.as_deref(), Some("relay_unreachable"));
    println!("gave up after {calls} calls over {} s", now.ms_since(T0) / 1000);
}

#[test]
fn not_found_and_expired_reissue() {
    for e in [Event::NotFound, status(ChallengeStatus::Expired)] {
        let mut p = started();
        p.handle(Event::Issued(issued("c1", T0)), T0);
        assert_eq!(requests(&p.handle(e, T0 + 1)), 1);
    }
}

#[test]
fn denied_ends() {
    let mut p = started();
    p.handle(Event::Issued(issued("c1", T0)), T0);
    let a = p.handle(status(ChallengeStatus::Denied), T0 + 1);
    assert!(a.contains(&Action::Clear));
    assert_eq!(p.view(T0).state, ViewState::Denied);
    assert!(p.is_done());
}

mod recovery;
mod simulation;

/// `LATCH_CODE_TTL_SECONDS` up to 3600: the poller keeps a code as long as the relay grants
/// it, up to an hour; a longer life means the relay's clock is off, and is cut to the hour.
#[test]
fn a_code_lives_as_long_as_the_relay_grants_up_to_an_hour() {
    let mut p = started();
    p.handle(Event::Issued(ChallengeIssued { expires_at: T0 + 3_600_000, ..issued("c1", T0) }), T0);
    assert_eq!(p.view(T0).expires_at, Some(T0 + 3_600_000));
    p.handle(status(ChallengeStatus::Pending), T0 + 20_000);
    assert_eq!(polls(&p.handle(Event::Tick, T0 + 3_000_000)).len(), 1, "still polled after 50 min");
    let mut p = started();
    p.handle(Event::Issued(ChallengeIssued { expires_at: T0 + 7_200_000, ..issued("c1", T0) }), T0);
    assert_eq!(p.view(T0).expires_at, Some(T0 + MAX_TTL_MS));
}
