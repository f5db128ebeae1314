//! Access-token refresh schedule and single-flight, sans-IO.
//!
//! Each binding's access token is refreshed ahead of its expiry (a third of its lifetime,
//! at most a minute early) and at once when the relay says `invalid_access_token`.
//! Concurrent callers that need a fresh token for one binding share one refresh
//! (single-flight). A refresh the relay rejects marks the binding "needs re-pair" — it is
//! never deleted; network errors and 5xx retry with the same full-jitter backoff as
//! code pairing.

use latch_wire::EpochMs;
use litemap::LiteMap;

use super::backoff::{full_jitter_ms, Jitter};

/// Refresh at most this long before expiry.
pub const MAX_AHEAD_MS: u64 = 60_000;

/// When a token obtained at `obtained_at` and expiring at `expires_at` should be refreshed.
pub fn due_at(obtained_at: EpochMs, expires_at: EpochMs) -> EpochMs {
    let lifetime = expires_at.ms_since(obtained_at);
    expires_at - (lifetime / 3).min(MAX_AHEAD_MS)
}

/// What the driver tells the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Time passed; `bindings` are `(id, obtained_at, expires_at, dormant)` as stored, where
    /// dormant (needs re-pair, or paused by the user) means no refresh on schedule.
    Tick { bindings: Vec<(String, EpochMs, EpochMs, bool)> },
    /// Someone needs a fresh token now (the relay refused the current one).
    Needed { binding_id: String },
    /// The refresh answered: new token obtained now, expiring at `expires_at`.
    Refreshed { binding_id: String, expires_at: EpochMs },
    /// The relay refused the refresh (`refresh_token_*`): the user must pair again.
    Rejected { binding_id: String, error: String },
    /// No answer, or 5xx.
    Failed { binding_id: String },
    /// The binding is gone (disconnected).
    Forgotten { binding_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `POST /api/auth/refresh` for this binding (its stored refresh token).
    Refresh { binding_id: String },
    /// Wake the scheduler at this time (timer + alarm).
    Schedule(EpochMs),
    /// Mark the binding "needs re-pair" with the relay's reason.
    MarkNeedsRepair { binding_id: String, error: String },
    /// Callers waiting for this binding's refresh can go on (`ok`: a fresh token is stored).
    Release { binding_id: String, ok: bool },
}

#[derive(Debug, Clone, Default)]
struct Slot {
    in_flight: bool,
    failures: u32,
    retry_at: Option<EpochMs>,
}

#[derive(Debug, Clone)]
pub struct Scheduler {
    slots: LiteMap<String, Slot>,
    jitter: Jitter,
}

impl Scheduler {
    pub fn new(seed: u64) -> Self {
        Self { slots: LiteMap::new(), jitter: Jitter::new(seed) }
    }

    pub fn in_flight(&self, binding_id: &str) -> bool {
        self.slots.get(binding_id).is_some_and(|s| s.in_flight)
    }

    pub fn handle(&mut self, event: Event, now: EpochMs) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Tick { bindings } => {
                let mut next: Option<EpochMs> = None;
                for (id, obtained_at, expires_at, needs_repair) in bindings {
                    if needs_repair {
                        continue;
                    }
                    let slot = self.slots.entry(id.clone()).or_default();
                    if slot.in_flight {
                        continue;
                    }
                    let at = slot.retry_at.unwrap_or_else(|| due_at(obtained_at, expires_at));
                    if at <= now {
                        slot.in_flight = true;
                        out.push(Action::Refresh { binding_id: id });
                    } else {
                        next = Some(next.map_or(at, |n: EpochMs| n.min(at)));
                    }
                }
                out.extend(next.map(Action::Schedule));
            }
            Event::Needed { binding_id } => {
                let slot = self.slots.entry(binding_id.clone()).or_default();
                // Single-flight: a refresh already on its way serves this caller too.
                if !slot.in_flight {
                    slot.in_flight = true;
                    slot.retry_at = None;
                    out.push(Action::Refresh { binding_id });
                }
            }
            Event::Refreshed { binding_id, expires_at } => {
                if self.finish(&binding_id) {
                    if let Some(s) = self.slots.get_mut(&binding_id) {
                        s.failures = 0;
                        s.retry_at = None;
                    }
                    out.push(Action::Release { binding_id, ok: true });
                    // The new token's own refresh: the wake-up that led here has fired, and
                    // nothing else is bound to wake the scheduler before this token expires.
                    out.push(Action::Schedule(due_at(now, expires_at)));
                }
            }
            Event::Rejected { binding_id, error } => {
                if self.finish(&binding_id) {
                    self.slots.remove(&binding_id);
                    out.push(Action::MarkNeedsRepair { binding_id: binding_id.clone(), error });
                    out.push(Action::Release { binding_id, ok: false });
                }
            }
            Event::Failed { binding_id } => {
                if self.finish(&binding_id) {
                    let r = self.jitter.next_u64();
                    let slot = self.slots.get_mut(&binding_id).expect("finish checked it");
                    slot.failures += 1;
                    // At least a second apart, whatever the jitter drew.
                    let at = now + full_jitter_ms(slot.failures, r).max(1_000);
                    slot.retry_at = Some(at);
                    out.push(Action::Schedule(at));
                    out.push(Action::Release { binding_id, ok: false });
                }
            }
            Event::Forgotten { binding_id } => {
                self.slots.remove(&binding_id);
            }
        }
        out
    }

    /// Ends the in-flight refresh of `binding_id`; false if none was in flight.
    fn finish(&mut self, binding_id: &str) -> bool {
        match self.slots.get_mut(binding_id) {
            Some(s) if s.in_flight => {
                s.in_flight = false;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
