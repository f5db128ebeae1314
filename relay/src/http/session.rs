//! `GET /api/session`: the extension's live channel. `hello` → `hello` → `auth` →
//! `auth_ack` (or `error` + close); nothing else is accepted before `auth_ack`, and no
//! frame bigger than 4 KiB. After it, errands go out and `errand_result`s come back (each
//! taken only from the socket its errand went to), and an `auth` with a fresh access token
//! of the same binding moves the socket's end to that token's expiry. A revoked binding's
//! socket is closed as soon as a revocation is announced (same process at once; another
//! process or instance within 50 ms on SQLite, at once on PostgreSQL); a binding has one
//! socket: a newer one closes the older with 4409 `replaced`.

use std::ops::ControlFlow;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use latch_wire::socket::{ClientFrame, ServerFrame, CLOSE_REFUSED, CLOSE_REPLACED, CLOSE_TOKEN_EXPIRED, CLOSE_TOO_BIG};

use super::client_addr::ClientAddr;
use super::dpop::SocketNonce;
use crate::error::ApiError;
use crate::metrics::{LimitLabel, ReasonLabel};
use crate::realtime::errands;
use crate::realtime::sockets::{Completion, Errand, ErrandOutcome, Unauthenticated, Wake};
use crate::{db, AppState};
use latch_wire::api::ErrorBody;

mod admission;
use admission::{authenticate, reauthenticate, Renewal, PAUSED};

/// The client must finish the handshake within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Before `auth_ack` only `hello` and `auth` come, each well under this.
pub const PRE_AUTH_FRAME_BYTES: usize = 4 * 1024;
/// After it, `errand_result`s: held to the relay's request-body limit, like the errands
/// an app can send. tungstenite refuses a bigger frame from its header, before reading it,
/// so an unauthenticated socket holds at most this much.
const MAX_FRAME_BYTES: usize = super::MAX_BODY_BYTES;
const SOCKET_BUFFER_BYTES: usize = 512;

/// The extension's live channel; everything after the upgrade is WebSocket frames
/// (PROTOCOL §9), authenticated in-band by the `auth` frame's access token.
#[utoipa::path(
    get,
    path = "/api/session", operation_id = "openSession",
    tag = "extension",
    responses(
        (status = 101, description = "Switched to a WebSocket: `hello`, `hello` (with a `nonce`), `auth` (a key-bound binding's with a DPoP `proof` carrying that nonce; refused with `invalid_dpop_proof` or `use_dpop_nonce`), `auth_ack` (with the next `nonce`), then errands. A refusal after the upgrade is an `error` frame and a close (4401; 4408 for an expired token; 4409 `replaced` by a newer socket)."),
        (status = 400, description = "`websocket_required`: not a WebSocket upgrade request.", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`: a browser page opened it (its `Origin` is not one of the Latch extension's).", body = ErrorBody),
        (status = 426, description = "`websocket_required`: the connection can't be upgraded.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many sockets from this address are still authenticating; `Retry-After: 1`.", body = ErrorBody),
    ),
)]
pub async fn upgrade(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&s, &headers) {
        let message = "Only the Latch extension opens sessions; this page's origin may not.";
        return ApiError::new(StatusCode::FORBIDDEN, "origin_not_allowed", message).into_response();
    }
    let Some(slot) = s.realtime.sockets.admit_unauthenticated(addr, s.cfg.unauthenticated_sockets_per_address) else {
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
        .on_upgrade(move |socket| run(s, socket, Box::new(slot)))
}

/// A frame the extension sent, as the relay reads it: an errand's answer is the app's JSON,
/// passed on whole. `None` for text that is no frame of PROTOCOL §3.
type Inbound = Option<ClientFrame<Value, Value>>;

fn frame(f: &ServerFrame<Value>) -> Message {
    // Strings, numbers and JSON values only: encoding can't fail.
    Message::Text(serde_json::to_string(f).expect("a server frame encodes").into())
}

/// A frame is a JSON object (PROTOCOL §3), read as JSON values are: a repeated key keeps
/// its last value. Decoding the text straight into the frame type would also take an array
/// (`["ping"]`, serde's sequence form of a tagged enum) and refuse a repeated key.
fn read(text: &str) -> Inbound {
    let value: Value = serde_json::from_str(text).ok()?;
    if !value.is_object() {
        return None;
    }
    ClientFrame::deserialize(&value).ok()
}

fn auth_ack(binding_id: &str, scopes: &[String], next: SocketNonce) -> Message {
    frame(&ServerFrame::AuthAck {
        binding_id: binding_id.to_owned(),
        scopes: scopes.to_vec(),
        nonce: Some(next.text()),
    })
}

/// A browser names the origin of the code that opens a WebSocket, and a page can open one
/// cross-site with no preflight: without this, any page a user visits could hold the
/// address's unauthenticated-socket slots. The extension's worker comes as
/// `chrome-extension://ID` with a configured id; a client outside a browser sends no
/// `Origin` and is let through (it authenticates in-band like the extension).
fn origin_allowed(s: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let origin = origin.as_bytes();
    s.cfg
        .extension_ids
        .iter()
        .any(|id| origin.strip_prefix(b"chrome-extension://".as_slice()).is_some_and(|rest| rest == id.as_bytes()))
}

/// Sends `msg`; false when the socket is gone or the client did not take it within the
/// send timeout (`Config::socket_send_timeout_ms`: it stopped reading, and its receive
/// window and our send buffer are full). A client can't park the task, its descriptor and
/// its connection slot in a send that never returns.
async fn send(s: &AppState, socket: &mut WebSocket, msg: Message) -> bool {
    let limit = Duration::from_millis(s.cfg.socket_send_timeout_ms);
    matches!(tokio::time::timeout(limit, socket.send(msg)).await, Ok(Ok(())))
}

async fn close(s: &AppState, socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = send(s, socket, Message::Close(Some(CloseFrame { code, reason: reason.to_owned().into() }))).await;
}

/// 1001 "going away": the extension reconnects, to another instance if need be.
async fn going_away(s: &AppState, socket: &mut WebSocket) {
    close(s, socket, 1001, "relay_restarting").await;
}

/// `error {code}`, then close: 1009 for a frame too big before `auth_ack`, 4401 otherwise.
async fn refuse(s: &AppState, socket: &mut WebSocket, code: &str) {
    let _ = send(s, socket, frame(&ServerFrame::Error { code: code.to_owned() })).await;
    let close_code = if code == "frame_too_large" { CLOSE_TOO_BIG } else { CLOSE_REFUSED };
    close(s, socket, close_code, code).await;
}

/// Next text frame, or `None` when the socket ended or sent something else.
async fn next_frame(socket: &mut WebSocket) -> Option<Inbound> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(t)) => return Some(read(&t)),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            _ => return None,
        }
    }
}

