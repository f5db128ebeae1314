//! Tenants (the apps that pair browsers) and their API keys. API keys look like
//! `lak_<16 hex id>_<43 base64url secret>`; the id finds the row and the whole key is
//! compared by salted hash in constant time. The key itself is never stored.

use serde::Serialize;

use super::changes::{count_change, Topic};
use super::Db;
use crate::secrets::{ct_eq, new_id, new_secret, random_bytes, salted_hash};

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

/// A tenant's row as stored: origins as JSON text, captures as 0/1.
#[derive(sqlx::FromRow)]
struct TenantRow {
    id: String,
    name: String,
    origins: String,
    captures: i64,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            origins: serde_json::from_str(&r.origins).unwrap_or_default(),
            captures: r.captures != 0,
        }
    }
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

/// Sets the app's page where a user types a pairing code (`tenant create --pair-url`).
pub async fn set_pair_url(db: &Db, tenant_id: &str, pair_url: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE tenants SET pair_url = $1 WHERE id = $2").bind(pair_url).bind(tenant_id).execute(db).await?;
    Ok(())
}

/// The one pairing page the relay knows, if exactly one tenant registered one: a code
/// request doesn't say which app it is for, so with two the relay can't tell, and says
/// nothing rather than send a user to the wrong app.
pub async fn sole_pair_url(db: &Db) -> sqlx::Result<Option<String>> {
    let urls: Vec<String> =
        sqlx::query_scalar("SELECT pair_url FROM tenants WHERE pair_url IS NOT NULL LIMIT 2").fetch_all(db).await?;
    Ok(match <[String; 1]>::try_from(urls) {
        Ok([url]) => Some(url),
        Err(_) => None,
    })
}

pub async fn tenant(db: &Db, id: &str) -> sqlx::Result<Option<Tenant>> {
    let row: Option<TenantRow> = sqlx::query_as("SELECT id, name, origins, captures FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(Tenant::from))
}

/// Where a tenant's webhooks go and what derives its signing secret (webhooks.rs).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookTarget {
    pub webhook_url: String,
    pub webhook_secret_nonce: String,
    pub webhook_secret_hash: String,
}

/// Sets (or replaces, with a new secret's nonce and fingerprint) the tenant's webhook.
/// False when there is no such tenant.
pub async fn set_webhook(db: &Db, tenant_id: &str, url: &str, nonce: &str, hash: &str) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "UPDATE tenants SET webhook_url = $1, webhook_secret_nonce = $2, webhook_secret_hash = $3 WHERE id = $4",
    )
    .bind(url)
    .bind(nonce)
    .bind(hash)
    .bind(tenant_id)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The tenant gets no more webhooks: its URL goes, and the events not yet delivered end as
/// failed (there is nowhere to send them).
pub async fn remove_webhook(db: &Db, tenant_id: &str, now: u64) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE tenants SET webhook_url = NULL, webhook_secret_nonce = NULL, webhook_secret_hash = NULL WHERE id = $1",
    )
    .bind(tenant_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE webhook_outbox SET failed_at = $1, last_error = 'the webhook was removed'
         WHERE tenant_id = $2 AND delivered_at IS NULL AND failed_at IS NULL",
    )
    .bind(now as i64)
    .bind(tenant_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

pub async fn webhook_target(db: &Db, tenant_id: &str) -> sqlx::Result<Option<WebhookTarget>> {
    sqlx::query_as(
        "SELECT webhook_url, webhook_secret_nonce, webhook_secret_hash FROM tenants
         WHERE id = $1 AND webhook_url IS NOT NULL AND webhook_secret_nonce IS NOT NULL AND webhook_secret_hash IS NOT NULL",
    )
    .bind(tenant_id)
    .fetch_optional(db)
    .await
}

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

#[derive(sqlx::FromRow)]
struct ApiKeyInfoRow {
    id: String,
    tenant_id: String,
    label: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

/// Creates a key; returns `(apiKey, keyId)`.
pub async fn create_api_key(db: &Db, tenant_id: &str, label: &str, now: u64) -> sqlx::Result<(String, String)> {
    let hex_id = new_id("");
    let key_id = format!("key_{hex_id}");
    let api_key = format!("{API_KEY_PREFIX}{hex_id}_{}", &new_secret("")[..]);
    let salt = random_bytes();
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
#[derive(Debug, Clone, sqlx::FromRow)]
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
    sqlx::query_as(
        "SELECT k.tenant_id, k.label, k.salt, k.hash, t.name AS tenant_name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
         WHERE k.id = $1 AND k.revoked_at IS NULL",
    )
    .bind(key_id)
    .fetch_optional(db)
    .await
}

pub async fn list_api_keys(db: &Db, tenant_id: Option<&str>) -> sqlx::Result<Vec<ApiKeyInfo>> {
    let rows: Vec<ApiKeyInfoRow> = sqlx::query_as(
        "SELECT id, tenant_id, label, created_at, revoked_at FROM api_keys WHERE $1 IS NULL OR tenant_id = $1 ORDER BY created_at",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApiKeyInfo {
            key_id: r.id,
            tenant_id: r.tenant_id,
            label: r.label,
            created_at: r.created_at,
            revoked: r.revoked_at.is_some(),
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
        withdraw_approvals(&mut tx, &[key_id.to_owned()], now).await?;
    }
    tx.commit().await?;
    Ok(r.rows_affected() == 1)
}

/// Revokes every active key of a tenant (`key revoke --all`, seed 002's remove-all), each as
/// [`revoke_api_key`] does, in one transaction. The number revoked: 0 when none was active,
/// so running it again changes nothing.
pub async fn revoke_tenant_api_keys(db: &Db, tenant_id: &str, now: u64) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    let revoked: Vec<String> = sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND revoked_at IS NULL RETURNING id",
    )
    .bind(now as i64)
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    if !revoked.is_empty() {
        count_change(&mut tx, Topic::Revocations).await?;
        withdraw_approvals(&mut tx, &revoked, now).await?;
    }
    tx.commit().await?;
    Ok(revoked.len() as u64)
}

/// Denies the code approvals these (just revoked) keys made that still await the browser's
/// user; their long-polls wake on the challenges counter, and the app hears
/// `pairing.denied` by the owner (it was told the code awaited confirmation).
async fn withdraw_approvals(conn: &mut sqlx::AnyConnection, key_ids: &[String], now: u64) -> sqlx::Result<()> {
    let mut withdrawn = 0;
    for key_id in key_ids {
        let denied: Vec<(String, String)> = sqlx::query_as(
            "UPDATE challenges SET status = 'denied' WHERE key_id = $1 AND status = 'awaiting_confirmation'
             RETURNING tenant_id, user_id",
        )
        .bind(key_id)
        .fetch_all(&mut *conn)
        .await?;
        for (tenant_id, user_id) in &denied {
            let hook = super::outbox::Hook::PairingDenied { user_id, by: "owner" };
            super::outbox::enqueue(&mut *conn, tenant_id, &hook, now).await?;
        }
        withdrawn += denied.len();
    }
    if withdrawn > 0 {
        count_change(conn, Topic::Challenges).await?;
    }
    Ok(())
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
