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

pub type Db = AnyPool;

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
        // sqlite_writer.rs); four readers with 512 KiB page caches beside it. Eight readers
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

/// A random 256-bit secret as hex, for settings generated on first start.
pub fn fresh_secret_hex() -> String {
    hex::encode(secrets::random_bytes())
}
