//! Enrollment keys and the single use of each assertion's nonce (PROTOCOL §8); the
//! assertions themselves are checked in `crate::enrollment`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

use super::activity::Via;
use super::bindings::{insert_binding, insert_session, BindingToInsert};
use super::Db;
use crate::enrollment::{key_id, Claims};

/// Registers a public key for a tenant; returns its id.
pub async fn insert_key(db: &Db, tenant_id: &str, public_key: &[u8; 32], now: u64) -> sqlx::Result<String> {
    let id = key_id(public_key);
    sqlx::query("INSERT INTO enrollment_keys (id, tenant_id, public_key, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(tenant_id)
        .bind(B64.encode(public_key))
        .bind(now as i64)
        .execute(db)
        .await?;
    Ok(id)
}

/// An active key: `(tenant id, public key in base64url)`.
pub async fn active_key(db: &Db, id: &str) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as("SELECT tenant_id, public_key FROM enrollment_keys WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// What `enroll` needs besides the verified claims.
pub struct Enrollment<'a> {
    pub key_id: &'a str,
    pub app_name: &'a str,
    pub device_name: &'a str,
    /// The key the binding's tokens are bound to (PROTOCOL §12).
    pub dpop_jkt: Option<&'a str>,
    pub refresh_hash: &'a [u8],
    pub refresh_expires_at: u64,
    pub now: u64,
}

/// Uses the assertion's nonce and creates the managed binding and its first session, in
/// one transaction: `None` when the nonce was used before (nothing is created).
pub async fn enroll(db: &Db, claims: &Claims, e: &Enrollment<'_>) -> sqlx::Result<Option<String>> {
    let mut tx = db.begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO enrollment_nonces (key_id, nonce, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(e.key_id)
    .bind(&claims.nonce)
    .bind(e.now as i64)
    .execute(&mut *tx)
    .await?;
    if fresh.rows_affected() == 0 {
        return Ok(None);
    }
    let binding = BindingToInsert {
        tenant_id: &claims.tenant_id,
        user_id: &claims.user_id,
        app_name: e.app_name,
        device_name: e.device_name,
        dpop_jkt: e.dpop_jkt,
        via: Via::Managed,
    };
    let binding_id = insert_binding(&mut tx, binding, e.now).await?;
    sqlx::query("UPDATE bindings SET managed = 1 WHERE id = $1").bind(&binding_id).execute(&mut *tx).await?;
    sqlx::query("UPDATE enrollment_nonces SET binding_id = $1 WHERE key_id = $2 AND nonce = $3")
        .bind(&binding_id)
        .bind(e.key_id)
        .bind(&claims.nonce)
        .execute(&mut *tx)
        .await?;
    insert_session(&mut tx, &binding_id, e.refresh_hash, e.now, e.refresh_expires_at).await?;
    tx.commit().await?;
    Ok(Some(binding_id))
}

/// When the nonce was used: the retry window of a lost answer starts then.
pub async fn nonce_used_at(db: &Db, key_id: &str, nonce: &str) -> sqlx::Result<Option<u64>> {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT created_at FROM enrollment_nonces WHERE key_id = $1 AND nonce = $2")
            .bind(key_id)
            .bind(nonce)
            .fetch_optional(db)
            .await?;
    Ok(at.map(|t| t as u64))
}

/// Whether the binding owning this refresh token was made by enrollment: such a binding
/// is the organization's, and its browser can't revoke it.
pub async fn managed_by_refresh(db: &Db, refresh_hash: &[u8]) -> sqlx::Result<bool> {
    let managed: Option<i64> = sqlx::query_scalar(
        "SELECT b.managed FROM sessions s JOIN bindings b ON b.id = s.binding_id WHERE s.refresh_hash = $1",
    )
    .bind(refresh_hash)
    .fetch_optional(db)
    .await?;
    Ok(managed.is_some_and(|m| m != 0))
}
