//! Code-pairing storage. Every single-use rule is one conditional statement: the pending
//! limit is checked inside the INSERT, approval is `UPDATE … WHERE status = 'pending'`,
//! and tokens are handed out by `UPDATE … WHERE status = 'approved'` exactly once.

use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::store::{count_change, insert_binding, insert_session};
use crate::wake::Topic;

pub const MAX_PENDING_PER_DEVICE: i64 = 3;

/// A challenge as its poller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRow {
    pub status: String,
    pub expires_at: u64,
    pub interval_ms: u64,
    pub last_poll_at: Option<u64>,
}

pub enum Created {
    Ok,
    MaxPending,
    CodeTaken,
}

#[allow(clippy::too_many_arguments)]
pub async fn create(
    db: &Db,
    id_hash: &[u8],
    code: &str,
    device_id: &str,
    device_name: &str,
    client_addr: &str,
    interval_ms: u64,
    now: u64,
    expires_at: u64,
) -> sqlx::Result<Created> {
    let r = sqlx::query(
        "INSERT INTO challenges (id_hash, code, device_id, device_name, client_addr, interval_ms, created_at, expires_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8
         WHERE (SELECT COUNT(*) FROM challenges WHERE device_id = $3 AND status = 'pending' AND expires_at > $7) < $9",
    )
    .bind(id_hash)
    .bind(code)
    .bind(device_id)
    .bind(device_name)
    .bind(client_addr)
    .bind(interval_ms as i64)
    .bind(now as i64)
    .bind(expires_at as i64)
    .bind(MAX_PENDING_PER_DEVICE)
    .execute(db)
    .await;
    match r {
        Ok(r) if r.rows_affected() == 1 => Ok(Created::Ok),
        Ok(_) => Ok(Created::MaxPending),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Created::CodeTaken),
        Err(e) => Err(e),
    }
}

pub async fn get(db: &Db, id_hash: &[u8]) -> sqlx::Result<Option<ChallengeRow>> {
    let row = sqlx::query("SELECT status, expires_at, interval_ms, last_poll_at FROM challenges WHERE id_hash = $1")
        .bind(id_hash)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| ChallengeRow {
        status: r.get("status"),
        expires_at: r.get::<i64, _>("expires_at") as u64,
        interval_ms: r.get::<i64, _>("interval_ms") as u64,
        last_poll_at: r.get::<Option<i64>, _>("last_poll_at").map(|t| t as u64),
    }))
}

/// Slack for polls that arrive just before the interval is up: the client measures the
/// interval from when it sent the previous poll, the relay from when that poll arrived.
pub const POLL_GRACE_MS: u64 = 500;

/// Records a poll if it respects the interval (measured between poll starts). A poll
/// that comes too early is refused and the interval grows by `slow_down_ms` (RFC 8628).
/// Returns the interval in force afterwards and whether the poll was allowed.
pub async fn record_poll(db: &Db, id_hash: &[u8], now: u64, slow_down_ms: u64) -> sqlx::Result<(bool, u64)> {
    let allowed: Option<i64> = sqlx::query_scalar(
        "UPDATE challenges SET last_poll_at = $2
         WHERE id_hash = $1 AND (last_poll_at IS NULL OR last_poll_at + interval_ms <= $2 + $3) RETURNING interval_ms",
    )
    .bind(id_hash)
    .bind(now as i64)
    .bind(POLL_GRACE_MS as i64)
    .fetch_optional(db)
    .await?;
    if let Some(interval) = allowed {
        return Ok((true, interval as u64));
    }
    let interval: Option<i64> = sqlx::query_scalar(
        "UPDATE challenges SET interval_ms = interval_ms + $2 WHERE id_hash = $1 RETURNING interval_ms",
    )
    .bind(id_hash)
    .bind(slow_down_ms as i64)
    .fetch_optional(db)
    .await?;
    Ok((false, interval.unwrap_or(0) as u64))
}

/// Names the approving side supplies.
pub struct Approver<'a> {
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub app_name: &'a str,
}

pub enum Decided {
    /// Approved: the new binding's id, and the device's name.
    Approved {
        binding_id: String,
    },
    Denied,
    NotFound,
    Expired,
}

