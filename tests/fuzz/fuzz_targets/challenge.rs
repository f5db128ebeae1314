//! The code-pairing poller (sans-IO, `latch::core::challenge`) under arbitrary event
//! sequences: answers nobody asked for, hostile relay values (huge intervals and expiries),
//! corrupted stored state, restarts and a clock that jumps both ways. It must never panic
//! and never break its invariants:
//! * at most one request in flight, and never a second one before the first is answered;
//! * no poll of a challenge before the interval in force since its last poll has passed
//!   (unless a restart or a clock jump intervened, where the poller waits a full interval);
//! * tokens are delivered only from an `approved` status that carries them, once, and
//!   cleared from storage right after;
//! * every wake-up is scheduled at or after `now`; long-polls stay within the relay's 25 s;
//! * whatever it stores decodes again and restores without panicking.
#![no_main]

use arbitrary::Arbitrary;
use latch::core::challenge::{Action, Event, Poller, StoredChallenge};
use latch::core::wire::{BindingInfo, ChallengeIssued, ChallengeStatus, ChallengeStatusReply, TokenGrant};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Stored {
    challenge_id: Option<u8>,
    code: Option<String>,
    expires_at: u64,
    next_poll_at: u64,
    attempt: u32,
    interval_ms: u64,
    last_poll_at: Option<u64>,
    reissues: u32,
}

#[derive(Debug, Arbitrary)]
enum Input {
    Started,
    Cancelled,
    /// A new worker: its stored state, our own last store, or corrupted state.
    RestoreOwn,
    RestoreNone,
    RestoreCorrupt(Stored),
    Tick,
    Issued {
        id: u8,
        expires_at: u64,
        interval: u64,
    },
    Status {
        status: u8,
        interval: Option<u64>,
        with_grant: bool,
    },
    NotFound,
    TooMany {
        slow_down: bool,
        retry_after_ms: Option<u64>,
        interval_ms: Option<u64>,
    },
    Refused,
    ServerError,
    NetworkError,
}

#[derive(Debug, Arbitrary)]
struct Step {
    input: Input,
    /// Local time moves by this much before the event (backwards too).
    dt: i32,
}

#[derive(Debug, Arbitrary)]
struct Run {
    start: u64,
    seed: u64,
    steps: Vec<Step>,
}

fn grant() -> TokenGrant {
    TokenGrant {
        binding: BindingInfo {
            binding_id: "bnd_1".into(),
            tenant_id: "acme".into(),
            app_name: "Acme".into(),
            user_id: "dana".into(),
        },
        access_token: "a".into(),
        refresh_token: "r".into(),
        access_expires_at: 1,
        refresh_expires_at: 2,
        server_time: None,
    }
}

/// What the harness knows about polls of one challenge id.
struct LastPoll {
    id: String,
    at: u64,
    interval_ms: u64,
}

