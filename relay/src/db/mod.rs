//! The storage room: every SQL statement of pairing and sessions, one function per
//! operation (mint, redeem, rotate, approve, confirm, revoke…), with typed rows. Callers
//! pass a [`Store`] for the hot writes and never see which backend runs them.
//!
//! Opening the database. One set of queries runs on both backends through sqlx's `Any`
//! driver (placeholders are `$N`, which SQLite also reads): SQLite for a single relay,
//! PostgreSQL for several instances behind a load balancer. SQLite runs in WAL mode with
//! `synchronous=FULL`, so a 2xx answer to a write survives a crash (PROTOCOL §3); the
//! migrations of the backend are applied at start (PostgreSQL serialises concurrent
//! starts with an advisory lock).

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::secrets;

pub mod activity;
pub mod bindings;
pub mod captures;
pub mod challenges;
pub mod changes;
pub mod enrollment;
pub mod outbox;
pub mod pairing_tokens;
pub mod redeem;
pub mod rotation;
pub mod tenants;
pub mod writer;

pub use activity::{ActivityEvent, Event, RevokedBy, Via};
pub use bindings::*;
pub use changes::{count_change, publish, publish_with, Topic};
pub use outbox::Hook;
pub use pairing_tokens::*;
pub use redeem::{redeem_pairing_token, unanswered_redeem, NewBinding, Redeem};
pub use rotation::{Refreshed, Rotation, LOST_RESPONSE_GRACE_MS};
pub use tenants::*;

pub type Db = AnyPool;

/// The database as the hot writes see it: the pool, and on SQLite the writer thread that
/// group-commits mint, redeem and rotation.
#[derive(Clone)]
pub struct Store {
    pub pool: Db,
    pub writer: Option<writer::Writer>,
}

impl Store {
    /// Starts the SQLite writer on a SQLite pool's file; PostgreSQL needs none.
    pub fn new(pool: Db) -> anyhow::Result<Self> {
        let writer = match Backend::of(&pool) {
            Backend::Sqlite => {
                let url = pool.connect_options().database_url.to_string();
                Some(writer::Writer::open(writer::path_of(&url))?)
            }
            Backend::Postgres => None,
        };
        Ok(Self { pool, writer })
    }
}

/// Which database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!("database URL must start with sqlite:// or postgres://")
        }
    }

    pub fn of(db: &Db) -> Self {
        match db.connect_options().database_url.scheme() {
            "sqlite" => Self::Sqlite,
            _ => Self::Postgres,
        }
    }
}

/// A pooled connection idle this long is pinged before use.
const CHECK_IF_IDLE_FOR: Duration = Duration::from_secs(5);

/// Pool options the relay uses; `open_with` lets tests add their own hooks.
pub fn pool_options(backend: Backend) -> AnyPoolOptions {
    // sqlx pings every idle connection it hands out by default: one more round trip (or,
    // on SQLite, one more hop to the worker thread) per statement. Only a connection idle
    // for a while is checked now, which is when a restarted server or a dropped TCP
    // connection would show.
    let opts = AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        });
    match backend {
        // One writer at a time in SQLite anyway (the hot writes have their own thread,
        // db/writer.rs); four readers with 512 KiB page caches beside it. Eight readers
        // with SQLite's default 2 MB caches cost ~10 MB of RSS at 10,000 sockets and
        // bought no throughput on two cores (BENCHMARKS.md).
        Backend::Sqlite => opts.max_connections(4).after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -512;",
                )
                .await?;
                Ok(())
            })
        }),
        Backend::Postgres => opts.max_connections(16),
    }
}

/// Opens (creating a missing SQLite file) the database at `url` and migrates it.
pub async fn open(url: &str) -> anyhow::Result<Db> {
    open_with(url, pool_options(Backend::of_url(url)?)).await
}

pub async fn open_with(url: &str, opts: AnyPoolOptions) -> anyhow::Result<Db> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url)?;
    let url = match backend {
        Backend::Sqlite if !url.contains("mode=") => {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        }
        _ => url.to_owned(),
    };
    let pool = opts.connect_with(url.parse::<AnyConnectOptions>()?).await?;
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
        Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
    }
    Ok(pool)
}

/// Reads a setting, creating it with `init()` the first time. Concurrent first calls
/// (several instances starting at once) agree on one value: insert-if-absent, read back.
pub async fn setting_or_init(db: &Db, name: &str, init: impl FnOnce() -> String) -> sqlx::Result<String> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(init())
        .execute(db)
        .await?;
    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1").bind(name).fetch_one(db).await
}

/// A secret kept in the settings table (development only, `--dev`): generated once as
/// 256 random bits, the same value for every instance after.
pub async fn stored_secret(db: &Db, name: &str) -> anyhow::Result<Vec<u8>> {
    let hex_value = setting_or_init(db, name, || hex::encode(secrets::random_bytes())).await?;
    Ok(hex::decode(hex_value)?)
}

/// The token keys ([`secrets::TokenKeys::load`]): from the environment, or from this
/// database when `allow_database`.
pub async fn token_keys(db: &Db, allow_database: bool) -> anyhow::Result<secrets::TokenKeys> {
    secrets::TokenKeys::load(allow_database, async |name| stored_secret(db, name).await).await
}
