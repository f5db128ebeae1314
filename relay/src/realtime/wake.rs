//! Wake-ups. A [`Signal`] is a counter that waiters watch: long-polls wait on "a challenge
//! may have changed", live sockets on "a binding may have been revoked". Changes made by
//! this process bump the signal directly; changes made by another process or relay
//! instance on the same database (the `latch-relay pairing approve` or `binding revoke`
//! CLI, a second relay behind the same load balancer) are noticed by
//! [`watch_other_writers`]: on SQLite by comparing `PRAGMA data_version` every 50 ms and
//! then the change counters, on PostgreSQL by `LISTEN`ing to what `db::publish` `NOTIFY`s.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::Connection;
use tokio::sync::watch;

use super::{errands, Realtime};
use crate::db::{changes, Backend, Db, Topic};

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
}

/// Runs forever: hears what other instances and processes changed on the same database
/// and wakes this instance's waiters (or delivers a forwarded errand).
pub async fn watch_other_writers(rt: Arc<Realtime>) {
    match Backend::of(&rt.db) {
        Backend::Sqlite => {
            let signals = vec![(Topic::Challenges, rt.changes.clone()), (Topic::Revocations, rt.revocations.clone())];
            watch_sqlite(rt.db.clone(), signals).await
        }
        Backend::Postgres => listen_postgres(rt).await,
    }
}

/// SQLite: compares `PRAGMA data_version` every 50 ms; when another connection (or
/// process) committed, reads the change counters and wakes the waiters of each topic
/// whose counter moved (all of them if the counters cannot be read).
async fn watch_sqlite(db: Db, signals: Vec<(Topic, Signal)>) {
    let Ok(mut conn) = db.acquire().await else {
        return;
    };
    // The baselines come first, before anyone can subscribe and wait for a commit.
    let mut seen_version: Option<i64> = sqlx::query_scalar("PRAGMA data_version").fetch_one(&mut *conn).await.ok();
    let mut seen_counts = changes::change_counters(&mut conn).await.unwrap_or_default();
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let version = match sqlx::query_scalar::<_, i64>("PRAGMA data_version").fetch_one(&mut *conn).await {
            Ok(v) => v,
            Err(_) => {
                let _ = conn.ping().await;
                continue;
            }
        };
        if seen_version == Some(version) {
            continue;
        }
        seen_version = Some(version);
        match changes::change_counters(&mut conn).await {
            Ok(counts) => {
                for (topic, signal) in &signals {
                    let seq = |c: &[(String, i64)]| c.iter().find(|(t, _)| t == topic.counter()).map(|(_, s)| *s);
                    if seq(&counts) != seq(&seen_counts) {
                        signal.bump();
                    }
                }
                seen_counts = counts;
            }
            Err(_) => signals.iter().for_each(|(_, s)| s.bump()),
        }
    }
}

/// PostgreSQL: `LISTEN` on every topic's channel over one dedicated connection. When that
/// connection drops, notifications may have been missed, so every waiter re-reads.
async fn listen_postgres(rt: Arc<Realtime>) {
    let url = rt.db.connect_options().database_url.to_string();
    let bump_all = || {
        rt.changes.bump();
        rt.revocations.bump();
    };
    loop {
        let mut listener = match PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other instances; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen_all(Topic::ALL.map(Topic::channel)).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        bump_all(); // anything committed before LISTEN took effect
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match Topic::of_channel(n.channel()) {
                    Some(Topic::Challenges) => rt.changes.bump(),
                    Some(Topic::Revocations) => rt.revocations.bump(),
                    Some(Topic::Errands) => {
                        tokio::spawn(errands::on_errand_notice(rt.clone(), n.payload().to_owned()));
                    }
                    Some(Topic::ErrandResults) => errands::on_result_notice(&rt, n.payload()),
                    Some(Topic::Sockets) => errands::on_socket_notice(&rt, n.payload()),
                    None => {}
                },
                // The connection dropped and try_recv reconnects on the next call.
                Ok(None) => bump_all(),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the listening connection; reconnecting");
                    bump_all();
                    break;
                }
            }
        }
    }
}
