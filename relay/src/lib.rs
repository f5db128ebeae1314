//! latch-relay: mints, describes and redeems pairing tokens, binds (tenant, user) to a
//! browser, issues access/refresh tokens and serves the connect page, `embed.js` and the
//! status frame. `app(state)` assembles every route in one place.

pub mod access;
pub mod cleanup;
pub mod clock;
pub mod code;
pub mod config_file;
pub mod db;
pub mod dpop;
pub mod enrollment;
pub mod error;
pub mod http;
pub mod inbox;
pub mod last_seen;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod realtime;
pub mod remembered;
pub mod scaffold;
pub mod secrets;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;

pub use db::Db;

/// The development extension id derived from the fixed `key` in manifest.json.
pub const DEV_EXTENSION_ID: &str = "caldpegfoiafoehigbniidhckihmjbop";

#[derive(Debug, Clone)]
pub struct Config {
    /// Public base URL of the relay, e.g. `http://localhost:8787` (also the JWT issuer).
    pub public_url: String,
    /// Extension ids the connect page and status frame talk to.
    pub extension_ids: Vec<String>,
    pub pairing_ttl_ms: u64,
    pub access_ttl_ms: u64,
    pub refresh_ttl_ms: u64,
    pub challenge_ttl_ms: u64,
    /// Minimum time between status polls of one challenge.
    pub poll_interval_ms: u64,
    /// Abuse limits (requests per minute per key or client address).
    pub limits: limits::LimitConfig,
    /// Proxies whose `X-Forwarded-For` names the client (load balancers in front).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Without `LATCH_TOKEN_SECRET`/`LATCH_TOKEN_PEPPER`, generate them into the database.
    /// True for the library's callers (tests, owner commands); `serve` sets it only with
    /// `--dev`, so a production relay refuses to start without secrets of its own.
    pub secrets_in_database: bool,
    /// A request, its body included, must arrive and be answered within this (long-polls
    /// wait at most 25 s of it).
    pub request_timeout_ms: u64,
    /// The cleanup of expired rows every instance runs (`cleanup.rs`).
    pub cleanup: cleanup::CleanupConfig,
    /// The capture inbox's bounds: rate per binding, cap per tenant, expiry (`inbox.rs`).
    pub inbox: inbox::InboxConfig,
    /// WebSockets per client address that may be open without having authenticated yet
    /// (0: no cap).
    pub unauthenticated_sockets_per_address: usize,
    /// A WebSocket frame the client does not take within this ends its socket.
    pub socket_send_timeout_ms: u64,
    /// Where the connect page's Install button leads when the extension is missing (the
    /// store listing); `None`: the relay's own `/install` page (load-unpacked steps).
    pub install_url: Option<String>,
}

