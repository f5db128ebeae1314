//! The browser's side of code pairing: its user approves (confirm) or denies (reject) the
//! request an app's approval named. The challenge id, a 256-bit secret only the requesting
//! extension holds, is the credential; only its keyed hash is stored.

use super::{update_and_announce, update_announce_and_hook, CodeHook, CONFIRMED, DENIED};
use crate::db::Db;
use crate::db::Topic;
use crate::db::{count_change, insert_binding, insert_session, BindingToInsert, NewBinding, Via};

/// Confirms an awaiting, unexpired challenge whose approving API key (if any) is not
/// revoked: in one transaction the conditional UPDATE
/// (the exactly-once gate, also across instances: a concurrent confirm waits on the row
/// and then matches nothing), the binding with the approver's names, its first session
/// (refresh hash `refresh_hash`) and the binding id on the challenge. `device_name`:
/// the one sent with the confirm, else the one sent with the request. `None` when the
/// challenge was not awaiting confirmation (or is unknown, or expired). `dpop_jkt`: the key
/// the binding's tokens are bound to.
#[allow(clippy::too_many_arguments, reason = "one confirm's inputs, each named at the one call")]
pub async fn confirm(
    db: &Db,
    id_hash: &[u8],
    device_name: Option<&str>,
    dpop_jkt: Option<&str>,
    refresh_hash: &[u8],
    now: u64,
    refresh_expires_at: u64,
) -> sqlx::Result<Option<NewBinding>> {
    let mut tx = db.begin().await?;
    let row: Option<(String, String, String, String)> = sqlx::query_as(
        "UPDATE challenges SET status = 'confirmed', confirmed_at = $2
         WHERE id_hash = $1 AND status = 'awaiting_confirmation' AND expires_at > $2
           AND (key_id IS NULL OR EXISTS (SELECT 1 FROM api_keys k WHERE k.id = challenges.key_id AND k.revoked_at IS NULL))
         RETURNING tenant_id, user_id, app_name, device_name",
    )
    .bind(id_hash)
    .bind(now as i64)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((tenant_id, user_id, app_name, requested_as)) = row else {
        return Ok(None);
    };
    let device_name = device_name.unwrap_or(&requested_as);
    let binding = BindingToInsert {
        tenant_id: &tenant_id,
        user_id: &user_id,
        app_name: &app_name,
        device_name,
        dpop_jkt,
        via: Via::Code,
    };
    let binding_id = insert_binding(&mut tx, binding, now).await?;
    insert_session(&mut tx, &binding_id, refresh_hash, now, refresh_expires_at).await?;
    sqlx::query("UPDATE challenges SET binding_id = $1 WHERE id_hash = $2")
        .bind(&binding_id)
        .bind(id_hash)
        .execute(&mut *tx)
        .await?;
    count_change(&mut tx, Topic::Challenges).await?;
    tx.commit().await?;
    let dpop_jkt = dpop_jkt.map(str::to_owned);
    Ok(Some(NewBinding { binding_id, tenant_id, user_id, app_name, dpop_jkt }))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// This call denied it.
    Now,
    /// It was denied before (a retry).
    Already,
    /// The user confirmed it: there is nothing to reject.
    Confirmed,
    NotFound,
}

/// The browser's user denies (or cancels) a pending or awaiting challenge.
pub async fn reject(db: &Db, id_hash: &[u8], now: u64) -> sqlx::Result<Rejected> {
    let update = sqlx::query_as(
        "UPDATE challenges SET status = 'denied' WHERE id_hash = $1 AND status IN ('pending', 'awaiting_confirmation')
         RETURNING tenant_id, user_id, device_name, expires_at",
    )
    .bind(id_hash);
    if update_announce_and_hook(db, update, CodeHook::DeniedBy("user"), now).await? {
        return Ok(Rejected::Now);
    }
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM challenges WHERE id_hash = $1").bind(id_hash).fetch_optional(db).await?;
    Ok(match status.as_deref() {
        Some(DENIED) => Rejected::Already,
        Some(CONFIRMED) => Rejected::Confirmed,
        _ => Rejected::NotFound,
    })
}

/// An approval whose API key was revoked after it was recorded but which the revocation's
/// own sweep missed (the approval committed concurrently with it): denied now, so its
/// status says what `confirm` already refuses. True when this call denied it.
pub async fn deny_if_key_revoked(db: &Db, id_hash: &[u8]) -> sqlx::Result<bool> {
    let update = sqlx::query(
        "UPDATE challenges SET status = 'denied'
         WHERE id_hash = $1 AND status = 'awaiting_confirmation'
           AND key_id IN (SELECT id FROM api_keys WHERE revoked_at IS NOT NULL)",
    )
    .bind(id_hash);
    update_and_announce(db, update).await
}
