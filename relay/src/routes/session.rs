//! `GET /api/session`: the extension's live channel. `hello` → `hello` → `auth` →
//! `auth_ack` (or `error` + close); nothing else is accepted before `auth_ack`, and no
//! frame bigger than 4 KiB. After it, errands go out and `errand_result`s come back (each
//! taken only from the socket its errand went to), and an `auth` with a fresh access token
//! of the same binding moves the socket's end to that token's expiry. A revoked binding's
//! socket is closed as soon as a revocation is announced (same process at once; another
//! process or instance within 50 ms on SQLite, at once on PostgreSQL); a binding has one
//! socket: a newer one closes the older with 4409 `replaced`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latch::core::session::{CLOSE_REFUSED, CLOSE_REPLACED, CLOSE_TOKEN_EXPIRED, CLOSE_TOO_BIG};
use serde_json::{json, Value};

use super::client_addr::ClientAddr;
use crate::access::Claims;
use crate::error::ApiError;
use crate::live::{Completion, Errand, Inbox, Unauthenticated, Wake};
use crate::metrics::{LimitLabel, ReasonLabel};
use crate::{routing, store, AppState};

/// The client must finish the handshake within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Before `auth_ack` only `hello` and `auth` come, each well under this.
pub const PRE_AUTH_FRAME_BYTES: usize = 4 * 1024;
/// After it, `errand_result`s: held to the relay's request-body limit, like the errands
/// an app can send. tungstenite refuses a bigger frame from its header, before reading it,
/// so an unauthenticated socket holds at most this much.
const MAX_FRAME_BYTES: usize = super::MAX_BODY_BYTES;
const SOCKET_BUFFER_BYTES: usize = 512;

pub async fn upgrade(State(s): State<AppState>, ClientAddr(addr): ClientAddr, ws: WebSocketUpgrade) -> Response {
    let Some(slot) = s.live.admit_unauthenticated(addr, s.cfg.unauthenticated_sockets_per_address) else {
        s.metrics.rate_limited.get_or_create(&LimitLabel { limit: "unauthenticated_sockets" }).inc();
        let mut refused = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many sockets from this address are still authenticating.",
        );
        refused.retry_after = Some(1);
        return refused.into_response();
    };
    // Sessions idle most of the time and their frames are small: 512-byte read buffers
    // (they grow for a bigger frame) instead of tungstenite's 128 KiB, so 10,000 sockets
    // fit in tens of MB (BENCHMARKS.md).
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_FRAME_BYTES + SOCKET_BUFFER_BYTES)
        .on_upgrade(move |socket| run(s, socket, slot))
}

fn frame(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

/// A frame the client does not take within this (it stopped reading: its receive window
/// and our send buffer are full) ends the socket, so a client can't park the task, its
/// descriptor and its connection slot in a send that never returns.
pub const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends `msg`; false when the socket is gone or the client did not take it in time.
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(tokio::time::timeout(SEND_TIMEOUT, socket.send(msg)).await, Ok(Ok(())))
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = send(socket, Message::Close(Some(CloseFrame { code, reason: reason.to_owned().into() }))).await;
}

/// 1001 "going away": the extension reconnects, to another instance if need be.
async fn going_away(socket: &mut WebSocket) {
    close(socket, 1001, "relay_restarting").await;
}

/// `error {code}`, then close: 1009 for a frame too big before `auth_ack`, 4401 otherwise.
async fn refuse(socket: &mut WebSocket, code: &str) {
    let _ = send(socket, frame(json!({"type": "error", "code": code}))).await;
    let close_code = if code == "frame_too_large" { CLOSE_TOO_BIG } else { CLOSE_REFUSED };
    close(socket, close_code, code).await;
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

/// Next JSON text frame before `auth_ack`: `frame_too_large` above 4 KiB, `closed` when
/// the socket ended or sent anything but text.
async fn next_small_json(socket: &mut WebSocket) -> Result<Value, &'static str> {
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(t))) if t.len() > PRE_AUTH_FRAME_BYTES => return Err("frame_too_large"),
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).unwrap_or(Value::Null)),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Binary(b))) if b.len() > PRE_AUTH_FRAME_BYTES => return Err("frame_too_large"),
            _ => return Err("closed"),
        }
    }
}

