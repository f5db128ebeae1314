//! Per-address rate limit for challenge requests: a sliding window in memory. Each relay
//! instance limits on its own; that bounds brute force and spam per instance.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

pub struct RateLimiter {
    max: usize,
    window_ms: u64,
    hits: Mutex<HashMap<String, VecDeque<u64>>>,
}

impl RateLimiter {
    pub fn new(max: usize, window_ms: u64) -> Self {
        Self { max, window_ms, hits: Mutex::new(HashMap::new()) }
    }

    /// `Ok(())` and counts the hit, or `Err(retry_after_ms)`.
    pub fn check(&self, key: &str, now: u64) -> Result<(), u64> {
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        if hits.len() > 10_000 {
            // Bound memory: forget addresses whose window has passed.
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
}
