//! `latch-relay serve`: the relay itself, its settings, and a graceful shutdown.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use latch_relay::{AppState, Config, Db};

#[derive(Args, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ServeArgs {
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
    /// Renames, pauses and resumes of one binding per minute (0: unlimited).
    #[arg(long, env = "LATCH_BINDING_CHANGES_PER_MINUTE", default_value_t = 30)]
    binding_changes_per_minute: usize,
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
    /// A binding unused (not seen by the relay) for this many days is revoked (0: never; a
    /// fraction is a part of a day, e.g. for a test).
    #[arg(long, env = "LATCH_BINDING_IDLE_DAYS", default_value_t = 90.0)]
    binding_idle_days: f64,
    /// An active binding's activity log keeps this many days.
    #[arg(long, env = "LATCH_ACTIVITY_RETENTION_DAYS", default_value_t = 90)]
    activity_retention_days: u64,
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
    /// How long a pairing code lives, 60–3600 s (seed 001's codes live an hour).
    #[arg(long, env = "LATCH_CODE_TTL_SECONDS", default_value_t = 600)]
    code_ttl_seconds: u64,
    /// Least time between two status polls of one code (RFC 8628 `interval`), 1–60 s.
    #[arg(long, env = "LATCH_CODE_INTERVAL_SECONDS", default_value_t = 5)]
    code_interval_seconds: u64,
    /// The extension's store listing, for the connect page's Install button (default: the
    /// relay's /install page with the load-unpacked steps, for development).
    #[arg(long, env = "LATCH_INSTALL_URL")]
    install_url: Option<String>,
}

/// Code lifetimes the extension honours (it takes a longer one for a clock that moved).
const CODE_TTL_SECONDS: std::ops::RangeInclusive<u64> = 60..=3600;
/// Poll intervals that make sense for a person typing a code (RFC 8628 suggests 5 s).
const CODE_INTERVAL_SECONDS: std::ops::RangeInclusive<u64> = 1..=60;

/// `--install-url`: an https page without userinfo (http only with `--dev` or on this
/// machine), so the connect page's button can't be turned into a plain-text or look-alike link.
fn install_url(raw: &str, dev: bool) -> anyhow::Result<String> {
    let url = url::Url::parse(raw).ok();
    let local = |u: &url::Url| matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let ok = url.as_ref().is_some_and(|u| {
        u.username().is_empty()
            && u.password().is_none()
            && (u.scheme() == "https" || (u.scheme() == "http" && (dev || local(u))))
    });
    anyhow::ensure!(ok, "--install-url must be an https URL without userinfo, such as the extension's store listing");
    Ok(url.map(String::from).unwrap_or_default())
}

/// The relay's settings from the flags (checked where a value can't work).
fn config(a: &ServeArgs) -> anyhow::Result<Config> {
    let mut cfg = Config::new(&a.public_url);
    if !a.extension_id.is_empty() {
        cfg.extension_ids = a.extension_id.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    }
    cfg.pairing_ttl_ms = a.pairing_ttl_seconds * 1000;
    cfg.unauthenticated_sockets_per_address = a.unauthenticated_sockets_per_address;
    cfg.access_ttl_ms = a.access_ttl_seconds * 1000;
    cfg.refresh_ttl_ms = a.refresh_ttl_seconds * 1000;
    cfg.trusted_proxies = a.trusted_proxies.clone();
    cfg.secrets_in_database = a.dev;
    anyhow::ensure!(a.request_timeout_seconds > 25, "--request-timeout-seconds must exceed the 25 s of a long-poll");
    anyhow::ensure!(a.header_read_timeout_seconds > 0, "--header-read-timeout-seconds must be at least 1");
    cfg.request_timeout_ms = a.request_timeout_seconds * 1000;
    anyhow::ensure!(CODE_TTL_SECONDS.contains(&a.code_ttl_seconds), "--code-ttl-seconds must be 60–3600");
    anyhow::ensure!(CODE_INTERVAL_SECONDS.contains(&a.code_interval_seconds), "--code-interval-seconds must be 1–60");
    cfg.challenge_ttl_ms = a.code_ttl_seconds * 1000;
    if let Some(raw) = &a.install_url {
        cfg.install_url = Some(install_url(raw, a.dev)?);
    }
    cfg.poll_interval_ms = a.code_interval_seconds * 1000;
    anyhow::ensure!(
        a.binding_idle_days.is_finite() && (0.0..=36_500.0).contains(&a.binding_idle_days),
        "--binding-idle-days must be 0 (never) to 36500"
    );
    cfg.cleanup = latch_relay::cleanup::CleanupConfig {
        interval_ms: a.cleanup_interval_seconds * 1000,
        expired_retention_ms: a.expired_retention_seconds * 1000,
        binding_idle_ms: (a.binding_idle_days * 86_400_000.0).round() as u64,
        activity_retention_ms: a.activity_retention_days * 24 * 3_600_000,
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
        changes_per_binding: a.binding_changes_per_minute,
    };
    Ok(cfg)
}

/// Runs the relay until Ctrl-C or SIGTERM, then drains it.
pub async fn run(db: Db, a: ServeArgs) -> anyhow::Result<()> {
    let cfg = config(&a)?;
    tracing::info!(listen = %a.listen, public_url = %cfg.public_url, extension_ids = ?cfg.extension_ids, "starting relay");
    let keys = latch_relay::db::token_keys(&db, cfg.secrets_in_database).await?;
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
    let limits = latch_relay::http::server::ServerLimits::fitted(
        a.max_connections,
        Duration::from_secs(a.header_read_timeout_seconds),
        a.max_connections_per_address,
        state.cfg.trusted_proxies.clone(),
    );
    tracing::info!(max_connections = limits.max_connections, per_address = limits.per_address, "connection cap");
    let stopping = state.clone();
    let server = latch_relay::http::server::serve(listener, latch_relay::app(state.clone()), limits, async move {
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
    while state.realtime.sockets.count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Err(e) = latch_relay::realtime::errands::leave(&state.db, &state.realtime.errands.instance_id).await {
        tracing::warn!(error = %e, "cannot withdraw this instance's sockets");
    }
    tracing::info!(sockets_left = state.realtime.sockets.count(), "stopped");
    Ok(())
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
