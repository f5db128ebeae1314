//! Refresh-token rotation. Every use of a refresh token creates its successor in the same
//! family; the successor token is derived from the old one with a keyed hash, so a client
//! that lost the answer can retry within [`LOST_RESPONSE_GRACE_MS`] and get the same
//! successor without the relay ever storing a token. Any other reuse of a rotated token is
//! theft: the family and its binding are revoked.

use sqlx::Row;

use crate::db::Db;
use crate::secrets::new_id;

/// A retry with a just-rotated token within this window gets the same successor.
pub const LOST_RESPONSE_GRACE_MS: u64 = 30_000;

#[derive(Debug, PartialEq, Eq)]
pub enum Refreshed {
    /// A new successor was created (or, in the grace window, the same one is handed back).
    Ok {
        binding_id: String,
        tenant_id: String,
        user_id: String,
        refresh_expires_at: u64,
    },
    /// A rotated token was used again: the family and binding are now revoked.
    Reused,
    Revoked,
    Invalid,
}

// Shared with the SQLite writer thread (`writes.rs`).
pub const ROTATE_SESSION: &str = "UPDATE sessions SET rotated_at = $1, successor_id = $2
     WHERE refresh_hash = $3 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $1
     RETURNING binding_id, family_id";
pub const ACTIVE_BINDING_OWNER: &str = "SELECT tenant_id, user_id FROM bindings WHERE id = $1 AND revoked_at IS NULL";
pub const INSERT_SUCCESSOR: &str =
    "INSERT INTO sessions (id, binding_id, family_id, refresh_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Rotates the session whose token hashes to `old_hash`; the successor's hash is
/// `successor_hash`. The rotation itself is one conditional UPDATE, so of two concurrent
/// refreshes one rotates and the other takes the grace path to the same successor.
pub async fn refresh(
    db: &Db,
    old_hash: &[u8],
    successor_hash: &[u8],
    now: u64,
    refresh_ttl_ms: u64,
) -> sqlx::Result<Refreshed> {
    let successor_id = new_id("ses_");
    let refresh_expires_at = now + refresh_ttl_ms;
    let mut tx = db.begin().await?;
    let rotated = sqlx::query(ROTATE_SESSION)
        .bind(now as i64)
        .bind(&successor_id)
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = rotated {
        let binding_id: String = row.get("binding_id");
        let family_id: String = row.get("family_id");
        let binding = sqlx::query(ACTIVE_BINDING_OWNER).bind(&binding_id).fetch_optional(&mut *tx).await?;
        let Some(b) = binding else {
            return Ok(Refreshed::Revoked); // dropping tx rolls the rotation back
        };
        sqlx::query(INSERT_SUCCESSOR)
            .bind(&successor_id)
            .bind(&binding_id)
            .bind(&family_id)
            .bind(successor_hash)
            .bind(refresh_expires_at as i64)
            .bind(now as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(Refreshed::Ok {
            binding_id,
            tenant_id: b.get("tenant_id"),
            user_id: b.get("user_id"),
            refresh_expires_at,
        });
    }
    drop(tx);
    classify_unrotatable(db, old_hash, now).await
}

/// Why a token could not be rotated, acting on reuse.
pub async fn classify_unrotatable(db: &Db, old_hash: &[u8], now: u64) -> sqlx::Result<Refreshed> {
    let row = sqlx::query(
        "SELECT s.binding_id, s.expires_at, s.rotated_at, s.revoked_at, s.successor_id,
                n.rotated_at AS next_rotated, n.revoked_at AS next_revoked, n.expires_at AS next_expires,
                b.tenant_id, b.user_id, b.revoked_at AS binding_revoked
         FROM sessions s JOIN bindings b ON b.id = s.binding_id LEFT JOIN sessions n ON n.id = s.successor_id
         WHERE s.refresh_hash = $1",
    )
    .bind(old_hash)
    .fetch_optional(db)
    .await?;
    let Some(r) = row else {
        return Ok(Refreshed::Invalid);
    };
    if r.get::<Option<i64>, _>("revoked_at").is_some() || r.get::<Option<i64>, _>("binding_revoked").is_some() {
        return Ok(Refreshed::Revoked);
    }
    let Some(rotated_at) = r.get::<Option<i64>, _>("rotated_at").map(|t| t as u64) else {
        return Ok(Refreshed::Invalid); // not rotated, not revoked: it expired
    };
    let successor_unused =
        r.get::<Option<i64>, _>("next_rotated").is_none() && r.get::<Option<i64>, _>("next_revoked").is_none();
    if successor_unused && now.saturating_sub(rotated_at) <= LOST_RESPONSE_GRACE_MS {
        return Ok(Refreshed::Ok {
            binding_id: r.get("binding_id"),
            tenant_id: r.get("tenant_id"),
            user_id: r.get("user_id"),
            refresh_expires_at: r.get::<Option<i64>, _>("next_expires").unwrap_or(0) as u64,
        });
    }
    // A binding has one session family (its successors share it): revoking the binding
    // revokes the family with it.
    let binding: String = r.get("binding_id");
    crate::store::revoke_binding(db, &binding, now).await?;
    tracing::warn!(binding = %binding, "refresh token reused: family revoked");
    Ok(Refreshed::Reused)
}
