//! The user's changes to one of their bindings at the relay (Rename, Pause, Resume), and
//! reading its activity: one set of gates and one call for each, so the worker carries one
//! copy of them.

use wasm_bindgen::JsValue;

use crate::config::CONNECT_ORIGIN;
use crate::core::errors::CommandError;
use crate::shell::relay::{self, Reply};

use super::state::read_bindings;
use super::tokens;

/// Whether a call changes the binding at the relay (the organization's can't be changed)
/// or only reads what the relay keeps of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Write,
    Read,
}

/// Sends the change with the binding's access token (refreshed first if it expired, and
/// once more on a 401) and hands back the relay's answer undecoded. Refused here, before
/// any call: an unknown binding, the organization's (its administrator manages it) and one
/// that needs pairing again.
///
/// `Change::Read` (the binding's activity) reads the organization's binding too.
pub async fn at_relay(
    binding_id: &str,
    what: Change,
    method: &str,
    path: &str,
    body: JsValue,
) -> Result<JsValue, CommandError> {
    let a_change = what == Change::Write;
    let binding =
        read_bindings().await.into_iter().find(|b| b.binding_id == binding_id).ok_or(CommandError::UnknownBinding)?;
    if a_change && binding.managed {
        return Err(CommandError::ManagedBinding);
    }
    if binding.needs_repair.is_some() {
        return Err(CommandError::NeedsRepair);
    }
    // A paused binding's tokens stay as they were: a read could refresh them (Resume, a
    // change, goes on).
    if !a_change && binding.paused {
        return Err(CommandError::Paused);
    }
    let call = |access: tokens::Access| {
        let body = body.clone();
        async move { relay::send_as(access.credential(), method, CONNECT_ORIGIN, path, body).await }
    };
    match tokens::with_access_token(binding_id, call).await? {
        Reply::Ok(answer) => Ok(answer),
        Reply::Refused { status: 401, .. } => Err(CommandError::AccessTokenInvalid),
        Reply::Refused { body, .. } => Err(CommandError::Refused(body.error)),
        Reply::ServerError | Reply::Unreachable => Err(CommandError::RelayUnreachable),
    }
}
