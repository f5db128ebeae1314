//! How the poller takes the relay's answers: a status, a 429, a failure (backoff with
//! full jitter, then reset and reissue), and how a run ends.

use latch_wire::api::{ChallengeStatus, ChallengeStatusReply};
use latch_wire::panel::ViewState;
use latch_wire::EpochMs;

use super::*;
use crate::core::backoff::{full_jitter_ms, CAP_MS};

impl Poller {
    pub(super) fn on_status(&mut self, reply: ChallengeStatusReply, now: EpochMs, out: &mut Vec<Action>) {
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

    pub(super) fn on_too_many(
        &mut self,
        error: &str,
        retry_after_ms: Option<u64>,
        interval_ms: Option<u64>,
        now: EpochMs,
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

    pub(super) fn on_failure(&mut self, now: EpochMs, out: &mut Vec<Action>) {
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
    pub(super) fn count_request_failure(&mut self, now: EpochMs, wait_ms: u64, out: &mut Vec<Action>) {
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
    pub(super) fn reissue(&mut self, now: EpochMs, out: &mut Vec<Action>) {
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

    pub(super) fn finish(&mut self, state: ViewState, out: &mut Vec<Action>) {
        self.reset_to(Phase::Done(state));
        out.push(Action::Clear);
    }

    pub(super) fn fail(&mut self, error: &str, out: &mut Vec<Action>) {
        self.last_error = Some(error.to_owned());
        self.finish(ViewState::Failed, out);
    }
}
