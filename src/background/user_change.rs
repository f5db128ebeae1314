//! The user's changes to one of their bindings at the relay (Rename, Pause, Resume), and
//! reading its activity: one set of gates and one call for each, so the worker carries one
//! copy of them.

use wasm_bindgen::JsValue;

use crate::config::CONNECT_ORIGIN;
use crate::core::errors::CommandError;
use crate::core::user_change::gate;
pub use crate::core::user_change::Change;
use crate::shell::relay::{self, Reply};

use super::state::read_bindings;
use super::tokens;

/// Sends the change with the binding's access token (refreshed first if it expired, and
/// once more on a 401) and hands back the relay's answer undecoded. Refused here, before
/// any call: an unknown binding, and what `core::user_change::gate` refuses.
pub async fn at_relay(
    binding_id: &str,
    what: Change,
    method: &str,
    path: &str,
    body: JsValue,
) -> Result<JsValue, CommandError> {
    let binding =
        read_bindings().await.into_iter().find(|b| b.binding_id == binding_id).ok_or(CommandError::UnknownBinding)?;
    gate(&binding, what)?;
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
