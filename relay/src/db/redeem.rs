//! Redeem: consume a pairing token once and create the binding and its first refresh
//! session, all or nothing. The one place this is written. The two backends need
//! different SQL, so both statement sets sit here side by side: PostgreSQL runs one
//! statement (data-modifying CTEs, one round trip and one commit); SQLite, which has no
//! data-modifying CTEs, runs the same steps in the writer thread's savepoint (group
//! commit). The single-use gate is the same conditional UPDATE in both: of any number of
//! concurrent redeems exactly one sees a row.

use rusqlite::{params, Connection, OptionalExtension};

use super::activity::Via;
use super::outbox::{enqueue_on_writer, Hook};
use super::pairing_tokens::{legacy_app_name, pairing_token};
use super::{Db, Store};
use crate::secrets::new_id;

pub use sqlite::CONSUME_PAIRING_TOKEN;

/// A redeem to run: the token's hash, the device's name and the first session's refresh
/// token hash and expiry.
pub struct Redeem {
    pub hash: Vec<u8>,
    pub device_name: String,
    /// The key the binding's tokens are bound to (PROTOCOL §12).
    pub dpop_jkt: Option<String>,
    /// One-click or pasted (what the browser said; API clients say nothing: pasted).
    pub via: Via,
    pub now: u64,
    pub refresh_hash: Vec<u8>,
    pub refresh_expires_at: u64,
}

/// What a successful redeem created.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NewBinding {
    pub binding_id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub app_name: String,
    /// The key its tokens are bound to (PROTOCOL §12).
    pub dpop_jkt: Option<String>,
}

impl From<NewBinding> for latch_wire::api::BindingInfo {
    fn from(b: NewBinding) -> Self {
        Self { binding_id: b.binding_id, tenant_id: b.tenant_id, app_name: b.app_name, user_id: b.user_id }
    }
}

/// Atomically consumes the token and creates the binding and its first session. `None`
/// when the token was not redeemable (unknown, used, expired, or its key revoked).
pub async fn redeem_pairing_token(store: &Store, r: Redeem) -> sqlx::Result<Option<NewBinding>> {
    match &store.writer {
        Some(writer) => writer.write(move |c| sqlite::redeem(c, r)).await,
        None => postgres::redeem(&store.pool, &r).await,
    }
}

mod postgres {
    use super::*;

    /// Consume the token, then insert the binding and its first session from the
    /// consumed row, in the statement's one snapshot; when the token is not redeemable
    /// `consumed` is empty and nothing is inserted. The app name is the one stored at
    /// mint, else `$4`; a token with neither is left alone (`$4` is NULL on the first
    /// try). For a tenant with a webhook, its `binding.created` (`$11`: the event id; the
    /// data as `outbox::Hook` makes it) is written by the same statement. (The log's
    /// `paired` is the binding row itself: `activity::events_page`.)
    const REDEEM_IN_ONE_STATEMENT: &str = "WITH consumed AS (
        UPDATE pairing_tokens SET used_at = $1
        WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 AND COALESCE(app_name, $4) IS NOT NULL
          AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = pairing_tokens.key_id AND k.revoked_at IS NULL)
        RETURNING tenant_id, user_id, COALESCE(app_name, $4) AS app_name),
    binding AS (
        INSERT INTO bindings (id, tenant_id, user_id, app_name, device_name, created_at, dpop_jkt, via)
        SELECT $3, tenant_id, user_id, app_name, $5, $1, $9, $10 FROM consumed
        RETURNING id, dpop_jkt, tenant_id, user_id, device_name, via),
    hook AS (
        INSERT INTO webhook_outbox (id, tenant_id, type, data, created_at, next_attempt_at)
        SELECT $11, t.id, 'binding.created',
               json_build_object('bindingId', b.id, 'userId', b.user_id, 'deviceName', b.device_name, 'via', b.via)::text,
               $1, $1
        FROM binding b JOIN tenants t ON t.id = b.tenant_id WHERE t.webhook_url IS NOT NULL),
    session AS (
        INSERT INTO sessions (id, binding_id, family_id, refresh_hash, expires_at, created_at)
        SELECT $6, id, $6, $7, $8, $1 FROM binding RETURNING id)
    SELECT binding.id AS binding_id, consumed.tenant_id, consumed.user_id, consumed.app_name, binding.dpop_jkt
    FROM consumed, binding, session";

    /// A token named at mint takes one statement; one minted before is read and named
    /// first, then redeemed with that name.
    pub(super) async fn redeem(db: &Db, r: &Redeem) -> sqlx::Result<Option<NewBinding>> {
        let attempt = |app_name: Option<String>| {
            sqlx::query_as(REDEEM_IN_ONE_STATEMENT)
                .bind(r.now as i64)
                .bind(&r.hash)
                .bind(new_id("bnd_"))
                .bind(app_name)
                .bind(&r.device_name)
                .bind(new_id("ses_"))
                .bind(&r.refresh_hash)
                .bind(r.refresh_expires_at as i64)
                .bind(&r.dpop_jkt)
                .bind(r.via.as_str())
                .bind(new_id("evt_"))
                .fetch_optional(db)
        };
        if let Some(done) = attempt(None).await? {
            return Ok(Some(done));
        }
        match pairing_token(db, &r.hash).await? {
            Some(row) if row.app_name.is_none() && !row.used && !row.key_revoked && row.expires_at > r.now => {
                attempt(Some(row.app_name())).await
            }
            _ => Ok(None),
        }
    }
}

