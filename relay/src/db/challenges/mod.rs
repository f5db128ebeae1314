//! Code-pairing storage. A challenge goes `pending` → `awaiting_confirmation` (an app
//! approved its code; nothing is bound) → `confirmed` (the browser's user approved; the
//! binding exists) or `denied`. Every single-use rule is one conditional statement in the
//! database, so it holds across relay instances: the pending limit is checked inside the
//! INSERT, each step is `UPDATE … WHERE status = <the state it leaves>`.

use latch_wire::api::CodeRequester;

use crate::db::count_change;
use crate::db::outbox::{self, Hook};
use crate::db::Db;
use crate::db::Topic;

mod approval;
mod confirmation;

pub use approval::{
    approve, awaiting_for_tenant, deny_open, open_codes, withdraw, Approval, Approver, AwaitingCode, OpenCode,
    OwnerDenial,
};
pub use confirmation::{confirm, deny_if_key_revoked, reject, Rejected};

/// Stored statuses (`expired` is worked out from `expires_at`, never stored).
pub const PENDING: &str = "pending";
pub const AWAITING: &str = "awaiting_confirmation";
pub const CONFIRMED: &str = "confirmed";
pub const DENIED: &str = "denied";

pub const MAX_PENDING_PER_DEVICE: i64 = 3;

/// Runs one conditional UPDATE of a challenge; when it matched its row, counts the change
/// in the same transaction (other instances' long-polls wake on it) and commits. True when
/// it matched.
async fn update_and_announce<'q>(
    db: &Db,
    update: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    if update.execute(&mut *tx).await?.rows_affected() != 1 {
        return Ok(false);
    }
    count_change(&mut tx, Topic::Challenges).await?;
    tx.commit().await?;
    Ok(true)
}

/// What a challenge's UPDATE returns (`RETURNING tenant_id, user_id, device_name,
/// expires_at`) for the webhook of the tenant that approved it.
#[derive(sqlx::FromRow)]
struct Changed {
    tenant_id: Option<String>,
    user_id: Option<String>,
    device_name: String,
    expires_at: i64,
}

/// Which webhook a change of a code sends the tenant that approved it.
#[derive(Clone, Copy)]
enum CodeHook {
    AwaitingConfirmation,
    /// By whom: `user` (the browser's) or `owner` (the relay's).
    DeniedBy(&'static str),
}

/// [`update_and_announce`] for an UPDATE returning [`Changed`], which also queues `hook` for
/// the tenant that approved the code, in the same transaction (a code nobody approved
/// concerns no app).
async fn update_announce_and_hook<'q>(
    db: &Db,
    update: sqlx::query::QueryAs<'q, sqlx::Any, Changed, sqlx::any::AnyArguments<'q>>,
    hook: CodeHook,
    now: u64,
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let Some(changed) = update.fetch_optional(&mut *tx).await? else {
        return Ok(false);
    };
    count_change(&mut tx, Topic::Challenges).await?;
    if let (Some(tenant_id), Some(user_id)) = (&changed.tenant_id, &changed.user_id) {
        let hook = match hook {
            CodeHook::AwaitingConfirmation => Hook::AwaitingConfirmation {
                user_id,
                device_name: &changed.device_name,
                expires_at: changed.expires_at as u64,
            },
            CodeHook::DeniedBy(by) => Hook::PairingDenied { user_id, by },
        };
        outbox::enqueue(&mut tx, tenant_id, &hook, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// A challenge as its poller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRow {
    pub status: String,
    pub expires_at: u64,
    pub interval_ms: u64,
    pub last_poll_at: Option<u64>,
    /// Who approved the code (set from `awaiting_confirmation` on).
    pub requester: Option<CodeRequester>,
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
         WHERE (SELECT COUNT(*) FROM challenges
                WHERE device_id = $3 AND status IN ('pending', 'awaiting_confirmation') AND expires_at > $7) < $9",
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
    let row: Option<StoredChallenge> = sqlx::query_as(
        "SELECT status, expires_at, interval_ms, last_poll_at, tenant_id, user_id, app_name, app_origin
         FROM challenges WHERE id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| ChallengeRow {
        requester: r.requester(),
        status: r.status,
        expires_at: r.expires_at,
        interval_ms: r.interval_ms,
        last_poll_at: r.last_poll_at.map(|t| t as u64),
    }))
}

/// A challenge's row as its poller reads it.
#[derive(sqlx::FromRow)]
struct StoredChallenge {
    status: String,
    #[sqlx(try_from = "i64")]
    expires_at: u64,
    #[sqlx(try_from = "i64")]
    interval_ms: u64,
    last_poll_at: Option<i64>,
    tenant_id: Option<String>,
    user_id: Option<String>,
    app_name: Option<String>,
    app_origin: Option<String>,
}

impl StoredChallenge {
    /// The approving side recorded on the row, when there is one.
    fn requester(&self) -> Option<CodeRequester> {
        Some(CodeRequester {
            app_name: self.app_name.clone()?,
            tenant_id: self.tenant_id.clone()?,
            user_id: self.user_id.clone()?,
            app_origin: self.app_origin.clone(),
        })
    }
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
