//! Abuse limits: per-API-key, per-token and per-client-address request rates. Each limit is
//! `governor`'s keyed GCRA limiter: "n per minute" is a burst of n that refills one request
//! every minute / n. A check is O(1) on a sharded map whatever the number of tracked keys;
//! idle keys are swept by [`Limits::forget_idle`] on a blocking thread, never on a request.
//! Each relay instance limits on its own; that bounds brute force and spam per instance.
//! Every limit answers 429 `rate_limited` with `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::StatusCode;
use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::Quota;
use prometheus_client::metrics::counter::Counter;

use crate::error::{ApiError, ApiResult};
use crate::metrics::{LimitLabel, Metrics};

const MINUTE: Duration = Duration::from_secs(60);

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
    /// `POST /api/auth/refresh`, per client address (a whole office behind one NAT refreshes
    /// a few times an hour per browser).
    pub refresh_per_address: usize,
    /// `POST /api/auth/refresh`, per refresh token named (retries after lost answers).
    pub refresh_per_token: usize,
    /// `POST /api/auth/revoke`, per client address.
    pub revoke_per_address: usize,
    /// `GET /api/pairing/status`, per client address (each challenge is also held to its
    /// poll interval, `slow_down`).
    pub status_per_address: usize,
    /// `PATCH /api/me/device`, `POST /api/me/pause` and `/resume`, per binding (each a write).
    pub changes_per_binding: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            mint_per_key: 1200,
            describe_per_address: 120,
            redeem_per_address: 60,
            challenge_per_address: 10,
            approve_per_key: 60,
            refresh_per_address: 600,
            refresh_per_token: 30,
            revoke_per_address: 60,
            status_per_address: 600,
            changes_per_binding: 30,
        }
    }
}

impl LimitConfig {
    /// Every limit off (the load generator's own relay).
    pub fn off() -> Self {
        Self {
            mint_per_key: 0,
            describe_per_address: 0,
            redeem_per_address: 0,
            challenge_per_address: 0,
            approve_per_key: 0,
            refresh_per_address: 0,
            refresh_per_token: 0,
            revoke_per_address: 0,
            status_per_address: 0,
            changes_per_binding: 0,
        }
    }
}

/// One limiter per limited endpoint and key.
pub struct Limits {
    pub mint: RateLimiter,
    pub describe: RateLimiter,
    pub redeem: RateLimiter,
    pub challenge: RateLimiter,
    pub approve: RateLimiter,
    pub refresh_by_address: RateLimiter,
    pub refresh_by_token: RateLimiter,
    pub revoke: RateLimiter,
    pub status: RateLimiter,
    pub binding_changes: RateLimiter,
}

impl Limits {
    /// The limiters, each counting its refusals in `metrics` under its own name.
    pub fn new(c: &LimitConfig, metrics: &Metrics) -> Self {
        let per_minute = |max, limit| {
            let mut l = RateLimiter::per_minute(max);
            l.refused = metrics.rate_limited.get_or_create(&LimitLabel { limit }).clone();
            l
        };
        Self {
            mint: per_minute(c.mint_per_key, "mint"),
            describe: per_minute(c.describe_per_address, "describe"),
            redeem: per_minute(c.redeem_per_address, "redeem"),
            challenge: per_minute(c.challenge_per_address, "code_request"),
            approve: per_minute(c.approve_per_key, "code_decision"),
            refresh_by_address: per_minute(c.refresh_per_address, "refresh_address"),
            refresh_by_token: per_minute(c.refresh_per_token, "refresh_token"),
            revoke: per_minute(c.revoke_per_address, "revoke"),
            status: per_minute(c.status_per_address, "code_status"),
            binding_changes: per_minute(c.changes_per_binding, "binding_changes"),
        }
    }

    fn all(&self) -> [&RateLimiter; 10] {
        [
            &self.mint,
            &self.describe,
            &self.redeem,
            &self.challenge,
            &self.approve,
            &self.refresh_by_address,
            &self.refresh_by_token,
            &self.revoke,
            &self.status,
            &self.binding_changes,
        ]
    }

    /// Drops every key whose budget has been full again for a refill period (it would be
    /// admitted as if new), so memory follows the clients of the last minute or so. O(tracked keys): run it off the
    /// request path ([`spawn_sweeper`]).
    pub fn forget_idle(&self) {
        for l in self.all() {
            l.forget_idle();
        }
    }

    /// Keys tracked over all limiters.
    pub fn tracked(&self) -> usize {
        self.all().iter().map(|l| l.tracked()).sum()
    }
}

/// How often idle keys are swept: a key is idle at most a minute after its last request.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Sweeps idle keys every [`SWEEP_EVERY`] on tokio's blocking pool, so the pass over the
/// map never holds a runtime thread.
pub fn spawn_sweeper(state: crate::AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || {
                s.limits.forget_idle();
                s.inbox.forget_idle();
            })
            .await;
        }
    });
}

