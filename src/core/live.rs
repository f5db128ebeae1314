//! The live channel's session logic, sans-IO: one WebSocket per binding to
//! `/api/session`, as a state machine fed events and `now`, returning actions (the worker's
//! `background/live.rs` only carries them out).
//!
//! Rules:
//! * every stored binding that doesn't need re-pair has one socket, opened at once, unless
//!   it waits to reconnect; a binding gone from storage has its socket closed;
//! * the handshake is `hello` → `hello` → `auth` (a valid access token, refreshed first if
//!   it expired) → `auth_ack`; a fresh token after any refresh goes out as a re-`auth` on
//!   an authenticated socket, so the relay keeps it open past the old token's expiry;
//! * errands are answered on the socket they came on: `ping` with the app's name, anything
//!   else `unsupported_errand`;
//! * after a close, `session::after_close` decides: forget a revoked binding, reconnect a
//!   replaced one only after `REPLACED_RECONNECT_MS` (5 min), refresh then reconnect after
//!   an expired token, else reconnect after full-jitter backoff (reset by `auth_ack`);
//! * events of a socket that is no longer the binding's current one change nothing;
//! * a socket sends something at least every [`KEEPALIVE_MS`] (Chrome keeps a worker with
//!   WebSocket traffic alive), and one wake-up covers every deadline.

use latch_wire::socket::{ClientFrame, ServerFrame};
use latch_wire::EpochMs;

use super::backoff::Jitter;

mod steps;

use steps::{back_off, by_binding, by_conn, on_frame};

/// A socket sends at least this often.
pub const KEEPALIVE_MS: u64 = 20_000;
/// The shortest wait before reconnecting after a failure.
pub const MIN_RECONNECT_MS: u64 = 250;

/// A socket's number: the driver tells its events apart by it.
pub type Conn = u64;

/// A stored binding as the live channel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paired {
    pub binding_id: String,
    pub app_name: String,
    /// The relay refused a refresh: no socket until the user pairs again.
    pub needs_repair: bool,
    /// The user paused it: no socket until they resume.
    pub paused: bool,
}

