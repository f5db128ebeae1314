//! The code-pairing poller: a sans-IO state machine (events and `now` in, actions out).
//!
//! The driver (the service worker, or a test) feeds it [`Event`]s and carries out the
//! returned [`Action`]s in order. Rules:
//! * long-poll first: the first status poll goes out the moment the code is issued;
//! * polls never start closer than the server's interval (RFC 8628; `slow_down` adds 5 s);
//! * 5xx and network errors back off exponentially with full jitter (1 s → 30 s); after
//!   [`MAX_FAILURES`] in a row the challenge is reset and reissued;
//! * recovery on restore (seed 002): orphaned metadata, expired by the local clock, 404
//!   and `expired` all reissue; a clock that jumped backwards waits one full interval;
//! * at most one request is in flight; a response nobody waits for is ignored;
//! * every poll is covered by a wake-up at its deadline plus [`POLL_WAKE_MARGIN_MS`]: a
//!   worker Chrome stops mid-poll never hears the answer, so the alarm must start it again;
//! * an app's approval only names who asks (`awaiting_confirmation`): the poller shows that
//!   as a prompt and sends `confirm` only after [`Event::Approve`], the user's click, with
//!   one redeem key stored before the first attempt (a lost answer is asked again with the
//!   same key and gets the same binding). Deny sends `reject`;
//! * reissues are bounded ([`MAX_REISSUES`]), so every run ends: approved, denied,
//!   expired or failed.
//!
//! What is stored (`latch.challenge`) is [`StoredChallenge`]; everything else is rebuilt
//! from it with [`Event::Restored`] when a new worker starts.

use latch_wire::api::{ChallengeIssued, ChallengeStatus, ChallengeStatusReply, TokenGrant};
use latch_wire::panel::{ChallengeView, ViewState};
use latch_wire::stored::{CodePrompt, StoredChallenge};
use latch_wire::EpochMs;

use super::backoff::Jitter;

mod answers;
mod steps;

pub use steps::web_page_host;

/// Seconds a status poll may wait at the relay (below Chrome's 30 s fetch limit).
pub const LONG_POLL_WAIT_S: u64 = 20;
/// Consecutive 5xx/network failures before the challenge is reset and reissued.
pub const MAX_FAILURES: u32 = 6;
/// Automatic reissues before the poller gives up and asks the user.
pub const MAX_REISSUES: u32 = 3;
/// RFC 8628: a `slow_down` without an explicit interval adds this much.
pub const SLOW_DOWN_STEP_MS: u64 = 5_000;
/// Longest code lifetime a relay grants (`LATCH_CODE_TTL_SECONDS` at most 3600, seed 001's
/// hour); more means the clock moved.
pub const MAX_TTL_MS: u64 = 3_600_000;
/// Wait after the relay says this browser has too many codes pending.
pub const MAX_PENDING_WAIT_MS: u64 = 60_000;
/// Longest poll interval or retry wait taken from the relay or from storage (10 min): a
/// longer one is junk (or hostile) and would leave a code unpolled for most of its life.
pub const MAX_WAIT_MS: u64 = 600_000;

/// A poll's wake-up is armed this long after its deadline: if the worker is stopped while
/// the poll waits at the relay, the alarm starts it again and it polls anew.
pub const POLL_WAKE_MARGIN_MS: u64 = 5_000;
/// While a call is in flight, a tick re-arms the wake-up this far out (a watchdog for a
/// fetch that never settles because its worker was stopped).
pub const IN_FLIGHT_WATCHDOG_MS: u64 = 30_000;

/// A code prompt's id in the panel: a new requester is a new prompt, never the old one's
/// Approve. (Here, not on the wire type: the worker's other `str::replace` shares its code.)
pub fn code_prompt_id(prompt: &CodePrompt, code: &str) -> String {
    format!("code-{}-{}", code.replace('-', ""), prompt.shown_at.as_ms())
}

