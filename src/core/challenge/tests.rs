use latch_wire::api::CodeRequester;
use latch_wire::testing::{test_grant, test_requester};
use proptest::prelude::*;

use super::*;

const T0: u64 = 1_800_000_000_000;

fn issued(id: &str, now: u64) -> ChallengeIssued {
    ChallengeIssued {
        challenge_id: id.into(),
        code: "ABCD2345".into(),
        expires_at: now + 600_000,
        interval: 5,
        server_time: None,
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

fn scheduled(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| if let Action::Schedule(t) = a { Some(*t) } else { None })
}

fn started() -> Poller {
    let mut p = Poller::new(1);
    assert_eq!(requests(&p.handle(Event::Started, T0)), 1);
    p
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
    let check = |a: Vec<Action>, now: u64| {
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
    println!("gave up after {calls} calls over {} s", (now - T0) / 1000);
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

fn stored(next_poll_at: u64, expires_at: u64) -> StoredChallenge {
    StoredChallenge {
        challenge_id: Some("c1".into()),
        code: Some("ABCD2345".into()),
        expires_at,
        next_poll_at,
        attempt: 0,
        interval_ms: 5_000,
        last_poll_at: Some(next_poll_at - 5_000),
        reissues: 0,
        prompt: None,
        confirm_key: None,
    }
}

#[test]
fn restore_follows_the_recovery_rules() {
    // Nothing stored: nothing to do.
    assert!(Poller::new(1).handle(Event::Restored(None), T0).is_empty());
    // Orphaned metadata (an id without a code, or the requesting marker): ask again.
    let mut orphan = stored(T0, T0 + 100_000);
    orphan.code = None;
    assert_eq!(requests(&Poller::new(1).handle(Event::Restored(Some(orphan)), T0)), 1);
    // Expired by the local clock: reissue immediately.
    assert_eq!(requests(&Poller::new(1).handle(Event::Restored(Some(stored(T0 - 10, T0))), T0)), 1);
    // Due: poll now. Not yet due: schedule.
    assert_eq!(polls(&Poller::new(1).handle(Event::Restored(Some(stored(T0, T0 + 100_000))), T0)).len(), 1);
    let a = Poller::new(1).handle(Event::Restored(Some(stored(T0 + 3_000, T0 + 100_000))), T0);
    assert_eq!(scheduled(&a), Some(T0 + 3_000));
    // The clock jumped backwards an hour: wait one interval from now, not an hour.
    let a = Poller::new(1).handle(Event::Restored(Some(stored(T0 + 3_600_000, T0 + 3_700_000))), T0);
    assert_eq!(scheduled(&a), Some(T0 + 5_000));
}

#[test]
fn reissues_are_bounded() {
    let mut p = started();
    let mut now = T0;
    for i in 0..=MAX_REISSUES {
        p.handle(Event::Issued(issued(&format!("c{i}"), now)), now);
        now += 1;
        p.handle(status(ChallengeStatus::Expired), now);
    }
    assert_eq!(p.view(now).state, ViewState::Expired);
    assert!(p.is_done());
    // The user can start again.
    assert_eq!(requests(&p.handle(Event::Started, now)), 1);
}

/// Found by the `challenge` fuzzer: a relay (or corrupted storage) asking for an absurd
/// interval or wait overflowed the schedule. Every wait is now bounded by the challenge life.
#[test]
fn hostile_waits_are_bounded_not_overflowed() {
    let mut p = started();
    let huge = ChallengeIssued { interval: u64::MAX, expires_at: u64::MAX, ..issued("c1", T0) };
    p.handle(Event::Issued(huge), T0);
    let slow =
        Event::TooMany { error: "slow_down".into(), retry_after_ms: Some(u64::MAX), interval_ms: Some(u64::MAX) };
    let at = scheduled(&p.handle(slow, T0)).expect("a next poll");
    assert!(at <= T0 + MAX_WAIT_MS, "next poll {} ms away", at - T0);
    let mut corrupt = stored(u64::MAX, u64::MAX);
    corrupt.interval_ms = u64::MAX;
    corrupt.reissues = u32::MAX;
    corrupt.attempt = u32::MAX;
    corrupt.last_poll_at = Some(u64::MAX);
    let mut fresh = Poller::new(2);
    for a in fresh.handle(Event::Restored(Some(corrupt)), T0) {
        if let Action::Schedule(t) = a {
            assert!(t <= T0 + MAX_WAIT_MS);
        }
    }
    fresh.handle(Event::ServerError, T0);
    fresh.handle(Event::Tick, T0 + MAX_WAIT_MS);
}

// ---- Simulation: the poller against a model relay, with outages, restarts, stopped
// workers, clock jumps, apps approving and users answering the prompt.

#[derive(Debug, Clone)]
enum Step {
    /// Let time pass to the next scheduled tick (or answer what's in flight).
    Advance,
    /// An app approves / withdraws the current code.
    AppApprove,
    AppWithdraw,
    /// The user clicks Approve / Deny on the prompt on show (if any).
    UserApprove,
    UserDeny,
    /// The relay answers 503 / drops connections until `ms` from now.
    Outage(u64, bool),
    /// The worker restarts at once (the user opened the panel): rebuilt from storage.
    Restart,
    /// Chrome stops the worker; only an armed alarm starts it again. `true`: a confirm in
    /// flight reached the relay, but its answer is lost.
    Stop(bool),
    /// The local clock jumps by `ms` (positive or negative).
    Jump(i64),
    /// The relay forgets everything (restarted on an empty database).
    Wipe,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => Just(Step::Advance),
        2 => Just(Step::AppApprove),
        1 => Just(Step::AppWithdraw),
        2 => Just(Step::UserApprove),
        1 => Just(Step::UserDeny),
        1 => (1_000u64..120_000, any::<bool>()).prop_map(|(ms, net)| Step::Outage(ms, net)),
        1 => Just(Step::Restart),
        2 => any::<bool>().prop_map(Step::Stop),
        1 => (-3_600_000i64..600_000).prop_map(Step::Jump),
        1 => Just(Step::Wipe),
    ]
}

struct Challenge {
    expires_at: u64,
    interval: u64,
    last_poll: Option<u64>,
    status: &'static str,
    /// The redeem key of the confirm that made the binding.
    bound_with: Option<String>,
}

#[derive(Default)]
struct Relay {
    next_id: u64,
    challenges: std::collections::HashMap<String, Challenge>,
    current: Option<String>,
    down_until: u64,
    down_is_network: bool,
    bindings: usize,
    too_fast_polls: usize,
}

impl Relay {
    fn answer(&mut self, action: &Action, real: u64) -> Event {
        if real < self.down_until {
            return if self.down_is_network { Event::NetworkError } else { Event::ServerError };
        }
        match action {
            Action::Request { .. } => {
                self.next_id += 1;
                let id = format!("c{}", self.next_id);
                let c = Challenge {
                    expires_at: real + 600_000,
                    interval: 5_000,
                    last_poll: None,
                    status: "pending",
                    bound_with: None,
                };
                self.challenges.insert(id.clone(), c);
                self.current = Some(id.clone());
                Event::Issued(ChallengeIssued {
                    challenge_id: id,
                    code: "ABCD2345".into(),
                    expires_at: real + 600_000,
                    interval: 5,
                    server_time: None,
                })
            }
            Action::Poll { challenge_id, .. } => {
                let Some(c) = self.challenges.get_mut(challenge_id) else { return Event::NotFound };
                if let Some(last) = c.last_poll {
                    if real < last + c.interval {
                        self.too_fast_polls += 1;
                        c.interval += 5_000;
                        return Event::TooMany {
                            error: "slow_down".into(),
                            retry_after_ms: None,
                            interval_ms: Some(c.interval),
                        };
                    }
                }
                c.last_poll = Some(real);
                let interval = Some(c.interval / 1000);
                let reply = |status, requester| Event::Status(ChallengeStatusReply { status, interval, requester });
                let live = real < c.expires_at;
                match c.status {
                    "pending" | "awaiting" if !live => reply(ChallengeStatus::Expired, None),
                    "pending" => reply(ChallengeStatus::Pending, None),
                    "awaiting" => reply(ChallengeStatus::AwaitingConfirmation, Some(test_requester())),
                    "confirmed" => reply(ChallengeStatus::Confirmed, None),
                    _ => reply(ChallengeStatus::Denied, None),
                }
            }
            Action::Confirm { challenge_id, redeem_key, .. } => {
                let Some(c) = self.challenges.get_mut(challenge_id) else { return Event::NotFound };
                match c.status {
                    "awaiting" if real < c.expires_at => {
                        c.status = "confirmed";
                        c.bound_with = Some(redeem_key.clone());
                        self.bindings += 1;
                    }
                    "awaiting" => return Event::Refused("code_expired".into()),
                    "confirmed" if c.bound_with.as_ref() == Some(redeem_key) => {}
                    _ => return Event::Refused("not_awaiting_confirmation".into()),
                }
                let mut g = grant();
                g.binding.binding_id = challenge_id.clone();
                Event::Confirmed(g)
            }
            _ => unreachable!(),
        }
    }

    /// What the app (or a `reject`) does to the current challenge.
    fn decide(&mut self, id: Option<&str>, from: &[&str], to: &'static str, real: u64) {
        let id = id.map(str::to_owned).or_else(|| self.current.clone());
        if let Some(c) = id.and_then(|id| self.challenges.get_mut(&id)) {
            if from.contains(&c.status) && real < c.expires_at {
                c.status = to;
            }
        }
    }
}

fn call_of(a: &Action) -> u32 {
    match a {
        Action::Request { call } | Action::Poll { call, .. } | Action::Confirm { call, .. } => *call,
        _ => unreachable!(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Nothing is confirmed but with a key from the user's Approve; one call in flight at
    /// most; no poll faster than the relay allows (unless the local clock jumped forward);
    /// a stopped worker is always started again by an armed alarm (never stranded); every
    /// binding the relay made reaches `Deliver` exactly once (unless the relay forgot it or
    /// the run gave up); and the run ends within a bound of real time.
    #[test]
    fn poller_is_safe_and_terminates(steps in proptest::collection::vec(step(), 1..160), seed in any::<u64>()) {
        let mut relay = Relay::default();
        let mut poller = Some(Poller::new(seed));
        let mut real: u64 = T0;
        let mut offset: i64 = 0;
        let local = |real: u64, offset: i64| (real as i64 + offset) as u64;
        let mut storage: Option<StoredChallenge> = None;
        let mut in_flight: Option<Action> = None;
        // (local time, real and local when set); the timer dies with the worker, the alarm doesn't.
        let mut next_tick: Option<(u64, u64, u64)> = None;
        let mut delivered = std::collections::HashSet::new();
        let mut approved_keys = std::collections::HashSet::new();
        let mut jumped_forward = false;
        let mut wiped = false;
        let mut keys = 0u32;
        // Calls the poller abandoned: their answers (any kind) must change nothing.
        let mut abandoned: Vec<Action> = Vec::new();
        let mut queue: Vec<Action> = poller.as_mut().unwrap().handle(Event::Started, local(real, offset));

        let mut steps = steps.into_iter().chain(std::iter::repeat(Step::Advance));
        // Alarms are on the wall clock: a worker stopped after the clock was set back waits
        // that much longer for its alarm (found by this property), so the bound grows by it.
        let mut set_back: u64 = 0;
        loop {
            let deadline = T0 + 4 * 3_600_000 + set_back;
            for a in std::mem::take(&mut queue) {
                match a {
                    Action::Request { .. } | Action::Poll { .. } | Action::Confirm { .. } => {
                        if let Action::Confirm { redeem_key, .. } = &a {
                            prop_assert!(approved_keys.contains(redeem_key), "confirm without the user's Approve");
                            // Approve abandons a poll waiting at the relay; its answer comes later.
                            if let Some(poll @ Action::Poll { .. }) = in_flight.take() {
                                abandoned.push(poll);
                            }
                        }
                        prop_assert!(in_flight.is_none(), "two calls in flight");
                        in_flight = Some(a);
                    }
                    Action::Reject { challenge_id } => {
                        relay.decide(Some(&challenge_id), &["pending", "awaiting"], "denied", real)
                    }
                    Action::Store(s) => storage = Some(s),
                    Action::Clear => storage = None,
                    Action::Schedule(t) => next_tick = Some((t, real, local(real, offset))),
                    Action::Deliver(g) => {
                        prop_assert!(delivered.insert(g.binding.binding_id), "one binding delivered twice");
                    }
                    Action::Show(_) | Action::PromptShown => {}
                }
            }
            let done = match &poller {
                Some(p) => p.is_done() && in_flight.is_none(),
                None => storage.is_none(),
            };
            if done {
                break;
            }
            let now_local = local(real, offset);
            prop_assert!(real < deadline, "did not terminate: {:?}", poller.as_ref().map(|p| p.view(now_local)));
            let before_too_fast = relay.too_fast_polls;
            match steps.next().unwrap() {
                Step::Advance => match poller.as_mut() {
                    Some(p) => {
                        if let Some(stale) = abandoned.pop() {
                            for ev in [Event::NetworkError, Event::NotFound, Event::Refused("x".into()), Event::ServerError] {
                                let late = p.answer(call_of(&stale), ev, local(real, offset));
                                prop_assert!(late.is_empty(), "an abandoned call's answer acted: {late:?}");
                            }
                        } else if let Some(req) = in_flight.take() {
                            real += 50;
                            let ev = relay.answer(&req, real);
                            queue = p.answer(call_of(&req), ev, local(real, offset));
                        } else if let Some((t, at_real, at_local)) = next_tick.take() {
                            // A timer (real time elapses) and an alarm (wall clock): the first wakes it.
                            let by_timer = at_real + t.saturating_sub(at_local);
                            let by_alarm = (t as i64 - offset).max(0) as u64;
                            real = real.max(by_timer.min(by_alarm));
                            queue = p.handle(Event::Tick, local(real, offset));
                        } else {
                            prop_assert!(p.is_done(), "a live poller with nothing armed: {:?}", p.view(now_local));
                        }
                    }
                    None => {
                        // Stopped: only the alarm starts a new worker.
                        let Some((t, _, _)) = next_tick.take() else {
                            return Err(TestCaseError::fail(format!("stopped with nothing armed: {storage:?}")));
                        };
                        real = real.max((t as i64 - offset).max(0) as u64);
                        let mut p = Poller::new(seed ^ real);
                        queue = p.handle(Event::Restored(storage.clone()), local(real, offset));
                        poller = Some(p);
                    }
                },
                Step::AppApprove => relay.decide(None, &["pending"], "awaiting", real),
                Step::AppWithdraw => relay.decide(None, &["awaiting"], "denied", real),
                Step::UserApprove => {
                    if let Some(p) = poller.as_mut() {
                        if let Some(prompt_id) = p.prompt_id() {
                            keys += 1;
                            let redeem_key = format!("lrk_{keys}");
                            approved_keys.insert(redeem_key.clone());
                            queue = p.handle(Event::Approve { prompt_id, redeem_key }, local(real, offset));
                        }
                    }
                }
                Step::UserDeny => {
                    if let Some(p) = poller.as_mut() {
                        if let Some(prompt_id) = p.prompt_id() {
                            queue = p.handle(Event::Reject { prompt_id }, local(real, offset));
                        }
                    }
                }
                Step::Outage(ms, net) => { relay.down_until = real + ms; relay.down_is_network = net; }
                Step::Restart => {
                    in_flight = None; // the request dies with the worker, unanswered
                    abandoned.clear();
                    next_tick = next_tick.map(|(t, _, _)| (t, u64::MAX / 4, 0)); // alarm only
                    let mut p = Poller::new(seed ^ real);
                    queue = p.handle(Event::Restored(storage.clone()), local(real, offset));
                    poller = Some(p);
                }
                Step::Stop(reached_relay) => {
                    if poller.is_some() {
                        if let Some(req @ Action::Confirm { .. }) = in_flight.take() {
                            if reached_relay {
                                let _lost = relay.answer(&req, real);
                            }
                        }
                        in_flight = None;
                        abandoned.clear();
                        poller = None;
                    }
                }
                Step::Jump(ms) => {
                    if ms > 0 { jumped_forward = true; } else { set_back += ms.unsigned_abs(); }
                    offset = (offset + ms).max(-(T0 as i64) / 2);
                }
                Step::Wipe => { relay.challenges.clear(); relay.current = None; wiped = true; }
            }
            if relay.too_fast_polls > before_too_fast {
                prop_assert!(jumped_forward, "polled faster than the interval without a clock jump");
            }
        }
        let failed = poller.as_ref().is_some_and(|p| p.view(0).state == ViewState::Failed);
        prop_assert!(delivered.len() <= relay.bindings);
        if !wiped && !failed {
            prop_assert_eq!(delivered.len(), relay.bindings, "every binding the relay made was delivered");
        }
    }
}