/// When a token expiring at `exp` (seconds since the epoch) stops being good.
fn expiry_of(exp: u64) -> tokio::time::Instant {
    let left = (exp * 1000).saturating_sub(crate::clock::now_ms());
    tokio::time::Instant::now() + Duration::from_millis(left)
}

/// `hello`, then `auth` with an access token whose signature verifies; its claims.
async fn handshake(s: &AppState, socket: &mut WebSocket) -> Result<Claims, &'static str> {
    let hello = next_small_json(socket).await?;
    if hello["type"] != "hello" {
        return Err("hello_required");
    }
    if !send(socket, frame(json!({"type": "hello", "protocol": 1}))).await {
        return Err("closed");
    }
    let auth = next_small_json(socket).await?;
    if auth["type"] != "auth" {
        return Err("auth_required");
    }
    let token = auth["accessToken"].as_str().ok_or("invalid_access_token")?;
    s.signer.verify(token).ok_or("invalid_access_token")
}

/// An `auth` after `auth_ack`: a fresh access token of the same binding (same tenant and
/// user), still active. Its claims, whose expiry becomes the socket's.
async fn reauthenticate(s: &AppState, binding_id: &str, frame: &Value) -> Result<Claims, &'static str> {
    let token = frame["accessToken"].as_str().ok_or("invalid_access_token")?;
    let claims = s.signer.verify(token).ok_or("invalid_access_token")?;
    if claims.sub != binding_id {
        return Err("invalid_access_token");
    }
    match store::active_binding(&s.db, binding_id).await {
        Ok(Some(b)) if b.tenant_id == claims.tid && b.user_id == claims.uid => Ok(claims),
        Ok(_) => Err("invalid_access_token"),
        Err(_) => Err("storage_unavailable"),
    }
}

