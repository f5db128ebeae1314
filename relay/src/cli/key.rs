//! `latch-relay key`: an app's API keys.

use anyhow::bail;
use clap::Subcommand;
use latch_relay::{db, Db};
use serde_json::json;

use super::{active_or_revoked, print_rows};

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Create an API key; prints it once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        label: String,
    },
    /// List keys (never the secret).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it mints nothing from now on. `--all --tenant ID` revokes every key of
    /// the tenant and prints how many were still active (0 when run again).
    Revoke {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        key_id: Option<String>,
        #[arg(long, requires = "tenant")]
        all: bool,
        #[arg(long, requires = "all")]
        tenant: Option<String>,
    },
}

pub async fn run(c: KeyCmd, db: &Db, now: u64) -> anyhow::Result<()> {
    match c {
        KeyCmd::Create { tenant, label } => {
            if db::tenant(db, &tenant).await?.is_none() {
                bail!("no tenant {tenant:?}");
            }
            let label = label.trim().to_owned();
            if label.is_empty() || label.chars().count() > 128 {
                bail!("--label must be 1–128 characters");
            }
            let (api_key, key_id) = db::create_api_key(db, &tenant, &label, now).await?;
            println!("{}", json!({ "apiKey": api_key, "keyId": key_id, "label": label }));
        }
        KeyCmd::List { tenant, json } => {
            let keys = db::list_api_keys(db, tenant.as_deref()).await?;
            print_rows(&keys, json, |k| {
                format!("{}\t{}\t{}\t{}", k.key_id, k.tenant_id, active_or_revoked(k.revoked), k.label)
            })?;
        }
        KeyCmd::Revoke { key_id: Some(key_id), .. } => {
            if !db::revoke_api_key(db, &key_id, now).await? {
                bail!("no active key {key_id:?}");
            }
            announce_revocation(db).await;
            println!("{}", json!({ "revoked": true, "keyId": key_id }));
        }
        KeyCmd::Revoke { key_id: None, tenant, .. } => {
            let tenant = tenant.unwrap_or_default(); // clap requires it with --all
            if db::tenant(db, &tenant).await?.is_none() {
                bail!("no tenant {tenant:?}");
            }
            let removed = db::revoke_tenant_api_keys(db, &tenant, now).await?;
            if removed > 0 {
                announce_revocation(db).await;
            }
            println!("{}", json!({ "removedCount": removed, "tenantId": tenant }));
        }
    }
    Ok(())
}

/// Running relays forget what they remembered of keys (SQLite hears the commit), and
/// long-polls of the codes the keys had approved hear they were denied.
async fn announce_revocation(db: &Db) {
    db::publish(db, db::Topic::Revocations).await;
    db::publish(db, db::Topic::Challenges).await;
}
