//! The webhook outbox (PROTOCOL §11): an event for the app is written in the transaction of
//! the change it announces (so none is lost and none announces what was rolled back), and
//! delivered later by `webhooks.rs`, at least once. Only tenants with a webhook URL get
//! rows: the insert selects the tenant by its URL, so a tenant without one costs an index
//! probe and no row. Several instances share the table: a row is claimed with a lease
//! before it is sent, so no two instances send one event at the same time, and its outcome
//! is recorded only under that claim's token.

use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::{json, Value};

use super::activity::{RevokedBy, Via};
use super::Db;
use crate::secrets::new_id;

/// An event an app hears of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook<'a> {
    BindingCreated {
        binding_id: &'a str,
        user_id: &'a str,
        device_name: &'a str,
        via: Via,
    },
    BindingRevoked {
        binding_id: &'a str,
        user_id: &'a str,
        by: RevokedBy,
    },
    ReuseDetected {
        binding_id: &'a str,
        user_id: &'a str,
    },
    /// A code this tenant approved now waits for the browser's user.
    AwaitingConfirmation {
        user_id: &'a str,
        device_name: &'a str,
        expires_at: u64,
    },
    /// The browser's user (or the relay's owner) denied a code this tenant approved.
    PairingDenied {
        user_id: &'a str,
        by: &'static str,
    },
}

impl Hook<'_> {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::BindingCreated { .. } => "binding.created",
            Self::BindingRevoked { .. } => "binding.revoked",
            Self::ReuseDetected { .. } => "binding.reuse_detected",
            Self::AwaitingConfirmation { .. } => "pairing.awaiting_confirmation",
            Self::PairingDenied { .. } => "pairing.denied",
        }
    }

    /// The event's `data`.
    pub fn data(&self) -> Value {
        match *self {
            Self::BindingCreated { binding_id, user_id, device_name, via } => {
                json!({"bindingId": binding_id, "userId": user_id, "deviceName": device_name, "via": via})
            }
            Self::BindingRevoked { binding_id, user_id, by } => {
                json!({"bindingId": binding_id, "userId": user_id, "by": by})
            }
            Self::ReuseDetected { binding_id, user_id } => json!({"bindingId": binding_id, "userId": user_id}),
            Self::AwaitingConfirmation { user_id, device_name, expires_at } => {
                json!({"userId": user_id, "deviceName": device_name, "expiresAt": expires_at})
            }
            Self::PairingDenied { user_id, by } => json!({"userId": user_id, "by": by}),
        }
    }
}

/// `$1` id, `$2` type, `$3` data, `$4` now, `$5` tenant.
pub const ENQUEUE: &str = "INSERT INTO webhook_outbox (id, tenant_id, type, data, created_at, next_attempt_at)
     SELECT $1, id, $2, $3, $4, $4 FROM tenants WHERE id = $5 AND webhook_url IS NOT NULL";

