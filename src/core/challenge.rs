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

use super::backoff::{full_jitter_ms, Jitter, CAP_MS};

/// Seconds a status poll may wait at the relay (below Chrome's 30 s fetch limit).
pub const LONG_POLL_WAIT_S: u64 = 20;
/// Consecutive 5xx/network failures before the challenge is reset and reissued.
pub const MAX_FAILURES: u32 = 6;
/// Automatic reissues before the poller gives up and asks the user.
pub const MAX_REISSUES: u32 = 3;
/// RFC 8628: a `slow_down` without an explicit interval adds this much.
pub const SLOW_DOWN_STEP_MS: u64 = 5_000;
/// Longest challenge lifetime the relay grants (10 min); more means the clock moved.
pub const MAX_TTL_MS: u64 = 600_000;
/// Wait after the relay says this browser has too many codes pending.
pub const MAX_PENDING_WAIT_MS: u64 = 60_000;
/// Longest poll interval or retry wait taken from the relay or from storage: a longer one
/// than a challenge's whole life is junk (or hostile) and would overflow the schedule.
pub const MAX_WAIT_MS: u64 = MAX_TTL_MS;

/// A poll's wake-up is armed this long after its deadline: if the worker is stopped while
/// the poll waits at the relay, the alarm starts it again and it polls anew.
pub const POLL_WAKE_MARGIN_MS: u64 = 5_000;
/// While a call is in flight, a tick re-arms the wake-up this far out (a watchdog for a
/// fetch that never settles because its worker was stopped).
pub const IN_FLIGHT_WATCHDOG_MS: u64 = 30_000;

/// A code prompt's id in the panel: a new requester is a new prompt, never the old one's
/// Approve. (Here, not on the wire type: the worker's other `str::replace` shares its code.)
pub fn code_prompt_id(prompt: &CodePrompt, code: &str) -> String {
    format!("code-{}-{}", code.replace('-', ""), prompt.shown_at)
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
    Schedule(u64),
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
    retry_at: Option<u64>,
    /// Consecutive failed calls of any kind (poll or request): the backoff level. It
    /// carries across a reset-and-reissue, so a relay that stays down is not hammered.
    backoff_level: u32,
    jitter: Jitter,
}

