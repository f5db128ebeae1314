//! The activity log (PROTOCOL §11): what happened to each binding, append-only, read newest
//! first by the user (panel), the app (API key) and the owner (CLI). Each event is written
//! in the transaction of the change it records, so the log never tells of a pairing or a
//! revocation that did not happen, nor misses one that did. Refreshes are counted, one row
//! per binding and UTC day, not logged one by one (~100 a day per browser).

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Db;

/// How a binding was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The connect page handed the pairing token to the extension (PROTOCOL §1).
    OneClick,
    /// The user pasted a pairing token into the panel (or an API client redeemed one).
    PastedToken,
    /// A code the app approved and the user confirmed (PROTOCOL §3).
    Code,
    /// The organization's policy enrolled it (PROTOCOL §8).
    Managed,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneClick => "one_click",
            Self::PastedToken => "pasted_token",
            Self::Code => "code",
            Self::Managed => "managed",
        }
    }
}

/// Who revoked a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevokedBy {
    /// Disconnect in the panel (the binding's own refresh token).
    User,
    /// The app, with its API key.
    App,
    /// The relay's owner (`latch-relay binding revoke`).
    Owner,
    /// A rotated refresh token was used again: the family is presumed stolen.
    Reuse,
    /// Unused for `LATCH_BINDING_IDLE_DAYS`.
    Idle,
}

impl RevokedBy {
    /// As stored in `bindings.revoked_by` (and in the log's and webhooks' `by`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::App => "app",
            Self::Owner => "owner",
            Self::Reuse => "reuse",
            Self::Idle => "idle",
        }
    }
}

/// One event to record (everything but the daily refresh count, and `paired`, which is the
/// binding's own row: [`events_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    RefreshReuseDetected,
    Paused,
    Resumed,
    /// An errand the app sent: its kind, the extension's error code if it failed (or
    /// `timeout`), and how long the answer took.
    Errand {
        kind: String,
        error: Option<String>,
        duration_ms: u64,
    },
    Capture {
        bytes: u64,
    },
    Revoked {
        by: RevokedBy,
    },
}

impl Event {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
            Self::Errand { .. } => "errand",
            Self::Capture { .. } => "capture",
            Self::Revoked { .. } => "revoked",
        }
    }

    /// The event's own fields, as stored in `detail` (JSON) and read back into [`ActivityEvent`].
    pub(crate) fn detail(&self) -> Option<String> {
        let d = match self {
            Self::Errand { kind, error, duration_ms } => Detail {
                kind: Some(kind.clone()),
                ok: Some(error.is_none()),
                error: error.clone(),
                duration_ms: Some(*duration_ms),
                ..Detail::default()
            },
            Self::Capture { bytes } => Detail { bytes: Some(*bytes), ..Detail::default() },
            Self::Revoked { by } => Detail { by: Some(*by), ..Detail::default() },
            Self::RefreshReuseDetected | Self::Paused | Self::Resumed => return None,
        };
        serde_json::to_string(&d).ok()
    }
}

/// The fields an event may carry beside its type and time.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    /// `paired`: how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// `errand`: the kind the app sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `errand`: whether the extension did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// `errand` that failed: the extension's error code, or `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `errand`: milliseconds from sending it to the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// `capture`: its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// `revoked`: by whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<RevokedBy>,
}

/// An event as read: `type`, `at` (ms since the epoch) and its own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityEvent {
    /// `paired`, `refreshed`, `refresh_reuse_detected`, `paused`, `resumed`, `errand`,
    /// `capture` or `revoked`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When (ms since the epoch); for `refreshed`, the day's first refresh.
    pub at: i64,
    /// `refreshed`: refreshes that UTC day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(flatten)]
    pub detail: Detail,
}

pub const RECORD_EVENT: &str = "INSERT INTO binding_events (binding_id, type, at, detail) VALUES ($1, $2, $3, $4)";
/// The day's refresh row, made by the first refresh and counted up by the others.
pub const COUNT_REFRESH: &str =
    "INSERT INTO binding_events (binding_id, type, at, day) VALUES ($1, 'refreshed', $2, $3)
     ON CONFLICT (binding_id, type, day) DO UPDATE SET count = binding_events.count + 1";

const MS_PER_DAY: u64 = 86_400_000;

