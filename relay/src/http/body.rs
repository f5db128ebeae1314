//! Request helpers: JSON bodies with our error shape, bearer credentials and the JSON
//! media type every body-carrying request needs.

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
    match access_credential(headers)? {
        (Scheme::Bearer, cred) => Some(cred),
        (Scheme::Dpop, _) => None,
    }
}

/// How an access token was presented: as a bearer token, or bound to a key (PROTOCOL §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// The credential of an `Authorization: Bearer …` or `Authorization: DPoP …` header, if
/// present and non-empty.
pub fn access_credential(headers: &HeaderMap) -> Option<(Scheme, &str)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, cred) = value.split_once(' ')?;
    let cred = cred.trim();
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    (!cred.is_empty()).then_some((scheme, cred))
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

/// No `Content-Type` and a body known to be empty (no `Content-Length` or `Content-Length: 0`,
/// no `Transfer-Encoding`: hyper's body then reports an exact size of 0).
pub fn is_bare_and_empty<B: http_body::Body>(req: &axum::http::Request<B>) -> bool {
    !req.headers().contains_key(header::CONTENT_TYPE) && req.body().size_hint().exact() == Some(0)
}

/// Marks a bodiless POST, PUT or PATCH without `Content-Type` that the edge let through to
/// routing. Any page can send one cross-site without a preflight (`navigator.sendBeacon`,
/// a `no-cors` fetch), so the client-address extractor every per-address limit is keyed by
/// refuses it with 415 (`client_addr::ClientAddr`). Every other route needs a credential a
/// page can't send, or parses a body before it counts anything.
#[derive(Clone, Copy, Debug)]
pub struct Bare;

pub fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Send the request body as JSON with 'Content-Type: application/json'.",
    )
}
