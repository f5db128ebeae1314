//! Bindings (a tenant's user bound to one browser) and their refresh sessions: the
//! inserts every way of binding shares (redeem, code confirm, enrollment), revocation,
//! and the reads of the app's and owner's listings.

use serde::Serialize;

use super::activity::{self, Event, RevokedBy, Via};
use super::changes::{count_change, Topic};
use super::outbox::{self, Hook};
use super::Db;
use crate::secrets::new_id;

/// `$7`: the thumbprint of the key its tokens are bound to (PROTOCOL §12), or NULL; `$8`:
/// how it was made ([`Via`]).
pub const INSERT_BINDING: &str =
    "INSERT INTO bindings (id, tenant_id, user_id, app_name, device_name, created_at, dpop_jkt, via)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// A binding's first session starts its family (`family_id` = its own id).
pub const INSERT_SESSION: &str = "INSERT INTO sessions (id, binding_id, family_id, refresh_hash, expires_at, created_at) VALUES ($1, $2, $1, $3, $4, $5)";

/// Who a new binding is for, named how, and the key its tokens are bound to.
pub struct BindingToInsert<'a> {
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub app_name: &'a str,
    pub device_name: &'a str,
    pub dpop_jkt: Option<&'a str>,
    pub via: Via,
}

/// Inserts an active binding, its `paired` event and its `binding.created` webhook; returns
/// its id.
pub async fn insert_binding(tx: &mut sqlx::AnyConnection, b: BindingToInsert<'_>, now: u64) -> sqlx::Result<String> {
    let binding_id = new_id("bnd_");
    sqlx::query(INSERT_BINDING)
        .bind(&binding_id)
        .bind(b.tenant_id)
        .bind(b.user_id)
        .bind(b.app_name)
        .bind(b.device_name)
        .bind(now as i64)
        .bind(b.dpop_jkt)
        .bind(b.via.as_str())
        .execute(&mut *tx)
        .await?;
    let created =
        Hook::BindingCreated { binding_id: &binding_id, user_id: b.user_id, device_name: b.device_name, via: b.via };
    outbox::enqueue(tx, b.tenant_id, &created, now).await?;
    Ok(binding_id)
}

/// Starts a refresh session for a binding.
pub async fn insert_session(
    tx: &mut sqlx::AnyConnection,
    binding_id: &str,
    refresh_hash: &[u8],
    now: u64,
    expires_at: u64,
) -> sqlx::Result<()> {
    let id = new_id("ses_");
    sqlx::query(INSERT_SESSION)
        .bind(&id)
        .bind(binding_id)
        .bind(refresh_hash)
        .bind(expires_at as i64)
        .bind(now as i64)
        .execute(tx)
        .await?;
    Ok(())
}

/// Whether a session (any rotation of a family) is stored under this refresh-token hash.
pub async fn session_exists(db: &Db, refresh_hash: &[u8]) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM sessions WHERE refresh_hash = $1")
        .bind(refresh_hash)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

/// Revokes the binding that owns this refresh token (and all its sessions): the user's
/// Disconnect. True when an active binding was revoked by this call.
pub async fn revoke_by_refresh(db: &Db, refresh_hash: &[u8], now: u64) -> sqlx::Result<bool> {
    let binding: Option<String> = sqlx::query_scalar("SELECT binding_id FROM sessions WHERE refresh_hash = $1")
        .bind(refresh_hash)
        .fetch_optional(db)
        .await?;
    match binding {
        Some(id) => revoke_binding(db, &id, now, RevokedBy::User).await,
        None => Ok(false),
    }
}

