//! Refresh-token rotation, the one place it is written. Every use of a refresh token
//! creates its successor in the same family; the successor token is derived from the old
//! one with a keyed hash, so a client that lost the answer can retry within
//! [`LOST_RESPONSE_GRACE_MS`] and get the same successor without the relay ever storing a
//! token. Any other reuse of a rotated token is theft: the family and its binding are
//! revoked. The rotation itself is one conditional UPDATE, so of two concurrent refreshes
//! one rotates and the other takes the grace path to the same successor. Both backends run
//! the same statements: SQLite in the writer thread's savepoint (group commit), PostgreSQL
//! in a sqlx transaction; anything but a clean rotation is classified by one read.
//!
//! Key-bound bindings (PROTOCOL §12): a binding that holds a key rotates only for a proof
//! by that key; anything else is refused without touching the family (a thief holding a
//! copied token but not the key must not be able to log the user out either). A binding
//! without a key is bound to the key of the first refresh that brings a proof, once.

use rusqlite::{params, Connection, OptionalExtension};

use super::activity::{self, count_refresh_on_writer, RevokedBy};
use super::bindings::{reuse_detected, revoke_binding};
use super::{Db, Store};
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
        /// The key the binding holds now (the new access token is bound to it).
        dpop_jkt: Option<String>,
        /// This refresh bound a key to a binding that had none.
        upgraded: bool,
    },
    /// A rotated token was used again: the family and binding are now revoked.
    Reused,
    /// The binding holds a key and the refresh came without a proof by it: nothing changed.
    WrongKey,
    /// The token's binding (or session family) was revoked; `idle_ms` how long the binding
    /// had gone unused when the relay revoked it as idle — told only to a binding without a
    /// key, or a refresh by its own key (PROTOCOL §11).
    Revoked {
        idle_ms: Option<u64>,
    },
    Invalid,
}

/// A rotation to run: the presented token's hash and its successor's.
pub struct Rotation {
    pub old_hash: Vec<u8>,
    pub successor_hash: Vec<u8>,
    pub now: u64,
    pub ttl_ms: u64,
    /// The thumbprint of the key whose proof came with the refresh, if one did.
    pub presented_jkt: Option<String>,
}

/// What the binding's key and the presented one allow: `Ok(key the binding holds after
/// this refresh, whether this refresh bound it)`, or `Err(())` when refused.
fn key_outcome(bound: Option<String>, presented: Option<&str>) -> Result<(Option<String>, bool), ()> {
    match (bound, presented) {
        (Some(k), Some(p)) if k == p => Ok((Some(k), false)),
        (Some(_), _) => Err(()),
        (None, Some(p)) => Ok((Some(p.to_owned()), true)),
        (None, None) => Ok((None, false)),
    }
}

const ROTATE_SESSION: &str = "UPDATE sessions SET rotated_at = $1, successor_id = $2
     WHERE refresh_hash = $3 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $1
     RETURNING binding_id, family_id";
const ACTIVE_BINDING_OWNER: &str =
    "SELECT tenant_id, user_id, dpop_jkt FROM bindings WHERE id = $1 AND revoked_at IS NULL";
/// The one upgrade of a binding made without a key (its family rotates under the session
/// row's lock, so two refreshes can't both bind).
/// (Placeholders in the order they appear: SQLite numbers `$N` names by first appearance.)
const BIND_KEY: &str = "UPDATE bindings SET dpop_jkt = $1, dpop_bound_at = $2 WHERE id = $3 AND dpop_jkt IS NULL";
const INSERT_SUCCESSOR: &str =
    "INSERT INTO sessions (id, binding_id, family_id, refresh_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Rotates the session whose token hashes to `old_hash` onto `successor_hash`, or says
/// why it could not (acting on reuse).
pub async fn refresh(store: &Store, r: Rotation) -> sqlx::Result<Refreshed> {
    let old_hash = r.old_hash.clone();
    let presented = r.presented_jkt.clone();
    let now = r.now;
    let rotated = match &store.writer {
        Some(writer) => writer.write(move |c| on_sqlite(c, &r)).await?,
        None => on_postgres(&store.pool, &r).await?,
    };
    match rotated {
        Some(done) => Ok(done),
        None => classify_unrotatable(&store.pool, &old_hash, presented.as_deref(), now).await,
    }
}

