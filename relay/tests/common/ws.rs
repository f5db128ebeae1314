//! The extension's side of `/api/session` over a real socket, for tests.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::Fixture;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn serve(f: &Fixture) -> String {
    serve_app(f.app.clone()).await
}

/// Serves `app` on a loopback port; the session URL.
pub async fn serve_app(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("ws://{addr}/api/session")
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// Next JSON frame, or `None` once the server closed.
pub async fn recv(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a frame within 5 s")? {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            _ => continue,
        }
    }
}

pub async fn authed(url: &str, token: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    send(&mut ws, json!({"type": "hello"})).await;
    assert_eq!(recv(&mut ws).await.unwrap()["type"], "hello");
    send(&mut ws, json!({"type": "auth", "accessToken": token})).await;
    let ack = recv(&mut ws).await.unwrap();
    assert_eq!(ack["type"], "auth_ack", "{ack}");
    ws
}

/// Serves `app` with the peer address known (as `serve` does), so per-address limits see
/// 127.0.0.1; the session URL.
pub async fn serve_with_addr(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("ws://{addr}/api/session")
}

/// Reads until the server's close frame: its code and reason (`None`: the socket ended
/// without one). Fails if nothing ends it within 5 s.
pub async fn close_of(ws: &mut Ws) -> Option<(u16, String)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a close within 5 s")? {
            Ok(Message::Close(Some(c))) => return Some((c.code.into(), c.reason.to_string())),
            Ok(Message::Close(None)) | Err(_) => return None,
            _ => continue,
        }
    }
}

/// A `ping` answered with `pong`: the session read every frame sent before it.
pub async fn round_trip(ws: &mut Ws) {
    send(ws, json!({"type": "ping"})).await;
    loop {
        let f = recv(ws).await.expect("pong, not a close");
        if f["type"] == "pong" {
            return;
        }
    }
}