/// Records `event` in the transaction of the change it tells of.
pub async fn record(tx: &mut sqlx::AnyConnection, binding_id: &str, event: &Event, now: u64) -> sqlx::Result<()> {
    sqlx::query(RECORD_EVENT)
        .bind(binding_id)
        .bind(event.type_name())
        .bind(now as i64)
        .bind(event.detail())
        .execute(tx)
        .await?;
    Ok(())
}

/// [`record`] on the SQLite writer's connection.
pub fn record_on_writer(c: &Connection, binding_id: &str, event: &Event, now: u64) -> rusqlite::Result<()> {
    c.prepare_cached(RECORD_EVENT)?.execute(params![binding_id, event.type_name(), now as i64, event.detail()])?;
    Ok(())
}

/// Counts a refresh in the day's row (PostgreSQL's rotation transaction).
pub async fn count_refresh(tx: &mut sqlx::AnyConnection, binding_id: &str, now: u64) -> sqlx::Result<()> {
    sqlx::query(COUNT_REFRESH).bind(binding_id).bind(now as i64).bind((now / MS_PER_DAY) as i64).execute(tx).await?;
    Ok(())
}

/// [`count_refresh`] on the SQLite writer's connection.
pub fn count_refresh_on_writer(c: &Connection, binding_id: &str, now: u64) -> rusqlite::Result<()> {
    c.prepare_cached(COUNT_REFRESH)?.execute(params![binding_id, now as i64, (now / MS_PER_DAY) as i64])?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StoredEvent {
    id: i64,
    #[sqlx(rename = "type")]
    kind: String,
    at: i64,
    count: i64,
    detail: Option<String>,
}

/// One page of a binding's events, newest first: at most `limit`, older than event id
/// `before` when given. The second value is the id to continue before, when more are left.
///
/// The oldest, `paired`, is not a row of the log: the binding's own row says when and how
/// it was made, so a pairing writes no event (one more row and index entry per pairing
/// cost 10–13 % of one-click pairings/s on SQLite: BENCHMARKS.md, issue 23). It ends the
/// last page, or has a page of its own when the last one is full. A `paired` row an older
/// instance still writes during a rolling upgrade (migration 0020 deleted the rest) is
/// skipped, so it never shows twice.
pub async fn events_page(
    db: &Db,
    binding_id: &str,
    before: Option<i64>,
    limit: u32,
) -> sqlx::Result<(Vec<ActivityEvent>, Option<i64>)> {
    let rows: Vec<StoredEvent> = sqlx::query_as(
        "SELECT id, type, at, count, detail FROM binding_events
         WHERE binding_id = $1 AND id < $2 AND type <> 'paired' ORDER BY id DESC LIMIT $3",
    )
    .bind(binding_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(i64::from(limit) + 1)
    .fetch_all(db)
    .await?;
    let more = rows.len() > limit as usize;
    let page: Vec<StoredEvent> = rows.into_iter().take(limit as usize).collect();
    let room_for_paired = !more && page.len() < limit as usize;
    // A full last page: one more page, before its oldest row, holds `paired` alone.
    let next = if more || !room_for_paired { page.last().map(|e| e.id) } else { None };
    let mut events: Vec<ActivityEvent> = page
        .into_iter()
        .map(|e| ActivityEvent {
            count: (e.kind == "refreshed").then_some(e.count),
            kind: e.kind,
            at: e.at,
            // Written by `Event::detail` only; a row it can't read shows its type and time.
            detail: e.detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or_default(),
        })
        .collect();
    if room_for_paired {
        events.extend(paired(db, binding_id).await?);
    }
    Ok((events, next))
}

/// The binding's `paired` event, from its row (none once the row is gone).
async fn paired(db: &Db, binding_id: &str) -> sqlx::Result<Option<ActivityEvent>> {
    let row: Option<(i64, Option<String>)> = sqlx::query_as("SELECT created_at, via FROM bindings WHERE id = $1")
        .bind(binding_id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|(at, via)| ActivityEvent {
        kind: "paired".into(),
        at,
        count: None,
        detail: Detail {
            via: via.and_then(|v| serde_json::from_value(serde_json::Value::String(v)).ok()),
            ..Detail::default()
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_revoked_is_stored_as_the_log_and_the_webhooks_name_it() {
        use RevokedBy::*;
        for by in [User, App, Owner, Reuse, Idle] {
            assert_eq!(serde_json::to_value(by).unwrap(), by.as_str(), "{by:?}");
        }
    }
}