/// Next text frame before `auth_ack`: `frame_too_large` above 4 KiB, `closed` when the
/// socket ended or sent anything but text.
async fn next_small_frame(socket: &mut WebSocket) -> Result<Inbound, &'static str> {
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(t))) if t.len() > PRE_AUTH_FRAME_BYTES => return Err("frame_too_large"),
            Some(Ok(Message::Text(t))) => return Ok(read(&t)),
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

/// What woke an authenticated session.
enum Event {
    /// A frame from the extension; `None` when the socket ended.
    Frame(Option<Inbound>),
    /// The socket's access token expired.
    Expired,
    Wake(Wake),
}

/// The session's one task. An `async move` block rather than an `async fn`: an async fn
/// keeps a second copy of its by-value arguments (the 368-byte socket) for the whole task.
/// Every await but the idle `select!` is boxed, and the handling of what woke it is one
/// boxed future: a session's task is sized by its largest state, and 10,000 idle sessions
/// should carry neither a database query nor a renewing token's claims (BENCHMARKS.md).
/// `slot` comes boxed: it is an upvar, kept for the whole task though used only until
/// `auth_ack`.
#[allow(clippy::manual_async_fn, reason = "an async fn would carry the socket twice (task 1,536 vs 896 bytes)")]
fn run(s: AppState, mut socket: WebSocket, slot: Box<Unauthenticated>) -> impl std::future::Future<Output = ()> {
    async move {
        let Some((binding_id, conn, inbox, exp, mut renewal)) = Box::pin(authenticate(&s, &mut socket, *slot)).await
        else {
            return;
        };
        s.metrics.live_sockets.inc();
        tracing::info!(binding = %binding_id, "extension connected");
        // The socket ends with its access token, unless an `auth` brings a fresh one.
        let mut expiry = Box::pin(tokio::time::sleep_until(expiry_of(exp)));
        loop {
            let event = tokio::select! {
                incoming = next_frame(&mut socket) => Event::Frame(incoming),
                () = expiry.as_mut() => Event::Expired,
                wake = inbox.next() => Event::Wake(wake),
            };
            let session = Session { s: &s, binding_id: &binding_id, conn };
            if Box::pin(session.handle(&mut socket, expiry.as_mut(), &mut renewal, event)).await.is_break() {
                break;
            }
        }
        s.realtime.sockets.disconnect(&binding_id, conn);
        Box::pin(errands::socket_closed(&s.realtime, &binding_id, conn)).await;
        s.metrics.live_sockets.dec();
    }
}

/// An authenticated session, for handling one [`Event`].
struct Session<'a> {
    s: &'a AppState,
    binding_id: &'a str,
    conn: u64,
}

