//! The poller's own steps: starting, restoring, ticking, requesting a code, polling,
//! and the user's Approve and Deny.

use latch_wire::api::{ChallengeIssued, ChallengeStatus};
use latch_wire::panel::ViewState;
use latch_wire::stored::StoredChallenge;
use latch_wire::EpochMs;

use super::*;

impl Poller {
    pub(super) fn on_started(&mut self, now: EpochMs, out: &mut Vec<Action>) {
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
    pub(super) fn request(&mut self, now: EpochMs, out: &mut Vec<Action>) {
        if self.in_flight.is_none() {
            let call = self.next_call(InFlight::Request);
            out.push(Action::Store(self.requesting_marker(now)));
            out.push(Action::Schedule(now + IN_FLIGHT_WATCHDOG_MS));
            out.push(Action::Request { call });
        }
    }

    pub(super) fn requesting_marker(&self, now: EpochMs) -> StoredChallenge {
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
            url: None,
        }
    }

    pub(super) fn on_restored(&mut self, stored: Option<StoredChallenge>, now: EpochMs, out: &mut Vec<Action>) {
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

    pub(super) fn on_tick(&mut self, now: EpochMs, out: &mut Vec<Action>) {
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

    pub(super) fn on_issued(&mut self, issued: ChallengeIssued, now: EpochMs, out: &mut Vec<Action>) {
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
            url: issued.url.filter(|u| is_web_page(u)),
        });
        // Long-poll first: no reason to wait before the first status request.
        self.poll(now, out);
    }

    /// Starts a status poll now. Callers ensure the interval has passed.
    pub(super) fn poll(&mut self, now: EpochMs, out: &mut Vec<Action>) {
        let Some(s) = self.stored.as_mut() else {
            return;
        };
        let Some(id) = s.challenge_id.clone() else {
            return;
        };
        s.last_poll_at = Some(now);
        s.next_poll_at = now + s.interval_ms;
        let wait_s = LONG_POLL_WAIT_S.min(now.ms_until(s.expires_at) / 1000);
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
    pub(super) fn confirm(&mut self, now: EpochMs, out: &mut Vec<Action>) {
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

    pub(super) fn on_approve(&mut self, prompt_id: &str, redeem_key: String, now: EpochMs, out: &mut Vec<Action>) {
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

    pub(super) fn on_reject(&mut self, prompt_id: &str, out: &mut Vec<Action>) {
        if !matches!(self.phase, Phase::Active) || self.prompt_id().as_deref() != Some(prompt_id) {
            return;
        }
        if let Some(id) = self.stored.as_ref().and_then(|s| s.challenge_id.clone()) {
            out.push(Action::Reject { challenge_id: id });
        }
        self.finish(ViewState::Denied, out);
    }

    /// Earliest time the next poll may start: one interval after the last start.
    pub(super) fn earliest_poll(&self, now: EpochMs) -> EpochMs {
        self.stored.as_ref().map(|s| s.last_poll_at.map_or(now, |t| t + s.interval_ms).max(now)).unwrap_or(now)
    }

    pub(super) fn schedule_poll(&mut self, at: EpochMs, out: &mut Vec<Action>) {
        if let Some(s) = self.stored.as_mut() {
            s.next_poll_at = at;
            out.push(Action::Store(s.clone()));
            out.push(Action::Schedule(at));
        }
    }
}

/// The only links the panel offers: an http(s) page of reasonable length with a host and no
/// userinfo (no `javascript:`, `data:` or extension URL, no `https://app.example@evil/`),
/// in the serialised form the relay sends (printable ASCII), whatever a relay sends. Where
/// it leads is the relay owner's choice (`tenant create --pair-url`, checked against the
/// tenant's origins there); the panel names its host.
fn is_web_page(url: &str) -> bool {
    let Some(authority) = web_page_host(url) else {
        return false;
    };
    url.len() <= 2048 && url.bytes().all(|b| b.is_ascii_graphic()) && !authority.is_empty() && !authority.contains('@')
}

/// The authority of an http(s) URL (for a page [`is_web_page`] let through, its host): what
/// the panel names in the link's text.
pub fn web_page_host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    rest.split(['/', '?', '#']).next()
}