fuzz_target!(|run: Run| {
    // Local time is a JavaScript `Date.now()`: a safe integer.
    const MAX_SAFE: u64 = (1 << 53) - 1;
    let mut now = run.start % MAX_SAFE;
    let mut poller = Poller::new(run.seed);
    let mut stored: Option<StoredChallenge> = None;
    let mut last_poll: Option<LastPoll> = None;
    for step in run.steps.into_iter().take(200) {
        let before = now;
        now = (now as i64).saturating_add(i64::from(step.dt)).clamp(0, MAX_SAFE as i64) as u64;
        if now < before {
            last_poll = None; // the clock went back: the interval can't be judged locally
        }
        let was_in_flight = poller.in_flight();
        let is_tick = matches!(step.input, Input::Tick);
        let mut approved_with_grant = false;
        let event = match step.input {
            Input::Started => Event::Started,
            Input::Cancelled => Event::Cancelled,
            Input::RestoreOwn | Input::RestoreNone | Input::RestoreCorrupt(_) => {
                poller = Poller::new(run.seed ^ now);
                last_poll = None;
                let s = match step.input {
                    Input::RestoreOwn => stored.clone(),
                    Input::RestoreCorrupt(c) => Some(StoredChallenge {
                        challenge_id: c.challenge_id.map(|i| format!("lch_{i}")),
                        code: c.code,
                        expires_at: c.expires_at,
                        next_poll_at: c.next_poll_at,
                        attempt: c.attempt,
                        interval_ms: c.interval_ms,
                        last_poll_at: c.last_poll_at,
                        reissues: c.reissues,
                    }),
                    _ => None,
                };
                Event::Restored(s)
            }
            Input::Tick => Event::Tick,
            Input::Issued { id, expires_at, interval } => {
                last_poll = None; // a new challenge (ids may repeat in this harness)
                Event::Issued(ChallengeIssued {
                    challenge_id: format!("lch_{id}"),
                    code: "ABCD2345".into(),
                    expires_at,
                    interval,
                    server_time: None,
                })
            }
            Input::Status { status, interval, with_grant } => {
                let status = match status % 4 {
                    0 => ChallengeStatus::Pending,
                    1 => ChallengeStatus::Approved,
                    2 => ChallengeStatus::Denied,
                    _ => ChallengeStatus::Expired,
                };
                approved_with_grant = status == ChallengeStatus::Approved && with_grant;
                Event::Status(ChallengeStatusReply { status, interval, grant: with_grant.then(grant) })
            }
            Input::NotFound => Event::NotFound,
            Input::TooMany { slow_down, retry_after_ms, interval_ms } => Event::TooMany {
                error: if slow_down { "slow_down".into() } else { "rate_limited".into() },
                retry_after_ms,
                interval_ms,
            },
            Input::Refused => Event::Refused("invalid_request".into()),
            Input::ServerError => Event::ServerError,
            Input::NetworkError => Event::NetworkError,
        };
        let actions = poller.handle(event, now);

        let sends: Vec<&Action> =
            actions.iter().filter(|a| matches!(a, Action::Request | Action::Poll { .. })).collect();
        assert!(sends.len() <= 1, "two requests at once: {actions:?}");
        if !sends.is_empty() {
            assert!(poller.in_flight(), "sent without marking it in flight");
            // A tick never adds a request to one still in flight.
            assert!(!(was_in_flight && is_tick), "second request in flight");
        }
        let delivered = actions.iter().filter(|a| matches!(a, Action::Deliver(_))).count();
        assert!(delivered <= 1);
        if delivered == 1 {
            assert!(approved_with_grant && was_in_flight, "tokens delivered without an approved answer");
            let after = actions.iter().skip_while(|a| !matches!(a, Action::Deliver(_)));
            assert!(after.clone().any(|a| matches!(a, Action::Clear)), "delivered but not cleared");
        }
        for a in &actions {
            match a {
                Action::Schedule(t) => assert!(*t >= now, "wake-up in the past: {t} < {now}"),
                Action::Poll { challenge_id, wait_s } => {
                    assert!(*wait_s <= 25, "long-poll of {wait_s} s");
                    if let Some(lp) = last_poll.as_ref().filter(|lp| &lp.id == challenge_id) {
                        assert!(
                            now >= lp.at.saturating_add(lp.interval_ms),
                            "polled {} ms after the last poll, interval {}",
                            now - lp.at,
                            lp.interval_ms
                        );
                    }
                    let interval_ms = stored.as_ref().map_or(0, |s| s.interval_ms);
                    last_poll = Some(LastPoll { id: challenge_id.clone(), at: now, interval_ms });
                }
                Action::Store(s) => {
                    let json = serde_json::to_string(s).expect("encodes");
                    let back: StoredChallenge = serde_json::from_str(&json).expect("decodes");
                    assert_eq!(&back, s);
                    stored = Some(back);
                    if let Some(lp) = last_poll.as_mut() {
                        // The interval in force for the next poll is the one stored now.
                        if s.challenge_id.as_deref() == Some(lp.id.as_str()) {
                            lp.interval_ms = lp.interval_ms.max(s.interval_ms);
                        }
                    }
                }
                Action::Clear => stored = None,
                _ => {}
            }
        }
        let _ = poller.view(now);
    }
});
