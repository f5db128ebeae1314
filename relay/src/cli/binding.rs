//! `latch-relay binding`: paired browsers.

use anyhow::bail;
use clap::Subcommand;
use latch_relay::{db, Db};
use serde_json::json;

use super::{active_or_revoked, print_rows};

#[derive(Subcommand)]
pub enum BindingCmd {
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Revoke {
        binding_id: String,
    },
}

pub async fn run(c: BindingCmd, db: &Db, now: u64) -> anyhow::Result<()> {
    match c {
        BindingCmd::List { tenant, json } => {
            let rows = db::list_bindings(db, tenant.as_deref()).await?;
            print_rows(&rows, json, |b| {
                let state = active_or_revoked(b.revoked);
                format!("{}\t{}\t{}\t{}\t{}", b.binding_id, b.tenant_id, b.user_id, state, b.app_name)
            })?;
        }
        BindingCmd::Revoke { binding_id } => {
            if !db::revoke_binding(db, &binding_id, now).await? {
                bail!("no active binding {binding_id:?}");
            }
            db::publish(db, db::Topic::Revocations).await;
            println!("{}", json!({ "revoked": true, "bindingId": binding_id }));
        }
    }
    Ok(())
}
