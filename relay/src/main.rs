//! `latch-relay` command line: `serve`, and the owner commands that work beside a running
//! relay on the same database.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, CommandFactory, Parser, Subcommand};
use latch_relay::routes::{code_approval, is_plain_origin, is_valid_user_id};
use latch_relay::{clock::now_ms, db, store, wake, AppState, Config};
use serde_json::json;

use latch_wire::name_policy::check_consent_name;

#[derive(Parser)]
#[command(name = "latch-relay", version, about = "Latch relay: pairs browsers with web apps")]
struct Cli {
    /// Database URL: sqlite://PATH (one relay) or postgres://USER@HOST/DB (several instances).
    #[arg(long, global = true, env = "LATCH_DATABASE_URL", default_value = "sqlite://latch.db")]
    database: String,
    /// TOML file of settings named like the long flags; flags and LATCH_* env win over it.
    #[arg(long, global = true, env = "LATCH_CONFIG")]
    config: Option<String>,
    /// Log lines as text or JSON (one object per line); the filter is LATCH_LOG (default info).
    #[arg(long, global = true, env = "LATCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay.
    Serve(Box<ServeArgs>),
    /// Manage tenants (apps).
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Manage bindings (paired browsers).
    #[command(subcommand)]
    Binding(BindingCmd),
    /// Code pairing, owner side.
    #[command(subcommand)]
    Pairing(PairingCmd),
    /// Starter code for integrators.
    #[command(subcommand)]
    Scaffold(ScaffoldCmd),
    /// An MCP server on stdin/stdout with the tool scaffold_web_pairing.
    Mcp,
}