/// Revokes a binding and its sessions, logging who did and telling the app (webhook). True
/// when it was active.
pub async fn revoke_binding(db: &Db, binding_id: &str, now: u64, by: RevokedBy) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let revoked: Option<(String, String, Option<String>, i64)> = sqlx::query_as(
        "UPDATE bindings SET revoked_at = $1, revoked_by = $3 WHERE id = $2 AND revoked_at IS NULL
         RETURNING tenant_id, user_id, dpop_jkt, COALESCE(last_seen_at, created_at)",
    )
    .bind(now as i64)
    .bind(binding_id)
    .bind(by.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE binding_id = $2 AND revoked_at IS NULL")
        .bind(now as i64)
        .bind(binding_id)
        .execute(&mut *tx)
        .await?;
    if let Some((tenant_id, user_id, jkt, last_used)) = &revoked {
        if let (RevokedBy::Idle, Some(jkt)) = (by, jkt) {
            remember_idle_key(&mut tx, jkt, now, now.saturating_sub(*last_used as u64)).await?;
        }
        count_change(&mut tx, Topic::Revocations).await?;
        activity::record(&mut tx, binding_id, &Event::Revoked { by }, now).await?;
        let hook = Hook::BindingRevoked { binding_id, user_id, by };
        outbox::enqueue(&mut tx, tenant_id, &hook, now).await?;
    }
    tx.commit().await?;
    Ok(revoked.is_some())
}

/// A refresh token was presented again after it rotated: logged and told to the app in one
/// transaction (the revocation that follows is [`revoke_binding`]'s).
pub async fn reuse_detected(db: &Db, binding_id: &str, tenant_id: &str, user_id: &str, now: u64) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    activity::record(&mut tx, binding_id, &Event::RefreshReuseDetected, now).await?;
    outbox::enqueue(&mut tx, tenant_id, &Hook::ReuseDetected { binding_id, user_id }, now).await?;
    tx.commit().await
}

/// Revokes every active binding of one user with one tenant (the app's "remove them
/// all"). The ids revoked by this call.
pub async fn revoke_user_bindings(db: &Db, tenant_id: &str, user_id: &str, now: u64) -> sqlx::Result<Vec<String>> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM bindings WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_all(db)
            .await?;
    let mut revoked = Vec::with_capacity(ids.len());
    for id in ids {
        // One transaction each: a binding revoked meanwhile by someone else is theirs.
        if revoke_binding(db, &id, now, RevokedBy::App).await? {
            revoked.push(id);
        }
    }
    Ok(revoked)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindingRow {
    pub binding_id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub app_name: String,
    pub device_name: String,
    pub created_at: i64,
    pub revoked: bool,
    /// The user paused it in the panel: errands are answered 409 `extension_paused`.
    pub paused: bool,
    /// Made by the organization's policy (enterprise auto-pair): only the app or the owner
    /// changes it.
    pub managed: bool,
    /// How it was made; absent for a binding made before the relay recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// When its browser last called or kept its socket alive (ms since the epoch, written
    /// at most once a minute); absent when never since it was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<i64>,
    /// When it last answered an errand (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_errand_at: Option<i64>,
    /// The key its tokens are bound to (PROTOCOL §12); a token must name it (`cnf.jkt`).
    #[serde(skip)]
    pub dpop_jkt: Option<String>,
}

/// A binding's row as stored (`revoked_at` a time or NULL).
#[derive(sqlx::FromRow)]
struct StoredBinding {
    id: String,
    tenant_id: String,
    user_id: String,
    app_name: String,
    device_name: String,
    created_at: i64,
    revoked_at: Option<i64>,
    paused_at: Option<i64>,
    managed: i64,
    dpop_jkt: Option<String>,
    via: Option<String>,
    last_seen_at: Option<i64>,
    last_errand_at: Option<i64>,
}

impl From<StoredBinding> for BindingRow {
    fn from(r: StoredBinding) -> Self {
        Self {
            binding_id: r.id,
            tenant_id: r.tenant_id,
            user_id: r.user_id,
            app_name: r.app_name,
            device_name: r.device_name,
            created_at: r.created_at,
            revoked: r.revoked_at.is_some(),
            paused: r.paused_at.is_some(),
            managed: r.managed != 0,
            // Written from `Via::as_str` only.
            via: r.via.and_then(|v| serde_json::from_value(serde_json::Value::String(v)).ok()),
            last_seen_at: r.last_seen_at,
            last_errand_at: r.last_errand_at,
            dpop_jkt: r.dpop_jkt,
        }
    }
}

