//! The command line: one file per command group. `serve` runs the relay; the owner's
//! commands work beside a running relay on the same database.

mod binding;
mod key;
mod pairing;
mod scaffold;
mod serve;
mod tenant;
mod webhook;

use anyhow::Context;
use clap::{Parser, Subcommand};
use latch_relay::{clock::now_ms, db, Db};
use serde_json::json;

#[derive(Parser)]
#[command(name = "latch-relay", version, about = "Latch relay: pairs browsers with web apps")]
pub struct Cli {
    /// Database URL: sqlite://PATH (one relay) or postgres://USER@HOST/DB (several instances).
    #[arg(long, global = true, env = "LATCH_DATABASE_URL", default_value = "sqlite://latch.db")]
    database: String,
    /// TOML file of settings named like the long flags; flags and LATCH_* env win over it.
    #[arg(long, global = true, env = "LATCH_CONFIG")]
    config: Option<String>,
    /// Log lines as text or JSON (one object per line); the filter is LATCH_LOG (default info).
    #[arg(long, global = true, env = "LATCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay.
    Serve(Box<serve::ServeArgs>),
    /// Manage tenants (apps).
    #[command(subcommand)]
    Tenant(tenant::TenantCmd),
    /// Manage API keys.
    #[command(subcommand)]
    Key(key::KeyCmd),
    /// Manage bindings (paired browsers).
    #[command(subcommand)]
    Binding(binding::BindingCmd),
    /// Code pairing, owner side.
    #[command(subcommand)]
    Pairing(pairing::PairingCmd),
    /// Webhook events and their delivery.
    #[command(subcommand)]
    Webhook(webhook::WebhookCmd),
    /// Starter code for integrators.
    #[command(subcommand)]
    Scaffold(scaffold::ScaffoldCmd),
    /// An MCP server on stdin/stdout with the tool scaffold_web_pairing.
    Mcp,
    /// Print the HTTP API's OpenAPI 3.1 document (what `GET /openapi.json` serves), for client
    /// generators in a build without a running relay.
    Openapi,
}

/// Runs the command. A command that needs no database never opens one (opening a SQLite
/// database creates its file).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let now = now_ms();
    let database = cli.database.as_str();
    match cli.command {
        Command::Scaffold(c) => scaffold::run(c),
        Command::Mcp => latch_relay::mcp::serve_stdio().await,
        Command::Openapi => {
            println!("{}", latch_relay::http::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Tenant(c) => tenant::run(c, database, now).await,
        Command::Key(c) => key::run(c, &open_db(database).await?, now).await,
        Command::Binding(c) => binding::run(c, &open_db(database).await?, now).await,
        Command::Pairing(c) => pairing::run(c, &open_db(database).await?, now).await,
        Command::Webhook(c) => webhook::run(c, &open_db(database).await?).await,
        Command::Serve(a) => {
            let db = open_db(database).await?;
            let shown = json!({
                "database": redact_url(database),
                "config": cli.config,
                "log-format": cli.log_format,
                "serve": a,
            });
            tracing::info!(config = %shown, "configuration");
            serve::run(db, *a).await
        }
    }
}

/// A listing: the rows as one JSON array (`--json`), or one tab-separated line per row.
fn print_rows<T: serde::Serialize>(rows: &[T], json: bool, line: impl Fn(&T) -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(rows)?);
    } else {
        for row in rows {
            println!("{}", line(row));
        }
    }
    Ok(())
}

/// Milliseconds since the epoch as `2026-12-01T21:41:28Z`.
fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// A key's or a binding's state in a listing.
fn active_or_revoked(revoked: bool) -> &'static str {
    if revoked {
        "revoked"
    } else {
        "active"
    }
}

async fn open_db(url: &str) -> anyhow::Result<Db> {
    db::open(url).await.with_context(|| format!("cannot open database {}", redact_url(url)))
}

/// Hides the password of a database URL for logs and errors.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
