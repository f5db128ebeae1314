//! `PATCH /api/me/device`: the user renames this browser for one app (the access token
//! names the binding). The name passes the device-name rules of the consent-name policy.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;

use latch_wire::api::{DeviceRename, DeviceRenamed, ErrorBody};
use latch_wire::name_policy::{check_device_name, cut_device_name, MAX_NAME_CHARS};

use super::auth::{invalid, Me};
use super::body::parse_json;
use super::openapi::{ACCESS_TOKEN_REFUSED, DPOP_HEADER, RATE_LIMITED, STORAGE_UNAVAILABLE};
use crate::error::{ApiError, ApiResult};
use crate::{db, AppState};

/// The user renames this browser for the app the access token belongs to.
#[utoipa::path(
    patch,
    path = "/api/me/device", operation_id = "renameDevice",
    tag = "extension",
    security(("accessToken" = [])),
    request_body = DeviceRename,
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 200, description = "The name as stored (NFC, trimmed).", body = DeviceRenamed),
        (status = 400, description = "`invalid_request`: the body is not of this shape; `invalid_device_name`: not 1–64 characters of one script without control, invisible or direction characters.", body = ErrorBody),
        (status = 401, description = ACCESS_TOKEN_REFUSED, body = ErrorBody),
        (status = 403, description = "`managed_binding`: the organization's binding can't be renamed.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn rename(State(s): State<AppState>, Me(me): Me, body: Bytes) -> ApiResult<Json<DeviceRenamed>> {
    // The token first (`Me`, before the body), as every access-token route: no token is
    // 401 whatever the body.
    let req: DeviceRename = parse_json(&body)?;
    s.limits.binding_changes.admit(&me.binding_id, "changes of this binding")?;
    super::pause::users_own(&s, &me.binding_id).await?;
    let device_name = check_device_name(&req.device_name).map_err(|_| {
        ApiError::bad_request(
            "invalid_device_name",
            format!(
                "A browser's name is 1 to {MAX_NAME_CHARS} characters of one script, without control, \
                 invisible or direction-changing characters."
            ),
        )
    })?;
    // Revoked since the gate let the token pass (the gate remembers a pass for 2 s).
    if !db::rename_device(&s.db, &me.binding_id, &device_name).await? {
        return Err(invalid());
    }
    tracing::info!(tenant = %me.tenant_id, binding = %me.binding_id, "browser renamed");
    Ok(Json(DeviceRenamed { binding_id: me.binding_id, device_name }))
}

/// The name a pairing request carries, for the binding it makes: the device-name rules,
/// else "Browser". A name never fails a pairing; API clients send whatever they have.
pub fn pairing_device_name(raw: &str) -> String {
    cut_device_name(raw).unwrap_or_else(|| "Browser".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pairing_keeps_a_fine_name_and_says_browser_for_any_other() {
        assert_eq!(pairing_device_name(" Chrome 156 on Linux "), "Chrome 156 on Linux");
        assert_eq!(pairing_device_name(&"a".repeat(70)), "a".repeat(64));
        for hostile in ["", "  ", "PC\u{202E}exe", "A\u{200B}B", "two\nlines", "\u{410}cme"] {
            assert_eq!(pairing_device_name(hostile), "Browser", "{hostile:?}");
        }
    }
}
