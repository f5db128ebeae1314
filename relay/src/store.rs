//! Every SQL statement of the relay. Single-use rules are enforced here, in the database
//! (conditional UPDATE … RETURNING), never by reading first and writing after.

use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::secrets::{ct_eq, new_id, new_secret, salted_hash};
use crate::wake::Topic;

/// A tenant id: 1–64 of `a-z 0-9 _ -`, passing the consent-name policy (the id is the
/// last fallback of the name a browser shows). Also what scaffolds and assertions name.
pub fn valid_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
        && latch_wire::name_policy::check_consent_name(id).is_ok()
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub origins: Vec<String>,
    pub captures: bool,
}

pub async fn create_tenant(db: &Db, t: &Tenant, now: u64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO tenants (id, name, origins, captures, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&t.id)
        .bind(&t.name)
        .bind(serde_json::to_string(&t.origins).expect("strings serialise"))
        .bind(i64::from(t.captures))
        .bind(now as i64)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn tenant(db: &Db, id: &str) -> sqlx::Result<Option<Tenant>> {
    let row = sqlx::query("SELECT id, name, origins, captures FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| Tenant {
        id: r.get("id"),
        name: r.get("name"),
        origins: serde_json::from_str(r.get::<&str, _>("origins")).unwrap_or_default(),
        captures: r.get::<i64, _>("captures") != 0,
    }))
}

/// API keys look like `lak_<16 hex id>_<43 base64url secret>`; the id finds the row and
/// the whole key is compared by salted hash in constant time.
pub const API_KEY_PREFIX: &str = "lak_";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    pub key_id: String,
    pub tenant_id: String,
    pub label: String,
    pub created_at: i64,
    pub revoked: bool,
}

/// Creates a key; returns `(apiKey, keyId)`. The key itself is never stored.
pub async fn create_api_key(db: &Db, tenant_id: &str, label: &str, now: u64) -> sqlx::Result<(String, String)> {
    let hex_id = new_id("");
    let key_id = format!("key_{hex_id}");
    let api_key = format!("{API_KEY_PREFIX}{hex_id}_{}", &new_secret("")[..]);
    let salt = crate::secrets::random_bytes();
    sqlx::query("INSERT INTO api_keys (id, tenant_id, label, salt, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&key_id)
        .bind(tenant_id)
        .bind(label)
        .bind(&salt[..])
        .bind(salted_hash(&salt, &api_key))
        .bind(now as i64)
        .execute(db)
        .await?;
    Ok((api_key, key_id))
}

/// The key id inside a well-formed API key.
pub fn api_key_id(api_key: &str) -> Option<String> {
    let rest = api_key.strip_prefix(API_KEY_PREFIX)?;
    let (hex_id, secret) = rest.split_at_checked(16)?;
    let secret = secret.strip_prefix('_')?;
    (hex_id.bytes().all(|c| c.is_ascii_hexdigit()) && secret.len() == 43).then(|| format!("key_{hex_id}"))
}

/// An active API key's row: what checking a presented key needs (its salted hash, never
/// the key).
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub tenant_id: String,
    pub label: String,
    /// The tenant's name, for naming the pairing tokens this key mints.
    pub tenant_name: String,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl ApiKeyRecord {
    /// Whether `api_key` is this key (constant-time).
    pub fn matches(&self, api_key: &str) -> bool {
        ct_eq(&salted_hash(&self.salt, api_key), &self.hash)
    }
}

pub async fn active_api_key(db: &Db, key_id: &str) -> sqlx::Result<Option<ApiKeyRecord>> {
    let row = sqlx::query(
        "SELECT k.tenant_id, k.label, k.salt, k.hash, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
         WHERE k.id = $1 AND k.revoked_at IS NULL",
    )
    .bind(key_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| ApiKeyRecord {
        tenant_id: r.get("tenant_id"),
        label: r.get("label"),
        tenant_name: r.get("name"),
        salt: r.get("salt"),
        hash: r.get("hash"),
    }))
}

pub async fn list_api_keys(db: &Db, tenant_id: Option<&str>) -> sqlx::Result<Vec<ApiKeyInfo>> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, label, created_at, revoked_at FROM api_keys WHERE $1 IS NULL OR tenant_id = $1 ORDER BY created_at",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApiKeyInfo {
            key_id: r.get("id"),
            tenant_id: r.get("tenant_id"),
            label: r.get("label"),
            created_at: r.get("created_at"),
            revoked: r.get::<Option<i64>, _>("revoked_at").is_some(),
        })
        .collect())
}