impl Session<'_> {
    /// Handles `event`; `Break` when the socket is done.
    async fn handle(
        &self,
        socket: &mut WebSocket,
        expiry: std::pin::Pin<&mut tokio::time::Sleep>,
        renewal: &mut Renewal,
        event: Event,
    ) -> ControlFlow<()> {
        let (s, binding_id) = (self.s, self.binding_id);
        match event {
            Event::Frame(None) => return ControlFlow::Break(()),
            Event::Frame(Some(Some(ClientFrame::ErrandResult { id, ok, result, error }))) => {
                self.complete(&id, if ok { Ok(result.unwrap_or_default()) } else { Err(error.unwrap_or_default()) })
            }
            Event::Frame(Some(Some(ClientFrame::Auth { access_token, proof }))) => {
                match reauthenticate(s, binding_id, (&access_token, &proof), renewal.nonce).await {
                    Ok(claims) => {
                        s.last_seen.touch(&s.db, binding_id, crate::clock::now_ms());
                        expiry.reset(expiry_of(claims.exp));
                        *renewal = Renewal { nonce: SocketNonce::fresh(), key_bound: claims.cnf.is_some() };
                        if !send(s, socket, auth_ack(binding_id, &claims.scopes, renewal.nonce)).await {
                            return ControlFlow::Break(());
                        }
                    }
                    Err(code) => {
                        refuse(s, socket, code).await;
                        return ControlFlow::Break(());
                    }
                }
            }
            Event::Frame(Some(Some(ClientFrame::Ping))) => {
                s.last_seen.touch(&s.db, binding_id, crate::clock::now_ms());
                if !send(s, socket, frame(&ServerFrame::Pong)).await {
                    return ControlFlow::Break(());
                }
            }
            Event::Frame(Some(_)) => {}
            Event::Expired => {
                let expired = ServerFrame::Error { code: "access_token_expired".into() };
                let _ = send(s, socket, frame(&expired)).await;
                close(s, socket, CLOSE_TOKEN_EXPIRED, "access_token_expired").await;
                s.metrics.sockets_expired.inc();
                tracing::info!(binding = %binding_id, "socket closed: access token expired");
                return ControlFlow::Break(());
            }
            Event::Wake(Wake::Errand(errand)) => {
                let Errand { id, kind, params } = *errand;
                let errand = frame(&ServerFrame::Errand { id: id.clone(), kind, params });
                if !send(s, socket, errand).await {
                    s.realtime.sockets.abandon(&id);
                    return ControlFlow::Break(());
                }
            }
            Event::Wake(Wake::Leave) => {
                going_away(s, socket).await;
                return ControlFlow::Break(());
            }
            Event::Wake(Wake::Replaced) => {
                close(s, socket, CLOSE_REPLACED, "replaced").await;
                s.metrics.sockets_replaced.inc();
                tracing::info!(binding = %binding_id, "socket closed: replaced by a newer one");
                return ControlFlow::Break(());
            }
            Event::Wake(Wake::Recheck) => match db::active_binding(&s.db, binding_id).await {
                Ok(Some(b)) if b.paused => {
                    refuse(s, socket, PAUSED).await;
                    tracing::info!(binding = %binding_id, "socket closed: binding paused");
                    return ControlFlow::Break(());
                }
                // Bound to a key since this socket's bearer token was taken (PROTOCOL §12).
                Ok(Some(b)) if b.dpop_jkt.is_some() && !renewal.key_bound => {
                    refuse(s, socket, "invalid_access_token").await;
                    tracing::info!(binding = %binding_id, "socket closed: binding bound to a key");
                    return ControlFlow::Break(());
                }
                Ok(Some(_)) => {}
                // Revoked as idle (a threshold shorter than the last-seen write's minute):
                // the extension refreshes, and the refusal tells it why (PROTOCOL §11).
                Ok(None) if db::revoked_as_idle(&s.db, binding_id).await.unwrap_or(false) => {
                    refuse(s, socket, latch_wire::socket::REFUSED_IDLE).await;
                    tracing::info!(binding = %binding_id, "socket closed: binding revoked as idle");
                    return ControlFlow::Break(());
                }
                Ok(None) => {
                    refuse(s, socket, "binding_revoked").await;
                    tracing::info!(binding = %binding_id, "socket closed: binding revoked");
                    return ControlFlow::Break(());
                }
                // Not known to be revoked: `binding_revoked` would make the extension forget
                // the binding and its key. It reconnects, and its handshake asks again.
                Err(_) => {
                    refuse(s, socket, "storage_unavailable").await;
                    tracing::warn!(binding = %binding_id, "socket closed: the binding's re-check failed");
                    return ControlFlow::Break(());
                }
            },
        }
        ControlFlow::Continue(())
    }

    /// An `errand_result`: taken only from the socket its errand went to.
    fn complete(&self, id: &str, outcome: ErrandOutcome) {
        let reason = match self.s.realtime.sockets.complete(self.conn, id, outcome) {
            Completion::Accepted => return,
            Completion::OtherSocket => "other_socket",
            Completion::Unknown => "unknown",
        };
        tracing::debug!(binding = %self.binding_id, reason, "errand_result ignored");
        self.s.metrics.errand_results_ignored.get_or_create(&ReasonLabel { reason }).inc();
    }
}