/// A wait the relay or storage asked for, in ms, bounded by [`MAX_WAIT_MS`].
fn bounded_ms(ms: u64) -> u64 {
    ms.min(MAX_WAIT_MS)
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The user asked for a code.
    Started,
    /// The user cancelled.
    Cancelled,
    /// A fresh worker: the stored state (if any).
    Restored(Option<StoredChallenge>),
    /// Time passed (timer or alarm).
    Tick,
    /// The user clicked Approve on the prompt `prompt_id`; `redeem_key` is a fresh `lrk_…`
    /// key (the driver makes it; the core has no randomness).
    Approve { prompt_id: String, redeem_key: String },
    /// The user clicked Deny on the prompt `prompt_id`.
    Reject { prompt_id: String },
    /// 200 from `POST /api/pairing/confirm`.
    Confirmed(TokenGrant),
    /// 201 from `POST /api/pairing/request`.
    Issued(ChallengeIssued),
    /// 200 from `GET /api/pairing/status`.
    Status(ChallengeStatusReply),
    /// 404 from status or confirm.
    NotFound,
    /// 429: `slow_down` (with the new interval, if given) or `rate_limited`/`max_pending`.
    TooMany { error: String, retry_after_ms: Option<u64>, interval_ms: Option<u64> },
    /// Any other 4xx: not retried.
    Refused(String),
    /// 5xx.
    ServerError,
    /// No answer at all.
    NetworkError,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `POST /api/pairing/request`. `call` numbers every call: its answer goes back
    /// through [`Poller::answer`] with the same number, so the answer to a call the poller
    /// has since abandoned (a long-poll cut short by Approve) is never taken for another's.
    Request { call: u32 },
    /// `GET /api/pairing/status?challengeId=…&wait=…&seen=…`: the relay answers as soon as
    /// the status is no longer `seen`.
    Poll { call: u32, challenge_id: String, wait_s: u64, seen: ChallengeStatus },
    /// `POST /api/pairing/confirm {challengeId, redeemKey}`.
    Confirm { call: u32, challenge_id: String, redeem_key: String },
    /// `POST /api/pairing/reject {challengeId}`; nobody waits for the answer.
    Reject { challenge_id: String },
    /// Persist (`latch.challenge`).
    Store(StoredChallenge),
    /// Remove `latch.challenge`.
    Clear,
    /// Feed [`Event::Tick`] at this time (timer and alarm).
    Schedule(EpochMs),
    /// Store these tokens as a binding. Emitted once per approval, before `Clear`.
    Deliver(TokenGrant),
    /// Update the panel.
    Show(ChallengeView),
    /// A new prompt waits for the user: bring it before them if no Latch page is open
    /// (PROTOCOL §6: the prompt opens without the user hunting for it).
    PromptShown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InFlight {
    Request,
    Poll,
    Confirm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Idle,
    /// Waiting for a code, or for the next poll at `stored.next_poll_at`.
    Active,
    Done(ViewState),
}

#[derive(Debug, Clone)]
pub struct Poller {
    phase: Phase,
    stored: Option<StoredChallenge>,
    in_flight: Option<InFlight>,
    /// The number of the latest call (see [`Action::Request`]).
    call: u32,
    /// Consecutive failures while no challenge exists yet (requesting).
    request_failures: u32,
    reissues: u32,
    reissued: bool,
    last_error: Option<String>,
    /// While requesting a code after failures: when the next request goes out.
    retry_at: Option<EpochMs>,
    /// Consecutive failed calls of any kind (poll or request): the backoff level. It
    /// carries across a reset-and-reissue, so a relay that stays down is not hammered.
    backoff_level: u32,
    jitter: Jitter,
}

/// A clock that jumped backwards leaves stored times further in the future than anything
/// the poller schedules. The real time since the last poll is unknown, so wait one full
/// interval from now. True when `s` was rebased. (Found by the simulation property: with
/// the clock set back repeatedly, a live code went unpolled for hours.)
fn rebase_if_clock_went_back(s: &mut StoredChallenge, now: EpochMs) -> bool {
    let jumped = s.last_poll_at.is_some_and(|t| t > now)
        || s.next_poll_at > now + s.interval_ms.max(MAX_WAIT_MS)
        || s.expires_at > now + MAX_TTL_MS;
    if jumped {
        s.next_poll_at = now + s.interval_ms;
        s.last_poll_at = None;
        s.expires_at = s.expires_at.min(now + MAX_TTL_MS);
    }
    jumped
}

impl Poller {
    pub fn new(seed: u64) -> Self {
        Self {
            phase: Phase::Idle,
            stored: None,
            in_flight: None,
            call: 0,
            request_failures: 0,
            reissues: 0,
            reissued: false,
            last_error: None,
            retry_at: None,
            backoff_level: 0,
            jitter: Jitter::new(seed),
        }
    }

    /// True while a request or poll is outstanding.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Handles the relay's answer (or failure) to call number `call`. The answer to any
    /// call but the one in flight is dropped: it was abandoned, or answered already.
    pub fn answer(&mut self, call: u32, event: Event, now: EpochMs) -> Vec<Action> {
        if self.in_flight.is_none() || call != self.call {
            return Vec::new();
        }
        self.handle(event, now)
    }

    fn next_call(&mut self, kind: InFlight) -> u32 {
        self.in_flight = Some(kind);
        self.call = self.call.wrapping_add(1);
        self.call
    }

    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done(_) | Phase::Idle)
    }

    pub fn stored(&self) -> Option<&StoredChallenge> {
        self.stored.as_ref()
    }

    /// The current view (also emitted as `Show` on every change).
    pub fn view(&self, now: EpochMs) -> ChallengeView {
        let s = self.stored.as_ref();
        let state = match &self.phase {
            Phase::Idle => ViewState::Idle,
            Phase::Done(v) => *v,
            Phase::Active => match s {
                None if self.request_failures > 0 => ViewState::WaitingForRelay,
                None => ViewState::Requesting,
                Some(c) if c.confirm_key.is_some() => ViewState::Confirming,
                Some(c) if c.prompt.is_some() => ViewState::AwaitingConfirmation,
                Some(c) if c.attempt > 0 && c.next_poll_at > now => ViewState::WaitingForRelay,
                Some(_) => ViewState::Pending,
            },
        };
        let prompt = match state {
            ViewState::AwaitingConfirmation => s.and_then(|c| c.prompt.clone()),
            _ => None,
        };
        let retry_at = match state {
            ViewState::WaitingForRelay => s.map(|c| c.next_poll_at).or(self.retry_at),
            _ => None,
        };
        ChallengeView {
            state,
            code: s.and_then(|c| c.code.as_deref()).map(latch_wire::code::display),
            expires_at: s.map(|c| c.expires_at),
            retry_at,
            error: self.last_error.clone(),
            reissued: self.reissued,
            prompt,
            url: s.and_then(|c| c.url.clone()),
        }
    }

    /// The id of the prompt on show, if any (see [`code_prompt_id`]).
    pub fn prompt_id(&self) -> Option<String> {
        let s = self.stored.as_ref()?;
        if s.confirm_key.is_some() {
            return None;
        }
        Some(code_prompt_id(s.prompt.as_ref()?, s.code.as_deref()?))
    }

    /// Handles one event at local time `now`; returns the actions to carry out in order.
    pub fn handle(&mut self, event: Event, now: EpochMs) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Started => self.on_started(now, &mut out),
            // Once the user approved, the binding may already exist at the relay: Cancel can't
            // take that back (it would leave a binding nobody holds). Revoke it afterwards.
            Event::Cancelled if self.stored.as_ref().is_some_and(|s| s.confirm_key.is_some()) => {}
            Event::Cancelled => {
                // Tell the relay too, so an app's approval can't wait for a code nobody shows.
                if let Some(id) = self.stored.as_ref().and_then(|s| s.challenge_id.clone()) {
                    out.push(Action::Reject { challenge_id: id });
                }
                self.reset_to(Phase::Idle);
                out.push(Action::Clear);
            }
            Event::Approve { prompt_id, redeem_key } => self.on_approve(&prompt_id, redeem_key, now, &mut out),
            Event::Reject { prompt_id } => self.on_reject(&prompt_id, &mut out),
            Event::Confirmed(grant) => {
                if self.take(InFlight::Confirm) {
                    if self.grant_matches_prompt(&grant) {
                        // Deliver before clearing: the tokens are never lost between the two.
                        out.push(Action::Deliver(grant));
                        self.finish(ViewState::Approved, &mut out);
                    } else {
                        // Not what the user approved (a confused or hostile relay): store nothing.
                        self.fail("grant_mismatch", &mut out);
                    }
                }
            }
            Event::Restored(stored) => self.on_restored(stored, now, &mut out),
            Event::Tick => self.on_tick(now, &mut out),
            Event::Issued(issued) => self.on_issued(issued, now, &mut out),
            Event::Status(reply) => self.on_status(reply, now, &mut out),
            Event::NotFound => {
                if self.take(InFlight::Poll) || self.take(InFlight::Confirm) {
                    self.reissue(now, &mut out);
                } else if self.take(InFlight::Request) {
                    self.fail("challenge_not_found", &mut out);
                }
            }
            Event::TooMany { error, retry_after_ms, interval_ms } => {
                self.on_too_many(&error, retry_after_ms, interval_ms, now, &mut out)
            }
            Event::Refused(error) => {
                if self.in_flight.take().is_some() {
                    self.fail(&error, &mut out);
                }
            }
            Event::ServerError | Event::NetworkError => self.on_failure(now, &mut out),
        }
        if !out.is_empty() {
            out.push(Action::Show(self.view(now)));
        }
        out
    }

    /// The grant binds the app and user the prompt named (a restored confirm without a
    /// stored prompt has nothing to compare and is taken as is).
    fn grant_matches_prompt(&self, grant: &TokenGrant) -> bool {
        let Some(p) = self.stored.as_ref().and_then(|s| s.prompt.as_ref()) else {
            return true;
        };
        grant.binding.tenant_id == p.requester.tenant_id && grant.binding.user_id == p.requester.user_id
    }

    /// Consumes the in-flight marker if it is `kind`.
    fn take(&mut self, kind: InFlight) -> bool {
        if self.in_flight == Some(kind) {
            self.in_flight = None;
            true
        } else {
            false
        }
    }

    fn reset_to(&mut self, phase: Phase) {
        self.phase = phase;
        self.stored = None;
        self.in_flight = None;
        self.request_failures = 0;
        self.retry_at = None;
    }
}

#[cfg(test)]
mod tests;