/// Queues `hook` for `tenant_id` (if it has a webhook URL) in the caller's transaction.
pub async fn enqueue(tx: &mut sqlx::AnyConnection, tenant_id: &str, hook: &Hook<'_>, now: u64) -> sqlx::Result<()> {
    sqlx::query(ENQUEUE)
        .bind(new_id("evt_"))
        .bind(hook.type_name())
        .bind(hook.data().to_string())
        .bind(now as i64)
        .bind(tenant_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// [`enqueue`] on the SQLite writer's connection.
pub fn enqueue_on_writer(c: &Connection, tenant_id: &str, hook: &Hook<'_>, now: u64) -> rusqlite::Result<()> {
    c.prepare_cached(ENQUEUE)?.execute(params![
        new_id("evt_"),
        hook.type_name(),
        hook.data().to_string(),
        now as i64,
        tenant_id
    ])?;
    Ok(())
}

/// An event claimed for delivery, with where it goes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: String,
    pub tenant_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub data: String,
    pub created_at: i64,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// This claim's: only its holder records the outcome.
    pub claim_token: String,
}

/// Sends of one tenant in flight at once (claimed and leased, on any instance), so a
/// tenant whose receiver hangs holds at most this many sends while the others' go on.
pub const PER_TENANT_IN_FLIGHT: i64 = 8;

/// A due event: pending, its attempt time (`$2`) come, not leased.
const DUE: &str = "delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2
     AND (claimed_until IS NULL OR claimed_until <= $2)";

/// Claims up to `limit` due events for `lease_ms`: none of them is claimed by another
/// instance until the lease ends. Tenants take turns (each one's earliest first, then each
/// one's second, …) and none gets more than [`PER_TENANT_IN_FLIGHT`] in flight.
///
/// Two instances may pick the same rows; the UPDATE's own [`DUE`] condition settles it (on
/// PostgreSQL the second waits for the first's row lock, re-reads the row and skips it; on
/// SQLite the one writer runs them in turn). A pass with nothing due writes nothing.
pub async fn claim_due(db: &Db, now: u64, lease_ms: u64, limit: i64) -> sqlx::Result<Vec<Claimed>> {
    let anything: Option<i32> =
        sqlx::query_scalar(&format!("SELECT 1 FROM webhook_outbox WHERE $1 = $1 AND {DUE} LIMIT 1"))
            .bind(0i64)
            .bind(now as i64)
            .fetch_optional(db)
            .await?;
    if anything.is_none() {
        return Ok(Vec::new());
    }
    sqlx::query_as(&format!(
        "UPDATE webhook_outbox SET claimed_until = $1, claim_token = $3, attempts = attempts + 1
         WHERE {DUE} AND id IN (
             SELECT id FROM (
                 SELECT due.id, due.next_attempt_at, COALESCE(busy.n, 0) AS busy,
                        ROW_NUMBER() OVER (PARTITION BY due.tenant_id ORDER BY due.next_attempt_at, due.id) AS nth
                 FROM webhook_outbox due
                 LEFT JOIN (SELECT tenant_id, COUNT(*) AS n FROM webhook_outbox
                            WHERE delivered_at IS NULL AND failed_at IS NULL AND claimed_until > $2
                            GROUP BY tenant_id) busy ON busy.tenant_id = due.tenant_id
                 WHERE due.delivered_at IS NULL AND due.failed_at IS NULL AND due.next_attempt_at <= $2
                   AND (due.claimed_until IS NULL OR due.claimed_until <= $2)
             ) ranked
             WHERE nth + busy <= {PER_TENANT_IN_FLIGHT}
             ORDER BY nth, next_attempt_at LIMIT {limit})
         RETURNING id, tenant_id, type, data, created_at, attempts, claim_token"
    ))
    .bind((now + lease_ms) as i64)
    .bind(now as i64)
    .bind(new_id("clm_"))
    .fetch_all(db)
    .await
}

/// The receiver answered 2xx. Nothing is recorded if the claim ran out meanwhile (another
/// sender holds the event now, and records its own outcome).
pub async fn delivered(db: &Db, event: &Claimed, now: u64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_outbox SET delivered_at = $1, claimed_until = NULL, claim_token = NULL, last_error = NULL
         WHERE id = $2 AND claim_token = $3 AND delivered_at IS NULL AND failed_at IS NULL",
    )
    .bind(now as i64)
    .bind(&event.id)
    .bind(&event.claim_token)
    .execute(db)
    .await?;
    Ok(())
}

/// Not delivered: tried again at `next_attempt_at`, or (`None`) given up on; under the
/// claim only, as [`delivered`].
pub async fn not_delivered(
    db: &Db,
    event: &Claimed,
    error: &str,
    next_attempt_at: Option<u64>,
    now: u64,
) -> sqlx::Result<()> {
    let (set, at) = match next_attempt_at {
        Some(at) => ("next_attempt_at", at),
        None => ("failed_at", now),
    };
    sqlx::query(&format!(
        "UPDATE webhook_outbox SET {set} = $1, claimed_until = NULL, claim_token = NULL, last_error = $2
         WHERE id = $3 AND claim_token = $4 AND delivered_at IS NULL AND failed_at IS NULL"
    ))
    .bind(at as i64)
    .bind(error)
    .bind(&event.id)
    .bind(&event.claim_token)
    .execute(db)
    .await?;
    Ok(())
}

/// An event as `latch-relay webhook deliveries` shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    pub tenant_id: String,
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
}

impl Delivery {
    /// `delivered`, `failed` (given up) or `pending`.
    pub fn state(&self) -> &'static str {
        match (self.delivered_at, self.failed_at) {
            (Some(_), _) => "delivered",
            (None, Some(_)) => "failed",
            (None, None) => "pending",
        }
    }
}

/// The newest `limit` events, of one tenant or all.
pub async fn deliveries(db: &Db, tenant_id: Option<&str>, limit: i64) -> sqlx::Result<Vec<Delivery>> {
    sqlx::query_as(
        "SELECT id, tenant_id, type, created_at, attempts, next_attempt_at, delivered_at, failed_at, last_error
         FROM webhook_outbox WHERE $1 IS NULL OR tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(db)
    .await
}
