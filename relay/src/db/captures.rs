//! The capture inbox's rows: a capture stored under the tenant's cap (exact under
//! concurrent posts, see `inbox.rs`), and the app's drain that hands them out and deletes
//! them in one statement.

use latch_wire::api::Capture;
use serde::Serialize;

use super::{Backend, Db};
use crate::secrets::new_id;

/// Who posts a capture.
pub struct Poster<'a> {
    pub tenant_id: &'a str,
    pub binding_id: &'a str,
    pub user_id: &'a str,
}

/// The most undrained captures (count and bytes) a tenant may hold.
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    pub max_captures: u64,
    pub max_bytes: u64,
}

/// A capture's size as the cap counts it.
pub fn size_of(c: &Capture) -> u64 {
    (c.url.len() + c.title.len() + c.text.len()) as u64
}

/// Stores a capture unless the tenant's inbox would then hold more than the cap allows.
/// `Some(captureId)`, or `None` when the inbox is full.
pub async fn insert(db: &Db, c: &Capture, by: &Poster<'_>, cap: Cap, now: u64) -> sqlx::Result<Option<String>> {
    let id = new_id("cap_");
    let mut tx = db.begin().await?;
    if Backend::of(db) == Backend::Postgres {
        sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
            .bind(by.tenant_id)
            .execute(&mut *tx)
            .await?;
    }
    let inserted = sqlx::query(
        "INSERT INTO captures (id, tenant_id, binding_id, user_id, url, title, text, created_at, bytes)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
         WHERE (SELECT COUNT(*) FROM captures WHERE tenant_id = $2) < $10
           AND (SELECT COALESCE(SUM(bytes), 0) FROM captures WHERE tenant_id = $2) + $9 <= $11",
    )
    .bind(&id)
    .bind(by.tenant_id)
    .bind(by.binding_id)
    .bind(by.user_id)
    .bind(&c.url)
    .bind(&c.title)
    .bind(&c.text)
    .bind(now as i64)
    .bind(size_of(c) as i64)
    .bind(cap.max_captures as i64)
    .bind(cap.max_bytes as i64)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Ok(None); // dropping tx releases the lock
    }
    let logged = super::activity::Event::Capture { bytes: size_of(c) };
    super::activity::record(&mut tx, by.binding_id, &logged, now).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// A drained capture as the app receives it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Drained {
    #[serde(rename = "captureId")]
    pub id: String,
    pub binding_id: String,
    pub user_id: String,
    pub url: String,
    pub title: String,
    pub text: String,
    pub created_at: i64,
}

/// Up to `limit` of the tenant's captures, oldest first, deleted in the same statement.
pub async fn drain(db: &Db, tenant_id: &str, limit: i64) -> sqlx::Result<Vec<Drained>> {
    let mut rows: Vec<Drained> = sqlx::query_as(
        "DELETE FROM captures WHERE id IN (SELECT id FROM captures WHERE tenant_id = $1 ORDER BY created_at LIMIT $2)
         RETURNING id, binding_id, user_id, url, title, text, created_at",
    )
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    // RETURNING promises no order.
    rows.sort_by_key(|c| c.created_at);
    Ok(rows)
}