/// Revokes a key. From the commit on, the pairing tokens it minted no longer describe or
/// redeem (both read the key's row in their own statement, never a remembered answer), and
/// the code approvals it made that still await the browser's user are denied in the same
/// transaction (their long-polls wake on the challenges counter); `challenges::confirm`
/// also requires the approving key to be active, for an approval racing this revocation.
pub async fn revoke_api_key(db: &Db, key_id: &str, now: u64) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let r = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now as i64)
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
    if r.rows_affected() == 1 {
        count_change(&mut tx, Topic::Revocations).await?;
        let withdrawn = sqlx::query(
            "UPDATE challenges SET status = 'denied' WHERE key_id = $1 AND status = 'awaiting_confirmation'",
        )
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
        if withdrawn.rows_affected() > 0 {
            count_change(&mut tx, Topic::Challenges).await?;
        }
    }
    tx.commit().await?;
    Ok(r.rows_affected() == 1)
}

// The hot writes' statements, shared by the sqlx path (PostgreSQL, and SQLite without the
// writer) and the SQLite writer thread (`writes.rs`).
pub const INSERT_PAIRING_TOKEN: &str = "INSERT INTO pairing_tokens (hash, tenant_id, user_id, key_id, expires_at, created_at, app_name) VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// The single-use gate: unused, unexpired, and its minting key not revoked (read in the
/// same statement, so a `key revoke` committed before it is always seen). The key is one
/// primary-key probe (correlated `EXISTS`): `key_id IN (SELECT id … WHERE revoked_at IS
/// NULL)` had SQLite scan every API key on each redeem, inside the one writer.
pub const CONSUME_PAIRING_TOKEN: &str =
    "UPDATE pairing_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL AND expires_at > $1
     AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = pairing_tokens.key_id AND k.revoked_at IS NULL)
     RETURNING tenant_id, user_id, key_id, app_name";
pub const NAMES_OF_KEY: &str =
    "SELECT k.label, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = $1";
pub const INSERT_BINDING: &str =
    "INSERT INTO bindings (id, tenant_id, user_id, app_name, device_name, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
pub const INSERT_SESSION: &str = "INSERT INTO sessions (id, binding_id, family_id, refresh_hash, expires_at, created_at) VALUES ($1, $2, $1, $3, $4, $5)";

/// A pairing token to store (only its hash).
pub struct PairingToken {
    pub hash: Vec<u8>,
    pub tenant_id: String,
    pub user_id: String,
    pub key_id: String,
    /// The name its consent prompt shows and its binding gets.
    pub app_name: String,
    pub now: u64,
    pub expires_at: u64,
}

pub async fn insert_pairing_token(db: &Db, t: &PairingToken) -> sqlx::Result<()> {
    sqlx::query(INSERT_PAIRING_TOKEN)
        .bind(&t.hash)
        .bind(&t.tenant_id)
        .bind(&t.user_id)
        .bind(&t.key_id)
        .bind(t.expires_at as i64)
        .bind(t.now as i64)
        .bind(&t.app_name)
        .execute(db)
        .await?;
    Ok(())
}

/// A pairing token's row, with the names the consent prompt may use.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub tenant_id: String,
    pub user_id: String,
    /// Named at mint; `None` for tokens minted before that (migration 0006).
    pub app_name: Option<String>,
    pub key_label: String,
    pub tenant_name: String,
    /// The tenant's registered web origins (describe names them).
    pub tenant_origins: Vec<String>,
    pub expires_at: u64,
    pub used: bool,
    /// The API key that minted it was revoked: it neither describes nor redeems.
    pub key_revoked: bool,
}

pub async fn pairing_token(db: &Db, hash: &[u8]) -> sqlx::Result<Option<TokenRow>> {
    let row = sqlx::query(
        "SELECT p.tenant_id, p.user_id, p.expires_at, p.used_at, p.app_name, k.label, k.revoked_at, t.name, t.origins
         FROM pairing_tokens p JOIN api_keys k ON k.id = p.key_id JOIN tenants t ON t.id = p.tenant_id
         WHERE p.hash = $1",
    )
    .bind(hash)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| TokenRow {
        tenant_id: r.get("tenant_id"),
        user_id: r.get("user_id"),
        app_name: r.get("app_name"),
        key_label: r.get("label"),
        tenant_name: r.get("name"),
        tenant_origins: serde_json::from_str(r.get::<&str, _>("origins")).unwrap_or_default(),
        expires_at: r.get::<i64, _>("expires_at") as u64,
        used: r.get::<Option<i64>, _>("used_at").is_some(),
        key_revoked: r.get::<Option<i64>, _>("revoked_at").is_some(),
    }))
}

/// What a successful redeem created.
pub struct NewBinding {
    pub binding_id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub app_name: String,
}

impl From<NewBinding> for latch_wire::api::BindingInfo {
    fn from(b: NewBinding) -> Self {
        Self { binding_id: b.binding_id, tenant_id: b.tenant_id, app_name: b.app_name, user_id: b.user_id }
    }
}

