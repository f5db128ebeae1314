//! A binding's "last seen" (PROTOCOL §11) without a write per request: each instance
//! remembers when it last wrote each binding's time and writes again only a minute later.
//! The statement itself also skips a binding another instance wrote within the minute.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::db::{self, Db, LAST_SEEN_EVERY_MS as WRITE_EVERY_MS};

/// Bindings remembered before the stale ones are dropped (one entry is ~100 bytes).
const REMEMBERED: usize = 100_000;

#[derive(Default)]
pub struct LastSeen {
    written: Mutex<HashMap<String, u64>>,
}

impl LastSeen {
    /// Whether this instance should write `binding_id`'s time now (and, if so, remembers
    /// that it did).
    fn due(&self, binding_id: &str, now: u64) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if written.get(binding_id).is_some_and(|&at| now < at + WRITE_EVERY_MS) {
            return false;
        }
        if written.len() >= REMEMBERED {
            written.retain(|_, at| now < *at + WRITE_EVERY_MS);
        }
        written.insert(binding_id.to_owned(), now);
        true
    }

    /// The binding was used at `now`: its time is written in the background when due. A
    /// failed write is logged; the next use after a minute tries again.
    pub fn touch(&self, db: &Db, binding_id: &str, now: u64) {
        if !self.due(binding_id, now) {
            return;
        }
        let (db, binding_id) = (db.clone(), binding_id.to_owned());
        tokio::spawn(async move {
            if let Err(e) = db::touch_binding(&db, &binding_id, now).await {
                tracing::debug!(error = %e, binding = %binding_id, "last seen not written");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_write_a_minute_per_binding() {
        let seen = LastSeen::default();
        assert!(seen.due("a", 1_000));
        assert!(!seen.due("a", 1_000 + WRITE_EVERY_MS - 1));
        assert!(seen.due("b", 2_000), "another binding has its own minute");
        assert!(seen.due("a", 1_000 + WRITE_EVERY_MS));
    }

    #[test]
    fn the_memory_is_bounded() {
        let seen = LastSeen::default();
        for i in 0..REMEMBERED as u64 {
            seen.due(&format!("b{i}"), i);
        }
        // All but the newest minute's entries are dropped when full.
        seen.due("new", REMEMBERED as u64 + WRITE_EVERY_MS);
        let left = seen.written.lock().unwrap().len();
        assert!(left < REMEMBERED, "{left} entries left");
    }
}