mod sqlite {
    use super::*;

    /// The single-use gate: unused, unexpired, and its minting key not revoked (read in
    /// the same statement, so a `key revoke` committed before it is always seen). The key
    /// is one primary-key probe (correlated `EXISTS`): `key_id IN (SELECT id … WHERE
    /// revoked_at IS NULL)` had SQLite scan every API key on each redeem, inside the one
    /// writer.
    pub const CONSUME_PAIRING_TOKEN: &str =
        "UPDATE pairing_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL AND expires_at > $1
     AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = pairing_tokens.key_id AND k.revoked_at IS NULL)
     RETURNING tenant_id, user_id, key_id, app_name";
    const NAMES_OF_KEY: &str =
        "SELECT k.label, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = $1";
    // The same inserts as every other path that binds (code confirm, enrollment).
    use super::super::bindings::{INSERT_BINDING, INSERT_SESSION};

    pub(super) fn redeem(c: &Connection, r: Redeem) -> rusqlite::Result<Option<NewBinding>> {
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
            None => {
                let (key_label, tenant_name): (String, String) =
                    c.prepare_cached(NAMES_OF_KEY)?.query_row(params![key_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
                legacy_app_name(&key_label, &tenant_name, &tenant_id)
            }
        };
        let binding_id = new_id("bnd_");
        c.prepare_cached(INSERT_BINDING)?.execute(params![
            binding_id,
            tenant_id,
            user_id,
            app_name,
            r.device_name,
            r.now as i64,
            r.dpop_jkt,
            r.via.as_str()
        ])?;
        let created = Hook::BindingCreated {
            binding_id: &binding_id,
            user_id: &user_id,
            device_name: &r.device_name,
            via: r.via,
        };
        enqueue_on_writer(c, &tenant_id, &created, r.now)?;
        c.prepare_cached(INSERT_SESSION)?.execute(params![
            new_id("ses_"),
            binding_id,
            r.refresh_hash,
            r.refresh_expires_at as i64,
            r.now as i64
        ])?;
        Ok(Some(NewBinding { binding_id, tenant_id, user_id, app_name, dpop_jkt: r.dpop_jkt }))
    }
}

#[derive(sqlx::FromRow)]
struct Unanswered {
    #[sqlx(flatten)]
    binding: NewBinding,
    expires_at: i64,
}

/// The binding a redeem created, if its first session (hash `refresh_hash`) is still
/// unused and nothing was revoked: the answer to that redeem may be given again.
pub async fn unanswered_redeem(db: &Db, refresh_hash: &[u8]) -> sqlx::Result<Option<(NewBinding, u64)>> {
    let row: Option<Unanswered> = sqlx::query_as(
        "SELECT b.id AS binding_id, b.tenant_id, b.user_id, b.app_name, b.dpop_jkt, s.expires_at FROM sessions s JOIN bindings b ON b.id = s.binding_id
         WHERE s.refresh_hash = $1 AND s.rotated_at IS NULL AND s.revoked_at IS NULL AND b.revoked_at IS NULL",
    )
    .bind(refresh_hash)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.binding, r.expires_at as u64)))
}
