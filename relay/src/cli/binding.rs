//! `latch-relay binding`: paired browsers, and what each did.

use anyhow::bail;
use clap::Subcommand;
use latch_relay::db::{ActivityEvent, BindingRow};
use latch_relay::{db, Db};
use serde_json::json;

use super::{active_or_revoked, print_rows, utc};

#[derive(Subcommand)]
pub enum BindingCmd {
    /// Every binding: id, tenant, user, state, how it was made, created, last seen, app,
    /// browser name (tab-separated; `--json` for every field).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Revoke {
        binding_id: String,
    },
    /// A binding's activity, newest first.
    Events {
        binding_id: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(c: BindingCmd, db: &Db, now: u64) -> anyhow::Result<()> {
    match c {
        BindingCmd::List { tenant, json } => {
            let rows = db::list_bindings(db, tenant.as_deref()).await?;
            print_rows(&rows, json, listing_line)?;
        }
        BindingCmd::Revoke { binding_id } => {
            if !db::revoke_binding(db, &binding_id, now, db::RevokedBy::Owner).await? {
                bail!("no active binding {binding_id:?}");
            }
            db::publish(db, db::Topic::Revocations).await;
            println!("{}", json!({ "revoked": true, "bindingId": binding_id }));
        }
        BindingCmd::Events { binding_id, limit, json } => {
            if db::binding(db, &binding_id).await?.is_none() {
                bail!("no binding {binding_id:?}");
            }
            let (events, _) = db::activity::events_page(db, &binding_id, None, limit.clamp(1, 10_000)).await?;
            print_rows(&events, json, event_line)?;
        }
    }
    Ok(())
}

fn listing_line(b: &BindingRow) -> String {
    let state = if b.paused && !b.revoked { "paused" } else { active_or_revoked(b.revoked) };
    let via = b.via.map_or("-", |v| v.as_str());
    let last_seen = b.last_seen_at.map_or_else(|| "-".to_owned(), utc);
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        b.binding_id,
        b.tenant_id,
        b.user_id,
        state,
        via,
        utc(b.created_at),
        last_seen,
        b.app_name,
        b.device_name
    )
}

/// `time  type  fields` (the event's own fields as JSON).
fn event_line(e: &ActivityEvent) -> String {
    let mut fields = serde_json::to_value(&e.detail).unwrap_or_default();
    if let (Some(count), Some(map)) = (e.count, fields.as_object_mut()) {
        map.insert("count".into(), count.into());
    }
    format!("{}\t{}\t{}", utc(e.at), e.kind, fields)
}