impl Config {
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            extension_ids: vec![DEV_EXTENSION_ID.to_owned()],
            pairing_ttl_ms: 120_000,
            access_ttl_ms: 900_000,
            refresh_ttl_ms: 2_592_000_000,
            challenge_ttl_ms: 600_000,
            poll_interval_ms: 5_000,
            limits: limits::LimitConfig::default(),
            trusted_proxies: Vec::new(),
            secrets_in_database: true,
            request_timeout_ms: 35_000,
            cleanup: cleanup::CleanupConfig::default(),
            inbox: inbox::InboxConfig::default(),
            unauthenticated_sockets_per_address: 32,
            socket_send_timeout_ms: 10_000,
            install_url: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub cfg: Config,
    /// Key for the hashes of pairing and refresh tokens at rest.
    pub pepper: Vec<u8>,
    /// The pepper before the last rotation: refresh tokens hashed under it still rotate.
    pub previous_pepper: Option<Vec<u8>>,
    pub signer: access::Signer,
    /// Sockets, cross-instance errands and wake-ups.
    pub realtime: Arc<realtime::Realtime>,
    pub limits: limits::Limits,
    pub metrics: metrics::Metrics,
    /// Bindings the token gate recently read as active.
    /// Access tokens that passed the gate, by their text.
    pub gate_cache: remembered::Remembered<Arc<http::auth::Passed>>,
    /// API keys recently read as active.
    pub api_keys: remembered::Remembered<db::ApiKeyRecord>,
    /// The pool with, on SQLite, the writer thread that group-commits the hot writes.
    pub store: db::Store,
    /// Set once when the relay starts shutting down: sockets close, long-polls answer now.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The per-binding capture rate limit.
    pub inbox: inbox::Inbox,
    /// DPoP server nonces (PROTOCOL §12), checked on any instance sharing the token secret.
    pub nonces: dpop::Nonces,
    /// DPoP proof ids already spent.
    pub replay: dpop::Replay,
    /// When this instance last wrote each binding's `last_seen_at`.
    pub last_seen: last_seen::LastSeen,
    /// The HTTP client that delivers webhooks.
    pub webhooks: webhooks::Sender,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Loads the token keys ([`secrets::TokenKeys::load`]: from the environment, or from
    /// the database when `cfg.secrets_in_database`), then builds state.
    pub async fn new(db: Db, cfg: Config) -> anyhow::Result<Self> {
        let keys = db::token_keys(&db, cfg.secrets_in_database).await?;
        Self::with_keys(db, cfg, keys)
    }

    /// State with the token keys given (tests rotate them this way).
    pub fn with_keys(db: Db, cfg: Config, keys: secrets::TokenKeys) -> anyhow::Result<Self> {
        let signer = access::Signer::new(&cfg.public_url, &keys.signing, keys.previous_signing.as_deref());
        let nonces = dpop::Nonces::new(&keys.signing);
        let replay = dpop::Replay::for_db(&db, clock::now_ms());
        let (pepper, previous_pepper) = (keys.pepper, keys.previous_pepper);
        let store = db::Store::new(db.clone())?;
        let metrics = metrics::Metrics::default();
        let shutdown = tokio::sync::watch::channel(false).0;
        let realtime = realtime::Realtime::new(db.clone(), &shutdown);
        // Each entry is ~600 bytes: 10,000 active clients in ~6 MB.
        let gate_cache = remembered::Remembered::new(&realtime.revocations, 10_000);
        let api_keys = remembered::Remembered::new(&realtime.revocations, 100_000);
        let limits = limits::Limits::new(&cfg.limits, &metrics);
        let inbox = inbox::Inbox::new(&cfg.inbox, &metrics);
        Ok(Self(Arc::new(Inner {
            db,
            cfg,
            pepper,
            previous_pepper,
            signer,
            realtime,
            limits,
            metrics,
            gate_cache,
            api_keys,
            shutdown,
            store,
            inbox,
            nonces,
            replay,
            last_seen: last_seen::LastSeen::default(),
            webhooks: webhooks::Sender::new()?,
        })))
    }
}

impl Inner {
    /// A challenge was approved or denied: wake long-polls here and on other instances.
    pub async fn challenges_changed(&self) {
        self.realtime.challenges_changed().await
    }

    /// A binding was revoked: live sockets here and on other instances re-check theirs.
    pub async fn binding_revoked(&self) {
        self.realtime.binding_revoked().await
    }
}

/// Starts what a serving relay runs beside its routes: hearing about changes made by other
/// instances and processes on the same database, the cleanup of expired rows, and
/// (PostgreSQL) the heartbeat that tells other instances this one still holds its sockets.
pub fn spawn_background(state: &AppState) {
    state.realtime.spawn_background();
    limits::spawn_sweeper(state.clone());
    tokio::spawn(cleanup::run_forever(state.clone()));
    tokio::spawn(webhooks::run_forever(state.clone()));
}

/// Every route, with latency metrics per route, a request id on every request (kept when
/// the load balancer sent `x-request-id`, generated otherwise, echoed in the answer) and a
/// tracing span carrying it. Spans name the path only: query strings can hold secrets.
pub fn app(state: AppState) -> Router {
    use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::{DefaultOnResponse, TraceLayer};
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &axum::http::Request<_>| {
            // A client-chosen id is logged only if short (header values are visible ASCII).
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).filter(|v| v.len() <= 128);
            let id = id.unwrap_or("-");
            tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
        })
        .on_request(())
        .on_response(DefaultOnResponse::new().level(tracing::Level::DEBUG));
    let request_timeout = std::time::Duration::from_millis(state.cfg.request_timeout_ms);
    http::router()
        .route_layer(metrics::LatencyLayer(state.clone()))
        .with_state(state)
        .layer(http::ApiShapeLayer { timeout: request_timeout })
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(http::request_id::SequentialRequestId::default()))
}
