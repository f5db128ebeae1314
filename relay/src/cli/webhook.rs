//! `latch-relay webhook`: the outbox as the owner sees it.

use clap::Subcommand;
use latch_relay::db::outbox::{deliveries, Delivery};
use latch_relay::Db;

use super::{print_rows, utc};

#[derive(Subcommand)]
pub enum WebhookCmd {
    /// The newest events: id, tenant, type, state (pending, delivered, failed), attempts,
    /// created, next attempt or when it ended, last error (tab-separated; `--json` for
    /// every field).
    Deliveries {
        #[arg(long)]
        tenant: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(c: WebhookCmd, db: &Db) -> anyhow::Result<()> {
    match c {
        WebhookCmd::Deliveries { tenant, limit, json } => {
            let rows = deliveries(db, tenant.as_deref(), i64::from(limit.clamp(1, 10_000))).await?;
            print_rows(&rows, json, delivery_line)
        }
    }
}

fn delivery_line(d: &Delivery) -> String {
    let when = d.delivered_at.or(d.failed_at).unwrap_or(d.next_attempt_at);
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        d.id,
        d.tenant_id,
        d.kind,
        d.state(),
        d.attempts,
        utc(d.created_at),
        utc(when),
        d.last_error.as_deref().unwrap_or("-")
    )
}
