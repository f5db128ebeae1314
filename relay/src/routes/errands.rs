//! `POST /api/errands`: the app asks a user's browser to do something and waits for the
//! answer (504 `extension_offline` when no browser of that user is connected).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::parse_json;
use super::pairing::authenticate_app;
use crate::error::{ApiError, ApiResult};
use crate::live::Errand;
use crate::secrets::new_id;
use crate::{store, AppState};

const ERRAND_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrandRequest {
    user_id: String,
    kind: String,
    #[serde(default)]
    params: Value,
}

fn offline() -> ApiError {
    ApiError::new(StatusCode::GATEWAY_TIMEOUT, "extension_offline", "No browser of this user is connected right now.")
}

pub async fn create(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult<Json<Value>> {
    let (tenant_id, _, _) = authenticate_app(&s, &headers).await?;
    let req: ErrandRequest = parse_json(&body)?;
    if req.kind.is_empty() || req.kind.len() > 64 {
        return Err(ApiError::bad_request("invalid_kind", "kind must be 1–64 characters."));
    }
    // The user's newest connected binding of this tenant.
    let bindings = store::list_bindings(&s.db, Some(&tenant_id)).await?;
    let target = bindings
        .iter()
        .rev()
        .filter(|b| !b.revoked && b.user_id == req.user_id)
        .find(|b| s.live.is_online(&b.binding_id))
        .ok_or_else(offline)?;
    let id = new_id("err_");
    let errand = Errand { id: id.clone(), kind: req.kind, params: req.params };
    let answer = s.live.send(&target.binding_id, errand).ok_or_else(offline)?;
    match tokio::time::timeout(ERRAND_TIMEOUT, answer).await {
        Ok(Ok(Ok(result))) => Ok(Json(json!({"ok": true, "result": result, "bindingId": target.binding_id}))),
        Ok(Ok(Err(error))) => Ok(Json(json!({"ok": false, "error": error, "bindingId": target.binding_id}))),
        _ => {
            s.live.abandon(&id);
            Err(offline())
        }
    }
}
