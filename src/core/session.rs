//! What the extension does after the relay (or the network) closed a live socket, by its
//! close code ([`latch_wire::socket`]), sans-IO.
//!
//! | code | reason | relay closed because | the extension |
//! |---|---|---|---|
//! | 4401 | `binding_revoked` | the binding was revoked | forgets the binding |
//! | 4401 | `binding_paused` | the binding is paused at the relay (by this browser's panel, or through another copy of its tokens) | marks it paused: no socket, no scheduled refresh until the user resumes |
//! | 4401 | another error code | the handshake or an `auth` was refused | reconnects with backoff |
//! | 4408 | `access_token_expired` | the access token expired and no `auth` renewed it | refreshes, then reconnects at once |
//! | 4409 | `replaced` | a newer socket of the same binding took over | reconnects only after [`REPLACED_RECONNECT_MS`] (no reconnect loop against the newer socket, and a socket opened with a copied token can't keep this browser offline) |
//! | 1009 | `frame_too_large` | a frame before `auth_ack` was over 4 KiB, or one after it over 64 KiB | reconnects with backoff |
//! | anything else (1001 relay restarting, 1006 network) | | | reconnects with backoff |

use latch_wire::socket::{CLOSE_REPLACED, CLOSE_TOKEN_EXPIRED};

/// After a 4409 the extension waits this long before it connects again: long enough that
/// two sockets of one binding never fight (one close every 5 min at worst), short enough
/// that whoever opened the newer socket with a copied access token holds this browser's
/// errands for minutes, not until Chrome restarts the worker.
pub const REPLACED_RECONNECT_MS: u64 = 300_000;

/// What to do after the relay (or the network) closed a binding's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterClose {
    /// The binding was revoked: forget it.
    Forget,
    /// The binding is paused at the relay: stay away until the user resumes.
    Paused,
    /// Another socket of this binding is live now: reconnect only after
    /// [`REPLACED_RECONNECT_MS`].
    ReconnectLater,
    /// Get a fresh access token, then reconnect without waiting.
    RefreshThenReconnect,
    /// Reconnect after the usual full-jitter backoff.
    Reconnect,
}

pub fn after_close(code: u16, reason: &str) -> AfterClose {
    match (code, reason) {
        (_, "binding_revoked") => AfterClose::Forget,
        // Revoked as idle: the refresh's refusal says so, and the row shows it expired.
        (_, latch_wire::socket::REFUSED_IDLE) => AfterClose::RefreshThenReconnect,
        (_, "binding_paused") => AfterClose::Paused,
        (CLOSE_REPLACED, _) => AfterClose::ReconnectLater,
        (CLOSE_TOKEN_EXPIRED, _) => AfterClose::RefreshThenReconnect,
        _ => AfterClose::Reconnect,
    }
}

#[cfg(test)]
mod tests {
    use latch_wire::socket::{CLOSE_REFUSED, CLOSE_TOO_BIG};

    use super::*;

    #[test]
    fn each_close_code_has_its_own_next_step() {
        assert_eq!(after_close(CLOSE_REFUSED, "binding_revoked"), AfterClose::Forget);
        assert_eq!(after_close(CLOSE_REFUSED, "binding_paused"), AfterClose::Paused);
        assert_eq!(after_close(CLOSE_REFUSED, "binding_idle"), AfterClose::RefreshThenReconnect);
        assert_eq!(after_close(CLOSE_REPLACED, "replaced"), AfterClose::ReconnectLater);
        assert_eq!(after_close(CLOSE_TOKEN_EXPIRED, "access_token_expired"), AfterClose::RefreshThenReconnect);
        for (code, reason) in [
            (CLOSE_REFUSED, "invalid_access_token"),
            (CLOSE_REFUSED, "handshake_timeout"),
            (CLOSE_TOO_BIG, "frame_too_large"),
            (1001, "relay_restarting"),
            (1006, ""),
            (1000, ""),
        ] {
            assert_eq!(after_close(code, reason), AfterClose::Reconnect, "{code} {reason}");
        }
    }

    #[test]
    fn only_the_replaced_code_delays_reconnecting() {
        // A reason alone never stops the extension: only the documented code does.
        assert_eq!(after_close(1000, "replaced"), AfterClose::Reconnect);
        assert_eq!(after_close(CLOSE_REFUSED, "replaced"), AfterClose::Reconnect);
        assert_eq!(after_close(CLOSE_REPLACED, ""), AfterClose::ReconnectLater);
    }
}
