//! Abuse limits: per-API-key and per-client-address request rates, each a sliding window in
//! memory. Each relay instance limits on its own; that bounds brute force and spam per
//! instance. Every limit answers 429 `rate_limited` with `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::http::StatusCode;

use prometheus_client::metrics::counter::Counter;

use crate::error::{ApiError, ApiResult};
use crate::metrics::{LimitLabel, Metrics};

const MINUTE_MS: u64 = 60_000;

/// Requests per minute for each limited endpoint; 0 turns a limit off (load benchmarks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitConfig {
    /// `POST /pairing-tokens`, per API key.
    pub mint_per_key: usize,
    /// `POST /pairing-tokens/describe`, per client address.
    pub describe_per_address: usize,
    /// `POST /pairing-tokens/redeem`, per client address.
    pub redeem_per_address: usize,
    /// `POST /api/pairing/request`, per client address.
    pub challenge_per_address: usize,
    /// `POST /api/pairing/approve` and `/deny`, per API key (codes are 40 bits: no guessing).
    pub approve_per_key: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            mint_per_key: 1200,
            describe_per_address: 120,
            redeem_per_address: 60,
            challenge_per_address: 10,
            approve_per_key: 60,
        }
    }
}

/// One limiter per limited endpoint.
pub struct Limits {
    pub mint: RateLimiter,
    pub describe: RateLimiter,
    pub redeem: RateLimiter,
    pub challenge: RateLimiter,
    pub approve: RateLimiter,
}

impl Limits {
    /// The limiters, each counting its refusals in `metrics` under its own name.
    pub fn new(c: &LimitConfig, metrics: &Metrics) -> Self {
        let per_minute = |max, limit| {
            let mut l = RateLimiter::new(max, MINUTE_MS);
            l.refused = metrics.rate_limited.get_or_create(&LimitLabel { limit }).clone();
            l
        };
        Self {
            mint: per_minute(c.mint_per_key, "mint"),
            describe: per_minute(c.describe_per_address, "describe"),
            redeem: per_minute(c.redeem_per_address, "redeem"),
            challenge: per_minute(c.challenge_per_address, "code_request"),
            approve: per_minute(c.approve_per_key, "code_decision"),
        }
    }
}

pub struct RateLimiter {
    /// 0: unlimited.
    max: usize,
    window_ms: u64,
    hits: Mutex<HashMap<String, VecDeque<u64>>>,
    refused: Counter,
}

impl RateLimiter {
    pub fn new(max: usize, window_ms: u64) -> Self {
        Self { max, window_ms, hits: Mutex::new(HashMap::new()), refused: Counter::default() }
    }

    /// `Ok(())` and counts the hit, or `Err(retry_after_ms)`.
    pub fn check(&self, key: &str, now: u64) -> Result<(), u64> {
        if self.max == 0 {
            return Ok(());
        }
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() > 10_000 {
            // Bound memory: forget keys whose window has passed.
            hits.retain(|_, q| q.back().is_some_and(|&t| now.saturating_sub(t) < self.window_ms));
        }
        let q = hits.entry(key.to_owned()).or_default();
        while q.front().is_some_and(|&t| now.saturating_sub(t) >= self.window_ms) {
            q.pop_front();
        }
        if q.len() >= self.max {
            let oldest = *q.front().expect("non-empty when full");
            return Err((oldest + self.window_ms).saturating_sub(now).max(1));
        }
        q.push_back(now);
        Ok(())
    }

    /// [`check`](Self::check) as the relay's 429 answer: `{"error":"rate_limited"}` with
    /// `Retry-After` (seconds) and `retryAfter` in the body. `what` ends the message.
    pub fn admit(&self, key: &str, now: u64, what: &str) -> ApiResult<()> {
        self.check(key, now).map_err(|wait_ms| {
            self.refused.inc();
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("Too many {what}; wait a moment."),
            );
            e.retry_after = Some(wait_ms.div_ceil(1000));
            e
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_recovers() {
        let l = RateLimiter::new(2, 1000);
        assert!(l.check("a", 0).is_ok());
        assert!(l.check("a", 10).is_ok());
        assert_eq!(l.check("a", 20), Err(980));
        assert!(l.check("b", 20).is_ok());
        assert!(l.check("a", 1000).is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let l = RateLimiter::new(0, 1000);
        assert!((0..10_000).all(|i| l.check("a", i).is_ok()));
    }

    #[test]
    fn admit_answers_429_with_retry_after_in_seconds() {
        let l = RateLimiter::new(1, 60_000);
        assert!(l.admit("a", 0, "codes").is_ok());
        let e = l.admit("a", 1_500, "codes").unwrap_err();
        assert_eq!((e.status, e.code, e.retry_after), (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(59)));
    }
}
