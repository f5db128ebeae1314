//! How `Links` takes each kind of event: what is stored, a token for the handshake, a
//! close, a frame; and its deadlines.

use latch_wire::socket::{ClientFrame, PingResult, ServerFrame};
use latch_wire::EpochMs;

use super::*;
use crate::core::backoff::{full_jitter_ms, Jitter};
use crate::core::session::{after_close, AfterClose, REPLACED_RECONNECT_MS};

impl Links {
    pub(super) fn on_sync(&mut self, paired: Vec<Paired>, now: EpochMs, out: &mut Vec<Action>) {
        // A removed binding is forgotten here once storage no longer lists it.
        self.removed.retain(|b| paired.iter().any(|p| p.binding_id == *b));
        let mut kept = Vec::with_capacity(paired.len());
        for p in paired {
            // One entry per binding, even if storage named one twice.
            if self.removed.contains(&p.binding_id) || kept.iter().any(|e: &Entry| e.paired.binding_id == p.binding_id)
            {
                continue;
            }
            match self.entries.iter().position(|e| e.paired.binding_id == p.binding_id) {
                Some(at) => {
                    let mut e = self.entries.swap_remove(at);
                    e.paired = p;
                    kept.push(e);
                }
                None => kept.push(Entry { paired: p, link: None, waiting: None, failures: 0, nonce: None }),
            }
        }
        // A binding that must not hold a socket (paused, or waiting for re-pair) closes its
        // own and stops waiting to reconnect.
        for e in kept.iter_mut().filter(|e| !e.paired.wants_socket()) {
            if let Some(link) = e.link.take() {
                out.push(Action::Close { conn: link.conn });
            }
            e.waiting = None;
            e.failures = 0;
        }
        // What is left is gone from storage: its socket closes.
        for gone in std::mem::replace(&mut self.entries, kept) {
            if let Some(link) = gone.link {
                out.push(Action::Close { conn: link.conn });
            }
        }
        self.open_missing(now, out);
    }

    /// Forgets the binding, closing its socket.
    pub(super) fn remove(&mut self, binding_id: &str, out: &mut Vec<Action>) {
        self.removed.push(binding_id.to_owned());
        if let Some(at) = self.entries.iter().position(|e| e.paired.binding_id == binding_id) {
            if let Some(link) = self.entries.remove(at).link {
                out.push(Action::Close { conn: link.conn });
            }
        }
    }

    pub(super) fn on_auth_token(
        &mut self,
        conn: Conn,
        token: Option<String>,
        proof: String,
        now: EpochMs,
        out: &mut Vec<Action>,
    ) {
        let asked = by_conn(&mut self.entries, conn).filter(|e| e.link.is_some_and(|l| l.phase == Phase::FindingToken));
        let Some(e) = asked else { return };
        match token {
            Some(access_token) => {
                if let Some(link) = e.link.as_mut() {
                    link.last_sent = now;
                    link.phase = Phase::Authenticating;
                }
                out.push(Action::Send { conn, frame: ClientFrame::Auth { access_token, proof } });
            }
            None => {
                e.link = None;
                out.push(Action::Close { conn });
                back_off(e, &mut self.jitter, now);
            }
        }
    }

    pub(super) fn on_closed(&mut self, conn: Conn, code: u16, reason: &str, now: EpochMs, out: &mut Vec<Action>) {
        let Some(e) = by_conn(&mut self.entries, conn) else { return };
        e.link = None;
        match after_close(code, reason) {
            AfterClose::Forget => {
                let binding_id = e.paired.binding_id.clone();
                self.remove(&binding_id, out);
                out.push(Action::Forget { binding_id });
            }
            AfterClose::Paused => {
                // Until storage says so too: a sync read before the mark lands may still
                // call it unpaused, and reopening would only be refused again.
                e.paired.paused = true;
                out.push(Action::MarkPaused { binding_id: e.paired.binding_id.clone() });
            }
            AfterClose::ReconnectLater => e.waiting = Some(Waiting::Until(now + REPLACED_RECONNECT_MS)),
            AfterClose::RefreshThenReconnect => {
                e.waiting = Some(Waiting::Refreshing);
                out.push(Action::RefreshThenReport { binding_id: e.paired.binding_id.clone() });
            }
            AfterClose::Reconnect => back_off(e, &mut self.jitter, now),
        }
    }

