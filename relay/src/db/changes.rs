//! What a change tells other processes and instances on the same database. Each
//! [`Topic`] has a counter row (SQLite processes notice a moved counter after a commit)
//! and a PostgreSQL `NOTIFY` channel; `realtime::wake` listens to both.

use super::{Backend, Db};

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

    pub fn of_channel(channel: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.channel() == channel)
    }
}

/// Bumps the counter of `topic` (see migrations/*/0005): other processes on a SQLite file
/// wake only the waiters of a topic whose counter moved.
pub async fn count_change(conn: &mut sqlx::AnyConnection, topic: Topic) -> sqlx::Result<()> {
    sqlx::query("UPDATE change_counters SET seq = seq + 1 WHERE topic = $1")
        .bind(topic.counter())
        .execute(conn)
        .await?;
    Ok(())
}

/// Every topic's counter.
pub async fn change_counters(conn: &mut sqlx::AnyConnection) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT topic, seq FROM change_counters").fetch_all(conn).await
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