/// The rotation in its own savepoint: one whose binding turns out revoked is undone, not
/// kept. `None` when nothing rotated.
fn on_sqlite(c: &Connection, r: &Rotation) -> rusqlite::Result<Option<Refreshed>> {
    let successor_id = new_id("ses_");
    let expires_at = r.now + r.ttl_ms;
    c.execute_batch("SAVEPOINT rotation")?;
    let rotated = c
        .prepare_cached(ROTATE_SESSION)?
        .query_row(params![r.now as i64, successor_id, r.old_hash], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .optional()?;
    let Some((binding_id, family_id)) = rotated else {
        c.execute_batch("RELEASE rotation")?;
        return Ok(None);
    };
    let owner = c
        .prepare_cached(ACTIVE_BINDING_OWNER)?
        .query_row(params![binding_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, Option<String>>(2)?))
        })
        .optional()?;
    let Some((tenant_id, user_id, bound)) = owner else {
        c.execute_batch("ROLLBACK TO rotation; RELEASE rotation")?;
        return Ok(Some(Refreshed::Revoked { idle_ms: None })); // revoked meanwhile: a race
    };
    let Ok((dpop_jkt, upgraded)) = key_outcome(bound, r.presented_jkt.as_deref()) else {
        c.execute_batch("ROLLBACK TO rotation; RELEASE rotation")?;
        return Ok(Some(Refreshed::WrongKey));
    };
    if upgraded {
        c.prepare_cached(BIND_KEY)?.execute(params![dpop_jkt, r.now as i64, binding_id])?;
    }
    count_refresh_on_writer(c, &binding_id, r.now)?;
    c.prepare_cached(INSERT_SUCCESSOR)?.execute(params![
        successor_id,
        binding_id,
        family_id,
        r.successor_hash,
        expires_at as i64,
        r.now as i64
    ])?;
    c.execute_batch("RELEASE rotation")?;
    Ok(Some(Refreshed::Ok { binding_id, tenant_id, user_id, refresh_expires_at: expires_at, dpop_jkt, upgraded }))
}

/// The same steps in a sqlx transaction. `None` when nothing rotated.
async fn on_postgres(db: &Db, r: &Rotation) -> sqlx::Result<Option<Refreshed>> {
    let successor_id = new_id("ses_");
    let expires_at = r.now + r.ttl_ms;
    let mut tx = db.begin().await?;
    let rotated: Option<(String, String)> = sqlx::query_as(ROTATE_SESSION)
        .bind(r.now as i64)
        .bind(&successor_id)
        .bind(&r.old_hash)
        .fetch_optional(&mut *tx)
        .await?;
    let Some((binding_id, family_id)) = rotated else {
        return Ok(None);
    };
    let owner: Option<(String, String, Option<String>)> =
        sqlx::query_as(ACTIVE_BINDING_OWNER).bind(&binding_id).fetch_optional(&mut *tx).await?;
    let Some((tenant_id, user_id, bound)) = owner else {
        return Ok(Some(Refreshed::Revoked { idle_ms: None })); // dropping tx rolls the rotation back
    };
    let Ok((dpop_jkt, upgraded)) = key_outcome(bound, r.presented_jkt.as_deref()) else {
        return Ok(Some(Refreshed::WrongKey)); // rolled back likewise
    };
    if upgraded {
        sqlx::query(BIND_KEY).bind(&dpop_jkt).bind(r.now as i64).bind(&binding_id).execute(&mut *tx).await?;
    }
    activity::count_refresh(&mut tx, &binding_id, r.now).await?;
    sqlx::query(INSERT_SUCCESSOR)
        .bind(&successor_id)
        .bind(&binding_id)
        .bind(&family_id)
        .bind(&r.successor_hash)
        .bind(expires_at as i64)
        .bind(r.now as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(Refreshed::Ok { binding_id, tenant_id, user_id, refresh_expires_at: expires_at, dpop_jkt, upgraded }))
}