/// A clock that jumped backwards leaves stored times further in the future than anything
/// the poller schedules. The real time since the last poll is unknown, so wait one full
/// interval from now. True when `s` was rebased. (Found by the simulation property: with
/// the clock set back repeatedly, a live code went unpolled for hours.)
fn rebase_if_clock_went_back(s: &mut StoredChallenge, now: u64) -> bool {
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
    pub fn answer(&mut self, call: u32, event: Event, now: u64) -> Vec<Action> {
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
    pub fn view(&self, now: u64) -> ChallengeView {
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
    pub fn handle(&mut self, event: Event, now: u64) -> Vec<Action> {
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

    fn on_started(&mut self, now: u64, out: &mut Vec<Action>) {
        if matches!(self.phase, Phase::Active) {
            return; // already pairing: keep showing the live code
        }
        self.reissues = 0;
        self.reissued = false;
        self.last_error = None;
        self.reset_to(Phase::Active);
        self.request(now, out);
    }

    /// Asks for a code. A marker without id or code is stored first, so a worker killed
    /// before the answer finds "orphaned metadata" on restore and asks again.
    fn request(&mut self, now: u64, out: &mut Vec<Action>) {
        if self.in_flight.is_none() {
            let call = self.next_call(InFlight::Request);
            out.push(Action::Store(self.requesting_marker(now)));
            out.push(Action::Schedule(now + IN_FLIGHT_WATCHDOG_MS));
            out.push(Action::Request { call });
        }
    }

    fn requesting_marker(&self, now: u64) -> StoredChallenge {
        StoredChallenge {
            challenge_id: None,
            code: None,
            expires_at: now,
            next_poll_at: self.retry_at.unwrap_or(now),
            attempt: self.request_failures,
            interval_ms: 0,
            last_poll_at: None,
            reissues: self.reissues,
            prompt: None,
            confirm_key: None,
        }
    }

    fn on_restored(&mut self, stored: Option<StoredChallenge>, now: u64, out: &mut Vec<Action>) {
        let Some(mut s) = stored else {
            return;
        };
        self.reset_to(Phase::Active);
        // Storage is not trusted to be sane: bound what feeds arithmetic.
        self.reissues = s.reissues.min(MAX_REISSUES);
        s.attempt = s.attempt.min(MAX_FAILURES);
        s.interval_ms = bounded_ms(s.interval_ms);
        let orphaned = s.challenge_id.is_none() || s.code.is_none();
        if orphaned {
            self.reissue(now, out);
            return;
        }
        if s.confirm_key.is_some() {
            // The user approved and the answer may have been lost: ask again with the
            // same key (the relay answers the same binding), even past the code's expiry.
            self.stored = Some(s);
            self.confirm(now, out);
            return;
        }
        if s.expires_at <= now {
            self.reissue(now, out);
            return;
        }
        rebase_if_clock_went_back(&mut s, now);
        let next = s.next_poll_at;
        self.stored = Some(s);
        if next <= now {
            self.poll(now, out);
        } else {
            out.push(Action::Store(self.stored.clone().expect("set above")));
            out.push(Action::Schedule(next));
        }
    }

    fn on_tick(&mut self, now: u64, out: &mut Vec<Action>) {
        if !matches!(self.phase, Phase::Active) {
            return;
        }
        if self.in_flight.is_some() {
            // Keep a wake-up armed while the call is out: if this worker is stopped, its
            // answer is never heard and only the alarm starts a new worker.
            out.push(Action::Schedule(now + IN_FLIGHT_WATCHDOG_MS));
            return;
        }
        if let Some(s) = self.stored.as_mut() {
            if rebase_if_clock_went_back(s, now) {
                out.push(Action::Store(s.clone()));
            }
        }
        match &self.stored {
            Some(s) if s.confirm_key.is_some() && s.next_poll_at <= now => self.confirm(now, out),
            Some(s) if s.confirm_key.is_some() => out.push(Action::Schedule(s.next_poll_at)),
            Some(s) if s.expires_at <= now => self.reissue(now, out),
            Some(s) if s.next_poll_at <= now => self.poll(now, out),
            Some(s) => out.push(Action::Schedule(s.next_poll_at)),
            None => match self.retry_at {
                Some(at) if at > now => {
                    // Never further out than any wait we take: the clock may have gone back.
                    let at = at.min(now + MAX_WAIT_MS);
                    self.retry_at = Some(at);
                    out.push(Action::Schedule(at));
                }
                _ => self.request(now, out),
            },
        }
    }

    fn on_issued(&mut self, issued: ChallengeIssued, now: u64, out: &mut Vec<Action>) {
        if !self.take(InFlight::Request) {
            return;
        }
        self.request_failures = 0;
        self.retry_at = None;
        self.backoff_level = 0;
        self.stored = Some(StoredChallenge {
            challenge_id: Some(issued.challenge_id),
            code: Some(issued.code),
            expires_at: issued.expires_at.min(now + MAX_TTL_MS),
            next_poll_at: now,
            attempt: 0,
            interval_ms: bounded_ms(issued.interval.saturating_mul(1000)),
            last_poll_at: None,
            reissues: self.reissues,
            prompt: None,
            confirm_key: None,
        });
        // Long-poll first: no reason to wait before the first status request.
        self.poll(now, out);
    }

    /// Starts a status poll now. Callers ensure the interval has passed.
    fn poll(&mut self, now: u64, out: &mut Vec<Action>) {
        let Some(s) = self.stored.as_mut() else {
            return;
        };
        let Some(id) = s.challenge_id.clone() else {
            return;
        };
        s.last_poll_at = Some(now);
        s.next_poll_at = now + s.interval_ms;
        let wait_s = LONG_POLL_WAIT_S.min(s.expires_at.saturating_sub(now) / 1000);
        let seen = if s.prompt.is_some() { ChallengeStatus::AwaitingConfirmation } else { ChallengeStatus::Pending };
        let stored = s.clone();
        let call = self.next_call(InFlight::Poll);
        out.push(Action::Store(stored));
        // Armed before the poll goes out: a worker stopped while the poll waits is started
        // again by the alarm (PLATFORM-NOTES: nothing else wakes it).
        out.push(Action::Schedule(now + wait_s * 1000 + POLL_WAKE_MARGIN_MS));
        out.push(Action::Poll { call, challenge_id: id, wait_s, seen });
    }

    /// Sends (or repeats, with the same key) the user's Approve to the relay.
    fn confirm(&mut self, now: u64, out: &mut Vec<Action>) {
        let Some(s) = self.stored.as_mut() else {
            return;
        };
        let (Some(id), Some(key)) = (s.challenge_id.clone(), s.confirm_key.clone()) else {
            return;
        };
        s.next_poll_at = now;
        let stored = s.clone();
        let call = self.next_call(InFlight::Confirm);
        out.push(Action::Store(stored));
        out.push(Action::Schedule(now + IN_FLIGHT_WATCHDOG_MS));
        out.push(Action::Confirm { call, challenge_id: id, redeem_key: key });
    }

    fn on_approve(&mut self, prompt_id: &str, redeem_key: String, now: u64, out: &mut Vec<Action>) {
        let showing = matches!(self.phase, Phase::Active)
            && !matches!(self.in_flight, Some(InFlight::Confirm | InFlight::Request))
            && self.prompt_id().as_deref() == Some(prompt_id);
        if !showing {
            return; // a stale click: that prompt is gone or was replaced
        }
        // A poll waiting at the relay is abandoned; its answer will be ignored.
        self.in_flight = None;
        if let Some(s) = self.stored.as_mut() {
            s.confirm_key = Some(redeem_key);
            s.attempt = 0;
        }
        self.backoff_level = 0;
        self.confirm(now, out);
    }

    fn on_reject(&mut self, prompt_id: &str, out: &mut Vec<Action>) {
        if !matches!(self.phase, Phase::Active) || self.prompt_id().as_deref() != Some(prompt_id) {
            return;
        }
        if let Some(id) = self.stored.as_ref().and_then(|s| s.challenge_id.clone()) {
            out.push(Action::Reject { challenge_id: id });
        }
        self.finish(ViewState::Denied, out);
    }

    /// Earliest time the next poll may start: one interval after the last start.
    fn earliest_poll(&self, now: u64) -> u64 {
        self.stored.as_ref().map(|s| s.last_poll_at.map_or(now, |t| t + s.interval_ms).max(now)).unwrap_or(now)
    }

    fn schedule_poll(&mut self, at: u64, out: &mut Vec<Action>) {
        if let Some(s) = self.stored.as_mut() {
            s.next_poll_at = at;
            out.push(Action::Store(s.clone()));
            out.push(Action::Schedule(at));
        }
    }

    fn on_status(&mut self, reply: ChallengeStatusReply, now: u64, out: &mut Vec<Action>) {
        if !self.take(InFlight::Poll) {
            return;
        }
        if let (Some(s), Some(i)) = (self.stored.as_mut(), reply.interval) {
            s.interval_ms = s.interval_ms.max(bounded_ms(i.saturating_mul(1000)));
        }
        if let Some(s) = self.stored.as_mut() {
            s.attempt = 0;
        }
        self.backoff_level = 0;
        let expired = self.stored.as_ref().is_some_and(|s| s.expires_at <= now);
        match reply.status {
            ChallengeStatus::Pending => {
                if let Some(s) = self.stored.as_mut() {
                    s.prompt = None;
                }
                if expired {
                    self.reissue(now, out);
                } else {
                    let at = self.earliest_poll(now);
                    self.schedule_poll(at, out);
                }
            }
            ChallengeStatus::AwaitingConfirmation => {
                let Some(requester) = reply.requester else {
                    return self.fail("awaiting_without_requester", out);
                };
                if expired {
                    return self.reissue(now, out);
                }
                if let Some(s) = self.stored.as_mut() {
                    // Another requester than the one on show is a new prompt (new id).
                    if s.prompt.as_ref().map(|p| &p.requester) != Some(&requester) {
                        s.prompt = Some(CodePrompt { requester, shown_at: now });
                        out.push(Action::PromptShown);
                    }
                }
                let at = self.earliest_poll(now);
                self.schedule_poll(at, out);
            }
            ChallengeStatus::Confirmed => {
                if self.stored.as_ref().is_some_and(|s| s.confirm_key.is_some()) {
                    self.confirm(now, out);
                } else {
                    // Not by this browser's Approve: nothing to take.
                    self.fail("already_confirmed", out);
                }
            }
            ChallengeStatus::Denied => self.finish(ViewState::Denied, out),
            ChallengeStatus::Expired => self.reissue(now, out),
        }
    }

    fn on_too_many(
        &mut self,
        error: &str,
        retry_after_ms: Option<u64>,
        interval_ms: Option<u64>,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        match self.in_flight.take() {
            Some(InFlight::Confirm) => {
                let at = now + bounded_ms(retry_after_ms.unwrap_or(SLOW_DOWN_STEP_MS));
                self.schedule_poll(at, out);
            }
            Some(InFlight::Poll) => {
                if let Some(s) = self.stored.as_mut() {
                    // slow_down: adopt the server's new interval (at least +5 s), then wait it.
                    let asked = interval_ms.unwrap_or(s.interval_ms + SLOW_DOWN_STEP_MS);
                    s.interval_ms = bounded_ms(asked.max(s.interval_ms));
                    let at = now + s.interval_ms.max(bounded_ms(retry_after_ms.unwrap_or(0)));
                    self.schedule_poll(at, out);
                }
            }
            Some(InFlight::Request) => {
                let wait = match error {
                    "max_pending" => MAX_PENDING_WAIT_MS,
                    _ => bounded_ms(retry_after_ms.unwrap_or(CAP_MS)),
                };
                self.last_error = Some(error.to_owned());
                self.count_request_failure(now, wait, out);
            }
            None => {}
        }
    }

    fn on_failure(&mut self, now: u64, out: &mut Vec<Action>) {
        let Some(kind) = self.in_flight.take() else {
            return;
        };
        self.backoff_level += 1;
        let wait = full_jitter_ms(self.backoff_level, self.jitter.next_u64());
        match kind {
            InFlight::Confirm => {
                let Some(s) = self.stored.as_mut() else {
                    return;
                };
                s.attempt += 1;
                if s.attempt > MAX_FAILURES {
                    return self.fail("relay_unreachable", out);
                }
                self.schedule_poll(now + wait, out);
            }
            InFlight::Poll => {
                let Some(s) = self.stored.as_mut() else {
                    return;
                };
                s.attempt += 1;
                if s.attempt > MAX_FAILURES {
                    // Reset and reissue, but only after the backoff: the relay may still be down.
                    self.reissues += 1;
                    self.stored = None;
                    if self.reissues > MAX_REISSUES {
                        self.fail("relay_unreachable", out);
                        return;
                    }
                    self.reissued = true;
                    self.retry_at = Some(now + wait);
                    out.push(Action::Store(self.requesting_marker(now)));
                    out.push(Action::Schedule(now + wait));
                    return;
                }
                let at = (now + wait).max(self.earliest_poll(now));
                self.schedule_poll(at, out);
            }
            InFlight::Request => self.count_request_failure(now, wait, out),
        }
    }

    /// A failed request for a code: back off, and after too many in a row count a reissue.
    fn count_request_failure(&mut self, now: u64, wait_ms: u64, out: &mut Vec<Action>) {
        self.request_failures += 1;
        if self.request_failures > MAX_FAILURES {
            self.request_failures = 0;
            self.reissues += 1;
            if self.reissues > MAX_REISSUES {
                let e = self.last_error.clone().unwrap_or_else(|| "relay_unreachable".into());
                self.fail(&e, out);
                return;
            }
        }
        let at = now + wait_ms;
        self.retry_at = Some(at);
        out.push(Action::Store(self.requesting_marker(now)));
        out.push(Action::Schedule(at));
    }

    /// Drops the current challenge and asks for a new code (bounded).
    fn reissue(&mut self, now: u64, out: &mut Vec<Action>) {
        self.reissues += 1;
        self.stored = None;
        self.in_flight = None;
        if self.reissues > MAX_REISSUES {
            self.phase = Phase::Done(ViewState::Expired);
            out.push(Action::Clear);
            return;
        }
        self.reissued = true;
        self.phase = Phase::Active;
        self.request(now, out);
    }

    fn finish(&mut self, state: ViewState, out: &mut Vec<Action>) {
        self.reset_to(Phase::Done(state));
        out.push(Action::Clear);
    }

    fn fail(&mut self, error: &str, out: &mut Vec<Action>) {
        self.last_error = Some(error.to_owned());
        self.finish(ViewState::Failed, out);
    }
}

#[cfg(test)]
mod tests;
