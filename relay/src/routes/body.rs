//! Request helpers: JSON bodies with our error shape, bearer credentials, the JSON media
//! type every body-carrying request needs, and `Query`/`Path` extractors whose rejections
//! are the JSON error shape too.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses a JSON body; anything unparsable is a 400 `invalid_request`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|_| {
        ApiError::bad_request("invalid_request", "The request body must be a JSON object of the documented shape.")
    })
}

/// The credential of an `Authorization: Bearer …` header, if present and non-empty.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, cred) = value.split_once(' ')?;
    let cred = cred.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !cred.is_empty()).then_some(cred)
}

/// `Content-Type: application/json`, the media type in any case, with or without
/// parameters (`; charset=utf-8`).
pub fn is_json(headers: &HeaderMap) -> bool {
    // On bytes: it runs on every request and every error answer (routes/edge.rs).
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    let media = value.iter().position(|&b| b == b';').map_or(value, |end| &value[..end]);
    media.trim_ascii().eq_ignore_ascii_case(b"application/json")
}

/// Methods whose requests carry a body. Every route of the relay that takes one takes JSON.
pub fn carries_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

pub fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Send the request body as JSON with 'Content-Type: application/json'.",
    )
}

/// `axum::extract::Query` with a 400 `invalid_query` in the error shape.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(q)) => Ok(Self(q)),
            Err(e) => Err(ApiError::bad_request(
                "invalid_query",
                format!("The query string is not of the documented shape: {}.", e.body_text()),
            )),
        }
    }
}

/// `axum::extract::Path` with a 400 `invalid_path` in the error shape.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(p)) => Ok(Self(p)),
            Err(e) => Err(ApiError::bad_request(
                "invalid_path",
                format!("A part of this URL's path is not valid: {}.", e.body_text()),
            )),
        }
    }
}
