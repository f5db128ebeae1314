//! The registry and the activity log (PROTOCOL §11): how each binding was made and when it
//! was last seen, what happened to it (newest first, paged, readable by the app with its
//! key, by the browser with its token, and by nobody else), an app's "remove them all",
//! and the cleanup's idle expiry. Runs on both backends (`LATCH_PG_URL`).

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::ws::{authed, recv, send, serve};
use common::{fixture, fixture_with, Fixture};
use latch_relay::clock::now_ms;
use latch_relay::{cleanup, db};
use serde_json::{json, Value};

async fn pair_via(f: &Fixture, user: &str, via: Option<&str>) -> Value {
    let token = f.mint(user).await;
    let mut body = json!({"pairingToken": token, "deviceName": "Test browser"});
    if let Some(v) = via {
        body["via"] = json!(v);
    }
    let (s, grant) = f.call("POST", "/pairing-tokens/redeem", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    grant
}

fn id(grant: &Value) -> &str {
    grant["binding"]["bindingId"].as_str().unwrap()
}

async fn globex(f: &Fixture) -> String {
    let tenant = db::Tenant {
        id: "globex".into(),
        name: "Globex".into(),
        origins: vec!["http://localhost:8789".into()],
        captures: false,
    };
    db::create_tenant(&f.state.db, &tenant, now_ms()).await.unwrap();
    db::create_api_key(&f.state.db, "globex", "Globex", now_ms()).await.unwrap().0
}

async fn listed(f: &Fixture, binding_id: &str) -> Value {
    let (s, b) = f.call("GET", "/api/bindings", Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["bindings"].as_array().unwrap().iter().find(|r| r["bindingId"] == binding_id).cloned().unwrap()
}

/// The app's view of a binding's events (all pages, `limit` per page), newest first.
async fn events(f: &Fixture, binding_id: &str, limit: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/bindings/{binding_id}/events?limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (s, page) = f.call("GET", &path, Some(&f.api_key), None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let got = page["events"].as_array().unwrap();
        assert!(got.len() <= limit as usize);
        all.extend(got.iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn refresh(f: &Fixture, refresh_token: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": refresh_token}))).await
}

#[tokio::test]
async fn each_binding_says_how_it_was_made_and_when_it_was_last_seen() {
    let f = fixture().await;
    let one_click = pair_via(&f, "dana", Some("one_click")).await;
    let pasted = pair_via(&f, "dana", Some("pasted_token")).await;
    let api_client = pair_via(&f, "dana", None).await;
    for (grant, via) in [(&one_click, "one_click"), (&pasted, "pasted_token"), (&api_client, "pasted_token")] {
        let row = listed(&f, id(grant)).await;
        assert_eq!(row["via"], via, "{row}");
        assert!(row["createdAt"].as_i64().unwrap() > 0);
        assert_eq!((row.get("lastSeenAt"), row.get("lastErrandAt")), (None, None), "{row}");
        assert_eq!(row["paused"], false);
        assert_eq!(row["deviceName"], "Test browser");
    }
    // A redeem is never a code pairing, and `via` is one of the names.
    for bad in [json!("code"), json!("qr"), json!(5)] {
        let token = f.mint("dana").await;
        let body = json!({"pairingToken": token, "via": bad});
        let (s, b) = f.call("POST", "/pairing-tokens/redeem", None, Some(body)).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{b}");
    }
    // Any authenticated call marks it seen (written in the background).
    let before = now_ms() as i64;
    let (s, _) = f.call("GET", "/api/me", one_click["accessToken"].as_str(), None).await;
    assert_eq!(s, StatusCode::OK);
    let seen = until("last seen", async || listed(&f, id(&one_click)).await["lastSeenAt"].as_i64()).await;
    assert!(seen >= before, "{seen} < {before}");
    // Within the minute, another call writes nothing.
    let (s, _) = f.call("GET", "/api/me", one_click["accessToken"].as_str(), None).await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(listed(&f, id(&one_click)).await["lastSeenAt"].as_i64(), Some(seen));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_tells_what_happened_newest_first_and_counts_refreshes_per_day() {
    let f = fixture().await;
    let url = serve(&f).await;
    let grant = pair_via(&f, "dana", Some("one_click")).await;
    let binding = id(&grant).to_owned();
    // Three refreshes: one `refreshed` row of the day, counted.
    let mut rt = grant["refreshToken"].as_str().unwrap().to_owned();
    let mut access = grant["accessToken"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let (s, next) = refresh(&f, &rt).await;
        assert_eq!(s, StatusCode::OK, "{next}");
        rt = next["refreshToken"].as_str().unwrap().to_owned();
        access = next["accessToken"].as_str().unwrap().to_owned();
    }
    // Paused twice (logged once), resumed.
    for what in ["pause", "pause", "resume"] {
        let (s, b) = f.call("POST", &format!("/api/me/{what}"), Some(&access), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    // Two errands through the socket: one done, one failed.
    let mut ws = authed(&url, &access).await;
    let extension = tokio::spawn(async move {
        let e = recv(&mut ws).await.unwrap();
        send(&mut ws, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": "pong"})).await;
        let e = recv(&mut ws).await.unwrap();
        let error = json!({"code": "tab_closed", "message": "gone"});
        send(&mut ws, json!({"type": "errand_result", "id": e["id"], "ok": false, "error": error})).await;
        ws
    });
    for kind in ["ping", "capture_page"] {
        let body = json!({"userId": "dana", "kind": kind});
        let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let _ws = extension.await.unwrap();
    let logged = until("both errands logged", async || {
        let all = events(&f, &binding, 50).await;
        (all.iter().filter(|e| e["type"] == "errand").count() == 2).then_some(all)
    })
    .await;
    assert_eq!(types(&logged), ["errand", "errand", "resumed", "paused", "refreshed", "paired"], "{logged:?}");
    assert_eq!((logged[0]["kind"].as_str(), logged[0]["ok"].as_bool()), (Some("capture_page"), Some(false)));
    assert_eq!(logged[0]["error"], "tab_closed");
    assert_eq!((logged[1]["kind"].as_str(), logged[1]["ok"].as_bool()), (Some("ping"), Some(true)));
    assert!(logged[1]["durationMs"].as_u64().is_some(), "{}", logged[1]);
    assert_eq!(logged[4]["count"], 3);
    assert_eq!(logged[5]["via"], "one_click");
    assert!(logged.windows(2).all(|w| w[0]["at"].as_i64() >= w[1]["at"].as_i64()), "newest first");
    assert!(listed(&f, &binding).await["lastErrandAt"].as_i64().is_some());

    // Pages of any size walk the same list, nothing twice, nothing missed; `paired` (the
    // binding's row, not a logged event) ends the last page or, after a full one (pages of
    // 1 and 5), has a page of its own.
    for limit in [1, 2, 3, 5, 6] {
        assert_eq!(events(&f, &binding, limit).await, logged, "pages of {limit}");
    }
    // The browser reads its own (the panel's Activity).
    let (s, mine) = f.call("GET", "/api/me/events", Some(&access), None).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_eq!(mine["events"].as_array().unwrap(), &logged);
    // The panel reads it with the wire crate's type: every field the relay writes arrives.
    let page: latch_wire::panel::ActivityPage = serde_json::from_value(mine.clone()).unwrap();
    let (failed, done) = (&page.events[0], &page.events[1]);
    assert_eq!(
        (failed.event.as_str(), failed.kind.as_deref(), failed.ok),
        ("errand", Some("capture_page"), Some(false))
    );
    assert_eq!(failed.error.as_deref(), Some("tab_closed"));
    assert!(done.duration_ms.is_some() && done.is_use() && !page.events[2].is_use());
    assert_eq!((page.events[4].event.as_str(), page.events[4].count), ("refreshed", Some(3)));
    assert_eq!(page.events[5].via.as_deref(), Some("one_click"));

    // The app revokes: the last word, and the log stays readable.
    let (s, _) = f.call("DELETE", &format!("/api/bindings/{binding}"), Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    let after = events(&f, &binding, 50).await;
    assert_eq!((after[0]["type"].as_str(), after[0]["by"].as_str()), (Some("revoked"), Some("app")));
    assert_eq!(&after[1..], &logged[..]);
}

#[tokio::test]
async fn only_the_apps_own_key_reads_a_bindings_log_and_cursors_are_checked() {
    let f = fixture().await;
    let grant = pair_via(&f, "dana", None).await;
    let binding = id(&grant);
    let globex_key = globex(&f).await;
    let path = format!("/api/bindings/{binding}/events");
    let (s, b) = f.call("GET", &path, Some(&globex_key), None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("binding_not_found")), "{b}");
    let (s, b) = f.call("GET", "/api/bindings/bnd_nope/events", Some(&f.api_key), None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("binding_not_found")), "{b}");
    let (s, _) = f.call("GET", &path, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    for bad in ["?cursor=e1", "?cursor=ZTA", "?cursor=%F0%9F%98%80"] {
        let (s, b) = f.call("GET", &format!("{path}{bad}"), Some(&f.api_key), None).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_cursor")), "{bad}: {b}");
    }
    for bad in ["?limit=0", "?limit=201", "?limit=x"] {
        let (s, b) = f.call("GET", &format!("{path}{bad}"), Some(&f.api_key), None).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{bad}: {b}");
    }
    // The browser's own token reads its own binding's log only.
    let other = pair_via(&f, "erin", None).await;
    let (s, mine) = f.call("GET", "/api/me/events", other["accessToken"].as_str(), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["events"].as_array().unwrap().len(), 1, "only erin's own `paired`: {mine}");
}

#[tokio::test]
async fn a_reused_refresh_token_is_logged_and_revokes_by_reuse() {
    let f = fixture().await;
    let grant = pair_via(&f, "dana", None).await;
    let first = grant["refreshToken"].as_str().unwrap();
    let (s, _) = refresh(&f, first).await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(5)).await;
    // Past the lost-answer grace: a second use is reuse.
    sqlx::query("UPDATE sessions SET rotated_at = rotated_at - 60000 WHERE rotated_at IS NOT NULL")
        .execute(&f.state.db)
        .await
        .unwrap();
    let (s, b) = refresh(&f, first).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_reused")), "{b}");
    let logged = events(&f, id(&grant), 50).await;
    assert_eq!(types(&logged), ["revoked", "refresh_reuse_detected", "refreshed", "paired"], "{logged:?}");
    assert_eq!(logged[0]["by"], "reuse");
}

#[tokio::test]
async fn an_app_removes_all_of_one_users_bindings_and_nothing_else() {
    let f = fixture().await;
    let dana = [pair_via(&f, "dana", None).await, pair_via(&f, "dana", None).await];
    let erin = pair_via(&f, "erin", None).await;
    let globex_key = globex(&f).await;
    // Another app's key reaches none of acme's.
    let (s, b) = f.call("DELETE", "/api/bindings?userId=dana", Some(&globex_key), None).await;
    assert_eq!((s, &b["revokedCount"]), (StatusCode::OK, &json!(0)), "{b}");
    let (s, b) = f.call("DELETE", "/api/bindings?userId=dana", Some(&f.api_key), None).await;
    assert_eq!((s, &b["revokedCount"]), (StatusCode::OK, &json!(2)), "{b}");
    let mut ids: Vec<&str> = b["bindingIds"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    ids.sort();
    let mut expected = [id(&dana[0]), id(&dana[1])];
    expected.sort();
    assert_eq!(ids, expected);
    for g in &dana {
        assert_eq!(listed(&f, id(g)).await["revoked"], true);
        let (s, _) = f.call("GET", "/api/me", g["accessToken"].as_str(), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(listed(&f, id(&erin)).await["revoked"], false);
    let (s, b) = f.call("DELETE", "/api/bindings?userId=dana", Some(&f.api_key), None).await;
    assert_eq!((s, &b["revokedCount"]), (StatusCode::OK, &json!(0)), "idempotent: {b}");
    let (s, b) = f.call("DELETE", "/api/bindings", Some(&f.api_key), None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{b}");
}

const DAY_MS: u64 = 86_400_000;

#[tokio::test]
async fn the_cleanup_revokes_idle_bindings_and_drops_a_revoked_ones_log_after_the_retention() {
    let f = fixture_with(|c| {
        c.cleanup.binding_idle_ms = 90 * DAY_MS;
        c.cleanup.expired_retention_ms = DAY_MS;
    })
    .await;
    let idle = pair_via(&f, "dana", None).await;
    let used = pair_via(&f, "dana", None).await;
    let now = now_ms();
    // Made 91 days ago; one of them seen yesterday.
    let long_ago = (now - 91 * DAY_MS) as i64;
    sqlx::query("UPDATE bindings SET created_at = $1").bind(long_ago).execute(&f.state.db).await.unwrap();
    sqlx::query("UPDATE bindings SET last_seen_at = $1 WHERE id = $2")
        .bind((now - DAY_MS) as i64)
        .bind(id(&used))
        .execute(&f.state.db)
        .await
        .unwrap();
    let removed = cleanup::run_once(&f.state, now).await.unwrap();
    assert_eq!(removed.of("idle_bindings"), 1, "{removed:?}");
    assert_eq!(listed(&f, id(&idle)).await["revoked"], true);
    assert_eq!(listed(&f, id(&used)).await["revoked"], false);
    let logged = events(&f, id(&idle), 50).await;
    assert_eq!((logged[0]["type"].as_str(), logged[0]["by"].as_str()), (Some("revoked"), Some("idle")));
    let (s, _) = refresh(&f, idle["refreshToken"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A second pass finds nothing more to revoke.
    assert_eq!(cleanup::run_once(&f.state, now).await.unwrap().of("idle_bindings"), 0);
    // Past the retention, the revoked binding goes with its log; the other keeps its own.
    let later = now + 2 * DAY_MS;
    let removed = cleanup::run_once(&f.state, later).await.unwrap();
    assert!(removed.of("binding_events") >= 1, "{removed:?}");
    let (s, _) = f.call("GET", &format!("/api/bindings/{}/events", id(&idle)), Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(types(&events(&f, id(&used), 50).await), ["paired"]);
}

#[tokio::test]
async fn an_active_bindings_log_keeps_its_retention_only() {
    let f = fixture_with(|c| c.cleanup.activity_retention_ms = 10 * DAY_MS).await;
    let grant = pair_via(&f, "dana", None).await;
    let (s, _) = refresh(&f, grant["refreshToken"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(types(&events(&f, id(&grant), 50).await), ["refreshed", "paired"]);
    let now = now_ms();
    let removed = cleanup::run_once(&f.state, now + 9 * DAY_MS).await.unwrap();
    assert_eq!(removed.of("binding_events"), 0);
    // (The binding is not idle: the default idle time is 90 days.)
    let removed = cleanup::run_once(&f.state, now + 11 * DAY_MS).await.unwrap();
    assert_eq!(removed.of("binding_events"), 1, "{removed:?}");
    assert_eq!(listed(&f, id(&grant)).await["revoked"], false);
    // How it was made stays with the binding itself.
    assert_eq!(types(&events(&f, id(&grant), 50).await), ["paired"]);
}