/// A session as the classification of an unrotatable token reads it, with its successor.
#[derive(sqlx::FromRow)]
struct PresentedSession {
    binding_id: String,
    rotated_at: Option<i64>,
    revoked_at: Option<i64>,
    next_rotated: Option<i64>,
    next_revoked: Option<i64>,
    next_expires: Option<i64>,
    tenant_id: String,
    user_id: String,
    binding_revoked: Option<i64>,
    binding_revoked_by: Option<String>,
    binding_last_used: i64,
    binding_jkt: Option<String>,
    session_created: i64,
    key_bound_at: Option<i64>,
}

/// Why a token could not be rotated, acting on reuse: only when the refresh came with the
/// binding's key, if it holds one (`presented`: the proof's key).
async fn classify_unrotatable(db: &Db, old_hash: &[u8], presented: Option<&str>, now: u64) -> sqlx::Result<Refreshed> {
    let row: Option<PresentedSession> = sqlx::query_as(
        "SELECT s.binding_id, s.rotated_at, s.revoked_at,
                n.rotated_at AS next_rotated, n.revoked_at AS next_revoked, n.expires_at AS next_expires,
                b.tenant_id, b.user_id, b.revoked_at AS binding_revoked, b.revoked_by AS binding_revoked_by,
                COALESCE(b.last_seen_at, b.created_at) AS binding_last_used, b.dpop_jkt AS binding_jkt,
                s.created_at AS session_created, b.dpop_bound_at AS key_bound_at
         FROM sessions s JOIN bindings b ON b.id = s.binding_id LEFT JOIN sessions n ON n.id = s.successor_id
         WHERE s.refresh_hash = $1",
    )
    .bind(old_hash)
    .fetch_optional(db)
    .await?;
    let Some(r) = row else {
        return Ok(Refreshed::Invalid);
    };
    if r.revoked_at.is_some() || r.binding_revoked.is_some() {
        let own_key = r.binding_jkt.is_none() || r.binding_jkt.as_deref() == presented;
        let idle_ms = match (r.binding_revoked, r.binding_revoked_by.as_deref()) {
            (Some(at), Some("idle")) if own_key => Some(at.saturating_sub(r.binding_last_used).max(0) as u64),
            _ => None,
        };
        return Ok(Refreshed::Revoked { idle_ms });
    }
    let Some(rotated_at) = r.rotated_at.map(|t| t as u64) else {
        return Ok(Refreshed::Invalid); // not rotated, not revoked: it expired
    };
    // Bound to another key than the proof's (or no proof came): neither the grace answer
    // nor a revocation, unless the token is older than the key. A token from before the
    // binding's upgrade is an old bearer token whose holder can't be expected to hold the
    // key: its reuse is reuse as ever (else a thief who upgraded first with a copied token
    // would keep the binding, the browser's own refresh only refused). A binding without a
    // key takes any (it is bound on a rotation only).
    let dpop_jkt = r.binding_jkt;
    if dpop_jkt.is_some() && dpop_jkt.as_deref() != presented {
        let older_than_key = r.key_bound_at.is_some_and(|bound| r.session_created < bound);
        if !older_than_key {
            return Ok(Refreshed::WrongKey);
        }
    } else {
        let successor_unused = r.next_rotated.is_none() && r.next_revoked.is_none();
        if successor_unused && now.saturating_sub(rotated_at) <= LOST_RESPONSE_GRACE_MS {
            return Ok(Refreshed::Ok {
                binding_id: r.binding_id,
                tenant_id: r.tenant_id,
                user_id: r.user_id,
                refresh_expires_at: r.next_expires.unwrap_or(0) as u64,
                dpop_jkt,
                upgraded: false,
            });
        }
    }
    // A binding has one session family (its successors share it): revoking the binding
    // revokes the family with it.
    // Detected whoever revokes first (a concurrent reuse, the user): the log tells of it.
    reuse_detected(db, &r.binding_id, &r.tenant_id, &r.user_id, now).await?;
    revoke_binding(db, &r.binding_id, now, RevokedBy::Reuse).await?;
    tracing::warn!(binding = %r.binding_id, "refresh token reused: family revoked");
    Ok(Refreshed::Reused)
}