/// PostgreSQL's redeem as one statement, so one round trip and one commit: consume the
/// token (the single-use gate), then insert the binding and its first session from the
/// consumed row. Data-modifying CTEs run in the statement's one snapshot; when the token
/// is not redeemable `consumed` is empty and nothing is inserted. The app name is the one
/// stored at mint, else `$4`; a token with neither is left alone (`$4` is NULL on the
/// first try). (SQLite has no data-modifying CTEs; there `writes.rs` runs the same steps
/// in a savepoint.)
const REDEEM_IN_ONE_STATEMENT: &str = "WITH consumed AS (
        UPDATE pairing_tokens SET used_at = $1
        WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 AND COALESCE(app_name, $4) IS NOT NULL
          AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = pairing_tokens.key_id AND k.revoked_at IS NULL)
        RETURNING tenant_id, user_id, COALESCE(app_name, $4) AS app_name),
    binding AS (
        INSERT INTO bindings (id, tenant_id, user_id, app_name, device_name, created_at)
        SELECT $3, tenant_id, user_id, app_name, $5, $1 FROM consumed RETURNING id),
    session AS (
        INSERT INTO sessions (id, binding_id, family_id, refresh_hash, expires_at, created_at)
        SELECT $6, id, $6, $7, $8, $1 FROM binding RETURNING id)
    SELECT consumed.tenant_id, consumed.user_id, consumed.app_name FROM consumed, session";

/// Atomically consumes the token and creates the binding and its first session
/// (PostgreSQL; SQLite goes through the writer thread). The conditional UPDATE is the
/// single-use gate: of any number of concurrent redeems exactly one sees a row. A token
/// named at mint takes one statement; one minted before (migration 0006, or by an older
/// instance during a rolling upgrade) is read and named by `app_name_for` first. `None`
/// when the token was not redeemable.
pub async fn redeem_pairing_token(
    db: &Db,
    hash: &[u8],
    device_name: &str,
    now: u64,
    app_name_for: impl FnOnce(&TokenRow) -> String,
    refresh_hash: &[u8],
    refresh_expires_at: u64,
) -> sqlx::Result<Option<NewBinding>> {
    let redeem = |app_name: Option<String>| async move {
        let binding_id = new_id("bnd_");
        let redeemed = sqlx::query(REDEEM_IN_ONE_STATEMENT)
            .bind(now as i64)
            .bind(hash)
            .bind(&binding_id)
            .bind(app_name)
            .bind(device_name)
            .bind(new_id("ses_"))
            .bind(refresh_hash)
            .bind(refresh_expires_at as i64)
            .fetch_optional(db)
            .await?;
        Ok::<_, sqlx::Error>(redeemed.map(|r| NewBinding {
            binding_id,
            tenant_id: r.get("tenant_id"),
            user_id: r.get("user_id"),
            app_name: r.get("app_name"),
        }))
    };
    if let Some(done) = redeem(None).await? {
        return Ok(Some(done));
    }
    match pairing_token(db, hash).await? {
        Some(row) if row.app_name.is_none() && !row.used && !row.key_revoked && row.expires_at > now => {
            redeem(Some(app_name_for(&row))).await
        }
        _ => Ok(None),
    }
}

/// The binding a redeem created, if its first session (hash `refresh_hash`) is still
/// unused and nothing was revoked: the answer to that redeem may be given again.
pub async fn unanswered_redeem(db: &Db, refresh_hash: &[u8]) -> sqlx::Result<Option<(NewBinding, u64)>> {
    let row = sqlx::query(
        "SELECT b.id, b.tenant_id, b.user_id, b.app_name, s.expires_at FROM sessions s JOIN bindings b ON b.id = s.binding_id
         WHERE s.refresh_hash = $1 AND s.rotated_at IS NULL AND s.revoked_at IS NULL AND b.revoked_at IS NULL",
    )
    .bind(refresh_hash)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        let b = NewBinding {
            binding_id: r.get("id"),
            tenant_id: r.get("tenant_id"),
            user_id: r.get("user_id"),
            app_name: r.get("app_name"),
        };
        (b, r.get::<i64, _>("expires_at") as u64)
    }))
}