/// The session's one task. An `async move` block rather than an `async fn`: an async fn
/// keeps a second copy of its by-value arguments (the 368-byte socket) for the whole task.
#[allow(clippy::manual_async_fn, reason = "an async fn would carry the socket twice (task 1,536 vs 896 bytes)")]
fn run(s: AppState, mut socket: WebSocket, slot: Unauthenticated) -> impl std::future::Future<Output = ()> {
    async move {
        // Every await that is not the idle loop is boxed: a session's task is sized by its
        // largest state, and 10,000 idle sessions should not each carry a database query.
        let Some((binding_id, conn, inbox, exp)) = Box::pin(authenticate(&s, &mut socket, slot)).await else {
            return;
        };
        s.metrics.live_sockets.inc();
        tracing::info!(binding = %binding_id, "extension connected");
        // The socket ends with its access token, unless an `auth` brings a fresh one.
        let mut expiry = Box::pin(tokio::time::sleep_until(expiry_of(exp)));
        loop {
            tokio::select! {
                incoming = next_json(&mut socket) => match incoming {
                    Some(v) if v["type"] == "errand_result" => {
                        let id = v["id"].as_str().unwrap_or_default();
                        let outcome = if v["ok"] == true { Ok(v["result"].clone()) } else { Err(v["error"].clone()) };
                        let reason = match s.live.complete(conn, id, outcome) {
                            Completion::Accepted => None,
                            Completion::OtherSocket => Some("other_socket"),
                            Completion::Unknown => Some("unknown"),
                        };
                        if let Some(reason) = reason {
                            tracing::debug!(binding = %binding_id, reason, "errand_result ignored");
                            s.metrics.errand_results_ignored.get_or_create(&ReasonLabel { reason }).inc();
                        }
                    }
                    Some(v) if v["type"] == "auth" => match Box::pin(reauthenticate(&s, &binding_id, &v)).await {
                        Ok(claims) => {
                            expiry.as_mut().reset(expiry_of(claims.exp));
                            let ack = frame(json!({"type": "auth_ack", "bindingId": binding_id, "scopes": claims.scopes}));
                            if !Box::pin(send(&mut socket, ack)).await {
                                break;
                            }
                        }
                        Err(code) => {
                            Box::pin(refuse(&mut socket, code)).await;
                            break;
                        }
                    },
                    Some(v) if v["type"] == "ping" => {
                        if !Box::pin(send(&mut socket, frame(json!({"type": "pong"})))).await {
                            break;
                        }
                    }
                    Some(_) => {}
                    None => break,
                },
                () = expiry.as_mut() => {
                    let _ = Box::pin(send(&mut socket, frame(json!({"type": "error", "code": "access_token_expired"})))).await;
                    Box::pin(close(&mut socket, CLOSE_TOKEN_EXPIRED, "access_token_expired")).await;
                    s.metrics.sockets_expired.inc();
                    tracing::info!(binding = %binding_id, "socket closed: access token expired");
                    break;
                }
                wake = inbox.next() => match wake {
                    Wake::Errand(errand) => {
                        let Errand { id, kind, params } = *errand;
                        let errand = frame(json!({"type": "errand", "id": id, "kind": kind, "params": params}));
                        if !Box::pin(send(&mut socket, errand)).await {
                            s.live.abandon(&id);
                            break;
                        }
                    }
                    Wake::Leave => {
                        Box::pin(going_away(&mut socket)).await;
                        break;
                    }
                    Wake::Replaced => {
                        Box::pin(close(&mut socket, CLOSE_REPLACED, "replaced")).await;
                        s.metrics.sockets_replaced.inc();
                        tracing::info!(binding = %binding_id, "socket closed: replaced by a newer one");
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

/// The handshake, then `auth_ack`: the binding id, connection number, inbox and token
/// expiry (seconds) of a socket now reachable (here and from other instances, before the
/// extension hears the ack, so an errand sent right after the ack finds it). `None` when
/// the socket was refused or closed. `slot` counts the socket against its address until
/// this returns.
async fn authenticate(
    s: &AppState,
    socket: &mut WebSocket,
    slot: Unauthenticated,
) -> Option<(String, u64, Arc<Inbox>, u64)> {
    let claims = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(s, socket)).await {
        Ok(Ok(claims)) => claims,
        Ok(Err("closed")) => return None,
        Ok(Err(code)) => {
            refuse(socket, code).await;
            return None;
        }
        Err(_) => {
            refuse(socket, "handshake_timeout").await;
            return None;
        }
    };
    drop(slot);
    let binding_id = claims.sub;
    // Registered before the binding is read: a revocation committed after the read wakes
    // this socket's inbox (live::forward_signals), one committed before fails the read.
    // The same for shutdown: set before this check, or seen by the forwarder after it.
    let (conn, inbox, displaced) = s.live.connect(&binding_id);
    let unregister = |displaced| {
        s.live.disconnect(&binding_id, conn);
        if let Some(d) = displaced {
            s.live.reinstate(&binding_id, d);
        }
    };
    if *s.shutdown.borrow() {
        unregister(displaced);
        going_away(socket).await;
        return None;
    }
    let active = store::active_binding(&s.db, &binding_id).await;
    if !matches!(active, Ok(Some(b)) if b.tenant_id == claims.tid && b.user_id == claims.uid) {
        unregister(displaced);
        refuse(socket, "invalid_access_token").await;
        return None;
    }
    // One socket per binding: the older one here closes now; one on another instance
    // hears it from routing.
    if let Some(d) = displaced {
        s.live.retire(d);
    }
    routing::socket_opened(s, &binding_id, conn, crate::clock::now_ms()).await;
    let ack = frame(json!({"type": "auth_ack", "bindingId": binding_id, "scopes": claims.scopes}));
    if !send(socket, ack).await {
        s.live.disconnect(&binding_id, conn);
        routing::socket_closed(s, &binding_id, conn).await;
        return None;
    }
    Some((binding_id, conn, inbox, claims.exp))
}