/// One column list for every read of a binding.
macro_rules! select_binding {
    ($filter:literal) => {
        concat!(
            "SELECT id, tenant_id, user_id, app_name, device_name, created_at, revoked_at, paused_at, managed, dpop_jkt, \
             via, last_seen_at, last_errand_at FROM bindings ",
            $filter
        )
    };
}

pub async fn list_bindings(db: &Db, tenant_id: Option<&str>) -> sqlx::Result<Vec<BindingRow>> {
    let rows: Vec<StoredBinding> =
        sqlx::query_as(select_binding!("WHERE $1 IS NULL OR tenant_id = $1 ORDER BY created_at"))
            .bind(tenant_id)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(BindingRow::from).collect())
}

/// A binding by id, revoked or not.
pub async fn binding(db: &Db, binding_id: &str) -> sqlx::Result<Option<BindingRow>> {
    let row: Option<StoredBinding> =
        sqlx::query_as(select_binding!("WHERE id = $1")).bind(binding_id).fetch_optional(db).await?;
    Ok(row.map(BindingRow::from))
}

/// Renames the browser of an active binding. False when the binding is revoked.
pub async fn rename_device(db: &Db, binding_id: &str, device_name: &str) -> sqlx::Result<bool> {
    let r = sqlx::query("UPDATE bindings SET device_name = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(device_name)
        .bind(binding_id)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Pauses or resumes an active binding at `now`, logging the change. False when the
/// binding is revoked. Pausing a paused binding keeps its first time (and logs nothing).
pub async fn set_paused(db: &Db, binding_id: &str, paused: bool, now: u64) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    // `$1` is NULL to resume: only a binding in the other state changes.
    let changed = sqlx::query(
        "UPDATE bindings SET paused_at = $1 WHERE id = $2 AND revoked_at IS NULL
           AND (paused_at IS NULL) = ($1 IS NOT NULL)",
    )
    .bind(paused.then_some(now as i64))
    .bind(binding_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if changed {
        let event = if paused { Event::Paused } else { Event::Resumed };
        activity::record(&mut tx, binding_id, &event, now).await?;
        tx.commit().await?;
        return Ok(true);
    }
    let active: Option<i64> = sqlx::query_scalar("SELECT 1 FROM bindings WHERE id = $1 AND revoked_at IS NULL")
        .bind(binding_id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(active.is_some())
}

/// A binding's `last_seen_at` is at most this stale.
pub const LAST_SEEN_EVERY_MS: u64 = 60_000;

/// Notes that a binding was used (any authenticated call, its socket's heartbeat): at most
/// one write a minute whatever the callers do (last_seen.rs keeps most from asking).
pub async fn touch_binding(db: &Db, binding_id: &str, now: u64) -> sqlx::Result<()> {
    sqlx::query("UPDATE bindings SET last_seen_at = $1 WHERE id = $2 AND (last_seen_at IS NULL OR last_seen_at <= $3)")
        .bind(now as i64)
        .bind(binding_id)
        .bind(now.saturating_sub(LAST_SEEN_EVERY_MS) as i64)
        .execute(db)
        .await?;
    Ok(())
}

/// An errand's answer: its event and the binding's `last_errand_at`, together.
pub async fn errand_done(db: &Db, binding_id: &str, event: &Event, now: u64) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE bindings SET last_errand_at = $1 WHERE id = $2")
        .bind(now as i64)
        .bind(binding_id)
        .execute(&mut *tx)
        .await?;
    activity::record(&mut tx, binding_id, event, now).await?;
    tx.commit().await
}

/// What a user's bindings with a tenant allow an undelivered errand to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// No active binding: 404 `not_paired`.
    None,
    /// Every active binding is paused: 409 `extension_paused`.
    Paused,
    /// At least one is neither revoked nor paused: 504 `extension_offline`.
    Active,
}

/// The user's pairing with the tenant (an errand's 404 `not_paired`, 409
/// `extension_paused` or 504 `extension_offline`). Only the tenant's own bindings count:
/// another app can't learn from the answer that this user paired elsewhere.
pub async fn user_pairing(db: &Db, tenant_id: &str, user_id: &str) -> sqlx::Result<Pairing> {
    let unpaused: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(MAX(CASE WHEN paused_at IS NULL THEN 1 ELSE 0 END) AS BIGINT) FROM bindings
         WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_one(db)
    .await?;
    Ok(match unpaused {
        None => Pairing::None,
        Some(0) => Pairing::Paused,
        Some(_) => Pairing::Active,
    })
}

/// An active binding by id.
pub async fn active_binding(db: &Db, binding_id: &str) -> sqlx::Result<Option<BindingRow>> {
    Ok(binding(db, binding_id).await?.filter(|b| !b.revoked))
}

/// Which of `ids` are revoked or paused bindings (an unknown id is neither): the sockets
/// to close. In batches of 500 ids per statement: one revocation or pause asks this for
/// every socket of an instance.
pub async fn revoked_or_paused_among(db: &Db, ids: &[String]) -> sqlx::Result<Vec<String>> {
    let mut revoked = Vec::new();
    for batch in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=batch.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT id FROM bindings WHERE (revoked_at IS NOT NULL OR paused_at IS NOT NULL) AND id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for id in batch {
            query = query.bind(id);
        }
        revoked.extend(query.fetch_all(db).await?);
    }
    Ok(revoked)
}