/// Inserts an active binding; returns its id.
pub async fn insert_binding(
    tx: &mut sqlx::AnyConnection,
    tenant_id: &str,
    user_id: &str,
    app_name: &str,
    device_name: &str,
    now: u64,
) -> sqlx::Result<String> {
    let binding_id = new_id("bnd_");
    sqlx::query(INSERT_BINDING)
        .bind(&binding_id)
        .bind(tenant_id)
        .bind(user_id)
        .bind(app_name)
        .bind(device_name)
        .bind(now as i64)
        .execute(tx)
        .await?;
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

/// Revokes the binding that owns this refresh token (and all its sessions).
/// True when an active binding was revoked by this call.
/// Whether a session (any rotation of a family) is stored under this refresh-token hash.
pub async fn session_exists(db: &Db, refresh_hash: &[u8]) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM sessions WHERE refresh_hash = $1")
        .bind(refresh_hash)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

pub async fn revoke_by_refresh(db: &Db, refresh_hash: &[u8], now: u64) -> sqlx::Result<bool> {
    let binding: Option<String> = sqlx::query_scalar("SELECT binding_id FROM sessions WHERE refresh_hash = $1")
        .bind(refresh_hash)
        .fetch_optional(db)
        .await?;
    match binding {
        Some(id) => revoke_binding(db, &id, now).await,
        None => Ok(false),
    }
}

/// Revokes a binding and its sessions. True when it was active.
pub async fn revoke_binding(db: &Db, binding_id: &str, now: u64) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let r = sqlx::query("UPDATE bindings SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now as i64)
        .bind(binding_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE binding_id = $2 AND revoked_at IS NULL")
        .bind(now as i64)
        .bind(binding_id)
        .execute(&mut *tx)
        .await?;
    if r.rows_affected() == 1 {
        count_change(&mut tx, Topic::Revocations).await?;
    }
    tx.commit().await?;
    Ok(r.rows_affected() == 1)
}

/// Bumps the counter of `topic` (see migrations/*/0005): other processes on a SQLite file
/// wake only the waiters of a topic whose counter moved.
pub async fn count_change(conn: &mut sqlx::AnyConnection, topic: Topic) -> sqlx::Result<()> {
    sqlx::query("UPDATE change_counters SET seq = seq + 1 WHERE topic = $1")
        .bind(topic.counter())
        .execute(conn)
        .await?;
    Ok(())
}

/// Every topic's counter.
pub async fn change_counters(conn: &mut sqlx::AnyConnection) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT topic, seq FROM change_counters").fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| (r.get("topic"), r.get("seq"))).collect())
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingRow {
    pub binding_id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub app_name: String,
    pub device_name: String,
    pub created_at: i64,
    pub revoked: bool,
}

pub async fn list_bindings(db: &Db, tenant_id: Option<&str>) -> sqlx::Result<Vec<BindingRow>> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, user_id, app_name, device_name, created_at, revoked_at FROM bindings
         WHERE $1 IS NULL OR tenant_id = $1 ORDER BY created_at",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(binding_row).collect())
}

fn binding_row(r: sqlx::any::AnyRow) -> BindingRow {
    BindingRow {
        binding_id: r.get("id"),
        tenant_id: r.get("tenant_id"),
        user_id: r.get("user_id"),
        app_name: r.get("app_name"),
        device_name: r.get("device_name"),
        created_at: r.get("created_at"),
        revoked: r.get::<Option<i64>, _>("revoked_at").is_some(),
    }
}

/// A binding by id, revoked or not.
pub async fn binding(db: &Db, binding_id: &str) -> sqlx::Result<Option<BindingRow>> {
    let row = sqlx::query(
        "SELECT id, tenant_id, user_id, app_name, device_name, created_at, revoked_at FROM bindings WHERE id = $1",
    )
    .bind(binding_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(binding_row))
}

/// An active binding by id.
pub async fn active_binding(db: &Db, binding_id: &str) -> sqlx::Result<Option<BindingRow>> {
    let row = sqlx::query(
        "SELECT id, tenant_id, user_id, app_name, device_name, created_at, revoked_at FROM bindings WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(binding_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(binding_row))
}

/// Which of `ids` are revoked bindings (an unknown id is not). In batches of 500 ids per
/// statement: one revocation asks this for every socket of an instance.
pub async fn revoked_among(db: &Db, ids: &[String]) -> sqlx::Result<Vec<String>> {
    let mut revoked = Vec::new();
    for batch in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=batch.len()).map(|n| format!("${n}")).collect();
        let sql =
            format!("SELECT id FROM bindings WHERE revoked_at IS NOT NULL AND id IN ({})", placeholders.join(", "));
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for id in batch {
            query = query.bind(id);
        }
        revoked.extend(query.fetch_all(db).await?);
    }
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_ids_parse_only_from_well_formed_keys() {
        let key = format!("lak_0123456789abcdef_{}", "A".repeat(43));
        assert_eq!(api_key_id(&key).as_deref(), Some("key_0123456789abcdef"));
        assert_eq!(api_key_id("lak_0123"), None);
        assert_eq!(api_key_id(&key.replace("lak_", "xx_")), None);
        assert_eq!(api_key_id(&format!("lak_0123456789abcdeg_{}", "A".repeat(43))), None);
        assert_eq!(api_key_id(&format!("lak_0123456789abcdef_{}", "A".repeat(42))), None);
        assert_eq!(api_key_id("lak_ééééééééé"), None);
    }
}
