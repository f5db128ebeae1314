//! The code-pairing poller (sans-IO, `latch::core::challenge`) under arbitrary event
//! sequences: answers nobody asked for, hostile relay values (huge intervals and expiries),
//! corrupted stored state, restarts and a clock that jumps both ways. It must never panic
//! and never break its invariants:
//! * at most one request in flight, and never a second one before the first is answered;
//! * no poll of a challenge before the interval in force since its last poll has passed
//!   (unless a restart or a clock jump intervened, where the poller waits a full interval);
//! * an app's approval (`awaiting_confirmation`) binds nothing: a confirm goes out only with
//!   a key from the user's Approve of the prompt on show, and tokens are delivered only from
//!   a confirm's answer, once, and cleared from storage right after;
//! * every request, poll and confirm goes out with a wake-up armed past its deadline (a
//!   stopped worker is started again by the alarm);
//! * every wake-up is scheduled at or after `now`; long-polls stay within the relay's 25 s;
//! * whatever it stores decodes again and restores without panicking.
#![no_main]

use arbitrary::Arbitrary;
use latch::core::challenge::{Action, Event, Poller};
use libfuzzer_sys::fuzz_target;

use latch_wire::api::{ChallengeIssued, ChallengeStatus, ChallengeStatusReply, CodeRequester};
use latch_wire::stored::{CodePrompt, StoredChallenge};
use latch_wire::testing::test_grant;
use latch_wire::EpochMs;

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
    prompt: Option<(String, u64)>,
    confirm_key: Option<u8>,
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
        /// With a requester (named by this byte), or without one.
        requester: Option<u8>,
    },
    /// The user clicks Approve or Deny on the prompt on show, or on a made-up id.
    UserApprove {
        on_shown: bool,
        key: u8,
    },
    UserDeny {
        on_shown: bool,
    },
    Confirmed,
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

fn requester(app_name: String) -> CodeRequester {
    CodeRequester { app_name, tenant_id: "acme".into(), user_id: "dana".into(), app_origin: None }
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
        let mut confirmed_answer = false;
        let mut approve_key: Option<String> = None;
        // A new worker repeats the confirm key it restores (the user's earlier Approve).
        let mut restored_key: Option<String> = None;
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
                        expires_at: EpochMs::from_ms(c.expires_at),
                        next_poll_at: EpochMs::from_ms(c.next_poll_at),
                        attempt: c.attempt,
                        interval_ms: c.interval_ms,
                        last_poll_at: c.last_poll_at.map(EpochMs::from_ms),
                        reissues: c.reissues,
                        prompt: c.prompt.map(|(name, shown_at)| CodePrompt {
                            requester: requester(name),
                            shown_at: EpochMs::from_ms(shown_at),
                        }),
                        confirm_key: c.confirm_key.map(|k| format!("lrk_stored{k}")),
                        url: None,
                    }),
                    _ => None,
                };
                restored_key = s.as_ref().and_then(|s| s.confirm_key.clone());
                Event::Restored(s)
            }
            Input::Tick => Event::Tick,
            Input::Issued { id, expires_at, interval } => {
                last_poll = None; // a new challenge (ids may repeat in this harness)
                Event::Issued(ChallengeIssued {
                    challenge_id: format!("lch_{id}"),
                    code: "ABCD2345".into(),
                    expires_at: EpochMs::from_ms(expires_at),
                    interval,
                    server_time: None,
                    url: None,
                })
            }
            Input::Status { status, interval, requester: who } => {
                let status = match status % 5 {
                    0 => ChallengeStatus::Pending,
                    1 => ChallengeStatus::AwaitingConfirmation,
                    2 => ChallengeStatus::Confirmed,
                    3 => ChallengeStatus::Denied,
                    _ => ChallengeStatus::Expired,
                };
                let requester = who.map(|n| requester(format!("App {n}")));
                Event::Status(ChallengeStatusReply { status, interval, requester })
            }
            Input::UserApprove { on_shown, key } => {
                let prompt_id = if on_shown { poller.prompt_id().unwrap_or_default() } else { format!("code-X-{key}") };
                let redeem_key = format!("lrk_user{key}");
                if poller.prompt_id().as_deref() == Some(prompt_id.as_str()) {
                    approve_key = Some(redeem_key.clone());
                }
                Event::Approve { prompt_id, redeem_key }
            }
            Input::UserDeny { on_shown } => {
                let prompt_id = if on_shown { poller.prompt_id().unwrap_or_default() } else { "code-X-1".into() };
                Event::Reject { prompt_id }
            }
            Input::Confirmed => {
                confirmed_answer = true;
                Event::Confirmed(test_grant())
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
        let stored_key = restored_key.or_else(|| stored.as_ref().and_then(|s| s.confirm_key.clone()));
        let actions = poller.handle(event, EpochMs::from_ms(now));

        let sends: Vec<&Action> = actions
            .iter()
            .filter(|a| matches!(a, Action::Request { .. } | Action::Poll { .. } | Action::Confirm { .. }))
            .collect();
        assert!(sends.len() <= 1, "two requests at once: {actions:?}");
        if !sends.is_empty() {
            assert!(poller.in_flight(), "sent without marking it in flight");
            // A tick never adds a request to one still in flight.
            assert!(!(was_in_flight && is_tick), "second request in flight");
        }
        let delivered = actions.iter().filter(|a| matches!(a, Action::Deliver(_))).count();
        assert!(delivered <= 1);
        if delivered == 1 {
            assert!(confirmed_answer && was_in_flight, "tokens delivered without a confirm's answer");
            let after = actions.iter().skip_while(|a| !matches!(a, Action::Deliver(_)));
            assert!(after.clone().any(|a| matches!(a, Action::Clear)), "delivered but not cleared");
        }
        for (i, a) in actions.iter().enumerate() {
            if matches!(a, Action::Request { .. } | Action::Poll { .. } | Action::Confirm { .. }) {
                let deadline = match a {
                    Action::Poll { wait_s, .. } => now + wait_s * 1000,
                    _ => now,
                };
                let armed = actions[..i].iter().any(|b| matches!(b, Action::Schedule(t) if t.as_ms() > deadline));
                assert!(armed, "{a:?} without a wake-up armed past it: {actions:?}");
            }
            match a {
                Action::Schedule(t) => assert!(t.as_ms() >= now, "wake-up in the past: {t:?} < {now}"),
                Action::Confirm { redeem_key, .. } => {
                    // Only the user's Approve, or a repeat of one already stored, confirms.
                    let by_user = approve_key.as_deref() == Some(redeem_key.as_str());
                    let repeat = stored_key.as_deref() == Some(redeem_key.as_str());
                    assert!(by_user || repeat, "confirm with key {redeem_key} the user never gave");
                }
                Action::Poll { challenge_id, wait_s, .. } => {
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
        let _ = poller.view(EpochMs::from_ms(now));
    }
});