/// Approves a pending, unexpired code and creates its binding, in one transaction.
pub async fn approve(db: &Db, code: &str, who: &Approver<'_>, now: u64) -> sqlx::Result<Decided> {
    let mut tx = db.begin().await?;
    let device: Option<String> = sqlx::query_scalar(
        "UPDATE challenges SET status = 'approved' WHERE code = $1 AND status = 'pending' AND expires_at > $2 RETURNING device_name",
    )
    .bind(code)
    .bind(now as i64)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(device_name) = device else {
        drop(tx);
        return why_not(db, code, now).await;
    };
    let binding_id = insert_binding(&mut tx, who.tenant_id, who.user_id, who.app_name, &device_name, now).await?;
    sqlx::query("UPDATE challenges SET binding_id = $1 WHERE code = $2")
        .bind(&binding_id)
        .bind(code)
        .execute(&mut *tx)
        .await?;
    count_change(&mut tx, Topic::Challenges).await?;
    tx.commit().await?;
    Ok(Decided::Approved { binding_id })
}

pub async fn deny(db: &Db, code: &str, now: u64) -> sqlx::Result<Decided> {
    let mut tx = db.begin().await?;
    let r = sqlx::query(
        "UPDATE challenges SET status = 'denied' WHERE code = $1 AND status = 'pending' AND expires_at > $2",
    )
    .bind(code)
    .bind(now as i64)
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() == 1 {
        count_change(&mut tx, Topic::Challenges).await?;
        tx.commit().await?;
        Ok(Decided::Denied)
    } else {
        drop(tx);
        why_not(db, code, now).await
    }
}

async fn why_not(db: &Db, code: &str, now: u64) -> sqlx::Result<Decided> {
    let row =
        sqlx::query("SELECT status, expires_at FROM challenges WHERE code = $1").bind(code).fetch_optional(db).await?;
    Ok(match row {
        Some(r) if r.get::<String, _>("status") == "pending" && r.get::<i64, _>("expires_at") as u64 <= now => {
            Decided::Expired
        }
        _ => Decided::NotFound,
    })
}

/// Hands an approved challenge's binding to the device exactly once: the conditional
/// UPDATE flips it to `delivered` and the first refresh session is created with it.
/// Returns `(bindingId, tenantId, userId, appName)`.
pub async fn deliver(
    db: &Db,
    id_hash: &[u8],
    refresh_hash: &[u8],
    now: u64,
    refresh_expires_at: u64,
) -> sqlx::Result<Option<(String, String, String, String)>> {
    let mut tx = db.begin().await?;
    let binding_id: Option<String> = sqlx::query_scalar(
        "UPDATE challenges SET status = 'delivered' WHERE id_hash = $1 AND status = 'approved' RETURNING binding_id",
    )
    .bind(id_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(binding_id) = binding_id else {
        return Ok(None);
    };
    let b = sqlx::query("SELECT tenant_id, user_id, app_name FROM bindings WHERE id = $1 AND revoked_at IS NULL")
        .bind(&binding_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(b) = b else {
        return Ok(None);
    };
    insert_session(&mut tx, &binding_id, refresh_hash, now, refresh_expires_at).await?;
    tx.commit().await?;
    Ok(Some((binding_id, b.get("tenant_id"), b.get("user_id"), b.get("app_name"))))
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingChallenge {
    pub code: String,
    pub device_name: String,
    pub created_at: u64,
    pub expires_at: u64,
}

/// Pending, unexpired challenges, oldest first.
pub async fn pending(db: &Db, now: u64) -> sqlx::Result<Vec<PendingChallenge>> {
    let rows = sqlx::query(
        "SELECT code, device_name, created_at, expires_at FROM challenges WHERE status = 'pending' AND expires_at > $1 ORDER BY created_at",
    )
    .bind(now as i64)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PendingChallenge {
            code: crate::code::display(r.get::<&str, _>("code")),
            device_name: r.get("device_name"),
            created_at: r.get::<i64, _>("created_at") as u64,
            expires_at: r.get::<i64, _>("expires_at") as u64,
        })
        .collect())
}
