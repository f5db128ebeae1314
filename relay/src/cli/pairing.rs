//! `latch-relay pairing`: code pairing, the owner's side. The same approval as an app's
//! (the browser's user still has to approve), without an API key.

use anyhow::bail;
use clap::Subcommand;
use latch_relay::db::{self, challenges, Db};
use latch_relay::error::ApiError;
use latch_relay::http::{code_approval, is_valid_user_id};
use serde_json::json;

use super::print_rows;

#[derive(Subcommand)]
pub enum PairingCmd {
    /// Open codes: pending, and approved ones awaiting the browser user (with tenant and user).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Approve a code for a user of a tenant; the browser's user still has to approve.
    Approve {
        code: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
    },
    /// Deny an open code, approved or not.
    Deny { code: String },
}

pub async fn run(c: PairingCmd, db: &Db, now: u64) -> anyhow::Result<()> {
    match c {
        PairingCmd::List { json } => {
            let list = challenges::open_codes(db, now).await?;
            print_rows(&list, json, |c| {
                let approved = match (&c.tenant_id, &c.user_id) {
                    (Some(t), Some(u)) => format!("\t{t}\t{u}"),
                    _ => String::new(),
                };
                let left = c.expires_at.saturating_sub(now) / 1000;
                format!("{}\t{}\t{}\texpires in {left}s{approved}", c.code, c.status, c.device_name)
            })?;
        }
        PairingCmd::Approve { code, tenant, user } => {
            if db::tenant(db, &tenant).await?.is_none() {
                bail!("no tenant {tenant:?}");
            }
            if !is_valid_user_id(&user) {
                bail!("--user must be 1–128 characters, no control or format characters or surrounding spaces");
            }
            // Like an app's approval: the browser's user still has to approve.
            let approved = code_approval::approve_code(db, &code, &tenant, &user, None, None).await.map_err(refused)?;
            if approved.is_new {
                db::publish(db, db::Topic::Challenges).await;
            }
            println!("{}", serde_json::to_string(&approved.reply)?);
        }
        PairingCmd::Deny { code } => {
            code_approval::deny_code(db, &code).await.map_err(refused)?;
            db::publish(db, db::Topic::Challenges).await;
            println!("{}", json!({ "status": "denied" }));
        }
    }
    Ok(())
}

/// The API's refusal, as the CLI says it.
fn refused(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code, e.message)
}
