//! The live channel: one WebSocket per binding to `/api/session`. Answers errands
//! (`ping` now), reconnects with full-jitter backoff, re-authenticates on the open socket
//! after every refresh (`auth` with the fresh token, so the relay keeps it past the old
//! token's expiry), and removes a binding the relay says was revoked. What each close
//! code means is `core::session::after_close`: a socket replaced by a newer one of the
//! same binding reconnects only after `REPLACED_RECONNECT_MS` (5 min). A frame every 20 s keeps
//! the worker alive (Chrome 116+ counts WebSocket activity).

use std::cell::{Cell, RefCell};

use litemap::LiteMap;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use latch_wire::socket::{ClientFrame, PingResult, ServerFrame};

use crate::config::CONNECT_ORIGIN;
use crate::core::backoff::{full_jitter_ms, Jitter};
use crate::core::session::{after_close, AfterClose, REPLACED_RECONNECT_MS};
use crate::shell::{from_js, log, now_ms, to_js};

use super::state::{read_bindings, update_bindings};
use super::tokens;

const KEEPALIVE_MS: u32 = 20_000;

struct Conn {
    socket: WebSocket,
    /// The relay answered `auth_ack`: a fresh token goes to it as a re-`auth`.
    authenticated: Cell<bool>,
    /// Held so the callbacks live as long as the socket.
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    _keepalive: gloo_timers::callback::Interval,
}

thread_local! {
    static CONNS: RefCell<LiteMap<String, Conn>> = const { RefCell::new(LiteMap::new()) };
    static FAILURES: RefCell<LiteMap<String, u32>> = const { RefCell::new(LiteMap::new()) };
    /// Bindings whose socket a newer one replaced (4409): not reopened until
    /// `REPLACED_RECONNECT_MS` has passed.
    static REPLACED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static JITTER: RefCell<Jitter> = RefCell::new(Jitter::new(now_ms()));
}

fn session_url() -> String {
    let ws = CONNECT_ORIGIN.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    format!("{ws}/api/session")
}

/// Opens a socket for every binding that has none (and doesn't need re-pair).
pub async fn ensure_all() {
    for b in read_bindings().await {
        let replaced = REPLACED.with_borrow(|r| r.contains(&b.binding_id));
        if b.needs_repair.is_none() && !replaced && !CONNS.with_borrow(|c| c.contains_key(&b.binding_id)) {
            connect(&b.binding_id);
        }
    }
}

/// A fresh access token was stored for `binding_id`: hand it to the relay on the open
/// socket, which then stays open until that token's expiry.
pub fn reauthenticate(binding_id: &str, access_token: &str) {
    CONNS.with_borrow(|c| {
        if let Some(c) =
            c.get(binding_id).filter(|c| c.authenticated.get() && c.socket.ready_state() == WebSocket::OPEN)
        {
            send(&c.socket, &ClientFrame::Auth { access_token: access_token.to_owned() });
        }
    });
}

/// Closes a binding's socket (Disconnect).
pub fn close(binding_id: &str) {
    if let Some(c) = CONNS.with_borrow_mut(|c| c.remove(binding_id)) {
        let _ = c.socket.close();
    }
}

fn send(socket: &WebSocket, frame: &ClientFrame) {
    if let Ok(text) = js_sys::JSON::stringify(&to_js(frame)) {
        let _ = socket.send_with_str(&String::from(text));
    }
}

/// Decodes a text frame; anything else (binary, bad JSON, unknown type) is `None`.
fn decode(data: JsValue) -> Option<ServerFrame> {
    let value = js_sys::JSON::parse(&data.as_string()?).ok()?;
    from_js(value)
}

