//! Answers the relay works out on nearly every request and that only a revocation can make
//! wrong: "this access token passes the gate" (its signature verified, its binding active)
//! and "this API key is active, with this salted hash" (every app call). Remembering them
//! spares most of those reads and verifications. An entry is trusted
//! only while no revocation has been heard since it was read (the revocation signal's
//! version, bumped here at once, by other processes and instances within 50 ms on SQLite,
//! by NOTIFY on PostgreSQL) and for at most [`TTL`], the backstop if a notification was
//! ever missed. Only positive answers are kept: unknown or revoked always reads the
//! database. API keys are kept only as their salted hash; access tokens as their text, in
//! memory only, where each is anyway while its request runs (they expire within minutes).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::realtime::Signal;

pub const TTL: Duration = Duration::from_secs(2);
pub struct Remembered<V> {
    entries: Mutex<HashMap<String, (V, u64, Instant)>>,
    /// The revocation signal, read for its version.
    revocations: watch::Receiver<u64>,
    /// Bound on entries; a full cache simply starts over.
    max_entries: usize,
}

impl<V: Clone> Remembered<V> {
    pub fn new(revocations: &Signal, max_entries: usize) -> Self {
        Self { entries: Mutex::default(), revocations: revocations.subscribe(), max_entries }
    }

    fn version(&self) -> u64 {
        *self.revocations.borrow()
    }

    /// The value of `id`: remembered if still trustworthy, else `load`ed (and remembered
    /// when there is one). The signal's version is taken before the load, so a revocation
    /// racing the read invalidates the entry.
    pub async fn get_or_load<E, Fut>(&self, id: &str, load: impl FnOnce() -> Fut) -> Result<Option<V>, E>
    where
        Fut: std::future::Future<Output = Result<Option<V>, E>>,
    {
        let now = Instant::now();
        if let Some(value) = self.get(id, now) {
            return Ok(Some(value));
        }
        let version = self.version();
        let Some(value) = load().await? else {
            return Ok(None);
        };
        self.put(id, value.clone(), version, now);
        Ok(Some(value))
    }

    /// The remembered value, if still trustworthy.
    fn get(&self, id: &str, now: Instant) -> Option<V> {
        let version = self.version();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (value, seen_version, read_at) = entries.get(id)?;
        (*seen_version == version && now.duration_since(*read_at) < TTL).then(|| value.clone())
    }

    /// Remembers a value read as active; `version` is the signal's version taken before
    /// the read, so a revocation racing the read invalidates the entry.
    fn put(&self, id: &str, value: V, version: u64, read_at: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries {
            entries.clear();
        }
        entries.insert(id.to_owned(), (value, version, read_at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active() -> String {
        "acme/dana".into()
    }

    #[test]
    fn a_revocation_or_the_ttl_ends_trust_in_an_entry() {
        let signal = Signal::default();
        let cache = Remembered::new(&signal, 10);
        let t0 = Instant::now();
        let v = cache.version();
        cache.put("bnd_1", active(), v, t0);
        assert_eq!(cache.get("bnd_1", t0 + Duration::from_millis(10)), Some(active()));
        assert_eq!(cache.get("bnd_1", t0 + TTL), None, "too old");
        assert_eq!(cache.get("bnd_2", t0), None, "never read");
        signal.bump();
        assert_eq!(cache.get("bnd_1", t0), None, "a revocation was heard since the read");
    }

    #[test]
    fn a_revocation_during_the_read_is_not_forgotten() {
        let signal = Signal::default();
        let cache = Remembered::new(&signal, 10);
        let before = cache.version();
        signal.bump(); // revoked while the database answered "active"
        cache.put("bnd_1", active(), before, Instant::now());
        assert_eq!(cache.get("bnd_1", Instant::now()), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let signal = Signal::default();
        let cache = Remembered::new(&signal, 2);
        let (v, t0) = (cache.version(), Instant::now());
        cache.put("a", active(), v, t0);
        cache.put("b", active(), v, t0);
        assert_eq!(cache.get("a", t0), Some(active()));
        cache.put("c", active(), v, t0);
        assert_eq!((cache.get("a", t0), cache.get("c", t0)), (None, Some(active())));
    }
}
