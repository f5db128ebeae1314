//! The real `latch-relay serve` process: settings from a TOML file, JSON logs with request
//! ids and no secrets, metrics, and a graceful shutdown on SIGTERM that answers the
//! long-poll in flight, closes the extension socket with 1001 and exits 0.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use latch_relay::{clock::now_ms, db};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_ready(base: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("relay not ready within 20 s");
}

async fn post_json(req: reqwest::RequestBuilder, body: Value) -> Value {
    req.json(&body).send().await.unwrap().json().await.unwrap()
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < within, "relay did not exit within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_relay_logs_json_serves_metrics_and_shuts_down_gracefully() {
    let test_db = common::test_db().await;
    let (api_key, _) = {
        let pool = db::open(&test_db.url).await.unwrap();
        let tenant = db::Tenant { id: "acme".into(), name: "Acme Inc".into(), origins: vec![], captures: false };
        db::create_tenant(&pool, &tenant, now_ms()).await.unwrap();
        let key = db::create_api_key(&pool, "acme", "Acme", now_ms()).await.unwrap();
        pool.close().await;
        key
    };
    let port = free_port();
    let metrics_port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nlog-format = \"json\"\nshutdown-grace-seconds = 5\n\
             metrics-listen = \"127.0.0.1:{metrics_port}\"\n"
        ),
    )
    .unwrap();
    // Production's way: the token secret and pepper from files, nothing generated.
    let (secret_file, pepper_file) = (dir.path().join("secret"), dir.path().join("pepper"));
    std::fs::write(&secret_file, format!("{}\n", "s".repeat(40))).unwrap();
    std::fs::write(&pepper_file, "p".repeat(32)).unwrap();
    let mut relay = Command::new(env!("CARGO_BIN_EXE_latch-relay"))
        .args(["--database", &test_db.url, "--config", config.to_str().unwrap(), "serve"])
        .env("LATCH_LOG", "info,tower_http=debug")
        .env("LATCH_TOKEN_SECRET_FILE", &secret_file)
        .env("LATCH_TOKEN_PEPPER_FILE", &pepper_file)
        .env("LATCH_CODE_TTL_SECONDS", "3600")
        .env("LATCH_CODE_INTERVAL_SECONDS", "2")
        .env_remove("LATCH_LISTEN")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&base).await;
    let http = reqwest::Client::new();

    // One-click pairing over real HTTP, with our own request id.
    let minted =
        post_json(http.post(format!("{base}/pairing-tokens")).bearer_auth(&api_key), json!({"userId": "dana"})).await;
    let token = minted["pairingToken"].as_str().unwrap().to_owned();
    let redeemed = http
        .post(format!("{base}/pairing-tokens/redeem"))
        .header("x-request-id", "req-from-the-balancer")
        .json(&json!({"pairingToken": token, "deviceName": "Chrome"}))
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.headers()["x-request-id"], "req-from-the-balancer");
    let grant: Value = redeemed.json().await.unwrap();
    let access = grant["accessToken"].as_str().unwrap().to_owned();
    let refresh = grant["refreshToken"].as_str().unwrap().to_owned();

    // Metrics only on their own listener, never on the public one.
    let public = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let metrics =
        http.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap().text().await.unwrap();
    for line in ["latch_pairings_started_total{flow=\"token\"} 1", "latch_pairings_completed_total{flow=\"token\"} 1"] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert!(metrics.contains("{method=\"POST\",route=\"/pairing-tokens/redeem\",status=\"200\"}"), "{metrics}");

    // A live socket and a long-poll in flight when SIGTERM arrives.
    let mut ws = common::ws::authed(&format!("ws://127.0.0.1:{port}/api/session"), &access).await;
    let challenge = post_json(
        http.post(format!("{base}/api/pairing/request")),
        json!({"deviceId": "dev-1", "deviceName": "Chrome"}),
    )
    .await;
    let challenge_id = challenge["challengeId"].as_str().unwrap().to_owned();
    let life = challenge["expiresAt"].as_u64().unwrap() - challenge["serverTime"].as_u64().unwrap();
    assert_eq!((life, challenge["interval"].as_u64()), (3_600_000, Some(2)), "the configured code life and interval");
    let poll = tokio::spawn({
        let url = format!("{base}/api/pairing/status?challengeId={challenge_id}&wait=30");
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap(), Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    let sent = Command::new("kill").args(["-TERM", &relay.id().to_string()]).status().unwrap();
    assert!(sent.success());

    let (status, answer, answered) = tokio::time::timeout(Duration::from_secs(5), poll).await.unwrap().unwrap();
    assert_eq!((status.as_u16(), answer["status"].as_str()), (200, Some("pending")), "{answer}");
    println!("long-poll answered {:?} after SIGTERM", answered - signalled);
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                Some(Ok(_)) => continue,
                other => panic!("socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(close, Some((1001, "relay_restarting".to_owned())));
    let exit = wait_exit(&mut relay, Duration::from_secs(5));
    println!("exited {exit} {:?} after SIGTERM", signalled.elapsed());
    assert!(exit.success());

    let mut logs = String::new();
    std::io::Read::read_to_string(relay.stderr.as_mut().unwrap(), &mut logs).unwrap();
    let lines: Vec<Value> =
        logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    assert!(lines.iter().any(|l| l["fields"]["message"] == "configuration"), "{logs}");
    assert!(lines.iter().any(|l| l["span"]["id"] == "req-from-the-balancer"), "request id in the span: {logs}");
    assert!(lines.iter().any(|l| l["fields"]["message"] == "stopped"), "{logs}");
    for secret in [&api_key, &token, &access, &refresh, &challenge_id] {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs: {logs}");
    }
    let pool = db::open(&test_db.url).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT name FROM settings").fetch_all(&pool).await.unwrap();
    assert!(!stored.iter().any(|n| n.starts_with("token_")), "secrets in the database: {stored:?}");
}

/// Code settings outside what the extension honours, and an install link that isn't a web
/// page, are refused before anything starts.
#[test]
fn serve_refuses_code_lifetimes_and_intervals_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("latch.db").display());
    for (var, value, flag) in [
        ("LATCH_CODE_TTL_SECONDS", "59", "--code-ttl-seconds"),
        ("LATCH_CODE_TTL_SECONDS", "3601", "--code-ttl-seconds"),
        ("LATCH_CODE_INTERVAL_SECONDS", "0", "--code-interval-seconds"),
        ("LATCH_CODE_INTERVAL_SECONDS", "61", "--code-interval-seconds"),
        ("LATCH_INSTALL_URL", "javascript:alert(1)", "--install-url"),
        ("LATCH_INSTALL_URL", "store listing", "--install-url"),
        ("LATCH_INSTALL_URL", "https://store.example@evil.example/latch", "--install-url"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_latch-relay"))
            .args(["--database", &database, "serve", "--dev", "--listen", "127.0.0.1:0"])
            .env(var, value)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(flag), "{var}={value}: {err}");
    }
}

