//! `GET /api/session`: the extension's live channel. `hello` → `hello` → `auth` →
//! `auth_ack` (or `error` + close); nothing else is accepted before `auth_ack`. After it,
//! errands go out and `errand_result`s come back. A revoked binding's socket is closed
//! as soon as a revocation is announced (same process at once; another process or
//! instance within 50 ms on SQLite, at once on PostgreSQL).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use crate::access::Claims;
use crate::live::{Errand, Inbox, Wake};
use crate::{routing, store, AppState};

/// The client must finish the handshake within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_FRAME_BYTES: usize = 1 << 20;
const SOCKET_BUFFER_BYTES: usize = 512;

pub async fn upgrade(State(s): State<AppState>, ws: WebSocketUpgrade) -> Response {
    // Sessions idle most of the time and their frames are small: 512-byte read buffers
    // (they grow for a bigger frame) instead of tungstenite's 128 KiB, so 10,000 sockets
    // fit in tens of MB (BENCHMARKS.md).
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_FRAME_BYTES + SOCKET_BUFFER_BYTES)
        .on_upgrade(move |socket| run(s, socket))
}

fn frame(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

/// 1001 "going away": the extension reconnects, to another instance if need be.
async fn going_away(socket: &mut WebSocket) {
    let close = CloseFrame { code: 1001, reason: "relay_restarting".into() };
    let _ = socket.send(Message::Close(Some(close))).await;
}

async fn refuse(socket: &mut WebSocket, code: &str) {
    let _ = socket.send(frame(json!({"type": "error", "code": code}))).await;
    let _ = socket.send(Message::Close(Some(CloseFrame { code: 4401, reason: code.to_owned().into() }))).await;
}

/// Next JSON text frame, or `None` when the socket ended or sent something else.
async fn next_json(socket: &mut WebSocket) -> Option<Value> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(t)) => return serde_json::from_str(&t).ok().or(Some(Value::Null)),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            _ => return None,
        }
    }
}

/// `hello`, then `auth` with an access token whose signature verifies; its claims.
async fn handshake(s: &AppState, socket: &mut WebSocket) -> Result<Claims, &'static str> {
    let hello = next_json(socket).await.ok_or("closed")?;
    if hello["type"] != "hello" {
        return Err("hello_required");
    }
    socket.send(frame(json!({"type": "hello", "protocol": 1}))).await.map_err(|_| "closed")?;
    let auth = next_json(socket).await.ok_or("closed")?;
    if auth["type"] != "auth" {
        return Err("auth_required");
    }
    let token = auth["accessToken"].as_str().ok_or("invalid_access_token")?;
    s.signer.verify(token).ok_or("invalid_access_token")
}

/// The session's one task. An `async move` block rather than an `async fn`: an async fn
/// keeps a second copy of its by-value arguments (the 368-byte socket) for the whole task.
#[allow(clippy::manual_async_fn, reason = "an async fn would carry the socket twice (task 1,536 vs 896 bytes)")]
fn run(s: AppState, mut socket: WebSocket) -> impl std::future::Future<Output = ()> {
    async move {
        // Every await that is not the idle loop is boxed: a session's task is sized by its
        // largest state, and 10,000 idle sessions should not each carry a database query.
        let Some((binding_id, conn, inbox)) = Box::pin(authenticate(&s, &mut socket)).await else {
            return;
        };
        s.metrics.live_sockets.inc();
        tracing::info!(binding = %binding_id, "extension connected");
        loop {
            tokio::select! {
                incoming = next_json(&mut socket) => match incoming {
                    Some(v) if v["type"] == "errand_result" => {
                        let id = v["id"].as_str().unwrap_or_default();
                        let outcome = if v["ok"] == true { Ok(v["result"].clone()) } else { Err(v["error"].clone()) };
                        s.live.complete(id, outcome);
                    }
                    Some(v) if v["type"] == "ping" => {
                        let _ = Box::pin(socket.send(frame(json!({"type": "pong"})))).await;
                    }
                    Some(_) => {}
                    None => break,
                },
                wake = inbox.next() => match wake {
                    Wake::Errand(errand) => {
                        let Errand { id, kind, params } = *errand;
                        let errand = frame(json!({"type": "errand", "id": id, "kind": kind, "params": params}));
                        if Box::pin(socket.send(errand)).await.is_err() {
                            s.live.abandon(&id);
                            break;
                        }
                    }
                    Wake::Leave => {
                        Box::pin(going_away(&mut socket)).await;
                        break;
                    }
                    Wake::Recheck => {
                        if !matches!(Box::pin(store::active_binding(&s.db, &binding_id)).await, Ok(Some(_))) {
                            Box::pin(refuse(&mut socket, "binding_revoked")).await;
                            tracing::info!(binding = %binding_id, "socket closed: binding revoked");
                            break;
                        }
                    }
                },
            }
        }
        s.live.disconnect(&binding_id, conn);
        Box::pin(routing::socket_closed(&s, &binding_id, conn)).await;
        s.metrics.live_sockets.dec();
    }
}

/// The handshake, then `auth_ack`: the binding id, connection number and inbox of a socket
/// now reachable (here and from other instances, before the extension hears the ack, so
/// an errand sent right after the ack finds it). `None` when the socket was refused or
/// closed.
async fn authenticate(s: &AppState, socket: &mut WebSocket) -> Option<(String, u64, Arc<Inbox>)> {
    let claims = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(s, socket)).await {
        Ok(Ok(claims)) => claims,
        Ok(Err(code)) => {
            refuse(socket, code).await;
            return None;
        }
        Err(_) => {
            refuse(socket, "handshake_timeout").await;
            return None;
        }
    };
    let binding_id = claims.sub;
    // Registered before the binding is read: a revocation committed after the read wakes
    // this socket's inbox (live::forward_signals), one committed before fails the read.
    // The same for shutdown: set before this check, or seen by the forwarder after it.
    let (conn, inbox) = s.live.connect(&binding_id);
    if *s.shutdown.borrow() {
        s.live.disconnect(&binding_id, conn);
        going_away(socket).await;
        return None;
    }
    let active = store::active_binding(&s.db, &binding_id).await;
    if !matches!(active, Ok(Some(b)) if b.tenant_id == claims.tid && b.user_id == claims.uid) {
        s.live.disconnect(&binding_id, conn);
        refuse(socket, "invalid_access_token").await;
        return None;
    }
    routing::socket_opened(s, &binding_id, conn, crate::clock::now_ms()).await;
    let ack = frame(json!({"type": "auth_ack", "bindingId": binding_id, "scopes": claims.scopes}));
    if socket.send(ack).await.is_err() {
        s.live.disconnect(&binding_id, conn);
        routing::socket_closed(s, &binding_id, conn).await;
        return None;
    }
    Some((binding_id, conn, inbox))
}
