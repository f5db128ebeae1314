//! Driver of the live channel ([`crate::core::live::Links`]): it holds the WebSockets,
//! feeds their events and the stored bindings to the core, and carries out what the core
//! decides (open, send, close, find a token, refresh, forget, wake up). Every rule of the
//! session (handshake, keepalive, reconnect with jitter, re-auth after refresh, errand
//! answers, revocation) is in the core and tested natively.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use latch_wire::socket::{ClientFrame, ServerFrame};

use crate::config::CONNECT_ORIGIN;
use crate::core::live::{Action, Conn, Event, Links, Paired};
use crate::shell::{from_js, log, now_ms, random_u64, timer_delay_until, to_js};

use super::state::{try_read_bindings, update_binding, update_bindings};
use super::tokens;

/// A socket and the callbacks that must live as long as it.
struct Socket {
    ws: WebSocket,
    _handlers: [Closure<dyn FnMut(JsValue)>; 3],
}

thread_local! {
    static LINKS: RefCell<Option<Links>> = const { RefCell::new(None) };
    /// A handful at most: searched in order.
    static SOCKETS: RefCell<Vec<(Conn, Socket)>> = const { RefCell::new(Vec::new()) };
}

fn feed(event: Event) {
    let actions = LINKS.with_borrow_mut(|l| {
        let seed = random_u64();
        l.get_or_insert_with(|| Links::new(seed)).handle(event, now_ms())
    });
    actions.into_iter().for_each(run);
}

/// Tells the core what is stored: opens sockets for bindings that have none, closes those
/// of bindings that are gone.
pub async fn ensure_all() {
    if let Some(paired) = stored().await {
        feed(Event::Sync(paired));
    }
}

/// The stored bindings as the core sees them; `None` when storage can't be read (a failed
/// read is not "no bindings": that would close every socket).
async fn stored() -> Option<Vec<Paired>> {
    let bindings = try_read_bindings().await.ok()?;
    let paired = bindings.into_iter().map(|b| Paired {
        binding_id: b.binding_id,
        app_name: b.app_name,
        needs_repair: b.needs_repair.is_some(),
        paused: b.paused,
    });
    Some(paired.collect())
}

/// A fresh access token was stored for `binding_id`: an authenticated socket hands it to
/// the relay (with a proof for the socket's current nonce when the binding is key-bound),
/// which then keeps it open until that token's expiry.
pub fn reauthenticate(binding_id: &str, access: tokens::Access) {
    let binding_id = binding_id.to_owned();
    wasm_bindgen_futures::spawn_local(async move {
        let nonce = LINKS.with_borrow(|l| l.as_ref().and_then(|l| l.nonce_of(&binding_id)));
        let proof = socket_proof(&access, nonce.as_deref()).await;
        feed(Event::Refreshed { binding_id, access_token: access.token, proof });
    });
}

/// The `auth` frame's proof (PROTOCOL §12): `GET` on the session URL, the token's hash and
/// the relay's nonce, signed by the binding's key; empty for a bearer binding.
async fn socket_proof(access: &tokens::Access, nonce: Option<&str>) -> String {
    let Some(key) = access.key.as_deref() else {
        return String::new();
    };
    let Some(key) = crate::shell::dpop::find(key).await else {
        return String::new(); // the relay refuses; the binding then shows it needs pairing again
    };
    let url = format!("{CONNECT_ORIGIN}/api/session");
    crate::shell::dpop::proof(&key, "GET", &url, Some(&access.token), nonce).await.unwrap_or_default()
}

/// Closes a binding's socket for good (Disconnect, or a managed binding replaced).
pub fn close(binding_id: &str) {
    feed(Event::Disconnect { binding_id: binding_id.to_owned() });
}

