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
use serde::{Deserialize, Serialize};
use serde_json::Value;

use latch_wire::api::ErrorBody;

use super::extract::{App, JsonBody};
use super::openapi::{API_KEY_REFUSED, STORAGE_UNAVAILABLE};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::realtime::sockets::Errand;
use crate::realtime::{errands, Target};
use crate::secrets::new_id;
use crate::{db, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrandRequest {
    /// The app's user whose browser does the errand.
    user_id: String,
    /// What to do (`ping`, or a kind the extension knows), 1–64 characters.
    #[schema(min_length = 1, max_length = 64)]
    kind: String,
    /// Handed to the extension as they are.
    #[serde(default)]
    params: Value,
    /// One of the user's bindings, chosen by the app.
    #[serde(default)]
    binding_id: Option<String>,
}

/// The errand's event in the binding's activity (PROTOCOL §11), written beside the
/// answer, not before it. `outcome`: `None` when the browser did not answer in time,
/// else the extension's error if it failed.
fn log_errand(s: &AppState, binding_id: &str, kind: String, outcome: Option<Option<&Value>>, sent_at: u64) {
    let error = match outcome {
        None => Some("timeout".to_owned()),
        Some(None) => None,
        Some(Some(e)) => Some(error_code(e)),
    };
    let now = now_ms();
    let event = db::Event::Errand { kind, error, duration_ms: now.saturating_sub(sent_at) };
    let (db, binding_id) = (s.db.clone(), binding_id.to_owned());
    tokio::spawn(async move {
        if let Err(e) = db::errand_done(&db, &binding_id, &event, now).await {
            tracing::warn!(error = %e, binding = %binding_id, "errand not logged");
        }
    });
}

/// The code of an extension's error as the log keeps it: the error itself when it is a
/// string, else its `code`; at most 64 characters.
fn error_code(error: &Value) -> String {
    let code = match error {
        Value::String(s) => s.as_str(),
        other => other.get("code").and_then(Value::as_str).unwrap_or("error"),
    };
    code.chars().take(64).collect()
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

/// The extension's answer to an errand: its `result`, or its `error`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrandAnswer {
    /// Whether the extension did the errand.
    ok: bool,
    /// With `ok: true`: what the extension answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    /// With `ok: false`: why the extension could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
    /// The binding (browser) that did it.
    binding_id: String,
}

/// The app asks one of its user's browsers to do something, and waits for the answer.
#[utoipa::path(
    post,
    path = "/api/errands", operation_id = "sendErrand",
    tag = "app",
    security(("apiKey" = [])),
    request_body = ErrandRequest,
    responses(
        (status = 200, description = "The extension's answer (`ok` says whether it did the errand).", body = ErrandAnswer),
        (status = 400, description = "`invalid_request`: the body is not of this shape; `invalid_kind`: `kind` is not 1–64 characters.", body = ErrorBody),
        (status = 401, description = API_KEY_REFUSED, body = ErrorBody),
        (status = 404, description = "`not_paired`: the user has no binding with this app (or `bindingId` is not theirs with this app).", body = ErrorBody),
        (status = 409, description = "`extension_paused`: the user paused this browser's connection (or, unnamed, every one) in the panel.", body = ErrorBody),
        (status = 410, description = "`binding_revoked`: the named binding was revoked.", body = ErrorBody),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
        (status = 504, description = "`extension_offline`: the user is paired but no browser of theirs is connected, or it did not answer in time.", body = ErrorBody),
    ),
)]
pub async fn create(
    State(s): State<AppState>,
    App { tenant_id, .. }: App,
    JsonBody(req): JsonBody<ErrandRequest>,
) -> ApiResult<Json<ErrandAnswer>> {
    if req.kind.is_empty() || req.kind.chars().count() > 64 {
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
    let sent_at = now_ms();
    let kind = req.kind.clone();
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
    log_errand(&s, &binding_id, kind, outcome.as_ref().map(|o| o.as_ref().err()), sent_at);
    match outcome.ok_or_else(offline)? {
        Ok(result) => Ok(Json(ErrandAnswer { ok: true, result: Some(result), error: None, binding_id })),
        Err(error) => Ok(Json(ErrandAnswer { ok: false, result: None, error: Some(error), binding_id })),
    }
}
