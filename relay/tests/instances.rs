//! Two relay instances on one database, as behind a load balancer: nothing but the
//! database is shared (own pools, signals, limits, background listeners). Single use holds
//! across them, and a change on one wakes waiters on the other. Runs on SQLite (two pools
//! on one file) and, under tests/support/with-postgres.sh, on PostgreSQL (LISTEN/NOTIFY).

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::ws::{authed, close_of, recv, round_trip, send, serve_app};
use common::{fixture_on, test_db, Fixture, FixtureApp, TestDb};
use latch_relay::{app, db, spawn_background, AppState, Config};
use serde_json::json;

struct TwoInstances {
    a: Fixture,
    b: FixtureApp,
    b_key: String,
    _db: TestDb,
}

async fn instance(url: &str) -> AppState {
    let mut cfg = Config::new("http://localhost:8787");
    // Every request here comes from one test address; the limits are abuse_limits.rs's.
    cfg.limits.redeem_per_address = 0;
    let state = AppState::new(db::open(url).await.unwrap(), cfg).await.unwrap();
    spawn_background(&state);
    state
}

async fn two_instances() -> TwoInstances {
    let test_db = test_db().await;
    let a = fixture_on(instance(&test_db.url).await).await;
    let b = Fixture::from_app(app(instance(&test_db.url).await));
    TwoInstances { b_key: a.api_key.clone(), a, b, _db: test_db }
}