fn run(action: Action) {
    match action {
        Action::Open { binding_id: _, conn } => open(conn),
        Action::Send { conn, frame } => SOCKETS.with_borrow(|s| {
            if let Some((_, s)) = s.iter().find(|(c, s)| *c == conn && s.ws.ready_state() == WebSocket::OPEN) {
                send(&s.ws, &frame);
            }
        }),
        Action::Close { conn } => {
            if let Some(s) = take_socket(conn) {
                // No event of this socket is wanted any more.
                s.ws.set_onopen(None);
                s.ws.set_onmessage(None);
                s.ws.set_onclose(None);
                let _ = s.ws.close();
            }
        }
        Action::Authenticate { binding_id, conn, nonce } => wasm_bindgen_futures::spawn_local(async move {
            let (token, proof) = match tokens::valid_access_token(&binding_id).await {
                Ok(access) => {
                    let proof = socket_proof(&access, nonce.as_deref()).await;
                    (Some(access.token), proof)
                }
                Err(_) => (None, String::new()),
            };
            feed(Event::AuthToken { conn, token, proof });
        }),
        Action::Refresh { binding_id } => wasm_bindgen_futures::spawn_local(async move {
            let _ = tokens::refreshed_access_token(&binding_id).await;
        }),
        Action::RefreshThenReport { binding_id } => wasm_bindgen_futures::spawn_local(async move {
            let ok = tokens::refreshed_access_token(&binding_id).await.is_ok();
            feed(Event::RefreshEnded { binding_id, ok });
        }),
        Action::Forget { binding_id } => wasm_bindgen_futures::spawn_local(forget_revoked(binding_id)),
        Action::MarkPaused { binding_id } => wasm_bindgen_futures::spawn_local(mark_paused(binding_id)),
        Action::WakeAt(at) => wasm_bindgen_futures::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(timer_delay_until(at)).await;
            // Bindings may have changed meanwhile: the core reopens only what is stored.
            feed(Event::Woken { at, paired: stored().await });
        }),
    }
}

fn session_url() -> String {
    let ws = CONNECT_ORIGIN.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    format!("{ws}/api/session")
}

fn open(conn: Conn) {
    let Ok(ws) = WebSocket::new(&session_url()) else {
        // As if the network closed it: the core backs off and tries again.
        let closed = Event::Closed { conn, code: 1006, reason: String::new() };
        return wasm_bindgen_futures::spawn_local(async move { feed(closed) });
    };
    let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| feed(Event::Opened { conn }));
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        if let Some(frame) = decode(e.unchecked_into::<MessageEvent>().data()) {
            feed(Event::Frame { conn, frame });
        }
    });
    let on_close = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let e = e.unchecked_into::<CloseEvent>();
        let closed = Event::Closed { conn, code: e.code(), reason: e.reason() };
        // Not from inside this callback: forgetting the socket drops the callback itself.
        wasm_bindgen_futures::spawn_local(async move {
            drop(take_socket(conn));
            feed(closed);
        });
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    SOCKETS.with_borrow_mut(|s| s.push((conn, Socket { ws, _handlers: [on_open, on_message, on_close] })));
}

fn take_socket(conn: Conn) -> Option<Socket> {
    SOCKETS.with_borrow_mut(|s| {
        let at = s.iter().position(|(c, _)| *c == conn)?;
        Some(s.swap_remove(at).1)
    })
}

fn send(ws: &WebSocket, frame: &ClientFrame) {
    if let Ok(text) = js_sys::JSON::stringify(&to_js(frame)) {
        let _ = ws.send_with_str(&String::from(text));
    }
}

/// Decodes a text frame; anything else (binary, bad JSON, unknown type) is `None`.
fn decode(data: JsValue) -> Option<ServerFrame> {
    let value = js_sys::JSON::parse(&data.as_string()?).ok()?;
    from_js(value)
}

/// The relay refused the socket because the binding is paused there (the worker stopped
/// between telling the relay and storing it, or another copy of the tokens paused it).
async fn mark_paused(binding_id: String) {
    log(&format!("binding {binding_id} is paused at the relay"));
    if update_binding(&binding_id, |b| b.paused = true).await.is_ok() {
        super::bindings_changed().await;
    }
}

/// The relay closed the socket because the binding was revoked (by the app, the owner or
/// another Disconnect): the app is gone, so the panel shows it gone.
async fn forget_revoked(binding_id: String) {
    log(&format!("binding {binding_id} was revoked at the relay"));
    tokens::forget(&binding_id);
    let _ = update_bindings(|all| all.retain(|b| b.binding_id != binding_id)).await;
    super::keys::forget(Some(&crate::core::dpop::upgrade_slot(&binding_id))).await;
}
