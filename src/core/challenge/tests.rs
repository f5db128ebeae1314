use super::*;
use proptest::prelude::*;

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
    Event::Status(ChallengeStatusReply { status: s, interval: Some(5), grant: None })
}

fn grant() -> TokenGrant {
    crate::core::wire::test_grant()
}

fn approved() -> Event {
    Event::Status(ChallengeStatusReply { status: ChallengeStatus::Approved, interval: None, grant: Some(grant()) })
}

fn polls(actions: &[Action]) -> Vec<u64> {
    actions.iter().filter_map(|a| if let Action::Poll { wait_s, .. } = a { Some(*wait_s) } else { None }).collect()
}

fn requests(actions: &[Action]) -> usize {
    actions.iter().filter(|a| matches!(a, Action::Request)).count()
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
fn approval_delivers_then_clears() {
    let mut p = started();
    p.handle(Event::Issued(issued("c1", T0)), T0);
    let a = p.handle(approved(), T0 + 300);
    let deliver = a.iter().position(|x| matches!(x, Action::Deliver(_))).expect("deliver");
    let clear = a.iter().position(|x| matches!(x, Action::Clear)).expect("clear");
    assert!(deliver < clear);
    assert_eq!(p.view(T0).state, ViewState::Approved);
    // A duplicate answer is ignored: nothing in flight.
    assert!(p.handle(approved(), T0 + 400).is_empty());
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

// ---- Simulation: the poller against a model relay, with outages, restarts and clock jumps.

#[derive(Debug, Clone)]
enum Step {
    /// Let time pass to the next scheduled tick (or answer what's in flight).
    Advance,
    /// The app approves / denies the current code.
    Approve,
    Deny,
    /// The relay answers 503 / drops connections until `ms` from now.
    Outage(u64, bool),
    /// The worker is killed and restarts from storage.
    Restart,
    /// The local clock jumps by `ms` (positive or negative).
    Jump(i64),
    /// The relay forgets everything (restarted on an empty database).
    Wipe,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => Just(Step::Advance),
        1 => Just(Step::Approve),
        1 => Just(Step::Deny),
        1 => (1_000u64..120_000, any::<bool>()).prop_map(|(ms, net)| Step::Outage(ms, net)),
        1 => Just(Step::Restart),
        1 => (-3_600_000i64..600_000).prop_map(Step::Jump),
        1 => Just(Step::Wipe),
    ]
}

#[derive(Default)]
struct Relay {
    next_id: u64,
    /// id → (expires_at real, interval, last poll real, status)
    challenges: std::collections::HashMap<String, (u64, u64, Option<u64>, &'static str)>,
    current: Option<String>,
    down_until: u64,
    down_is_network: bool,
    delivered: usize,
    too_fast_polls: usize,
}

impl Relay {
    fn answer(&mut self, action: &Action, real: u64) -> Event {
        if real < self.down_until {
            return if self.down_is_network { Event::NetworkError } else { Event::ServerError };
        }
        match action {
            Action::Request => {
                self.next_id += 1;
                let id = format!("c{}", self.next_id);
                self.challenges.insert(id.clone(), (real + 600_000, 5_000, None, "pending"));
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
                if let Some(last) = c.2 {
                    if real < last + c.1 {
                        self.too_fast_polls += 1;
                        c.1 += 5_000;
                        return Event::TooMany {
                            error: "slow_down".into(),
                            retry_after_ms: None,
                            interval_ms: Some(c.1),
                        };
                    }
                }
                c.2 = Some(real);
                let interval = Some(c.1 / 1000);
                let reply = |status| Event::Status(ChallengeStatusReply { status, interval, grant: None });
                match c.3 {
                    "pending" if real >= c.0 => reply(ChallengeStatus::Expired),
                    "pending" => reply(ChallengeStatus::Pending),
                    "denied" => reply(ChallengeStatus::Denied),
                    "approved" => {
                        c.3 = "delivered";
                        self.delivered += 1;
                        Event::Status(ChallengeStatusReply {
                            status: ChallengeStatus::Approved,
                            interval,
                            grant: Some(grant()),
                        })
                    }
                    _ => Event::NotFound,
                }
            }
            _ => unreachable!(),
        }
    }

    fn decide(&mut self, status: &'static str, real: u64) {
        if let Some(c) = self.current.as_ref().and_then(|id| self.challenges.get_mut(id)) {
            if c.3 == "pending" && real < c.0 {
                c.3 = status;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// One in flight at most; no poll faster than the relay allows (unless the local clock
    /// jumped forward in between); every delivered grant reaches `Deliver` exactly once;
    /// and the run ends within a bound of real time.
    #[test]
    fn poller_is_safe_and_terminates(steps in proptest::collection::vec(step(), 1..120), seed in any::<u64>()) {
        let mut relay = Relay::default();
        let mut poller = Poller::new(seed);
        let mut real: u64 = T0;
        let mut offset: i64 = 0;
        let local = |real: u64, offset: i64| (real as i64 + offset) as u64;
        let mut storage: Option<StoredChallenge> = None;
        let mut in_flight: Option<Action> = None;
        let mut next_tick: Option<(u64, u64, u64)> = None; // (local time, real and local when set)
        let mut delivered = 0usize;
        let mut jumped_forward = false;
        let mut queue: Vec<Action> = poller.handle(Event::Started, local(real, offset));

        let mut steps = steps.into_iter().chain(std::iter::repeat(Step::Advance));
        let deadline = T0 + 4 * 3_600_000;
        loop {
            // Carry out queued actions.
            for a in std::mem::take(&mut queue) {
                match a {
                    Action::Request | Action::Poll { .. } => {
                        prop_assert!(in_flight.is_none(), "two requests in flight");
                        in_flight = Some(a);
                    }
                    Action::Store(s) => storage = Some(s),
                    Action::Clear => storage = None,
                    Action::Schedule(t) => next_tick = Some((t, real, local(real, offset))),
                    Action::Deliver(_) => delivered += 1,
                    Action::Show(_) => {}
                }
            }
            if poller.is_done() && in_flight.is_none() {
                break;
            }
            prop_assert!(real < deadline, "did not terminate: {:?}", poller.view(local(real, offset)));
            let before_too_fast = relay.too_fast_polls;
            match steps.next().unwrap() {
                Step::Advance => {
                    if let Some(req) = in_flight.take() {
                        real += 50;
                        let ev = relay.answer(&req, real);
                        queue = poller.handle(ev, local(real, offset));
                    } else if let Some((t, at_real, at_local)) = next_tick.take() {
                        // The driver arms a timer (real time elapses) and an alarm (wall
                        // clock): the first to fire wakes the poller.
                        let by_timer = at_real + t.saturating_sub(at_local);
                        let by_alarm = (t as i64 - offset).max(0) as u64;
                        real = real.max(by_timer.min(by_alarm));
                        queue = poller.handle(Event::Tick, local(real, offset));
                    } else {
                        // Nothing scheduled: the alarm fires eventually anyway.
                        real += 30_000;
                        queue = poller.handle(Event::Tick, local(real, offset));
                    }
                }
                Step::Approve => relay.decide("approved", real),
                Step::Deny => relay.decide("denied", real),
                Step::Outage(ms, net) => { relay.down_until = real + ms; relay.down_is_network = net; }
                Step::Restart => {
                    in_flight = None; // the request dies with the worker, unanswered
                    next_tick = None;
                    poller = Poller::new(seed ^ real);
                    queue = poller.handle(Event::Restored(storage.clone()), local(real, offset));
                }
                Step::Jump(ms) => {
                    if ms > 0 { jumped_forward = true; }
                    offset = (offset + ms).max(-(T0 as i64) / 2);
                }
                Step::Wipe => { relay.challenges.clear(); relay.current = None; }
            }
            if relay.too_fast_polls > before_too_fast {
                prop_assert!(jumped_forward, "polled faster than the interval without a clock jump");
            }
        }
        prop_assert_eq!(delivered, relay.delivered, "every grant the relay handed out was delivered");
    }
}
