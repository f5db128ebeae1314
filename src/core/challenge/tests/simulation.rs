//! Simulation: the poller against a model relay, with outages, restarts, stopped workers,
//! clock jumps, apps approving and users answering the prompt.

use super::*;

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
                    expires_at: EpochMs::from_ms(real + 600_000),
                    interval: 5,
                    server_time: None,
                    url: None,
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
        // The relay's clock (`real`) is the simulation's own count of ms; the poller reads
        // the local clock, `offset` away from it.
        let t0 = T0.as_ms();
        let mut real: u64 = t0;
        let mut offset: i64 = 0;
        let local = |real: u64, offset: i64| EpochMs::from_ms((real as i64 + offset) as u64);
        let mut storage: Option<StoredChallenge> = None;
        let mut in_flight: Option<Action> = None;
        // (local time, real and local when set); the timer dies with the worker, the alarm doesn't.
        let mut next_tick: Option<(EpochMs, u64, EpochMs)> = None;
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
            let deadline = t0 + 4 * 3_600_000 + set_back;
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
                            let by_timer = at_real + at_local.ms_until(t);
                            let by_alarm = (t.as_ms() as i64 - offset).max(0) as u64;
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
                        real = real.max((t.as_ms() as i64 - offset).max(0) as u64);
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
                    next_tick = next_tick.map(|(t, _, _)| (t, u64::MAX / 4, EpochMs::ZERO)); // alarm only
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
                    offset = (offset + ms).max(-(t0 as i64) / 2);
                }
                Step::Wipe => { relay.challenges.clear(); relay.current = None; wiped = true; }
            }
            if relay.too_fast_polls > before_too_fast {
                prop_assert!(jumped_forward, "polled faster than the interval without a clock jump");
            }
        }
        let failed = poller.as_ref().is_some_and(|p| p.view(EpochMs::ZERO).state == ViewState::Failed);
        prop_assert!(delivered.len() <= relay.bindings);
        if !wiped && !failed {
            prop_assert_eq!(delivered.len(), relay.bindings, "every binding the relay made was delivered");
        }
    }
}
