//! Opening the database: SQLite in WAL mode with `synchronous=FULL`, so a 2xx answer to a
//! write survives a crash (PROTOCOL §3), and the migrations applied at start.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::secrets;

pub type Db = SqlitePool;

/// Opens (creating if missing) the database at `url` (`sqlite://PATH`) and migrates it.
pub async fn open(url: &str) -> anyhow::Result<Db> {
    if url.starts_with("postgres") {
        anyhow::bail!("PostgreSQL support is not built yet; use sqlite://PATH");
    }
    let opts = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new().max_connections(8).connect_with(opts).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// Reads a setting, creating it with `init()` the first time. Concurrent first calls
/// agree on one value (INSERT OR IGNORE, then read back).
pub async fn setting_or_init(db: &Db, name: &str, init: impl FnOnce() -> String) -> sqlx::Result<String> {
    sqlx::query("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)")
        .bind(name)
        .bind(init())
        .execute(db)
        .await?;
    sqlx::query_scalar("SELECT value FROM settings WHERE name = ?").bind(name).fetch_one(db).await
}

/// A random 256-bit secret as hex, for settings generated on first start.
pub fn fresh_secret_hex() -> String {
    hex::encode(secrets::random_bytes())
}
