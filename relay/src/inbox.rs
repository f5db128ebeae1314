//! The capture inbox's bounds (issue 18): a rate limit per binding, a cap
//! per tenant on the captures not yet drained (count and bytes), and their expiry
//! (`cleanup.rs` deletes captures older than [`InboxConfig::retention_ms`]).
//!
//! The cap is exact, also under concurrent posts: on SQLite the count, the sum and the
//! insert are one `INSERT … SELECT … WHERE`, a write statement, so it holds SQLite's one
//! write lock from before its reads; on PostgreSQL the same statement runs in a
//! transaction that first locks the tenant's row (`FOR NO KEY UPDATE`, which doesn't block
//! the key-share locks of inserts referring to the tenant), so one tenant's posts are
//! counted one after another, across instances. The rate limit is per instance, like the
//! other abuse limits: N instances allow N times the rate.

use crate::error::ApiResult;
use crate::limits::RateLimiter;
use crate::metrics::{LimitLabel, Metrics};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxConfig {
    /// Captures one binding may post per minute (0: unlimited).
    pub per_binding_per_minute: usize,
    /// Undrained captures one tenant may hold.
    pub max_captures: u64,
    /// Bytes (URL + title + text, UTF-8) of undrained captures one tenant may hold.
    pub max_bytes: u64,
    /// An undrained capture older than this is deleted.
    pub retention_ms: u64,
}

impl InboxConfig {
    /// The cap the capture store enforces.
    pub fn cap(&self) -> crate::db::captures::Cap {
        crate::db::captures::Cap { max_captures: self.max_captures, max_bytes: self.max_bytes }
    }
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            // "Send this page" is a click: 10 a minute is more than a person sends.
            per_binding_per_minute: 10,
            // ~100 of the largest captures the extension sends (640 KiB), or 1,000 small ones.
            max_captures: 1_000,
            max_bytes: 64 * 1024 * 1024,
            retention_ms: 7 * 24 * 3_600_000,
        }
    }
}

/// The per-binding limiter (`limits::RateLimiter`, through its public API).
pub struct Inbox {
    limiter: RateLimiter,
    refused: prometheus_client::metrics::counter::Counter,
}

impl Inbox {
    pub fn new(c: &InboxConfig, metrics: &Metrics) -> Self {
        Self {
            limiter: RateLimiter::per_minute(c.per_binding_per_minute),
            refused: metrics.rate_limited.get_or_create(&LimitLabel { limit: "capture" }).clone(),
        }
    }

    /// 429 `rate_limited` (with `Retry-After`) when this binding posted too many captures.
    pub fn admit(&self, binding_id: &str) -> ApiResult<()> {
        self.limiter.admit(binding_id, "page captures sent from this browser").inspect_err(|_| {
            self.refused.inc();
        })
    }

    /// Forgets idle bindings' budgets (`limits::spawn_sweeper` calls it off the request path).
    pub fn forget_idle(&self) {
        self.limiter.forget_idle();
    }
}
