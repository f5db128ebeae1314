//! The one error type of the relay: every failure becomes `{"error", "message"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use latch_wire::api::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// 429 `slow_down`: the new poll interval, seconds.
    pub interval: Option<u64>,
    /// 429 `rate_limited`: seconds to wait; also sent as `Retry-After`.
    pub retry_after: Option<u64>,
    /// Describe's refusals of a token the relay knows (used, expired, revoked): the
    /// connect page's "Back to the app" link, held to the tenant's origins
    /// (`http::pairing::back_link`). Sent as `returnUrl`.
    pub return_url: Option<String>,
    /// A refused DPoP proof (PROTOCOL §12): the `WWW-Authenticate: DPoP …` challenge, and
    /// with `use_dpop_nonce` the nonce to use (`DPoP-Nonce`).
    pub dpop: Option<Box<DpopChallenge>>,
    /// `refresh_token_revoked` of a binding revoked as idle: the relay's idle time,
    /// seconds (sent as `revokedBy: "idle"` and `idleSeconds`).
    pub idle_seconds: Option<u32>,
}

#[derive(Debug)]
pub struct DpopChallenge {
    pub www_authenticate: &'static str,
    pub nonce: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            interval: None,
            retry_after: None,
            return_url: None,
            dpop: None,
            idle_seconds: None,
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    /// A storage failure. Logged without the request's secrets; the client gets 503.
    pub fn storage(err: sqlx::Error) -> Self {
        tracing::error!(error = %err, "database error");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "The relay's database is unavailable; try again shortly.",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Self::storage(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
            interval: self.interval,
            retry_after: self.retry_after,
            revoked_by: self.idle_seconds.map(|_| "idle".to_owned()),
            idle_seconds: self.idle_seconds.map(u64::from),
        };
        let mut res = match self.return_url {
            None => (self.status, Json(body)).into_response(),
            Some(return_url) => (self.status, Json(ErrorWithReturnUrl { body, return_url })).into_response(),
        };
        if let Some(secs) = self.retry_after.or(self.interval) {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if let Some(challenge) = self.dpop {
            let headers = res.headers_mut();
            headers.insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(challenge.www_authenticate),
            );
            // A nonce is base64url: always a valid header value.
            if let Some(nonce) = challenge.nonce.and_then(|n| axum::http::HeaderValue::from_str(&n).ok()) {
                headers.insert("dpop-nonce", nonce);
            }
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Describe's refusal of a token it knows (used, expired, revoked): the error shape with
/// the connect page's "Back to the app" link.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorWithReturnUrl {
    #[serde(flatten)]
    body: ErrorBody,
    /// A page on one of the app's registered origins.
    return_url: String,
}
