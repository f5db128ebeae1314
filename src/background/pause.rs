//! Pause / Resume per app (PROTOCOL §10): tokens kept; while paused the binding has no
//! socket (`core::live` closes it on the next sync), no refresh on schedule (`tokens::tick`)
//! and no captures. The relay is told first, so the app hears 409 `extension_paused` rather
//! than `extension_offline`; if it can't be told, nothing changes here either. The
//! organization's binding can't be paused (`user_change::at_relay`).

use serde::Serialize;

use latch_wire::api::PauseState;

use crate::core::errors::CommandError;
use crate::shell::{from_js, to_js};

use super::pairing::storage_error;
use super::state::update_binding;

/// The requests' body: `{}` (every body the relay takes is JSON).
#[derive(Serialize)]
struct NoFields {}

/// Pauses (`true`) or resumes the binding, at the relay and then here. Resuming a binding
/// whose access token expired meanwhile refreshes it first (`user_change::at_relay`).
pub async fn set_paused(binding_id: &str, paused: bool) -> Result<(), CommandError> {
    let path = if paused { "/api/me/pause" } else { "/api/me/resume" };
    let answer =
        super::user_change::at_relay(binding_id, super::user_change::Change::Write, "POST", path, to_js(&NoFields {}))
            .await?;
    let state: Option<PauseState> = from_js(answer);
    if state.is_none_or(|s| s.paused != paused || s.binding_id != binding_id) {
        return Err(CommandError::RelayUnreachable);
    }
    update_binding(binding_id, |b| b.paused = paused).await.map_err(storage_error)
}