impl Paired {
    /// Whether the binding should hold a socket now.
    pub fn wants_socket(&self) -> bool {
        !self.needs_repair && !self.paused
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// What is stored now: at worker start and after bindings changed.
    Sync(Vec<Paired>),
    /// The socket opened.
    Opened {
        conn: Conn,
    },
    Frame {
        conn: Conn,
        frame: ServerFrame,
    },
    /// The socket closed (or could not be opened: 1006).
    Closed {
        conn: Conn,
        code: u16,
        reason: String,
    },
    /// The answer to [`Action::Authenticate`]: `None` when no valid token can be had. `proof`:
    /// the DPoP proof of a key-bound binding for the socket's nonce (PROTOCOL §12), else empty.
    AuthToken {
        conn: Conn,
        token: Option<String>,
        proof: String,
    },
    /// A refresh stored a fresh access token for the binding; `proof` as for `AuthToken`,
    /// made for the nonce [`Links::nonce_of`] gave.
    Refreshed {
        binding_id: String,
        access_token: String,
        proof: String,
    },
    /// The refresh of [`Action::RefreshThenReport`] ended.
    RefreshEnded {
        binding_id: String,
        ok: bool,
    },
    /// The user disconnected the binding, or the organization's policy replaced it.
    Disconnect {
        binding_id: String,
    },
    /// The wake-up asked for `at` ([`Action::WakeAt`]) came, with what is stored now
    /// (`None` when storage could not be read: nothing is taken as gone).
    Woken {
        at: EpochMs,
        paired: Option<Vec<Paired>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Open {
        binding_id: String,
        conn: Conn,
    },
    Send {
        conn: Conn,
        frame: ClientFrame,
    },
    /// Close the socket; no event of it is expected any more.
    Close {
        conn: Conn,
    },
    /// Find the binding's access token, refreshed first if it expired, and answer with
    /// [`Event::AuthToken`] (with a proof for `nonce`, the relay's `hello` nonce, when the
    /// binding is key-bound).
    Authenticate {
        binding_id: String,
        conn: Conn,
        nonce: Option<String>,
    },
    /// Refresh the binding's tokens; the close that follows reconnects with them.
    Refresh {
        binding_id: String,
    },
    /// Refresh, then answer with [`Event::RefreshEnded`].
    RefreshThenReport {
        binding_id: String,
    },
    /// The relay revoked the binding: forget its tokens and remove it from storage.
    Forget {
        binding_id: String,
    },
    /// The relay says the binding is paused: mark it so in storage (the panel offers Resume).
    MarkPaused {
        binding_id: String,
    },
    /// Feed [`Event::Woken`] at this time.
    WakeAt(EpochMs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the socket to open.
    Opening,
    /// `hello` sent, waiting for the relay's.
    Greeting,
    /// The token is being found (no `auth` sent yet: an `auth_ack` now is not an answer).
    FindingToken,
    /// `auth` was sent, waiting for `auth_ack`.
    Authenticating,
    /// `auth_ack` came: fresh tokens go out as re-`auth`.
    Authenticated,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    conn: Conn,
    phase: Phase,
    /// When this socket last sent a frame (or opened).
    last_sent: EpochMs,
}

/// Why a binding without a socket has none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// Reconnect at this time (backoff, or after being replaced).
    Until(EpochMs),
    /// A refresh runs; reconnect when it ends.
    Refreshing,
}

/// A stored binding and its socket (or why it has none).
#[derive(Debug, Clone)]
struct Entry {
    paired: Paired,
    link: Option<Link>,
    waiting: Option<Waiting>,
    /// Consecutive failed connections: the backoff level.
    failures: u32,
    /// The nonce the socket's next `auth` proof must carry (the relay's last `hello` or
    /// `auth_ack`).
    nonce: Option<String>,
}

/// The live channel of every binding. A handful of bindings at most: a vector searched
/// in order costs less code in the worker than a map.
#[derive(Debug, Clone)]
pub struct Links {
    entries: Vec<Entry>,
    /// Bindings disconnected or revoked that storage may still list for a moment: a
    /// `Sync` read before their removal must not bring them back.
    removed: Vec<String>,
    next_conn: Conn,
    jitter: Jitter,
    /// The wake-up asked for and not yet come. Only that wake-up asks for the next, so
    /// timers never multiply; any other asks only for an earlier one.
    wake_at: Option<EpochMs>,
}

impl Links {
    pub fn new(seed: u64) -> Self {
        Self { entries: Vec::new(), removed: Vec::new(), next_conn: 1, jitter: Jitter::new(seed), wake_at: None }
    }

    /// The nonce an `auth` on the binding's socket must prove now (a renewal's), if any.
    pub fn nonce_of(&self, binding_id: &str) -> Option<String> {
        self.entries.iter().find(|e| e.paired.binding_id == binding_id).and_then(|e| e.nonce.clone())
    }

    /// The binding whose current socket is `conn`.
    #[cfg(test)]
    fn binding_of(&self, conn: Conn) -> Option<String> {
        self.entry_of(conn).map(|e| e.paired.binding_id.clone())
    }

    #[cfg(test)]
    fn entry_of(&self, conn: Conn) -> Option<&Entry> {
        self.entries.iter().find(|e| e.link.is_some_and(|l| l.conn == conn))
    }

    pub fn handle(&mut self, event: Event, now: EpochMs) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Sync(paired) => self.on_sync(paired, now, &mut out),
            Event::Opened { conn } => {
                let link = by_conn(&mut self.entries, conn).and_then(|e| e.link.as_mut());
                if let Some(link) = link.filter(|l| l.phase == Phase::Opening) {
                    link.phase = Phase::Greeting;
                    link.last_sent = now;
                    out.push(Action::Send { conn, frame: ClientFrame::Hello });
                }
            }
            Event::Frame { conn, frame } => {
                if let Some(e) = by_conn(&mut self.entries, conn) {
                    on_frame(e, frame, now, &mut out);
                }
            }
            Event::AuthToken { conn, token, proof } => self.on_auth_token(conn, token, proof, now, &mut out),
            Event::Closed { conn, code, reason } => self.on_closed(conn, code, &reason, now, &mut out),
            Event::Refreshed { binding_id, access_token, proof } => {
                let link = by_binding(&mut self.entries, &binding_id).and_then(|e| e.link.as_mut());
                if let Some(link) = link.filter(|l| l.phase == Phase::Authenticated) {
                    link.last_sent = now;
                    out.push(Action::Send { conn: link.conn, frame: ClientFrame::Auth { access_token, proof } });
                }
            }
            Event::RefreshEnded { binding_id, ok } => {
                if let Some(e) = by_binding(&mut self.entries, &binding_id) {
                    if e.waiting == Some(Waiting::Refreshing) {
                        e.waiting = None;
                        if !ok {
                            back_off(e, &mut self.jitter, now);
                        }
                    }
                }
                self.open_missing(now, &mut out);
            }
            Event::Disconnect { binding_id } => self.remove(&binding_id, &mut out),
            Event::Woken { at, paired } => {
                if self.wake_at == Some(at) {
                    self.wake_at = None;
                }
                if let Some(paired) = paired {
                    self.on_sync(paired, now, &mut out);
                }
                for e in &mut self.entries {
                    if matches!(e.waiting, Some(Waiting::Until(t)) if t <= now) {
                        e.waiting = None;
                    }
                    if let Some(link) = e.link.as_mut().filter(|l| l.phase != Phase::Opening) {
                        if now >= link.last_sent + KEEPALIVE_MS {
                            link.last_sent = now;
                            out.push(Action::Send { conn: link.conn, frame: ClientFrame::Ping });
                        }
                    }
                }
                self.open_missing(now, &mut out);
            }
        }
        self.schedule_wake(&mut out);
        out
    }
}

#[cfg(test)]
mod tests;
