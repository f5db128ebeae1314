//! Admission of a socket: the handshake (`hello`, then `auth` with its access token and,
//! for a key-bound binding, a proof for the socket's nonce), the binding's checks before
//! `auth_ack`, and the renewal of a socket's token by a later `auth`.

use std::sync::Arc;

use axum::extract::ws::WebSocket;

use latch_wire::socket::{ClientFrame, ServerFrame, PROTOCOL_VERSION};

use super::{auth_ack, frame, going_away, next_small_frame, refuse, send, HANDSHAKE_TIMEOUT};
use crate::access::Claims;
use crate::http::dpop::{check_socket_proof, SocketNonce};
use crate::realtime::errands;
use crate::realtime::sockets::{Inbox, Unauthenticated};
use crate::{db, AppState};

/// `hello` (with the nonce the proof must carry), then `auth` with an access token whose
/// signature verifies and, for a key-bound binding, its proof; its claims.
async fn handshake(s: &AppState, socket: &mut WebSocket) -> Result<Claims, &'static str> {
    let Some(ClientFrame::Hello) = next_small_frame(socket).await? else {
        return Err("hello_required");
    };
    let nonce = SocketNonce::fresh();
    if !send(s, socket, frame(&ServerFrame::Hello { protocol: PROTOCOL_VERSION, nonce: Some(nonce.text()) })).await {
        return Err("closed");
    }
    let Some(ClientFrame::Auth { access_token, proof }) = next_small_frame(socket).await? else {
        return Err("auth_required");
    };
    let claims = s.signer.verify(&access_token).ok_or("invalid_access_token")?;
    check_socket_proof(s, claims.jkt(), &access_token, &proof, nonce)?;
    Ok(claims)
}

/// An `auth` after `auth_ack`: a fresh access token of the same binding (same tenant and
/// user), still active, with its proof for the last `auth_ack`'s nonce. Its claims, whose
/// expiry becomes the socket's.
pub(super) async fn reauthenticate(
    s: &AppState,
    binding_id: &str,
    (access_token, proof): (&str, &str),
    nonce: SocketNonce,
) -> Result<Claims, &'static str> {
    let claims = s.signer.verify(access_token).ok_or("invalid_access_token")?;
    if claims.sub != binding_id {
        return Err("invalid_access_token");
    }
    check_socket_proof(s, claims.jkt(), access_token, proof, nonce)?;
    match db::active_binding(&s.db, binding_id).await {
        Ok(Some(b))
            if b.tenant_id == claims.tid && b.user_id == claims.uid && b.dpop_jkt.as_deref() == claims.jkt() =>
        {
            if b.paused {
                Err(PAUSED)
            } else {
                Ok(claims)
            }
        }
        Ok(_) => Err("invalid_access_token"),
        Err(_) => Err("storage_unavailable"),
    }
}

/// The refusal of a paused binding's socket (4401): the extension marks the binding paused
/// and stays away until the user resumes (the relay paused it through another copy of its
/// tokens, or the extension's own record of the pause was lost).
pub(super) const PAUSED: &str = "binding_paused";

/// The handshake, then `auth_ack`: the binding id, connection number, inbox and token
/// expiry (seconds) of a socket now reachable (here and from other instances, before the
/// extension hears the ack, so an errand sent right after the ack finds it), and what its
/// next `auth` must prove. `None` when the socket was refused or closed. `slot` counts the
/// socket against its address until this returns.
pub(super) async fn authenticate(
    s: &AppState,
    socket: &mut WebSocket,
    slot: Unauthenticated,
) -> Option<(String, u64, Arc<Inbox>, u64, Renewal)> {
    let claims = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(s, socket)).await {
        Ok(Ok(claims)) => claims,
        Ok(Err("closed")) => return None,
        Ok(Err(code)) => {
            refuse(s, socket, code).await;
            return None;
        }
        Err(_) => {
            refuse(s, socket, "handshake_timeout").await;
            return None;
        }
    };
    drop(slot);
    let binding_id = claims.sub;
    // Registered before the binding is read: a revocation committed after the read wakes
    // this socket's inbox (live::forward_signals), one committed before fails the read.
    // The same for shutdown: set before this check, or seen by the forwarder after it.
    let (conn, inbox, displaced) = s.realtime.sockets.connect(&binding_id);
    let unregister = |displaced| {
        s.realtime.sockets.disconnect(&binding_id, conn);
        if let Some(d) = displaced {
            s.realtime.sockets.reinstate(&binding_id, d);
        }
    };
    if *s.shutdown.borrow() {
        unregister(displaced);
        going_away(s, socket).await;
        return None;
    }
    let active = db::active_binding(&s.db, &binding_id).await;
    let refusal = match active {
        // A bearer token from before the binding was bound to a key names none (§12).
        Ok(Some(b))
            if b.tenant_id != claims.tid
                || b.user_id != claims.uid
                || b.dpop_jkt.as_deref() != claims.cnf.as_ref().map(|c| c.jkt.as_str()) =>
        {
            Some("invalid_access_token")
        }
        Ok(Some(b)) if b.paused => Some(PAUSED),
        Ok(Some(_)) => None,
        _ => Some("invalid_access_token"),
    };
    if let Some(code) = refusal {
        unregister(displaced);
        refuse(s, socket, code).await;
        return None;
    }
    // One socket per binding: the older one here closes now; one on another instance
    // hears it from routing.
    if let Some(d) = displaced {
        s.realtime.sockets.retire(d);
    }
    errands::socket_opened(&s.realtime, &binding_id, conn, crate::clock::now_ms()).await;
    s.last_seen.touch(&s.db, &binding_id, crate::clock::now_ms());
    let next = SocketNonce::fresh();
    if !send(s, socket, auth_ack(&binding_id, &claims.scopes, next)).await {
        s.realtime.sockets.disconnect(&binding_id, conn);
        errands::socket_closed(&s.realtime, &binding_id, conn).await;
        return None;
    }
    Some((binding_id, conn, inbox, claims.exp, Renewal { nonce: next, key_bound: claims.cnf.is_some() }))
}

/// What a socket's next `auth` must prove (the last nonce sent), and whether its token is
/// key-bound (a bearer socket closes when its binding is bound to a key).
#[derive(Clone, Copy)]
pub(super) struct Renewal {
    pub(super) nonce: SocketNonce,
    pub(super) key_bound: bool,
}
