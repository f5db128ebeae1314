//! The owner CLI against a database file, as an operator would run it beside `serve`.

use std::process::{Command, Output};

use serde_json::Value;

mod common;

fn relay(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_latch-relay"))
        .arg("--database")
        .arg(db)
        .args(args)
        .output()
        .expect("run latch-relay")
}

fn json(out: Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn fails_with(out: Output, needle: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one-line reason: {err}");
    assert!(err.contains(needle), "{err}");
}

#[test]
fn tenants_keys_and_bindings_from_the_command_line() {
    let test_db = tokio::runtime::Runtime::new().unwrap().block_on(common::test_db());
    let db = test_db.url.clone();

    let t = json(relay(
        &db,
        &["tenant", "create", "--name", "Acme Inc", "--id", "acme", "--origin", "http://localhost:8788"],
    ));
    assert_eq!(t["tenantId"], "acme");
    fails_with(relay(&db, &["tenant", "create", "--name", "Again", "--id", "acme"]), "already exists");
    fails_with(relay(&db, &["tenant", "create", "--name", "X", "--id", "Bad Id"]), "--id");
    fails_with(relay(&db, &["tenant", "create", "--name", "X", "--origin", "javascript:alert(1)"]), "--origin");
    let pair = ["tenant", "create", "--name", "Pairs", "--id", "pairs", "--origin", "http://localhost:8790"];
    for bad in ["https://evil.example/pair", "http://localhost:8790.evil.example/", "javascript:alert(1)"] {
        fails_with(relay(&db, &[&pair[..], &["--pair-url", bad]].concat()), "--pair-url");
    }
    fails_with(
        relay(&db, &["tenant", "create", "--name", "X", "--pair-url", "http://localhost:8788/pair"]),
        "--pair-url",
    );
    json(relay(&db, &[&pair[..], &["--pair-url", "http://localhost:8790/pair"]].concat()));
    let generated = json(relay(&db, &["tenant", "create", "--name", "Other"]));
    assert!(generated["tenantId"].as_str().unwrap().starts_with("tn_"));

    let k = json(relay(&db, &["key", "create", "--tenant", "acme", "--label", "Acme Store"]));
    assert!(k["apiKey"].as_str().unwrap().starts_with("lak_"));
    assert_eq!(k["label"], "Acme Store");
    fails_with(relay(&db, &["key", "create", "--tenant", "nobody", "--label", "x"]), "no tenant");

    let list = json(relay(&db, &["key", "list", "--tenant", "acme", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["keyId"], k["keyId"]);
    assert!(
        !String::from_utf8(relay(&db, &["key", "list"]).stdout).unwrap().contains(k["apiKey"].as_str().unwrap()),
        "never the secret"
    );

    let key_id = k["keyId"].as_str().unwrap();
    assert_eq!(json(relay(&db, &["key", "revoke", key_id]))["revoked"], true);
    fails_with(relay(&db, &["key", "revoke", key_id]), "no active key");

    assert_eq!(json(relay(&db, &["binding", "list", "--json"])), serde_json::json!([]));
    fails_with(relay(&db, &["binding", "revoke", "bnd_nope"]), "no active binding");
    assert!(!relay(&db, &["bogus"]).status.success());
}

#[test]
fn key_revoke_all_removes_every_active_key_of_one_tenant_once() {
    let test_db = tokio::runtime::Runtime::new().unwrap().block_on(common::test_db());
    let db = test_db.url.clone();
    for id in ["acme", "other"] {
        json(relay(&db, &["tenant", "create", "--name", id, "--id", id]));
    }
    let key = |tenant: &str| json(relay(&db, &["key", "create", "--tenant", tenant, "--label", "k"]));
    let (a1, _a2, _a3, o) = (key("acme"), key("acme"), key("acme"), key("other"));
    json(relay(&db, &["key", "revoke", a1["keyId"].as_str().unwrap()]));

    let all = ["key", "revoke", "--all", "--tenant", "acme"];
    assert_eq!(json(relay(&db, &all)), serde_json::json!({"removedCount": 2, "tenantId": "acme"}));
    assert_eq!(json(relay(&db, &all))["removedCount"], 0, "idempotent");
    let keys = json(relay(&db, &["key", "list", "--json"]));
    for k in keys.as_array().unwrap() {
        let revoked = k["tenantId"] == "acme";
        assert_eq!(k["revoked"], revoked, "{k}");
    }
    assert!(keys.as_array().unwrap().iter().any(|k| k["keyId"] == o["keyId"]));

    fails_with(relay(&db, &["key", "revoke", "--all", "--tenant", "nobody"]), "no tenant");
    for wrong in [
        &["key", "revoke"][..],
        &["key", "revoke", "--all"],
        &["key", "revoke", "key_x", "--all", "--tenant", "acme"],
        &["key", "revoke", "key_x", "--tenant", "acme"],
    ] {
        assert!(!relay(&db, wrong).status.success(), "{wrong:?}");
    }
}

#[test]
fn scaffold_prints_or_writes_without_touching_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("never.db");
    let db = format!("sqlite://{}", db_path.display());

    let out = relay(&db, &["scaffold", "web-pairing", "--stack", "express", "--token-route", "/latch/t"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for header in ["==> package.json <==", "==> server.js <==", "==> the script tag and container"] {
        assert!(text.contains(header), "{header} in:\n{text}");
    }
    assert!(text.contains(r#"data-latch-token-url="/latch/t""#));
    assert!(!db_path.exists(), "scaffold opened the database");

    let out_dir = dir.path().join("app");
    let out_arg = out_dir.to_str().unwrap();
    let written = relay(&db, &["scaffold", "web-pairing", "--stack", "flask", "--out", out_arg]);
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stderr));
    assert!(out_dir.join("app.py").exists() && out_dir.join("requirements.txt").exists());
    fails_with(relay(&db, &["scaffold", "web-pairing", "--stack", "flask", "--out", out_arg]), "already exists");

    fails_with(relay(&db, &["scaffold", "web-pairing", "--stack", "axum", "--token-route", "/x\"y"]), "--token-route");
    fails_with(relay(&db, &["scaffold", "web-pairing", "--stack", "axum", "--relay-url", "ftp://x"]), "--relay-url");
    assert!(!relay(&db, &["scaffold", "web-pairing", "--stack", "django"]).status.success());
    assert!(!db_path.exists(), "scaffold opened the database");
}

#[test]
fn enrollment_keys_and_assertions_from_the_command_line() {
    let test_db = tokio::runtime::Runtime::new().unwrap().block_on(common::test_db());
    let db = test_db.url.clone();
    json(relay(&db, &["tenant", "create", "--name", "Acme Inc", "--id", "acme"]));

    let made = json(relay(&db, &["tenant", "enroll-key", "--tenant", "acme"]));
    let private = made["privateKey"].as_str().expect("a generated key's private half is printed once").to_owned();
    let public = made["publicKey"].as_str().unwrap().to_owned();
    assert!(made["keyId"].as_str().unwrap().starts_with("lek_"));
    fails_with(
        relay(&db, &["tenant", "enroll-key", "--tenant", "acme", "--public-key", &public]),
        "already registered",
    );
    fails_with(relay(&db, &["tenant", "enroll-key", "--tenant", "nobody"]), "no tenant");
    fails_with(relay(&db, &["tenant", "enroll-key", "--tenant", "acme", "--public-key", "AAAA"]), "--public-key");
    // A base64url key may start with "-": it is still a value, not a flag.
    let dashed = loop {
        let (_, p) = latch_relay::enrollment::generate();
        if p.starts_with('-') {
            break p;
        }
    };
    let d = json(relay(&db, &["tenant", "enroll-key", "--tenant", "acme", "--public-key", &dashed]));
    assert_eq!(d["publicKey"], dashed.as_str());
    let (_, other_public) = latch_relay::enrollment::generate();
    let given = json(relay(&db, &["tenant", "enroll-key", "--tenant", "acme", "--public-key", &other_public]));
    assert!(given.get("privateKey").is_none(), "the admin's own key pair: nothing secret printed");

    let sign = |extra: &[&str], key: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_latch-relay"));
        c.args(["--database", &db, "tenant", "sign-assertion", "--tenant", "acme", "--user", "dana"]).args(extra);
        match key {
            Some(k) => c.env("LATCH_ENROLL_PRIVATE_KEY", k),
            None => c.env_remove("LATCH_ENROLL_PRIVATE_KEY"),
        };
        c.output().expect("run latch-relay")
    };
    let signed = json(sign(&["--aud", "https://latch.example.com/", "--ttl-seconds", "600"], Some(&private)));
    let assertion = signed["assertion"].as_str().unwrap();
    let now = latch_relay::clock::now_ms();
    let claims = latch_relay::enrollment::verify(assertion, &public, "acme", "https://latch.example.com", now)
        .expect("verifies");
    assert_eq!((claims.user_id.as_str(), claims.aud.as_str()), ("dana", "https://latch.example.com"));
    assert!((now / 1000 + 590..=now / 1000 + 610).contains(&claims.exp));
    let second = json(sign(&[], Some(&private)));
    assert_ne!(second["nonce"], signed["nonce"], "a new nonce every time");

    fails_with(sign(&[], None), "LATCH_ENROLL_PRIVATE_KEY");
    fails_with(sign(&[], Some("lak_wrong")), "not a Latch enrollment key");
    fails_with(sign(&["--ttl-seconds", "99999999"], Some(&private)), "--ttl-seconds");
    fails_with(sign(&["--aud", "javascript:x"], Some(&private)), "--aud");
}

/// The owner's `pairing approve` works like an app's: the code awaits the browser user's
/// Approve and nothing is bound. `pairing list` shows every open code, `pairing deny` ends
/// any of them.
#[test]
fn pairing_approve_from_the_command_line_still_asks_the_browser() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let test_db = rt.block_on(common::test_db());
    let db = test_db.url.clone();
    json(relay(&db, &["tenant", "create", "--name", "Acme Inc", "--id", "acme", "--origin", "http://localhost:8788"]));
    let browser = rt.block_on(async {
        let state = latch_relay::AppState::new(
            latch_relay::db::open(&db).await.unwrap(),
            latch_relay::Config::new("http://localhost:8787"),
        )
        .await
        .unwrap();
        common::Fixture::from_app(latch_relay::app(state))
    });
    let request = |device: &str| {
        let body = serde_json::json!({"deviceId": device, "deviceName": "Chrome"});
        let (_, c) = rt.block_on(browser.call("POST", "/api/pairing/request", None, Some(body)));
        (c["challengeId"].as_str().unwrap().to_owned(), c["code"].as_str().unwrap().to_owned())
    };
    let (first_id, first) = request("dev-1");
    let (_, second) = request("dev-2");
    let listed = json(relay(&db, &["pairing", "list", "--json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    assert!(listed.as_array().unwrap().iter().all(|c| c["status"] == "pending"), "{listed}");

    let approved = json(relay(&db, &["pairing", "approve", &first, "--tenant", "acme", "--user", "dana"]));
    assert_eq!(
        approved,
        serde_json::json!({"status": "awaiting_confirmation", "appName": "Acme Inc", "userId": "dana"})
    );
    let listed = json(relay(&db, &["pairing", "list", "--json"]));
    let shown = format!("{}-{}", &first[..4], &first[4..]);
    let entry = listed.as_array().unwrap().iter().find(|c| c["code"] == shown.as_str()).unwrap().clone();
    assert_eq!((entry["status"].as_str(), entry["tenantId"].as_str()), (Some("awaiting_confirmation"), Some("acme")));
    assert_eq!(entry["userId"], "dana");
    let text = String::from_utf8(relay(&db, &["pairing", "list"]).stdout).unwrap();
    assert!(text.lines().any(|l| l.starts_with(&shown) && l.contains("awaiting_confirmation")), "{text}");
    assert_eq!(json(relay(&db, &["binding", "list", "--json"])), serde_json::json!([]), "nothing bound yet");
    let (_, status) =
        rt.block_on(browser.call("GET", &format!("/api/pairing/status?challengeId={first_id}"), None, None));
    assert_eq!((status["status"].as_str(), status["userId"].as_str()), (Some("awaiting_confirmation"), Some("dana")));

    fails_with(
        relay(&db, &["pairing", "approve", &first, "--tenant", "acme", "--user", "erin"]),
        "code_already_approved",
    );
    fails_with(
        relay(&db, &["pairing", "approve", "ZZZZ-ZZZZ", "--tenant", "acme", "--user", "dana"]),
        "code_not_found",
    );
    fails_with(relay(&db, &["pairing", "approve", &second, "--tenant", "nobody", "--user", "dana"]), "no tenant");
    for code in [&first, &second] {
        assert_eq!(json(relay(&db, &["pairing", "deny", code]))["status"], "denied", "the owner denies any open code");
    }
    fails_with(relay(&db, &["pairing", "deny", &first]), "code_not_found");
    assert_eq!(json(relay(&db, &["pairing", "list", "--json"])), serde_json::json!([]));
}

/// Owner commands never generate the token secret or pepper into the database: only a
/// `serve --dev` does (issue 18: a production database holds no secrets).
#[test]
fn owner_commands_write_no_secrets_into_the_database() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let test_db = rt.block_on(common::test_db());
    let db = test_db.url.clone();
    json(relay(&db, &["tenant", "create", "--name", "Acme Inc", "--id", "acme"]));
    json(relay(&db, &["key", "create", "--tenant", "acme", "--label", "Acme"]));
    fails_with(relay(&db, &["pairing", "approve", "ABCD-EFGH", "--tenant", "acme", "--user", "dana"]), "code");
    fails_with(relay(&db, &["pairing", "deny", "ABCD-EFGH"]), "code");
    let names: Vec<String> = rt.block_on(async {
        let pool = latch_relay::db::open(&db).await.unwrap();
        sqlx::query_scalar("SELECT name FROM settings").fetch_all(&pool).await.unwrap()
    });
    assert!(!names.iter().any(|n| n.starts_with("token_")), "secrets in the database: {names:?}");
}

#[test]
fn openapi_prints_the_served_document_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("never.db");
    let printed = json(relay(&format!("sqlite://{}", db_path.display()), &["openapi"]));
    assert_eq!(printed, serde_json::to_value(latch_relay::http::openapi()).unwrap());
    assert!(printed["paths"]["/pairing-tokens"]["post"].is_object());
    assert!(!db_path.exists(), "openapi opened the database");
}
