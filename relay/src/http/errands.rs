//! `POST /api/errands`: the app asks a user's browser to do something and waits for the
//! answer. Refusals say what is wrong (PROTOCOL §10): 404 `not_paired` when the user has no
//! binding with this app (or the named one is not theirs with this app), 410
//! `binding_revoked` for a named binding that was revoked, 409 `extension_paused` when the
//! user paused it (or, unnamed, paused every binding with this app) in the panel, 504
//! `extension_offline` when the user is paired but no browser of theirs is connected. With
//! several bindings the errand goes to the user's most recently created one that is
//! connected and not paused (`realtime::errands::find_target`), or to the one the app
//! names with `bindingId`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{App, JsonBody};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::realtime::sockets::Errand;
use crate::realtime::{errands, Target};
use crate::secrets::new_id;
use crate::{db, AppState};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrandRequest {
    user_id: String,
    kind: String,
    #[serde(default)]
    params: Value,
    /// One of the user's bindings, chosen by the app.
    #[serde(default)]
    binding_id: Option<String>,
}

fn offline() -> ApiError {
    ApiError::new(StatusCode::GATEWAY_TIMEOUT, "extension_offline", "No browser of this user is connected right now.")
}

fn not_paired(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_paired", message)
}

fn paused(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "extension_paused", message)
}

pub async fn create(
    State(s): State<AppState>,
    App { tenant_id, .. }: App,
    JsonBody(req): JsonBody<ErrandRequest>,
) -> ApiResult<Json<Value>> {
    if req.kind.is_empty() || req.kind.len() > 64 {
        return Err(ApiError::bad_request("invalid_kind", "kind must be 1–64 characters."));
    }
    let target = match &req.binding_id {
        // Only a binding of this tenant and user; any other is "not paired" for this app.
        Some(id) => match db::binding(&s.db, id).await? {
            Some(b) if b.tenant_id == tenant_id && b.user_id == req.user_id => {
                if b.revoked {
                    return Err(ApiError::new(StatusCode::GONE, "binding_revoked", "That binding was revoked."));
                }
                if b.paused {
                    return Err(paused(
                        "The user paused this browser's connection to this app; ask them to resume it.",
                    ));
                }
                errands::locate(&s.realtime, id, now_ms()).await?
            }
            _ => return Err(not_paired("This app has no such binding for this user.")),
        },
        // The user's newest connected binding of this tenant, on this instance or another.
        None => match errands::find_target(&s.realtime, &tenant_id, &req.user_id, now_ms()).await? {
            Some(target) => Some(target),
            // Asked only when nothing is connected: a delivered errand costs no extra query.
            None => match db::user_pairing(&s.db, &tenant_id, &req.user_id).await? {
                db::Pairing::None => return Err(not_paired("This user has not connected a browser to this app.")),
                db::Pairing::Paused => {
                    return Err(paused(
                        "The user paused this app's connection in their browser; ask them to resume it.",
                    ))
                }
                db::Pairing::Active => None,
            },
        },
    };
    let target = target.ok_or_else(offline)?;
    let errand = Errand { id: new_id("err_"), kind: req.kind, params: req.params };
    let (binding_id, outcome) = match target {
        Target::Local(binding_id) => {
            let outcome = errands::run_local(&s.realtime, &binding_id, errand).await;
            (binding_id, outcome)
        }
        Target::Remote { binding_id, instance_id } => {
            let outcome = errands::run_remote(&s.realtime, &binding_id, &instance_id, errand).await?;
            (binding_id, outcome)
        }
    };
    match outcome.ok_or_else(offline)? {
        Ok(result) => Ok(Json(json!({"ok": true, "result": result, "bindingId": binding_id}))),
        Err(error) => Ok(Json(json!({"ok": false, "error": error, "bindingId": binding_id}))),
    }
}
