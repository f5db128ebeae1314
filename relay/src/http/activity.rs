//! The activity log as its readers see it (PROTOCOL §11): the app pages through one of its
//! bindings' events with its API key; the browser reads its own binding's latest for the
//! panel with its access token. A binding of another app is "not found" for an app, the
//! same answer as an id that never existed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use latch_wire::api::ErrorBody;

use super::auth::Me;
use super::extract::{App, Path, Query};
use super::openapi::{ACCESS_TOKEN_REFUSED, API_KEY_REFUSED, DPOP_HEADER, STORAGE_UNAVAILABLE};
use crate::db::ActivityEvent;
use crate::error::{ApiError, ApiResult};
use crate::{db, AppState};

/// Events per page when the app does not say.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;
/// What the panel's Activity view shows.
pub const PANEL_EVENTS: u32 = 50;

/// One page of a binding's events, newest first.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    events: Vec<ActivityEvent>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next` of the previous page.
    cursor: Option<String>,
    /// Events per page, 1–200 (50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// The opaque cursor of the page after event `id`.
fn cursor_of(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("e{id}"))
}

fn event_id_of(cursor: &str) -> Option<i64> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let id: i64 = std::str::from_utf8(&raw).ok()?.strip_prefix('e')?.parse().ok()?;
    (id > 0).then_some(id)
}

/// A binding's activity, newest first, paged (revoked bindings' too, until the cleanup
/// removes them after the retention).
#[utoipa::path(
    get,
    path = "/api/bindings/{id}/events", operation_id = "listBindingEvents",
    tag = "app",
    security(("apiKey" = [])),
    params(("id" = String, Path, description = "The binding's id (`bindingId`)."), PageQuery),
    responses(
        (status = 200, description = "A page of events.", body = EventPage),
        (status = 400, description = "`invalid_cursor`: not a `next` this endpoint gave; `invalid_query`: `limit` is not 1–200; `invalid_path`.", body = ErrorBody),
        (status = 401, description = API_KEY_REFUSED, body = ErrorBody),
        (status = 404, description = "`binding_not_found`: this app has no binding with this id.", body = ErrorBody),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn binding_events(
    State(s): State<AppState>,
    App { tenant_id, .. }: App,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<EventPage>> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", "limit is 1 to 200."));
    }
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(event_id_of(c).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor is the `next` of a page this endpoint answered.")
        })?),
    };
    db::binding(&s.db, &id).await?.filter(|b| b.tenant_id == tenant_id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "binding_not_found", "This app has no binding with this id.")
    })?;
    let (events, next) = db::activity::events_page(&s.db, &id, before, limit).await?;
    Ok(Json(EventPage { events, next: next.map(cursor_of) }))
}

/// This browser's own activity with the app its access token belongs to: the panel's
/// Activity view (the latest 50, newest first).
#[utoipa::path(
    get,
    path = "/api/me/events", operation_id = "listMyEvents",
    tag = "extension",
    security(("accessToken" = [])),
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 200, description = "The latest events.", body = EventPage),
        (status = 401, description = ACCESS_TOKEN_REFUSED, body = ErrorBody),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn my_events(State(s): State<AppState>, Me(me): Me) -> ApiResult<Json<EventPage>> {
    let (events, _) = db::activity::events_page(&s.db, &me.binding_id, None, PANEL_EVENTS).await?;
    Ok(Json(EventPage { events, next: None }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_nothing_else_passes() {
        for id in [1, 42, i64::MAX] {
            assert_eq!(event_id_of(&cursor_of(id)), Some(id));
        }
        for bad in ["", "e1", "ZTA", "ZS0x", "!!", &URL_SAFE_NO_PAD.encode("x12"), &URL_SAFE_NO_PAD.encode("e")] {
            assert_eq!(event_id_of(bad), None, "{bad:?}");
        }
    }
}
