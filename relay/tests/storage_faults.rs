//! The database refuses writes (read-only file system, disk full): every write answers 503
//! `storage_unavailable`, nothing half-done is left (a refused redeem spends no token), reads
//! keep working, and the relay recovers by itself once the database takes writes again.
//! Faults are injected on every connection the pool hands out: `PRAGMA query_only` (SQLITE_READONLY) and
//! `PRAGMA max_page_count` at the current size (SQLITE_FULL, what a full disk answers).

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use common::{fixture_on, Fixture};
use latch_relay::{db, AppState, Config};
use serde_json::json;

const OK: u8 = 0;
const READ_ONLY: u8 = 1;
const DISK_FULL: u8 = 2;

/// The PRAGMAs of a fault mode: read-only, no room to grow, or healthy.
fn pragmas(mode: u8) -> String {
    let (query_only, pages) = match mode {
        READ_ONLY => ("ON", "2147483646"),
        DISK_FULL => ("OFF", "1"), // clamped to the current page count: no growth
        _ => ("OFF", "2147483646"),
    };
    format!("PRAGMA query_only = {query_only}; PRAGMA max_page_count = {pages};")
}

/// Puts a pool connection in the fault mode.
async fn apply(mode: u8, conn: &mut sqlx::AnyConnection) -> sqlx::Result<()> {
    use sqlx::Executor;
    conn.execute(pragmas(mode).as_str()).await?;
    Ok(())
}

/// Puts the writer thread's connection in the fault mode.
fn apply_to_writer(mode: u8, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&pragmas(mode))
}

async fn faulty_fixture(dir: &tempfile::TempDir, mode: Arc<AtomicU8>) -> Fixture {
    let url = format!("sqlite://{}", dir.path().join("latch.db").display());
    db::open(&url).await.unwrap().close().await; // creates and migrates the file
    let on_connect = mode.clone();
    let writer_mode = mode.clone();
    // Every connection handed out takes the current mode: new ones (after_connect) and
    // reused ones (before_acquire).
    let opts = db::pool_options(db::Backend::Sqlite)
        .max_connections(4)
        .after_connect(move |conn, _| {
            let mode = on_connect.load(Ordering::SeqCst);
            Box::pin(async move { apply(mode, conn).await })
        })
        .before_acquire(move |conn, _| {
            let mode = mode.load(Ordering::SeqCst);
            Box::pin(async move { apply(mode, conn).await.map(|()| true) })
        });
    let pool = db::open_with(&url, opts).await.unwrap();
    let state = AppState::new(pool, Config::new("http://localhost:8787")).await.unwrap();
    // The writer thread's own connection takes the same mode before every batch.
    state
        .store
        .writer
        .as_ref()
        .expect("SQLite has a writer")
        .set_batch_hook(Box::new(move |conn| apply_to_writer(writer_mode.load(Ordering::SeqCst), conn)));
    fixture_on(state).await
}

#[tokio::test]
async fn a_read_only_database_answers_503_spends_nothing_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mode = Arc::new(AtomicU8::new(OK));
    let f = faulty_fixture(&dir, mode.clone()).await;
    let token = f.mint("dana").await;

    mode.store(READ_ONLY, Ordering::SeqCst);
    let (s, b) = f.call("POST", "/pairing-tokens", Some(&f.api_key), Some(json!({"userId": "dana"}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("storage_unavailable")), "{b}");
    let (s, b) = f.redeem(&token).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("storage_unavailable")), "{b}");
    // Reads still answer: the connect page can still describe the token.
    let (s, _) = f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": token}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(f.call("GET", "/healthz", None, None).await.0, StatusCode::OK);

    mode.store(OK, Ordering::SeqCst);
    let (s, b) = f.redeem(&token).await;
    assert_eq!(s, StatusCode::OK, "the refused redeem spent nothing: {b}");
}

#[tokio::test]
async fn a_full_disk_answers_503_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mode = Arc::new(AtomicU8::new(OK));
    let f = faulty_fixture(&dir, mode.clone()).await;
    mode.store(DISK_FULL, Ordering::SeqCst);
    // Fill whatever free pages are left, then every mint must fail cleanly.
    let mut refused = 0;
    for _ in 0..2000 {
        let (s, b) = f.call("POST", "/pairing-tokens", Some(&f.api_key), Some(json!({"userId": "dana"}))).await;
        match s {
            StatusCode::CREATED => continue,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(b["error"], "storage_unavailable");
                refused += 1;
                if refused == 5 {
                    break;
                }
            }
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert_eq!(refused, 5, "the full database never refused a write");
    mode.store(OK, Ordering::SeqCst);
    let token = f.mint("dana").await;
    assert_eq!(f.redeem(&token).await.0, StatusCode::OK);
}
