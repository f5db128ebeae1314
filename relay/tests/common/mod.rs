//! Shared fixtures: a relay app on a fresh database, a tenant and an API key. The database
//! is a temporary SQLite file, or, when `LATCH_PG_URL` is set (tests/support/with-postgres.sh), a
//! fresh PostgreSQL database per test: the whole suite runs on both backends.
#![allow(dead_code)]

pub mod dpop;
pub mod ws;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use latch_relay::{app, clock::now_ms, db, AppState, Config};
use serde_json::Value;
use tower::ServiceExt;

/// Every `.rs` file under `dir` (the relay's sources, for tests that read them).
pub fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

pub struct Fixture {
    pub app: Router,
    pub state: AppState,
    pub api_key: String,
    pub key_id: String,
    pub _dir: Option<tempfile::TempDir>,
}

pub async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

pub async fn fixture_with(tweak: impl FnOnce(&mut Config)) -> Fixture {
    let test_db = test_db().await;
    let db = db::open(&test_db.url).await.unwrap();
    let mut cfg = Config::new("http://localhost:8787");
    tweak(&mut cfg);
    let state = AppState::new(db, cfg).await.unwrap();
    let mut f = fixture_on(state).await;
    f._dir = test_db.dir;
    f
}

/// A fresh, empty database for one test; the SQLite file lives as long as this value.
pub struct TestDb {
    pub url: String,
    pub dir: Option<tempfile::TempDir>,
}

/// True when the suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("LATCH_PG_URL").is_ok_and(|u| !u.is_empty())
}

pub async fn test_db() -> TestDb {
    match std::env::var("LATCH_PG_URL") {
        Ok(admin) if !admin.is_empty() => {
            use sqlx::{Connection, Executor};
            sqlx::any::install_default_drivers();
            let name = latch_relay::secrets::new_id("latch_test_");
            let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("connect to LATCH_PG_URL");
            conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
            conn.close().await.unwrap();
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
            TestDb { url: format!("{base}/{name}"), dir: None }
        }
        _ => {
            let dir = tempfile::tempdir().unwrap();
            TestDb { url: format!("sqlite://{}", dir.path().join("latch.db").display()), dir: Some(dir) }
        }
    }
}

/// The acme tenant and key on an existing state.
pub async fn fixture_on(state: AppState) -> Fixture {
    let tenant = db::Tenant {
        id: "acme".into(),
        name: "Acme Inc".into(),
        origins: vec!["http://localhost:8788".into()],
        captures: false,
    };
    db::create_tenant(&state.db, &tenant, now_ms()).await.unwrap();
    let (api_key, key_id) = db::create_api_key(&state.db, "acme", "Acme", now_ms()).await.unwrap();
    Fixture { app: app(state.clone()), state, api_key, key_id, _dir: None }
}

impl Fixture {
    /// A fixture that only calls `app` (no tenant created, no key).
    pub fn from_app(app: Router) -> FixtureApp {
        FixtureApp { app }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(&self.app, method, path, bearer, body).await
    }

    /// A request with any headers; the answer's status, headers and JSON body (null if none).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, Vec<u8>) {
        send(&self.app, method, path, bearer, body).await
    }

    pub async fn mint(&self, user: &str) -> String {
        let (s, b) =
            self.call("POST", "/pairing-tokens", Some(&self.api_key), Some(serde_json::json!({"userId": user}))).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["pairingToken"].as_str().unwrap().to_owned()
    }

    pub async fn redeem(&self, token: &str) -> (StatusCode, Value) {
        self.call(
            "POST",
            "/pairing-tokens/redeem",
            None,
            Some(serde_json::json!({"pairingToken": token, "deviceName": "Test browser"})),
        )
        .await
    }
}

/// Just an app to call.
pub struct FixtureApp {
    pub app: Router,
}

impl FixtureApp {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(&self.app, method, path, bearer, body).await
    }
}

/// One request through the router; the answer's status and body bytes.
async fn send(
    app: &Router,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    let req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, bytes)
}

/// One JSON request through the router; the answer's status and JSON body (null if none).
async fn call(
    app: &Router,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, bytes) = send(app, method, path, bearer, body.map(|b| b.to_string())).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}
