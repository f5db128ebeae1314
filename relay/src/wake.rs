//! Wakes long-polls when a challenge may have changed. Changes made by this process bump
//! the channel directly; changes made by another process on the same SQLite file (the
//! `latch-relay pairing approve` or `binding revoke` CLI) are noticed by a watcher that compares SQLite's
//! `PRAGMA data_version` every 50 ms while anyone is waiting.

use std::time::Duration;

use sqlx::Connection;
use tokio::sync::watch;

use crate::db::Db;

pub const WATCH_EVERY: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub struct Changes(watch::Sender<u64>);

impl Default for Changes {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl Changes {
    /// Something changed: every waiter re-reads its challenge.
    pub fn bump(&self) {
        self.0.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    /// Runs forever: watches for commits by other processes while someone is waiting.
    pub async fn watch_other_writers(self, db: Db, revocations: crate::revocations::Revocations) {
        let Ok(mut conn) = db.acquire().await else {
            return;
        };
        let mut seen: Option<i64> = None;
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            if self.0.receiver_count() == 0 && !revocations.has_listeners() {
                continue;
            }
            // data_version changes when another connection (or process) commits.
            match sqlx::query_scalar::<_, i64>("PRAGMA data_version").fetch_one(&mut *conn).await {
                Ok(v) if seen.is_some_and(|s| s != v) => {
                    seen = Some(v);
                    self.bump();
                    revocations.notify();
                }
                Ok(v) => seen = Some(v),
                Err(_) => {
                    let _ = conn.ping().await;
                }
            }
        }
    }
}
