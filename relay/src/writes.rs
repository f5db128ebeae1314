//! The hot writes (mint, redeem, refresh rotation), routed: on SQLite through the writer
//! thread's group commit (`sqlite_writer.rs`), otherwise through sqlx (`store.rs`,
//! `sessions.rs`). Both paths run the same statements (the constants in those files) with
//! the same single-use conditions; the writer runs each request's statements in one
//! savepoint of a batch transaction, so each request is still all-or-nothing.

use rusqlite::{params, Connection, OptionalExtension};

use crate::secrets::new_id;
use crate::sessions::{self, Refreshed, ACTIVE_BINDING_OWNER, INSERT_SUCCESSOR, ROTATE_SESSION};
pub use crate::store::PairingToken;
use crate::store::{
    self, NewBinding, TokenRow, CONSUME_PAIRING_TOKEN, INSERT_BINDING, INSERT_PAIRING_TOKEN, INSERT_SESSION,
    NAMES_OF_KEY,
};
use crate::AppState;

pub async fn insert_pairing_token(s: &AppState, t: PairingToken) -> sqlx::Result<()> {
    let Some(writer) = &s.writer else {
        return store::insert_pairing_token(&s.db, &t).await;
    };
    writer
        .write(move |c| {
            c.prepare_cached(INSERT_PAIRING_TOKEN)?.execute(params![
                t.hash,
                t.tenant_id,
                t.user_id,
                t.key_id,
                t.expires_at as i64,
                t.now as i64,
                t.app_name
            ])?;
            Ok(())
        })
        .await
}

pub struct Redeem {
    pub hash: Vec<u8>,
    pub device_name: String,
    pub now: u64,
    pub app_name_for: fn(&TokenRow) -> String,
    pub refresh_hash: Vec<u8>,
    pub refresh_expires_at: u64,
}

/// [`store::redeem_pairing_token`]: consumes the token and creates binding and session.
pub async fn redeem_pairing_token(s: &AppState, r: Redeem) -> sqlx::Result<Option<NewBinding>> {
    let Some(writer) = &s.writer else {
        return store::redeem_pairing_token(
            &s.db,
            &r.hash,
            &r.device_name,
            r.now,
            r.app_name_for,
            &r.refresh_hash,
            r.refresh_expires_at,
        )
        .await;
    };
    writer.write(move |c| redeem_on(c, r)).await
}

fn redeem_on(c: &Connection, r: Redeem) -> rusqlite::Result<Option<NewBinding>> {
    let consumed = c
        .prepare_cached(CONSUME_PAIRING_TOKEN)?
        .query_row(params![r.now as i64, r.hash], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get(3)?))
        })
        .optional()?;
    let Some((tenant_id, user_id, key_id, app_name)) = consumed else {
        return Ok(None);
    };
    let app_name = match app_name {
        Some(named) => named,
        // Minted before migration 0006 (or by an older instance): named now, as before.
        None => {
            let (key_label, tenant_name) = c
                .prepare_cached(NAMES_OF_KEY)?
                .query_row(params![key_id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
            let row = TokenRow {
                tenant_id: tenant_id.clone(),
                user_id: user_id.clone(),
                app_name: None,
                key_label,
                tenant_name,
                tenant_origins: Vec::new(),
                expires_at: 0,
                used: true,
                key_revoked: false,
            };
            (r.app_name_for)(&row)
        }
    };
    let binding_id = new_id("bnd_");
    c.prepare_cached(INSERT_BINDING)?.execute(params![
        binding_id,
        tenant_id,
        user_id,
        app_name,
        r.device_name,
        r.now as i64
    ])?;
    c.prepare_cached(INSERT_SESSION)?.execute(params![
        new_id("ses_"),
        binding_id,
        r.refresh_hash,
        r.refresh_expires_at as i64,
        r.now as i64
    ])?;
    Ok(Some(NewBinding { binding_id, tenant_id, user_id, app_name }))
}

/// [`sessions::refresh`]: the rotation runs on the writer; anything but a clean rotation
/// (reuse, revoked, expired) is classified by the sqlx path, which acts on reuse.
pub async fn refresh(
    s: &AppState,
    old_hash: Vec<u8>,
    successor_hash: Vec<u8>,
    now: u64,
    ttl_ms: u64,
) -> sqlx::Result<Refreshed> {
    let Some(writer) = &s.writer else {
        return sessions::refresh(&s.db, &old_hash, &successor_hash, now, ttl_ms).await;
    };
    let hash = old_hash.clone();
    let rotated = writer.write(move |c| rotate_on(c, &hash, &successor_hash, now, now + ttl_ms)).await?;
    match rotated {
        Some(done) => Ok(done),
        None => sessions::classify_unrotatable(&s.db, &old_hash, now).await,
    }
}

fn rotate_on(
    c: &Connection,
    old_hash: &[u8],
    successor_hash: &[u8],
    now: u64,
    expires_at: u64,
) -> rusqlite::Result<Option<Refreshed>> {
    let successor_id = new_id("ses_");
    // Its own savepoint: a rotation whose binding turns out revoked is undone, not kept.
    c.execute_batch("SAVEPOINT rotation")?;
    let rotated = c
        .prepare_cached(ROTATE_SESSION)?
        .query_row(params![now as i64, successor_id, old_hash], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .optional()?;
    let Some((binding_id, family_id)) = rotated else {
        c.execute_batch("RELEASE rotation")?;
        return Ok(None);
    };
    let owner = c
        .prepare_cached(ACTIVE_BINDING_OWNER)?
        .query_row(params![binding_id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
        .optional()?;
    let Some((tenant_id, user_id)) = owner else {
        c.execute_batch("ROLLBACK TO rotation; RELEASE rotation")?;
        return Ok(Some(Refreshed::Revoked));
    };
    c.prepare_cached(INSERT_SUCCESSOR)?.execute(params![
        successor_id,
        binding_id,
        family_id,
        successor_hash,
        expires_at as i64,
        now as i64
    ])?;
    c.execute_batch("RELEASE rotation")?;
    Ok(Some(Refreshed::Ok { binding_id, tenant_id, user_id, refresh_expires_at: expires_at }))
}