fn connect(binding_id: &str) {
    let Ok(socket) = WebSocket::new(&session_url()) else {
        return schedule_reconnect(binding_id.to_owned());
    };
    let id = binding_id.to_owned();
    let s = socket.clone();
    let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| send(&s, &ClientFrame::Hello));
    let (s, b) = (socket.clone(), id.clone());
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let Some(frame) = decode(e.unchecked_into::<MessageEvent>().data()) else { return };
        let (s, b) = (s.clone(), b.clone());
        wasm_bindgen_futures::spawn_local(on_frame(s, b, frame));
    });
    let b = id.clone();
    let s = socket.clone();
    let on_close = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let e = e.unchecked_into::<CloseEvent>();
        let next = after_close(e.code(), &e.reason());
        let b = b.clone();
        // Only react for the socket that is still current.
        let current = CONNS.with_borrow(|c| c.get(&b).is_some_and(|c| c.socket == s));
        if !current {
            return;
        }
        CONNS.with_borrow_mut(|c| c.remove(&b));
        wasm_bindgen_futures::spawn_local(async move {
            match next {
                AfterClose::Forget => forget_revoked(&b).await,
                AfterClose::ReconnectLater => {
                    REPLACED.with_borrow_mut(|r| r.push(b.clone()));
                    gloo_timers::future::TimeoutFuture::new(REPLACED_RECONNECT_MS as u32).await;
                    REPLACED.with_borrow_mut(|r| r.retain(|x| *x != b));
                    let still_paired =
                        read_bindings().await.iter().any(|x| x.binding_id == b && x.needs_repair.is_none());
                    if still_paired && !CONNS.with_borrow(|c| c.contains_key(&b)) {
                        connect(&b);
                    }
                }
                AfterClose::RefreshThenReconnect => match tokens::refreshed_access_token(&b).await {
                    Ok(_) if !CONNS.with_borrow(|c| c.contains_key(&b)) => connect(&b),
                    Ok(_) => {}
                    Err(_) => schedule_reconnect(b),
                },
                AfterClose::Reconnect => schedule_reconnect(b),
            }
        });
    });
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let s = socket.clone();
    let keepalive = gloo_timers::callback::Interval::new(KEEPALIVE_MS, move || {
        if s.ready_state() == WebSocket::OPEN {
            send(&s, &ClientFrame::Ping);
        }
    });
    CONNS.with_borrow_mut(|c| {
        if let Some(old) = c.insert(
            id,
            Conn {
                socket,
                authenticated: Cell::new(false),
                _handlers: vec![on_open, on_message, on_close],
                _keepalive: keepalive,
            },
        ) {
            let _ = old.socket.close();
        }
    });
}

async fn on_frame(socket: WebSocket, binding_id: String, frame: ServerFrame) {
    match frame {
        ServerFrame::Hello { .. } => {
            let token = read_bindings().await.into_iter().find(|b| b.binding_id == binding_id).map(|b| {
                if b.access_expires_at <= now_ms() {
                    None
                } else {
                    Some(b.access_token)
                }
            });
            let token = match token {
                None => return,
                Some(Some(t)) => Ok(t),
                Some(None) => tokens::refreshed_access_token(&binding_id).await,
            };
            match token {
                Ok(t) => send(&socket, &ClientFrame::Auth { access_token: t }),
                Err(_) => {
                    let _ = socket.close();
                }
            }
        }
        ServerFrame::AuthAck { .. } => {
            FAILURES.with_borrow_mut(|f| f.remove(&binding_id));
            CONNS.with_borrow(|c| {
                if let Some(c) = c.get(&binding_id).filter(|c| c.socket == socket) {
                    c.authenticated.set(true);
                }
            });
        }
        ServerFrame::Error { code } if code == "invalid_access_token" => {
            // Refresh (single-flight); the close that follows reconnects with the new token.
            let _ = tokens::refreshed_access_token(&binding_id).await;
        }
        ServerFrame::Errand { id, kind, .. } => {
            let reply = if kind == "ping" {
                let app = read_bindings().await.into_iter().find(|b| b.binding_id == binding_id).map(|b| b.app_name);
                let result = PingResult { pong: true, app_name: app.unwrap_or_default() };
                ClientFrame::ErrandResult { id, ok: true, result: Some(result), error: None }
            } else {
                ClientFrame::ErrandResult { id, ok: false, result: None, error: Some("unsupported_errand".into()) }
            };
            send(&socket, &reply);
        }
        ServerFrame::Error { .. } | ServerFrame::Pong => {}
    }
}

fn schedule_reconnect(binding_id: String) {
    let failures = FAILURES.with_borrow_mut(|f| {
        let n = f.entry(binding_id.clone()).or_insert(0);
        *n += 1;
        *n
    });
    reconnect_after(binding_id, full_jitter_ms(failures, JITTER.with_borrow_mut(Jitter::next_u64)).max(250));
}

/// Connects `binding_id` again after `wait_ms` if it is still paired and has no socket by
/// then (and no longer counts as replaced).
fn reconnect_after(binding_id: String, wait_ms: u64) {
    wasm_bindgen_futures::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(wait_ms as u32).await;
        REPLACED.with_borrow_mut(|r| r.retain(|x| *x != binding_id));
        let still_paired = read_bindings().await.iter().any(|b| b.binding_id == binding_id && b.needs_repair.is_none());
        if still_paired && !CONNS.with_borrow(|c| c.contains_key(&binding_id)) {
            connect(&binding_id);
        }
    });
}

/// The relay closed the socket because the binding was revoked (by the app, the owner or
/// another Disconnect): the app is gone, so the panel shows it gone.
async fn forget_revoked(binding_id: &str) {
    log(&format!("binding {binding_id} was revoked at the relay"));
    tokens::forget(binding_id);
    let _ = update_bindings(|all| all.retain(|b| b.binding_id != binding_id)).await;
}