#[derive(Subcommand)]
enum ScaffoldCmd {
    /// The app-side route that mints pairing tokens (API key from LATCH_API_KEY), and a page
    /// with the embed script tag and container: printed, or written with --out.
    WebPairing {
        #[arg(long, value_enum)]
        stack: latch_relay::scaffold::Stack,
        /// The app's route the embed script asks for a token.
        #[arg(long, default_value = latch_relay::scaffold::DEFAULT_TOKEN_ROUTE)]
        token_route: String,
        /// The relay's public origin.
        #[arg(long, default_value = latch_relay::scaffold::DEFAULT_RELAY_URL)]
        relay_url: String,
        /// The tenant id (for the embed's connected state).
        #[arg(long, default_value = "acme")]
        tenant: String,
        /// Write the files into this directory (created if missing; nothing is overwritten).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum PairingCmd {
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

#[derive(Args, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
struct ServeArgs {
    #[arg(long, env = "LATCH_LISTEN", default_value = "127.0.0.1:8787")]
    listen: String,
    /// Public base URL (the connect origin the extension trusts).
    #[arg(long, env = "LATCH_PUBLIC_URL", default_value = "http://localhost:8787")]
    public_url: String,
    /// Extension ids the connect page talks to (comma-separated).
    #[arg(long, env = "LATCH_EXTENSION_ID", value_delimiter = ',')]
    extension_id: Vec<String>,
    #[arg(long, env = "LATCH_PAIRING_TTL_SECONDS", default_value_t = 120)]
    pairing_ttl_seconds: u64,
    #[arg(long, env = "LATCH_ACCESS_TTL_SECONDS", default_value_t = 900)]
    access_ttl_seconds: u64,
    #[arg(long, env = "LATCH_REFRESH_TTL_SECONDS", default_value_t = 2_592_000)]
    refresh_ttl_seconds: u64,
    /// Code requests allowed per client address per minute.
    #[arg(long, env = "LATCH_CHALLENGE_REQUESTS_PER_MINUTE", default_value_t = 10)]
    challenge_requests_per_minute: usize,
    /// Pairing tokens minted per API key per minute (0: unlimited).
    #[arg(long, env = "LATCH_MINT_PER_MINUTE", default_value_t = 1200)]
    mint_per_minute: usize,
    /// Describe calls per client address per minute (0: unlimited).
    #[arg(long, env = "LATCH_DESCRIBE_PER_MINUTE", default_value_t = 120)]
    describe_per_minute: usize,
    /// Redeem calls per client address per minute (0: unlimited).
    #[arg(long, env = "LATCH_REDEEM_PER_MINUTE", default_value_t = 60)]
    redeem_per_minute: usize,
    /// Addresses of proxies in front of the relay whose X-Forwarded-For is believed
    /// (comma-separated); per-address limits then apply to the client behind them.
    #[arg(long = "trusted-proxy", env = "LATCH_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Code approvals and denials per API key per minute (0: unlimited).
    #[arg(long, env = "LATCH_APPROVE_PER_MINUTE", default_value_t = 60)]
    approve_per_minute: usize,
    /// Token refreshes per client address per minute (0: unlimited).
    #[arg(long, env = "LATCH_REFRESH_PER_MINUTE", default_value_t = 600)]
    refresh_per_minute: usize,
    /// Refreshes of one refresh token per minute (0: unlimited).
    #[arg(long, env = "LATCH_REFRESH_PER_TOKEN_PER_MINUTE", default_value_t = 30)]
    refresh_per_token_per_minute: usize,
    /// Revocations per client address per minute (0: unlimited).
    #[arg(long, env = "LATCH_REVOKE_PER_MINUTE", default_value_t = 60)]
    revoke_per_minute: usize,
    /// Code status polls per client address per minute (0: unlimited).
    #[arg(long, env = "LATCH_STATUS_PER_MINUTE", default_value_t = 600)]
    status_per_minute: usize,
    /// Development: without LATCH_TOKEN_SECRET / LATCH_TOKEN_PEPPER, generate them into the
    /// database. Never in production: a copy of the database would then forge tokens.
    #[arg(long, env = "LATCH_DEV")]
    dev: bool,
    /// Open client connections at most, WebSockets included (0: as many as the descriptor
    /// limit allows, less 256 kept for the database and files). At the cap new clients
    /// wait in the backlog.
    #[arg(long, env = "LATCH_MAX_CONNECTIONS", default_value_t = 0)]
    max_connections: usize,
    /// Open connections per client address (IPv4 address or IPv6 /64), at most a quarter
    /// of --max-connections; trusted proxies are exempt. Over it a connection is closed at
    /// once (0: no per-address cap).
    #[arg(long, env = "LATCH_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 1024)]
    max_connections_per_address: usize,
    /// The idle watchdog's period: a connection with no request begun or finished and none
    /// in flight for this long is closed (a client that sends nothing or half a request
    /// head goes after one period, an idle kept-alive one after one to two).
    #[arg(long, env = "LATCH_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10)]
    header_read_timeout_seconds: u64,
    /// Time a request, its body included, has to arrive and be answered (long-polls wait
    /// at most 25 s of it): 408.
    #[arg(long, env = "LATCH_REQUEST_TIMEOUT_SECONDS", default_value_t = 35)]
    request_timeout_seconds: u64,
    /// Serve GET /metrics (Prometheus) on this separate address, e.g. 127.0.0.1:9787; never
    /// on the public listener. Off when not given.
    #[arg(long, env = "LATCH_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// On shutdown, how long to wait for in-flight requests and sockets to finish.
    #[arg(long, env = "LATCH_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    shutdown_grace_seconds: u64,
    /// Time between two passes of the cleanup of expired rows (0: never).
    #[arg(long, env = "LATCH_CLEANUP_INTERVAL_SECONDS", default_value_t = 600)]
    cleanup_interval_seconds: u64,
    /// How long expired rows (tokens, codes, sessions, revoked bindings) are kept for forensics.
    #[arg(long, env = "LATCH_EXPIRED_RETENTION_SECONDS", default_value_t = 86_400)]
    expired_retention_seconds: u64,
    /// Page captures one binding may send per minute (0: unlimited).
    #[arg(long, env = "LATCH_CAPTURES_PER_BINDING_PER_MINUTE", default_value_t = 10)]
    captures_per_binding_per_minute: usize,
    /// Captures a tenant's inbox holds until the app drains it (then 507 inbox_full).
    #[arg(long, env = "LATCH_INBOX_MAX_CAPTURES", default_value_t = 1_000)]
    inbox_max_captures: u64,
    /// Bytes (URL + title + text) a tenant's inbox holds until the app drains it.
    #[arg(long, env = "LATCH_INBOX_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    inbox_max_bytes: u64,
    /// Undrained captures older than this are deleted.
    #[arg(long, env = "LATCH_CAPTURE_RETENTION_DAYS", default_value_t = 7)]
    capture_retention_days: u64,
    /// WebSockets per client address still authenticating at once (0: unlimited).
    #[arg(long, env = "LATCH_UNAUTHENTICATED_SOCKETS_PER_ADDRESS", default_value_t = 32)]
    unauthenticated_sockets_per_address: usize,
}

#[derive(Subcommand)]
enum TenantCmd {
    /// Create a tenant; prints {"tenantId"}.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        id: Option<String>,
        /// Web origin of the app (repeatable); the status frame answers only these.
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// The tenant consumes page captures.
        #[arg(long)]
        captures: bool,
    },
    /// Register an Ed25519 enrollment key for enterprise auto-pair; prints its id. Without
    /// --public-key a key pair is made and the private key printed once (keep it safe).
    EnrollKey {
        #[arg(long)]
        tenant: String,
        /// An existing public key: 32 bytes, base64url (which may start with "-").
        #[arg(long, allow_hyphen_values = true)]
        public_key: Option<String>,
    },
    /// Sign an enrollment assertion {tenantId, userId, aud, exp, nonce} for one browser
    /// (no database needed). The private key comes from LATCH_ENROLL_PRIVATE_KEY or a file.
    SignAssertion {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        /// The relay's public URL, which the assertion is for.
        #[arg(long, default_value = latch_relay::scaffold::DEFAULT_RELAY_URL)]
        aud: String,
        /// How long the assertion stays usable (at most 30 days).
        #[arg(long, default_value_t = 7 * 24 * 3600)]
        ttl_seconds: u64,
        /// A file holding the private key (lesk_…); else LATCH_ENROLL_PRIVATE_KEY.
        #[arg(long)]
        private_key_file: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
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
    /// Revoke a key: it mints nothing from now on.
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum BindingCmd {
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

#[tokio::main]
async fn main() {
    let argv = match latch_relay::config_file::merge(&Cli::command(), std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let cli = Cli::parse_from(argv);
    let filter = tracing_subscriber::EnvFilter::try_from_env("LATCH_LOG")
        .unwrap_or_else(|_| "info,sqlx::postgres::notice=warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).with_span_list(false).init(),
    }
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Commands that need no database come first: opening one creates its file.
    let command = match cli.command {
        Command::Scaffold(c) => return scaffold(c),
        Command::Mcp => return latch_relay::mcp::serve_stdio().await,
        Command::Tenant(TenantCmd::SignAssertion { tenant, user, aud, ttl_seconds, private_key_file }) => {
            return sign_assertion(tenant, user, aud, ttl_seconds, private_key_file)
        }
        command => command,
    };
    let shown_url = redact_url(&cli.database);
    let db = db::open(&cli.database).await.with_context(|| format!("cannot open database {shown_url}"))?;
    let now = now_ms();
    match command {
        Command::Scaffold(_) | Command::Mcp => unreachable!("handled before the database is opened"),
        Command::Serve(a) => {
            let shown = json!({
                "database": shown_url,
                "config": cli.config,
                "log-format": cli.log_format,
                "serve": a,
            });
            tracing::info!(config = %shown, "configuration");
            serve(db, *a).await?
        }
        Command::Tenant(TenantCmd::Create { name, id, origins, captures }) => {
            let name =
                check_consent_name(&name).map(|_| name.trim().to_owned()).unwrap_or_else(|_| name.trim().to_owned());
            if name.is_empty() || name.chars().count() > 128 {
                bail!("--name must be 1–128 characters");
            }
            let id = id.unwrap_or_else(|| latch_relay::secrets::new_id("tn_"));
            if !store::valid_tenant_id(&id) {
                bail!("--id must be 1–64 of a-z 0-9 _ - and pass the consent-name policy");
            }
            if let Some(bad) = origins.iter().find(|o| !is_plain_origin(o)) {
                bail!("--origin {bad:?} is not an origin like https://app.example.com");
            }
            if store::tenant(&db, &id).await?.is_some() {
                bail!("tenant {id:?} already exists");
            }
            store::create_tenant(&db, &store::Tenant { id: id.clone(), name, origins, captures }, now).await?;
            println!("{}", json!({ "tenantId": id }));
        }
        Command::Tenant(TenantCmd::SignAssertion { .. }) => unreachable!("handled before the database is opened"),
        Command::Tenant(TenantCmd::EnrollKey { tenant, public_key }) => {
            use latch_relay::enrollment;
            if store::tenant(&db, &tenant).await?.is_none() {
                bail!("no tenant {tenant:?}");
            }
            let (private_key, public_key) = match public_key {
                Some(p) => (None, p),
                None => {
                    let (private, public) = enrollment::generate();
                    (Some(private), public)
                }
            };
            let Some(bytes) = enrollment::parse_public_key(&public_key) else {
                bail!("--public-key must be an Ed25519 public key: 32 bytes in base64url");
            };
            let key_id = enrollment::insert_key(&db, &tenant, &bytes, now)
                .await
                .map_err(|e| anyhow::anyhow!("cannot register the key (already registered?): {e}"))?;
            let mut out = json!({ "keyId": key_id, "tenantId": tenant, "publicKey": public_key });
            if let Some(private) = private_key {
                out["privateKey"] = private.into();
            }
            println!("{out}");
        }
        Command::Key(KeyCmd::Create { tenant, label }) => {
            if store::tenant(&db, &tenant).await?.is_none() {
                bail!("no tenant {tenant:?}");
            }
            let label = label.trim().to_owned();
            if label.is_empty() || label.chars().count() > 128 {
                bail!("--label must be 1–128 characters");
            }
            let (api_key, key_id) = store::create_api_key(&db, &tenant, &label, now).await?;
            println!("{}", json!({ "apiKey": api_key, "keyId": key_id, "label": label }));
        }
        Command::Key(KeyCmd::List { tenant, json }) => {
            let keys = store::list_api_keys(&db, tenant.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string(&keys)?);
            } else {
                for k in keys {
                    println!(
                        "{}\t{}\t{}\t{}",
                        k.key_id,
                        k.tenant_id,
                        if k.revoked { "revoked" } else { "active" },
                        k.label
                    );
                }
            }
        }
        Command::Key(KeyCmd::Revoke { key_id }) => {
            if !store::revoke_api_key(&db, &key_id, now).await? {
                bail!("no active key {key_id:?}");
            }
            // Running relays forget what they remembered of keys (SQLite hears the commit),
            // and long-polls of the codes the key had approved hear they were denied.
            wake::publish(&db, wake::Topic::Revocations).await;
            wake::publish(&db, wake::Topic::Challenges).await;
            println!("{}", json!({ "revoked": true, "keyId": key_id }));
        }
        Command::Binding(BindingCmd::List { tenant, json }) => {
            let rows = store::list_bindings(&db, tenant.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                for b in rows {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        b.binding_id,
                        b.tenant_id,
                        b.user_id,
                        if b.revoked { "revoked" } else { "active" },
                        b.app_name
                    );
                }
            }
        }
        Command::Pairing(PairingCmd::List { json }) => {
            let list = latch_relay::challenges::open_codes(&db, now).await?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for c in list {
                    let approved = match (&c.tenant_id, &c.user_id) {
                        (Some(t), Some(u)) => format!("\t{t}\t{u}"),
                        _ => String::new(),
                    };
                    println!(
                        "{}\t{}\t{}\texpires in {}s{approved}",
                        c.code,
                        c.status,
                        c.device_name,
                        c.expires_at.saturating_sub(now) / 1000
                    );
                }
            }
        }
        Command::Pairing(PairingCmd::Approve { code, tenant, user }) => {
            if store::tenant(&db, &tenant).await?.is_none() {
                bail!("no tenant {tenant:?}");
            }
            if !is_valid_user_id(&user) {
                bail!("--user must be 1–128 characters, no control or format characters or surrounding spaces");
            }
            let state = owner_state(db)?;
            // Like an app's approval: the browser's user still has to approve.
            let reply = code_approval::approve_code(&state, &code, &tenant, &user, None, None)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            println!("{}", serde_json::to_string(&reply)?);
        }
        Command::Pairing(PairingCmd::Deny { code }) => {
            let state = owner_state(db)?;
            code_approval::deny_code(&state, &code).await.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            println!("{}", json!({ "status": "denied" }));
        }
        Command::Binding(BindingCmd::Revoke { binding_id }) => {
            if !store::revoke_binding(&db, &binding_id, now).await? {
                bail!("no active binding {binding_id:?}");
            }
            wake::publish(&db, wake::Topic::Revocations).await;
            println!("{}", json!({ "revoked": true, "bindingId": binding_id }));
        }
    }
    Ok(())
}

fn sign_assertion(
    tenant: String,
    user: String,
    aud: String,
    ttl_seconds: u64,
    private_key_file: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use latch_relay::enrollment::{self, Claims, MAX_LIFETIME_MS};
    if ttl_seconds == 0 || ttl_seconds * 1000 > MAX_LIFETIME_MS {
        bail!("--ttl-seconds must be 1 to {} (30 days)", MAX_LIFETIME_MS / 1000);
    }
    if !store::valid_tenant_id(&tenant) {
        bail!("--tenant must be a tenant id");
    }
    if !is_valid_user_id(&user) {
        bail!("--user must be 1–128 characters, no control or format characters or surrounding spaces");
    }
    let aud = aud.trim_end_matches('/').to_owned();
    if !latch_relay::routes::is_plain_origin(&aud) {
        bail!("--aud must be the relay's URL, like https://latch.example.com");
    }
    let private_key = match private_key_file {
        Some(path) => std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?,
        None => std::env::var("LATCH_ENROLL_PRIVATE_KEY")
            .map_err(|_| anyhow::anyhow!("give the private key in LATCH_ENROLL_PRIVATE_KEY or --private-key-file"))?,
    };
    let exp = (now_ms() / 1000) + ttl_seconds;
    let claims = Claims { tenant_id: tenant, user_id: user, aud, exp, nonce: enrollment::new_nonce() };
    let assertion = enrollment::sign(&private_key, &claims).map_err(|e| anyhow::anyhow!(e))?;
    println!("{}", json!({ "assertion": assertion, "exp": exp, "nonce": claims.nonce }));
    Ok(())
}

fn scaffold(c: ScaffoldCmd) -> anyhow::Result<()> {
    use latch_relay::scaffold;
    let ScaffoldCmd::WebPairing { stack, token_route, relay_url, tenant, out } = c;
    let s = scaffold::render(&scaffold::Request { stack, token_route, relay_url, tenant_id: tenant })?;
    let Some(dir) = out else {
        print!("{}", scaffold::to_text(&s));
        return Ok(());
    };
    let written = scaffold::write(&s, &dir).with_context(|| format!("cannot write into {}", dir.display()))?;
    for path in written {
        println!("wrote {}", path.display());
    }
    println!("run it: {}", stack.run_hint(&dir.display().to_string()));
    println!("the script tag and container, for a page of your own:\n{}", s.snippet);
    Ok(())
}

async fn serve(db: latch_relay::Db, a: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = Config::new(&a.public_url);
    if !a.extension_id.is_empty() {
        cfg.extension_ids = a.extension_id.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    }
    cfg.pairing_ttl_ms = a.pairing_ttl_seconds * 1000;
    cfg.unauthenticated_sockets_per_address = a.unauthenticated_sockets_per_address;
    cfg.access_ttl_ms = a.access_ttl_seconds * 1000;
    cfg.refresh_ttl_ms = a.refresh_ttl_seconds * 1000;
    cfg.trusted_proxies = a.trusted_proxies;
    cfg.secrets_in_database = a.dev;
    anyhow::ensure!(a.request_timeout_seconds > 25, "--request-timeout-seconds must exceed the 25 s of a long-poll");
    anyhow::ensure!(a.header_read_timeout_seconds > 0, "--header-read-timeout-seconds must be at least 1");
    cfg.request_timeout_ms = a.request_timeout_seconds * 1000;
    cfg.cleanup = latch_relay::cleanup::CleanupConfig {
        interval_ms: a.cleanup_interval_seconds * 1000,
        expired_retention_ms: a.expired_retention_seconds * 1000,
    };
    cfg.inbox = latch_relay::inbox::InboxConfig {
        per_binding_per_minute: a.captures_per_binding_per_minute,
        max_captures: a.inbox_max_captures,
        max_bytes: a.inbox_max_bytes,
        retention_ms: a.capture_retention_days * 24 * 3_600_000,
    };
    cfg.limits = latch_relay::limits::LimitConfig {
        mint_per_key: a.mint_per_minute,
        describe_per_address: a.describe_per_minute,
        redeem_per_address: a.redeem_per_minute,
        challenge_per_address: a.challenge_requests_per_minute.max(1),
        approve_per_key: a.approve_per_minute,
        refresh_per_address: a.refresh_per_minute,
        refresh_per_token: a.refresh_per_token_per_minute,
        revoke_per_address: a.revoke_per_minute,
        status_per_address: a.status_per_minute,
    };
    tracing::info!(listen = %a.listen, public_url = %cfg.public_url, extension_ids = ?cfg.extension_ids, "starting relay");
    let keys = latch_relay::secrets::TokenKeys::load(&db, cfg.secrets_in_database).await?;
    if keys.from_database {
        tracing::warn!("--dev: token secret and pepper generated into the database; never run production like this");
    } else {
        tracing::info!(
            previous_secret = keys.previous_signing.is_some(),
            previous_pepper = keys.previous_pepper.is_some(),
            "token secret and pepper from the environment"
        );
    }
    let state = AppState::with_keys(db, cfg, keys)?;
    latch_relay::spawn_background(&state);
    let listener =
        tokio::net::TcpListener::bind(&a.listen).await.with_context(|| format!("cannot listen on {}", a.listen))?;
    if let Some(addr) = &a.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(listen = %addr, "metrics listener");
        let routes = latch_relay::metrics::router(state.clone());
        tokio::spawn(async move { axum::serve(metrics, routes).await });
    }
    let limits = latch_relay::server::ServerLimits::fitted(
        a.max_connections,
        Duration::from_secs(a.header_read_timeout_seconds),
        a.max_connections_per_address,
        state.cfg.trusted_proxies.clone(),
    );
    tracing::info!(max_connections = limits.max_connections, per_address = limits.per_address, "connection cap");
    let stopping = state.clone();
    let server = latch_relay::server::serve(listener, latch_relay::app(state.clone()), limits, async move {
        shutdown_signal().await;
        // Readiness turns 503, long-polls answer now, sockets get a 1001 close frame.
        stopping.shutdown.send_replace(true);
    });
    let grace = Duration::from_secs(a.shutdown_grace_seconds);
    let mut signalled = state.shutdown.subscribe();
    let grace_over = async {
        let _ = signalled.wait_for(|stop| *stop).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = server => {}
        () = grace_over => tracing::warn!("shutdown grace period over; dropping the requests still running"),
    }
    // server::serve already waited for every connection, upgraded sockets included; this
    // only matters when the grace period ran out first: the sockets still get one more.
    let deadline = tokio::time::Instant::now() + grace;
    while state.live.count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Err(e) = latch_relay::routing::leave(&state.db, &state.routing.instance_id).await {
        tracing::warn!(error = %e, "cannot withdraw this instance's sockets");
    }
    tracing::info!(sockets_left = state.live.count(), "stopped");
    Ok(())
}

/// State for an owner command that neither hashes nor signs a token (code approve and
/// deny): throwaway keys, so the command never generates secrets into the database.
fn owner_state(db: latch_relay::Db) -> anyhow::Result<AppState> {
    AppState::with_keys(db, Config::new("http://localhost:8787"), latch_relay::secrets::TokenKeys::throwaway())
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

/// Ctrl-C or SIGTERM: stop accepting, finish in-flight requests.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
