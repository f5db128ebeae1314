//! Pairing tokens: minted by an app's API key (only their hash is stored), described to
//! the connect page, consumed once by a redeem (`redeem.rs`). Minting is a hot write: on
//! SQLite it goes through the writer's group commit, otherwise one sqlx statement.

use super::{Db, Store};

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

const INSERT_PAIRING_TOKEN: &str = "INSERT INTO pairing_tokens (hash, tenant_id, user_id, key_id, expires_at, created_at, app_name) VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub async fn insert_pairing_token(store: &Store, t: PairingToken) -> sqlx::Result<()> {
    let Some(writer) = &store.writer else {
        sqlx::query(INSERT_PAIRING_TOKEN)
            .bind(&t.hash)
            .bind(&t.tenant_id)
            .bind(&t.user_id)
            .bind(&t.key_id)
            .bind(t.expires_at as i64)
            .bind(t.now as i64)
            .bind(&t.app_name)
            .execute(&store.pool)
            .await?;
        return Ok(());
    };
    writer
        .write(move |c| {
            c.prepare_cached(INSERT_PAIRING_TOKEN)?.execute(rusqlite::params![
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

impl TokenRow {
    /// The name the consent prompt shows: the one worked out at mint, or for a token
    /// minted before names were stored, the same rule applied now.
    pub fn app_name(&self) -> String {
        match &self.app_name {
            Some(named) => named.clone(),
            None => legacy_app_name(&self.key_label, &self.tenant_name, &self.tenant_id),
        }
    }
}

/// The name of a token minted without one (before migration 0006, or by an older instance
/// during a rolling upgrade): what mint would have named it.
pub(super) fn legacy_app_name(key_label: &str, tenant_name: &str, tenant_id: &str) -> String {
    latch_wire::name_policy::display_name(Some(key_label), tenant_name, tenant_id)
}

#[derive(sqlx::FromRow)]
struct StoredToken {
    tenant_id: String,
    user_id: String,
    #[sqlx(try_from = "i64")]
    expires_at: u64,
    used_at: Option<i64>,
    app_name: Option<String>,
    label: String,
    revoked_at: Option<i64>,
    name: String,
    origins: String,
}

pub async fn pairing_token(db: &Db, hash: &[u8]) -> sqlx::Result<Option<TokenRow>> {
    let row: Option<StoredToken> = sqlx::query_as(
        "SELECT p.tenant_id, p.user_id, p.expires_at, p.used_at, p.app_name, k.label, k.revoked_at, t.name, t.origins
         FROM pairing_tokens p JOIN api_keys k ON k.id = p.key_id JOIN tenants t ON t.id = p.tenant_id
         WHERE p.hash = $1",
    )
    .bind(hash)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| TokenRow {
        tenant_id: r.tenant_id,
        user_id: r.user_id,
        app_name: r.app_name,
        key_label: r.label,
        tenant_name: r.name,
        tenant_origins: serde_json::from_str(&r.origins).unwrap_or_default(),
        expires_at: r.expires_at,
        used: r.used_at.is_some(),
        key_revoked: r.revoked_at.is_some(),
    }))
}