/// `serve` without a token secret and pepper of its own refuses to start (unless --dev),
/// and so does one with a secret too short to be one.
#[tokio::test]
async fn serve_refuses_generated_or_short_secrets_outside_dev() {
    let test_db = common::test_db().await;
    let run = |env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_latch-relay"));
        c.args(["--database", &test_db.url, "serve", "--listen", "127.0.0.1:0"]);
        for v in ["LATCH_DEV", "LATCH_TOKEN_SECRET", "LATCH_TOKEN_PEPPER", "LATCH_TOKEN_SECRET_FILE"] {
            c.env_remove(v);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.stderr(Stdio::piped()).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = run(&[]);
    assert!(!ok && err.contains("LATCH_TOKEN_SECRET") && err.contains("--dev"), "{err}");
    let (ok, err) = run(&[("LATCH_TOKEN_SECRET", &"s".repeat(64))]);
    assert!(!ok && err.contains("LATCH_TOKEN_PEPPER"), "a secret without a pepper: {err}");
    let (ok, err) = run(&[("LATCH_TOKEN_SECRET", "x"), ("LATCH_TOKEN_PEPPER", &"p".repeat(32))]);
    assert!(!ok && err.contains("LATCH_TOKEN_SECRET must hold at least 32 bytes"), "{err}");
    let (ok, err) = run(&[("LATCH_TOKEN_SECRET", &"s".repeat(32)), ("LATCH_TOKEN_PEPPER", &"p".repeat(31))]);
    assert!(!ok && err.contains("LATCH_TOKEN_PEPPER must hold at least 32 bytes"), "{err}");
    let pool = db::open(&test_db.url).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT name FROM settings").fetch_all(&pool).await.unwrap();
    assert!(!stored.iter().any(|n| n.starts_with("token_")), "nothing generated: {stored:?}");
}
