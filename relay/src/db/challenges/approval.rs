//! The approving side of code pairing: an app (its API key) or the relay owner (CLI)
//! names who asks for a code. Nothing here binds anything: the binding is made only when
//! the browser's user confirms (`confirmation.rs`).

use serde::Serialize;

use super::{update_and_announce, update_announce_and_hook, CodeHook, AWAITING, CONFIRMED, PENDING};
use crate::db::Db;

/// Who approves a code: recorded on the challenge and shown in the browser's prompt.
pub struct Approver<'a> {
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    /// Through the consent-name policy already.
    pub app_name: &'a str,
    pub app_origin: Option<&'a str>,
    /// The approving API key (`None`: the relay owner's CLI). Revoking it withdraws the
    /// approval (`db::revoke_api_key`) and `confirm` refuses it.
    pub key_id: Option<&'a str>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Approval {
    /// This call moved the code to `awaiting_confirmation`.
    Recorded,
    /// The same tenant approved it for the same user before (a retry after a lost
    /// answer): the name recorded then, and whether the user already confirmed.
    Repeated {
        app_name: String,
        confirmed: bool,
    },
    /// Another tenant, or this tenant for another user, approved it first.
    TakenByOther,
    NotFound,
    Expired,
}

/// Approves a pending, unexpired code for `who`: `pending` → `awaiting_confirmation`.
/// What a challenge's row says about an approval that did not go through.
#[derive(sqlx::FromRow)]
struct Approved {
    status: String,
    expires_at: i64,
    tenant_id: Option<String>,
    user_id: Option<String>,
    app_name: Option<String>,
}

/// The conditional UPDATE is the single-approval gate (and refuses a key revoked since the
/// caller's remembered check); when it matches nothing, the row says why.
pub async fn approve(db: &Db, code: &str, who: &Approver<'_>, now: u64) -> sqlx::Result<Approval> {
    let update = sqlx::query_as(
        "UPDATE challenges SET status = 'awaiting_confirmation', tenant_id = $2, user_id = $3, app_name = $4,
                app_origin = $5, approved_at = $6, key_id = $7
         WHERE code = $1 AND status = 'pending' AND expires_at > $6
           AND ($7 IS NULL OR EXISTS (SELECT 1 FROM api_keys k WHERE k.id = $7 AND k.revoked_at IS NULL))
         RETURNING tenant_id, user_id, device_name, expires_at",
    )
    .bind(code)
    .bind(who.tenant_id)
    .bind(who.user_id)
    .bind(who.app_name)
    .bind(who.app_origin)
    .bind(now as i64)
    .bind(who.key_id);
    if update_announce_and_hook(db, update, CodeHook::AwaitingConfirmation, now).await? {
        return Ok(Approval::Recorded);
    }
    let row: Option<Approved> =
        sqlx::query_as("SELECT status, expires_at, tenant_id, user_id, app_name FROM challenges WHERE code = $1")
            .bind(code)
            .fetch_optional(db)
            .await?;
    let Some(Approved { status, expires_at, tenant_id, user_id, app_name }) = row else {
        return Ok(Approval::NotFound);
    };
    let expired = expires_at as u64 <= now;
    let same_approver = tenant_id.as_deref() == Some(who.tenant_id) && user_id.as_deref() == Some(who.user_id);
    Ok(match status.as_str() {
        PENDING | AWAITING if expired => Approval::Expired,
        AWAITING | CONFIRMED if same_approver => {
            Approval::Repeated { app_name: app_name.unwrap_or_default(), confirmed: status == CONFIRMED }
        }
        AWAITING | CONFIRMED => Approval::TakenByOther,
        _ => Approval::NotFound,
    })
}

/// The approving tenant withdraws its approval before the user answered:
/// `awaiting_confirmation` → `denied`. False for any other code (unapproved, another
/// tenant's, confirmed, expired, unknown), which the caller must not tell apart.
pub async fn withdraw(db: &Db, code: &str, tenant_id: &str, now: u64) -> sqlx::Result<bool> {
    let update = sqlx::query(
        "UPDATE challenges SET status = 'denied'
         WHERE code = $1 AND status = 'awaiting_confirmation' AND tenant_id = $2 AND expires_at > $3",
    )
    .bind(code)
    .bind(tenant_id)
    .bind(now as i64);
    update_and_announce(db, update).await
}

#[derive(Debug, PartialEq, Eq)]
pub enum OwnerDenial {
    Denied,
    NotFound,
    Expired,
}

/// The relay owner (CLI) denies any open code, approved or not.
pub async fn deny_open(db: &Db, code: &str, now: u64) -> sqlx::Result<OwnerDenial> {
    let update = sqlx::query_as(
        "UPDATE challenges SET status = 'denied'
         WHERE code = $1 AND status IN ('pending', 'awaiting_confirmation') AND expires_at > $2
         RETURNING tenant_id, user_id, device_name, expires_at",
    )
    .bind(code)
    .bind(now as i64);
    if update_announce_and_hook(db, update, CodeHook::DeniedBy("owner"), now).await? {
        return Ok(OwnerDenial::Denied);
    }
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM challenges WHERE code = $1 AND status IN ('pending', 'awaiting_confirmation')",
    )
    .bind(code)
    .fetch_optional(db)
    .await?;
    Ok(if status.is_some() { OwnerDenial::Expired } else { OwnerDenial::NotFound })
}

/// A code a tenant approved that still awaits the browser's user (`GET /api/pairing/pending`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwaitingCode {
    /// As shown: `XXXX-XXXX`.
    pub code: String,
    pub user_id: String,
    pub device_name: String,
    pub approved_at: u64,
}

/// The codes `tenant_id` approved that are unexpired and unanswered, oldest approval first.
/// Never a code another tenant approved or that nobody approved.
pub async fn awaiting_for_tenant(db: &Db, tenant_id: &str, now: u64) -> sqlx::Result<Vec<AwaitingCode>> {
    let rows: Vec<(String, Option<String>, String, Option<i64>)> = sqlx::query_as(
        "SELECT code, user_id, device_name, approved_at FROM challenges
         WHERE status = 'awaiting_confirmation' AND tenant_id = $1 AND expires_at > $2 ORDER BY approved_at",
    )
    .bind(tenant_id)
    .bind(now as i64)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(code, user_id, device_name, approved_at)| AwaitingCode {
            code: crate::code::display(&code),
            user_id: user_id.unwrap_or_default(),
            device_name,
            approved_at: approved_at.unwrap_or_default() as u64,
        })
        .collect())
}

/// An open code as the relay owner sees it (`latch-relay pairing list`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct OpenCode {
    pub code: String,
    /// `pending` or `awaiting_confirmation`.
    pub status: String,
    pub device_name: String,
    #[sqlx(try_from = "i64")]
    pub created_at: u64,
    #[sqlx(try_from = "i64")]
    pub expires_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Every unexpired pending or awaiting code, oldest first.
pub async fn open_codes(db: &Db, now: u64) -> sqlx::Result<Vec<OpenCode>> {
    let rows: Vec<OpenCode> = sqlx::query_as(
        "SELECT code, status, device_name, created_at, expires_at, tenant_id, user_id FROM challenges
         WHERE status IN ('pending', 'awaiting_confirmation') AND expires_at > $1 ORDER BY created_at",
    )
    .bind(now as i64)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| OpenCode { code: crate::code::display(&r.code), ..r }).collect())
}
