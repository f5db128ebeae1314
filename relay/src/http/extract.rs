//! The extractors handlers take instead of checking by hand: the app behind an API key,
//! a JSON body, a query string and path in the error shape, and the abuse limits. Axum
//! runs part extractors in the order a handler lists them and the body last, so a
//! handler that lists a limit before `JsonBody` refuses an over-limit caller before its body
//! is read, and one that lists `App` first refuses a caller without a valid key before
//! anything else.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::body::{bearer, parse_json};
use super::client_addr::ClientAddr;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::limits::{Limits, RateLimiter};
use crate::AppState;

/// The app behind a request's API key.
pub struct App {
    pub tenant_id: String,
    pub key_id: String,
    pub label: String,
    pub tenant_name: String,
}

/// The app behind the request's API key, as an extractor: a handler that takes an `App`
/// runs only for an active key (401 `api_key_required` / `api_key_invalid` otherwise).
/// List it after the handler's other part extractors, which are checked first.
impl FromRequestParts<AppState> for App {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> ApiResult<Self> {
        authenticate_app(s, &parts.headers).await
    }
}

/// The API key of the request's bearer header.
async fn authenticate_app(s: &AppState, headers: &HeaderMap) -> ApiResult<App> {
    let key = bearer(headers).ok_or_else(|| {
        ApiError::unauthorized("api_key_required", "Send your API key as 'Authorization: Bearer <apiKey>'.")
    })?;
    let invalid = || ApiError::unauthorized("api_key_invalid", "The API key is unknown or revoked.");
    let key_id = db::api_key_id(key).ok_or_else(invalid)?;
    let record = s.api_keys.get_or_load(&key_id, || db::active_api_key(&s.db, &key_id)).await?.ok_or_else(invalid)?;
    if !record.matches(key) {
        return Err(invalid());
    }
    Ok(App { tenant_id: record.tenant_id, key_id, label: record.label, tenant_name: record.tenant_name })
}

/// A JSON body of the documented shape; anything else is a 400 `invalid_request`. (A body
/// the server would not take at all, too large or cut off, keeps axum's own rejection,
/// which the edge layer puts in the error shape.)
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let body = Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        parse_json(&body).map(Self).map_err(IntoResponse::into_response)
    }
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

/// One abuse limit on one route: which limiter, and what the 429 says was too many.
pub trait Limit {
    fn limiter(limits: &Limits) -> &RateLimiter;
    const TOO_MANY: &'static str;
}

/// The client's address ([`ClientAddr`], which refuses a bare request before it can be
/// counted), admitted by limit `L` counted per address.
pub struct PerAddress<L>(pub String, pub PhantomData<L>);

impl<L: Limit> FromRequestParts<AppState> for PerAddress<L> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> ApiResult<Self> {
        let ClientAddr(addr) = ClientAddr::from_request_parts(parts, s).await?;
        L::limiter(&s.limits).admit(&addr, L::TOO_MANY)?;
        Ok(Self(addr, PhantomData))
    }
}

/// The app behind the API key, admitted by limit `L` counted per API key.
pub struct PerKey<L>(pub App, pub PhantomData<L>);

impl<L: Limit> FromRequestParts<AppState> for PerKey<L> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> ApiResult<Self> {
        let app = App::from_request_parts(parts, s).await?;
        L::limiter(&s.limits).admit(&app.key_id, L::TOO_MANY)?;
        Ok(Self(app, PhantomData))
    }
}

macro_rules! limits {
    ($($(#[$doc:meta])* $name:ident => $field:ident, $too_many:literal;)*) => {$(
        $(#[$doc])*
        pub enum $name {}
        impl Limit for $name {
            fn limiter(limits: &Limits) -> &RateLimiter {
                &limits.$field
            }
            const TOO_MANY: &'static str = $too_many;
        }
    )*};
}

limits! {
    /// `POST /pairing-tokens`, per API key.
    TokensMinted => mint, "pairing tokens minted with this API key";
    /// `POST /pairing-tokens/describe`.
    TokensDescribed => describe, "pairing tokens looked up from this address";
    /// `POST /pairing-tokens/redeem`.
    TokensRedeemed => redeem, "pairing tokens redeemed from this address";
    /// `POST /api/pairing/request`.
    CodesRequested => challenge, "codes requested";
    /// `POST /api/pairing/confirm`: unauthenticated and writing, so held to the redeem limit.
    CodesConfirmed => redeem, "codes confirmed from this address";
    /// `POST /api/pairing/reject`.
    CodesRejected => redeem, "codes rejected from this address";
    /// `POST /api/enterprise/enroll`.
    Enrollments => redeem, "enrollments from this address";
    /// `POST /api/pairing/approve` and `/deny`, per API key.
    CodesTried => approve, "codes tried with this API key";
}
