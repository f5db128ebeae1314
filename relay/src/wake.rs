//! Wake-ups. A [`Signal`] is a counter that waiters watch: long-polls wait on "a challenge
//! may have changed", live sockets on "a binding may have been revoked". Changes made by
//! this process bump the signal directly; changes made by another process or relay
//! instance on the same database (the `latch-relay pairing approve` or `binding revoke`
//! CLI, a second relay behind the same load balancer) are noticed by
//! [`watch_other_writers`]: on SQLite by comparing `PRAGMA data_version` every 50 ms while
//! anyone is waiting, on PostgreSQL by `LISTEN`ing to what [`publish`] `NOTIFY`s.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::Connection;
use tokio::sync::watch;

use crate::db::{Backend, Db};

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

/// What a wake-up is about; also the PostgreSQL `NOTIFY` channel that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// A challenge was approved or denied.
    Challenges,
    /// A binding was revoked.
    Revocations,
}

impl Topic {
    pub const ALL: [Topic; 2] = [Topic::Challenges, Topic::Revocations];

    pub fn channel(self) -> &'static str {
        match self {
            Topic::Challenges => "latch_challenges",
            Topic::Revocations => "latch_revocations",
        }
    }
}

/// Tells the other relay instances on this database about a change. SQLite needs nothing
/// (they notice commits through `data_version`); PostgreSQL gets a `NOTIFY`. A failure is
/// logged, not returned: the change itself is committed, and waiters elsewhere still
/// re-read when their wait ends.
pub async fn publish(db: &Db, topic: Topic) {
    if Backend::of(db) != Backend::Postgres {
        return;
    }
    if let Err(e) = sqlx::query("SELECT pg_notify($1, '')").bind(topic.channel()).execute(db).await {
        tracing::warn!(error = %e, channel = topic.channel(), "cannot notify other instances");
    }
}

/// Runs forever: bumps the signal of a topic when another instance or process changed it.
/// `signals` pairs each topic with the signal its waiters watch.
pub async fn watch_other_writers(db: Db, signals: Vec<(Topic, Signal)>) {
    match Backend::of(&db) {
        Backend::Sqlite => watch_sqlite(db, signals.into_iter().map(|(_, s)| s).collect()).await,
        Backend::Postgres => listen_postgres(db, signals).await,
    }
}

/// SQLite: compares `PRAGMA data_version` every 50 ms while anyone is waiting; a change
/// means another connection (or process) committed, so every waiter re-reads.
async fn watch_sqlite(db: Db, signals: Vec<Signal>) {
    let Ok(mut conn) = db.acquire().await else {
        return;
    };
    let mut seen: Option<i64> = None;
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        if !signals.iter().any(Signal::has_listeners) {
            continue;
        }
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

/// PostgreSQL: `LISTEN` on every topic's channel over one dedicated connection. When that
/// connection drops, notifications may have been missed, so every waiter re-reads.
async fn listen_postgres(db: Db, signals: Vec<(Topic, Signal)>) {
    let url = db.connect_options().database_url.to_string();
    let bump_all = || signals.iter().for_each(|(_, s)| s.bump());
    loop {
        let mut listener = match PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other instances; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let channels: Vec<&str> = signals.iter().map(|(t, _)| t.channel()).collect();
        if let Err(e) = listener.listen_all(channels).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        bump_all(); // anything committed before LISTEN took effect
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    signals.iter().filter(|(t, _)| t.channel() == n.channel()).for_each(|(_, s)| s.bump());
                }
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
