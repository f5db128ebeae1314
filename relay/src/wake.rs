//! Wake-ups. A [`Signal`] is a counter that waiters watch: long-polls wait on "a challenge
//! may have changed", live sockets on "a binding may have been revoked". Changes made by
//! this process bump the signal directly; changes made by another process or relay
//! instance on the same database (the `latch-relay pairing approve` or `binding revoke`
//! CLI, a second relay behind the same load balancer) are noticed by
//! [`watch_other_writers`]: on SQLite by comparing `PRAGMA data_version` every 50 ms and then the change counters, on PostgreSQL by `LISTEN`ing to what [`publish`] `NOTIFY`s.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::Connection;
use tokio::sync::watch;

use crate::db::{Backend, Db};
use crate::{routing, store, AppState};

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

/// What a wake-up is about; also the PostgreSQL `NOTIFY` channel that carries it and, for
/// changes other processes wait on, the counter a SQLite watcher reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// A challenge was approved or denied.
    Challenges,
    /// A binding was revoked.
    Revocations,
    /// An errand for a socket on another instance (payload `instance:errand`).
    Errands,
    /// An errand's outcome was written (payload: the errand id).
    ErrandResults,
    /// A newer socket of a binding was recorded (payload `instance:conn:binding` of the
    /// socket it replaced).
    Sockets,
}

impl Topic {
    pub const ALL: [Topic; 5] =
        [Topic::Challenges, Topic::Revocations, Topic::Errands, Topic::ErrandResults, Topic::Sockets];

    /// The row of `change_counters` this topic bumps (migrations/*/0005).
    pub fn counter(self) -> &'static str {
        match self {
            Topic::Challenges => "challenges",
            Topic::Revocations => "revocations",
            Topic::Errands | Topic::ErrandResults | Topic::Sockets => "",
        }
    }

    pub fn channel(self) -> &'static str {
        match self {
            Topic::Challenges => "latch_challenges",
            Topic::Revocations => "latch_revocations",
            Topic::Errands => "latch_errands",
            Topic::ErrandResults => "latch_errand_results",
            Topic::Sockets => "latch_sockets",
        }
    }

    fn of_channel(channel: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.channel() == channel)
    }
}

/// Tells the other relay instances on this database about a change. SQLite needs nothing
/// (they notice commits through `data_version`); PostgreSQL gets a `NOTIFY`. A failure is
/// logged, not returned: the change itself is committed, and waiters elsewhere still
/// re-read when their wait ends.
pub async fn publish(db: &Db, topic: Topic) {
    publish_with(db, topic, "").await
}

pub async fn publish_with(db: &Db, topic: Topic, payload: &str) {
    if Backend::of(db) != Backend::Postgres {
        return;
    }
    let notify = sqlx::query("SELECT pg_notify($1, $2)").bind(topic.channel()).bind(payload).execute(db).await;
    if let Err(e) = notify {
        tracing::warn!(error = %e, channel = topic.channel(), "cannot notify other instances");
    }
}

/// Runs forever: hears what other instances and processes changed on the same database
/// and wakes this instance's waiters (or delivers a forwarded errand).
pub async fn watch_other_writers(state: AppState) {
    match Backend::of(&state.db) {
        Backend::Sqlite => {
            let signals =
                vec![(Topic::Challenges, state.changes.clone()), (Topic::Revocations, state.revocations.clone())];
            watch_sqlite(state.db.clone(), signals).await
        }
        Backend::Postgres => listen_postgres(state).await,
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
    let mut seen_counts = store::change_counters(&mut conn).await.unwrap_or_default();
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
        match store::change_counters(&mut conn).await {
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
async fn listen_postgres(state: AppState) {
    let url = state.db.connect_options().database_url.to_string();
    let bump_all = || {
        state.changes.bump();
        state.revocations.bump();
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
                    Some(Topic::Challenges) => state.changes.bump(),
                    Some(Topic::Revocations) => state.revocations.bump(),
                    Some(Topic::Errands) => {
                        tokio::spawn(routing::on_errand_notice(state.clone(), n.payload().to_owned()));
                    }
                    Some(Topic::ErrandResults) => routing::on_result_notice(&state, n.payload()),
                    Some(Topic::Sockets) => routing::on_socket_notice(&state, n.payload()),
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