type Keyed<C> = governor::RateLimiter<u64, DashMapStateStore<u64>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A keyed limit: at most `max` requests per window per key, refilling evenly.
pub struct RateLimiter<C: Clock = MonotonicClock> {
    /// `None`: unlimited.
    keyed: Option<Keyed<C>>,
    /// Keys are tracked as their 64-bit hash under this limiter's random SipHash key: a
    /// fixed-size entry (no pointer to chase to compare keys, so the cost of a check stays
    /// flat as the map grows), no client text kept, and no way for a client to aim two
    /// keys at one slot. Two keys sharing a hash by chance would share a budget:
    /// ~10⁻⁸ at a million keys.
    hasher: std::hash::RandomState,
    clock: C,
    refused: Counter,
}

impl RateLimiter {
    /// `max` requests per minute per key; 0: unlimited.
    pub fn per_minute(max: usize) -> Self {
        Self::with_clock(max, MINUTE, MonotonicClock)
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// `max` requests per `window` per key on `clock` (tests pass a fake one); 0: unlimited.
    pub fn with_clock(max: usize, window: Duration, clock: C) -> Self {
        let keyed = NonZeroU32::new(u32::try_from(max).unwrap_or(u32::MAX)).map(|burst| {
            let refill = (window / burst.get()).max(Duration::from_nanos(1));
            let quota = Quota::with_period(refill).expect("refill period is non-zero").allow_burst(burst);
            governor::RateLimiter::dashmap_with_clock(quota, clock.clone())
        });
        Self { keyed, hasher: std::hash::RandomState::new(), clock, refused: Counter::default() }
    }

    /// `Ok(())` and counts the hit, or `Err(wait)` until the key may try again.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let Some(keyed) = &self.keyed else { return Ok(()) };
        let slot = std::hash::BuildHasher::hash_one(&self.hasher, key);
        keyed.check_key(&slot).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// [`check`](Self::check) as the relay's 429 answer: `{"error":"rate_limited"}` with
    /// `Retry-After` (whole seconds, at least 1) and `retryAfter` in the body. `what` ends
    /// the message.
    pub fn admit(&self, key: &str, what: &str) -> ApiResult<()> {
        self.check(key).map_err(|wait| {
            self.refused.inc();
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("Too many {what}; wait a moment."),
            );
            e.retry_after = Some(wait.as_millis().div_ceil(1000).max(1) as u64);
            e
        })
    }

    /// See [`Limits::forget_idle`].
    pub fn forget_idle(&self) {
        if let Some(k) = &self.keyed {
            k.retain_recent();
            k.shrink_to_fit();
        }
    }

    /// Keys this limiter tracks now.
    pub fn tracked(&self) -> usize {
        self.keyed.as_ref().map_or(0, |k| k.len())
    }
}

/// The limiter key of a client address. IPv6 is keyed by its /64: one subscriber usually
/// holds a whole /64, so its 2^64 addresses must share one budget. An IPv4-mapped IPv6
/// address is its IPv4 address.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn fake(max: usize, window_ms: u64) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimiter::with_clock(max, Duration::from_millis(window_ms), clock.clone()), clock)
    }

    #[test]
    fn limits_per_key_and_recovers_one_request_per_window_over_max() {
        let (l, clock) = fake(2, 1000);
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        assert_eq!(l.check("a"), Err(Duration::from_millis(500)));
        assert!(l.check("b").is_ok(), "another key has its own budget");
        clock.advance(Duration::from_millis(499));
        assert!(l.check("a").is_err());
        clock.advance(Duration::from_millis(1));
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_err());
        clock.advance(Duration::from_millis(1000));
        assert!(l.check("a").is_ok() && l.check("a").is_ok() && l.check("a").is_err(), "a full burst again");
    }

    #[test]
    fn zero_means_unlimited() {
        let (l, _) = fake(0, 1000);
        assert!((0..10_000).all(|_| l.check("a").is_ok()));
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn admit_answers_429_with_retry_after_in_seconds() {
        let (l, clock) = fake(1, 60_000);
        assert!(l.admit("a", "codes").is_ok());
        clock.advance(Duration::from_millis(1_500));
        let e = l.admit("a", "codes").unwrap_err();
        assert_eq!((e.status, e.code, e.retry_after), (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(59)));
    }

    #[test]
    fn idle_keys_are_forgotten_and_busy_ones_kept() {
        let (l, clock) = fake(2, 1000);
        for i in 0..1000 {
            assert!(l.check(&format!("k{i}")).is_ok());
        }
        l.check("busy").unwrap();
        l.check("busy").unwrap();
        assert_eq!(l.tracked(), 1001);
        // governor drops a key one refill period after its budget is full again: the single
        // hits (full again at 500 ms) go at 1,001 ms, the burst (full at 1,000 ms) stays.
        clock.advance(Duration::from_millis(1_001));
        l.forget_idle();
        assert_eq!(l.tracked(), 1, "only the recently busy key is kept");
        clock.advance(Duration::from_millis(1_000));
        l.forget_idle();
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn ipv6_is_keyed_by_its_64_and_mapped_ipv4_by_the_ipv4_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(address_key(ip("2001:db8:1:2:ffff:1:2:3")), address_key(ip("2001:db8:1:2::9")));
        assert_ne!(address_key(ip("2001:db8:1:3::1")), address_key(ip("2001:db8:1:2::1")));
        assert_eq!(address_key(ip("::ffff:198.51.100.7")), "198.51.100.7");
        assert_eq!(address_key(ip("198.51.100.7")), "198.51.100.7");
    }
}