    /// Opens a socket for every binding that should have one and neither has nor waits.
    pub(super) fn open_missing(&mut self, now: EpochMs, out: &mut Vec<Action>) {
        for e in &mut self.entries {
            if !e.paired.wants_socket() || e.link.is_some() || e.waiting.is_some() {
                continue;
            }
            let conn = self.next_conn;
            self.next_conn += 1;
            e.link = Some(Link { conn, phase: Phase::Opening, last_sent: now });
            out.push(Action::Open { binding_id: e.paired.binding_id.clone(), conn });
        }
    }

    /// The earliest time something is due: a reconnect, or a socket's keepalive.
    pub(super) fn earliest_deadline(&self) -> Option<EpochMs> {
        let deadlines = self.entries.iter().filter_map(|e| match (e.waiting, e.link) {
            (Some(Waiting::Until(t)), _) => Some(t),
            (_, Some(l)) if l.phase != Phase::Opening => Some(l.last_sent + KEEPALIVE_MS),
            _ => None,
        });
        deadlines.min()
    }

    /// Asks for a wake-up at the earliest deadline, unless one already comes by then.
    pub(super) fn schedule_wake(&mut self, out: &mut Vec<Action>) {
        let Some(earliest) = self.earliest_deadline() else { return };
        if self.wake_at.is_none_or(|t| earliest < t) {
            self.wake_at = Some(earliest);
            out.push(Action::WakeAt(earliest));
        }
    }
}

/// The entry whose current socket is `conn`. (Free functions over the entries, so a caller
/// can hold an entry and the jitter at once.)
pub(super) fn by_conn(entries: &mut [Entry], conn: Conn) -> Option<&mut Entry> {
    entries.iter_mut().find(|e| e.link.is_some_and(|l| l.conn == conn))
}

pub(super) fn by_binding<'a>(entries: &'a mut [Entry], binding_id: &str) -> Option<&'a mut Entry> {
    entries.iter_mut().find(|e| e.paired.binding_id == binding_id)
}

/// One more failure: the binding reconnects after full-jitter backoff.
pub(super) fn back_off(e: &mut Entry, jitter: &mut Jitter, now: EpochMs) {
    e.failures += 1;
    let wait = full_jitter_ms(e.failures, jitter.next_u64()).max(MIN_RECONNECT_MS);
    e.waiting = Some(Waiting::Until(now + wait));
}

pub(super) fn on_frame(e: &mut Entry, frame: ServerFrame, now: EpochMs, out: &mut Vec<Action>) {
    let Some(link) = e.link.as_mut() else { return };
    let conn = link.conn;
    match frame {
        ServerFrame::Hello { nonce, .. } if link.phase == Phase::Greeting => {
            link.phase = Phase::FindingToken;
            e.nonce.clone_from(&nonce);
            out.push(Action::Authenticate { binding_id: e.paired.binding_id.clone(), conn, nonce });
        }
        ServerFrame::AuthAck { nonce, .. } if link.phase == Phase::Authenticating => {
            link.phase = Phase::Authenticated;
            e.failures = 0;
            e.nonce = nonce;
        }
        // A renewal's ack: the next renewal proves its nonce.
        ServerFrame::AuthAck { nonce, .. } if link.phase == Phase::Authenticated => e.nonce = nonce,
        ServerFrame::Error { code } if code == "invalid_access_token" => {
            out.push(Action::Refresh { binding_id: e.paired.binding_id.clone() });
        }
        ServerFrame::Errand { id, kind, .. } => {
            link.last_sent = now;
            let frame = if kind == "ping" {
                let result = PingResult { pong: true, app_name: e.paired.app_name.clone() };
                ClientFrame::ErrandResult { id, ok: true, result: Some(result), error: None }
            } else {
                ClientFrame::ErrandResult { id, ok: false, result: None, error: Some("unsupported_errand".into()) }
            };
            out.push(Action::Send { conn, frame });
        }
        _ => {}
    }
}