/// Asks `still_allowed` every 5 ms until it says no; fails with `what` if that takes 200 ms
/// or more. How long it took.
async fn refused_within_200_ms<Fut: std::future::Future<Output = bool>>(
    what: &str,
    mut still_allowed: impl FnMut() -> Fut,
) -> Duration {
    let started = Instant::now();
    while still_allowed().await {
        assert!(started.elapsed() < Duration::from_millis(200), "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_minted_on_one_instance_is_redeemed_exactly_once_across_both() {
    let t = two_instances().await;
    for round in 0..20 {
        let token = t.a.mint(&format!("user-{round}")).await;
        let (s, b) = t.b.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": token}))).await;
        assert_eq!(s, StatusCode::OK, "describe on B: {b}");
        let body = json!({"pairingToken": token, "deviceName": "Chrome"});
        let (on_a, on_b) = tokio::join!(
            tokio::spawn({
                let app = t.a.app.clone();
                let body = body.clone();
                async move { FixtureApp { app }.call("POST", "/pairing-tokens/redeem", None, Some(body)).await }
            }),
            tokio::spawn({
                let app = t.b.app.clone();
                async move { FixtureApp { app }.call("POST", "/pairing-tokens/redeem", None, Some(body)).await }
            }),
        );
        let outcomes = [on_a.unwrap(), on_b.unwrap()];
        let won = outcomes.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        let lost = outcomes.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"] == "token_used").count();
        assert_eq!((won, lost), (1, 1), "round {round}: {outcomes:?}");
    }
    let (s, list) = t.a.call("GET", "/api/bindings", Some(&t.b_key), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["bindings"].as_array().map(Vec::len), Some(20), "one binding per token: {list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approving_on_one_instance_answers_a_long_poll_on_the_other_within_200_ms() {
    let t = two_instances().await;
    let mut slowest = Duration::ZERO;
    for round in 0..5 {
        let (s, c) =
            t.a.call(
                "POST",
                "/api/pairing/request",
                None,
                Some(json!({"deviceId": format!("dev-{round}"), "deviceName": "Chrome"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let poll = tokio::spawn({
            let app = t.a.app.clone();
            let path = format!("/api/pairing/status?challengeId={}&wait=20", c["challengeId"].as_str().unwrap());
            async move {
                let answer = FixtureApp { app }.call("GET", &path, None, None).await;
                (answer, Instant::now())
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await; // the poll is waiting on A
        let (s, b) = t
            .b
            .call("POST", "/api/pairing/approve", Some(&t.b_key), Some(json!({"code": c["code"], "userId": "dana"})))
            .await;
        let approved_at = Instant::now();
        assert_eq!(s, StatusCode::ACCEPTED, "approve on B: {b}");
        let ((s, answer), answered_at) = tokio::time::timeout(Duration::from_secs(5), poll).await.unwrap().unwrap();
        assert_eq!(s, StatusCode::OK, "{answer}");
        assert_eq!(answer["status"], "awaiting_confirmation", "{answer}");
        assert_eq!(answer["userId"], "dana", "{answer}");
        slowest = slowest.max(answered_at.saturating_duration_since(approved_at));
    }
    println!("slowest cross-instance wake-up: {slowest:?}");
    assert!(slowest < Duration::from_millis(200), "{slowest:?}");
}

/// The browser user's confirm binds exactly once even when its attempts reach both
/// instances at once (a retrying extension behind a load balancer, or copies of the id
/// with other keys), and the long-poll waiting on A hears a confirm made on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirms_split_over_both_instances_bind_exactly_once() {
    let t = two_instances().await;
    for (round, same_key) in [(0, true), (1, false), (2, true), (3, false)] {
        let body = json!({"deviceId": format!("dev-{round}"), "deviceName": "Chrome"});
        let (_, c) = t.a.call("POST", "/api/pairing/request", None, Some(body)).await;
        let id = c["challengeId"].as_str().unwrap().to_owned();
        let approval = json!({"code": c["code"], "userId": format!("user-{round}")});
        let (s, b) = t.b.call("POST", "/api/pairing/approve", Some(&t.b_key), Some(approval)).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        let poll = tokio::spawn({
            let app = t.a.app.clone();
            let path = format!("/api/pairing/status?challengeId={id}&wait=20&seen=awaiting_confirmation");
            async move { FixtureApp { app }.call("GET", &path, None, None).await }
        });
        let tasks: Vec<_> = (0..40)
            .map(|n| {
                let app = if n % 2 == 0 { t.a.app.clone() } else { t.b.app.clone() };
                let key = if same_key { "A".repeat(43) } else { format!("{n:0>42}A") };
                let body = json!({"challengeId": id, "redeemKey": format!("lrk_{key}")});
                tokio::spawn(
                    async move { FixtureApp { app }.call("POST", "/api/pairing/confirm", None, Some(body)).await },
                )
            })
            .collect();
        let mut bound = std::collections::HashSet::new();
        let mut conflicts = 0;
        for task in tasks {
            match task.await.unwrap() {
                (StatusCode::OK, b) => {
                    bound.insert(b["binding"]["bindingId"].as_str().unwrap().to_owned());
                }
                (StatusCode::CONFLICT, b) if b["error"] == "not_awaiting_confirmation" => conflicts += 1,
                (s, b) => panic!("round {round}: unexpected {s} {b}"),
            }
        }
        assert_eq!(bound.len(), 1, "round {round}: {bound:?}");
        assert_eq!(conflicts, if same_key { 0 } else { 39 }, "round {round}");
        let (s, answer) = tokio::time::timeout(Duration::from_secs(5), poll).await.unwrap().unwrap();
        assert_eq!((s, answer["status"].as_str()), (StatusCode::OK, Some("confirmed")), "{answer}");
    }
    let all = latch_relay::db::list_bindings(&t.a.state.db, None).await.unwrap();
    assert_eq!(all.len(), 4, "one binding per confirmed code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoking_on_one_instance_closes_the_socket_held_by_the_other() {
    let t = two_instances().await;
    let url = serve_app(t.a.app.clone()).await;
    let (_, grant) = t.a.redeem(&t.a.mint("dana").await).await;
    let mut ws = authed(&url, grant["accessToken"].as_str().unwrap()).await;
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    let started = Instant::now();
    let (s, _) = t.b.call("DELETE", &format!("/api/bindings/{id}"), Some(&t.b_key), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(recv(&mut ws).await.unwrap()["code"], "binding_revoked");
    println!("revoke on B → socket on A closed: {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// PostgreSQL only: a single SQLite relay has no other instance to route through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_errand_posted_on_one_instance_reaches_the_socket_on_the_other() {
    if !common::on_postgres() {
        println!("errand routing across instances needs PostgreSQL; runs under tests/support/with-postgres.sh");
        return;
    }
    let t = two_instances().await;
    let url = serve_app(t.a.app.clone()).await;
    let (_, grant) = t.a.redeem(&t.a.mint("dana").await).await;
    let errand = json!({"userId": "dana", "kind": "ping", "params": {"n": 7}});
    let (s, b) = t.b.call("POST", "/api/errands", Some(&t.b_key), Some(errand.clone())).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::GATEWAY_TIMEOUT, Some("extension_offline")), "{b}");

    let mut ws = authed(&url, grant["accessToken"].as_str().unwrap()).await;
    let extension = tokio::spawn(async move {
        for _ in 0..2 {
            let e = recv(&mut ws).await.unwrap();
            assert_eq!((e["type"].as_str(), e["kind"].as_str()), (Some("errand"), Some("ping")), "{e}");
            let answer = if e["params"]["n"] == 7 {
                json!({"type": "errand_result", "id": e["id"], "ok": true, "result": {"pong": e["params"]["n"]}})
            } else {
                json!({"type": "errand_result", "id": e["id"], "ok": false, "error": "not_allowed"})
            };
            send(&mut ws, answer).await;
        }
        ws
    });
    let started = Instant::now();
    let (s, b) = t.b.call("POST", "/api/errands", Some(&t.b_key), Some(errand)).await;
    println!("errand B → socket on A → B: {:?}", started.elapsed());
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["ok"].as_bool(), &b["result"]), (Some(true), &json!({"pong": 7})));
    let refused = json!({"userId": "dana", "kind": "ping", "params": {"n": 8}});
    let (s, b) = t.b.call("POST", "/api/errands", Some(&t.b_key), Some(refused)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["ok"].as_bool(), &b["error"]), (Some(false), &json!("not_allowed")));
    let _ws = extension.await.unwrap();
}

/// PostgreSQL only: one socket per binding across instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newer_socket_on_one_instance_closes_the_older_on_the_other() {
    if !common::on_postgres() {
        println!("sockets across instances need PostgreSQL; runs under tests/support/with-postgres.sh");
        return;
    }
    let t = two_instances().await;
    let (url_a, url_b) = (serve_app(t.a.app.clone()).await, serve_app(t.b.app.clone()).await);
    let (_, grant) = t.a.redeem(&t.a.mint("dana").await).await;
    let token = grant["accessToken"].as_str().unwrap();
    let mut on_a = authed(&url_a, token).await;
    let started = Instant::now();
    let mut on_b = authed(&url_b, token).await;
    assert_eq!(close_of(&mut on_a).await, Some((4409, "replaced".into())));
    println!("socket on B → older socket on A closed: {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(1));
    // And back: a newer one on A closes B's.
    let on_a = authed(&url_a, token).await;
    assert_eq!(close_of(&mut on_b).await, Some((4409, "replaced".into())));
    let extension = tokio::spawn(async move {
        let mut ws = on_a;
        let e = recv(&mut ws).await.unwrap();
        send(&mut ws, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": "a"})).await;
        ws
    });
    let errand = json!({"userId": "dana", "kind": "ping"});
    let (s, b) = t.b.call("POST", "/api/errands", Some(&t.b_key), Some(errand)).await;
    assert_eq!((s, &b["result"]), (StatusCode::OK, &json!("a")), "{b}");
    extension.await.unwrap();
}

/// PostgreSQL only: an errand routed to another instance is still answered only by the
/// socket it went to there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_routed_errand_takes_its_answer_only_from_the_socket_it_went_to() {
    if !common::on_postgres() {
        println!("errand routing across instances needs PostgreSQL; runs under tests/support/with-postgres.sh");
        return;
    }
    let t = two_instances().await;
    let url = serve_app(t.a.app.clone()).await;
    let (_, dana) = t.a.redeem(&t.a.mint("dana").await).await;
    let (_, erin) = t.a.redeem(&t.a.mint("erin").await).await;
    let mut target = authed(&url, dana["accessToken"].as_str().unwrap()).await;
    let mut intruder = authed(&url, erin["accessToken"].as_str().unwrap()).await;
    let extension = tokio::spawn(async move {
        let e = recv(&mut target).await.unwrap();
        send(&mut intruder, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": "forged"})).await;
        round_trip(&mut intruder).await;
        send(&mut target, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": "real"})).await;
        (target, intruder)
    });
    let errand = json!({"userId": "dana", "kind": "ping"});
    let (s, b) = t.b.call("POST", "/api/errands", Some(&t.b_key), Some(errand)).await;
    assert_eq!((s, &b["result"]), (StatusCode::OK, &json!("real")), "{b}");
    extension.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_token_gate_on_one_instance_refuses_a_binding_revoked_on_the_other_within_200_ms() {
    let t = two_instances().await;
    let (_, grant) = t.a.redeem(&t.a.mint("dana").await).await;
    let access = grant["accessToken"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(t.a.call("GET", "/api/me", Some(access), None).await.0, StatusCode::OK, "remembered by A's gate");
    }
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    let (s, _) = t.b.call("DELETE", &format!("/api/bindings/{id}"), Some(&t.b_key), None).await;
    assert_eq!(s, StatusCode::OK);
    let took = refused_within_200_ms("A still lets the revoked binding through", || async {
        t.a.call("GET", "/api/me", Some(access), None).await.0 == StatusCode::OK
    })
    .await;
    println!("revoke on B → A's gate refuses: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_key_revoked_by_the_owner_cli_stops_minting_on_a_running_instance_within_200_ms() {
    let t = two_instances().await;
    assert_eq!(
        t.a.call("POST", "/pairing-tokens", Some(&t.a.api_key), Some(json!({"userId": "dana"}))).await.0,
        StatusCode::CREATED
    );
    // What `latch-relay key revoke` does, from its own connection to the database.
    let cli = db::open(&t._db.url).await.unwrap();
    assert!(latch_relay::db::revoke_api_key(&cli, &t.a.key_id, latch_relay::clock::now_ms()).await.unwrap());
    latch_relay::db::publish(&cli, latch_relay::db::Topic::Revocations).await;
    let took = refused_within_200_ms("a revoked key still mints", || async {
        let (s, b) = t.a.call("POST", "/pairing-tokens", Some(&t.a.api_key), Some(json!({"userId": "dana"}))).await;
        if s == StatusCode::UNAUTHORIZED {
            assert_eq!(b["error"], "api_key_invalid");
        }
        s != StatusCode::UNAUTHORIZED
    })
    .await;
    println!("key revoked → refused after {took:?}");
}

/// Waiters wake for their own kind of change only: other writes (here a burst of pairings
/// on B) do not make A's sockets and gate re-check their bindings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unrelated_writes_on_one_instance_wake_nobody_on_the_other() {
    let t = two_instances().await;
    let mut revocations = t.a.state.realtime.revocations.subscribe();
    let challenges = t.a.state.realtime.changes.subscribe();
    let (b, b_key) = (&t.b, t.b_key.as_str());
    let pair_on_b = |user: &'static str| async move {
        let (s, minted) = b.call("POST", "/pairing-tokens", Some(b_key), Some(json!({"userId": user}))).await;
        assert_eq!(s, StatusCode::CREATED);
        let body = json!({"pairingToken": minted["pairingToken"], "deviceName": "Chrome"});
        let (s, grant) = b.call("POST", "/pairing-tokens/redeem", None, Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{grant}");
        grant
    };
    for _ in 0..10 {
        pair_on_b("dana").await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // four watcher ticks
    assert!(!revocations.has_changed().unwrap(), "pairings are not revocations");
    assert!(!challenges.has_changed().unwrap(), "pairings decide no challenge");
    let grant = pair_on_b("erin").await;
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    assert_eq!(t.b.call("DELETE", &format!("/api/bindings/{id}"), Some(&t.b_key), None).await.0, StatusCode::OK);
    tokio::time::timeout(Duration::from_millis(200), revocations.changed())
        .await
        .expect("the revocation wakes A")
        .unwrap();
    assert!(!challenges.has_changed().unwrap(), "a revocation decides no challenge");
}

#[tokio::test]
async fn the_sweep_forgets_crashed_instances_and_errands_nobody_reads() {
    let t = two_instances().await;
    let (_, grant) = t.a.redeem(&t.a.mint("dana").await).await;
    let binding = grant["binding"]["bindingId"].as_str().unwrap();
    let db = &t.a.state.db;
    let now = latch_relay::clock::now_ms();
    let hour_ago = (now - 3_600_000) as i64;
    for (id, seen) in [("ins_crashed", hour_ago), ("ins_alive", now as i64)] {
        sqlx::query("INSERT INTO instances (id, seen_at) VALUES ($1, $2)")
            .bind(id)
            .bind(seen)
            .execute(db)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO live_sockets (binding_id, instance_id, conn, connected_at) VALUES ($1, 'ins_crashed', 1, $2)",
    )
    .bind(binding)
    .bind(hour_ago)
    .execute(db)
    .await
    .unwrap();
    for (id, at) in [("err_old", hour_ago), ("err_new", now as i64)] {
        sqlx::query("INSERT INTO errands (id, binding_id, instance_id, kind, params, created_at) VALUES ($1, $2, 'ins_alive', 'ping', '{}', $3)")
            .bind(id)
            .bind(binding)
            .bind(at)
            .execute(db)
            .await
            .unwrap();
    }
    latch_relay::realtime::errands::sweep(db, now).await.unwrap();
    let ids = |sql: &'static str| async move { sqlx::query_scalar::<_, String>(sql).fetch_all(db).await.unwrap() };
    assert_eq!(ids("SELECT id FROM instances WHERE id IN ('ins_crashed', 'ins_alive')").await, ["ins_alive"]);
    assert!(ids("SELECT binding_id FROM live_sockets").await.is_empty());
    assert_eq!(ids("SELECT id FROM errands").await, ["err_new"]);
}