/// Keeps the key of a binding revoked as idle, with how long it had gone unused, for its
/// browser's refused refresh to find after the binding's row is gone (migration 0019).
async fn remember_idle_key(conn: &mut sqlx::AnyConnection, jkt: &str, now: u64, unused_ms: u64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO idle_revocations (jkt, revoked_at, unused_ms) VALUES ($1, $2, $3)
         ON CONFLICT (jkt) DO UPDATE SET revoked_at = excluded.revoked_at, unused_ms = excluded.unused_ms",
    )
    .bind(jkt)
    .bind(now as i64)
    .bind(unused_ms as i64)
    .execute(conn)
    .await?;
    Ok(())
}

/// How long the binding bound to this key (RFC 7638 thumbprint) had gone unused when the
/// relay revoked it as idle, if it did: what a refused refresh whose proof the key signed
/// is told once its token is unknown (PROTOCOL §11).
pub async fn idle_revocation_of_key(db: &Db, jkt: &str) -> sqlx::Result<Option<u64>> {
    let unused: Option<i64> = sqlx::query_scalar("SELECT unused_ms FROM idle_revocations WHERE jkt = $1")
        .bind(jkt)
        .fetch_optional(db)
        .await?;
    Ok(unused.map(|ms| ms.max(0) as u64))
}

/// Whether this binding was revoked as idle (a live socket's re-check tells the
/// extension so: it refreshes and hears why).
pub async fn revoked_as_idle(db: &Db, binding_id: &str) -> sqlx::Result<bool> {
    let by: Option<Option<String>> =
        sqlx::query_scalar("SELECT revoked_by FROM bindings WHERE id = $1").bind(binding_id).fetch_optional(db).await?;
    Ok(by.flatten().as_deref() == Some("idle"))
}

/// The key the binding owning this refresh token is bound to (PROTOCOL §12), if any.
pub async fn key_by_refresh(db: &Db, refresh_hash: &[u8]) -> sqlx::Result<Option<String>> {
    let jkt: Option<Option<String>> = sqlx::query_scalar(
        "SELECT b.dpop_jkt FROM sessions s JOIN bindings b ON b.id = s.binding_id WHERE s.refresh_hash = $1",
    )
    .bind(refresh_hash)
    .fetch_optional(db)
    .await?;
    Ok(jkt.flatten())
}
