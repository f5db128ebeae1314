//! The WebSocket session over a real socket: handshake rules, errands, revocation.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::fixture;
use common::ws::{authed, recv, send, serve};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_refuses_everything_before_auth_ack() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "errand_result", "id": "x", "ok": true})).await;
    assert_eq!(recv(&mut ws).await.unwrap()["code"], "hello_required");
    assert!(recv(&mut ws).await.is_none(), "closed");

    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello"})).await;
    recv(&mut ws).await.unwrap();
    send(&mut ws, json!({"type": "auth", "accessToken": "forged"})).await;
    assert_eq!(recv(&mut ws).await.unwrap(), json!({"type": "error", "code": "invalid_access_token"}));
    assert!(recv(&mut ws).await.is_none(), "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errands_round_trip_and_offline_is_504() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let errand = json!({"userId": "dana", "kind": "ping", "params": {}});
    let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(errand.clone())).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::GATEWAY_TIMEOUT, Some("extension_offline")));

    let mut ws = authed(&url, grant["accessToken"].as_str().unwrap()).await;
    let extension = tokio::spawn(async move {
        let e = recv(&mut ws).await.unwrap();
        assert_eq!((e["type"].as_str(), e["kind"].as_str()), (Some("errand"), Some("ping")));
        send(
            &mut ws,
            json!({"type": "errand_result", "id": e["id"], "ok": true, "result": {"pong": true, "appName": "Acme"}}),
        )
        .await;
        ws
    });
    let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(errand)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["result"], json!({"pong": true, "appName": "Acme"}));
    extension.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_binding_closes_its_socket_within_a_second() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let mut ws = authed(&url, grant["accessToken"].as_str().unwrap()).await;
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    let t = Instant::now();
    let (s, _) = f.call("DELETE", &format!("/api/bindings/{id}"), Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(recv(&mut ws).await.unwrap()["code"], "binding_revoked");
    assert!(recv(&mut ws).await.is_none());
    println!("revoke → socket closed: {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(1));
}
