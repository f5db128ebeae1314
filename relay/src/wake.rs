//! Wake-ups. A [`Signal`] is a counter that waiters watch: long-polls wait on "a challenge
//! may have changed", live sockets on "a binding may have been revoked". Changes made by
//! this process bump the signal directly; changes made by another process on the same
//! SQLite file (the `latch-relay pairing approve` or `binding revoke` CLI) are noticed by
//! [`watch_other_writers`], which compares SQLite's `PRAGMA data_version` every 50 ms
//! while anyone is waiting.

use std::time::Duration;

use sqlx::Connection;
use tokio::sync::watch;

use crate::db::Db;

pub const WATCH_EVERY: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub struct Signal(watch::Sender<u64>);

impl Default for Signal {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl Signal {
    /// Something changed: every waiter re-reads what it waits for.
    pub fn bump(&self) {
        self.0.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    fn has_listeners(&self) -> bool {
        self.0.receiver_count() > 0
    }
}

/// Runs forever: bumps `signals` when another connection or process commits, while
/// anyone listens to one of them.
pub async fn watch_other_writers(db: Db, signals: Vec<Signal>) {
    let Ok(mut conn) = db.acquire().await else {
        return;
    };
    let mut seen: Option<i64> = None;
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        if !signals.iter().any(Signal::has_listeners) {
            continue;
        }
        // data_version changes when another connection (or process) commits.
        match sqlx::query_scalar::<_, i64>("PRAGMA data_version").fetch_one(&mut *conn).await {
            Ok(v) if seen.is_some_and(|s| s != v) => {
                seen = Some(v);
                signals.iter().for_each(Signal::bump);
            }
            Ok(v) => seen = Some(v),
            Err(_) => {
                let _ = conn.ping().await;
            }
        }
    }
}
