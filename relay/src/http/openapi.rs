//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole HTTP API, for integrators'
//! client generators. It is not written by hand: every operation comes from its handler's
//! `#[utoipa::path]` (beside the handler, with the error codes it answers), every body from
//! its Rust type (`ToSchema`), and `routes!` registers each route in the router from that
//! same attribute (`http::documented`), so the document cannot name a path or method the
//! router lacks, nor the reverse. What the edge layer adds to every route (408, 413, 415)
//! is added here, once, by [`EdgeAnswers`].

use std::sync::LazyLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use latch_wire::api::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latch relay",
        description = "Pairing, tokens and messages between an app and its users' browsers. \
            Every error answers `{\"error\": code, \"message\": sentence}` (the schema `ErrorBody`); \
            each operation lists the codes it can answer under each status. A path the relay \
            does not serve answers 404 `not_found`; a method a path does not take, 405 \
            `method_not_allowed` with `Allow`; a request it cannot read (a body cut off), 400 \
            `bad_request`. PROTOCOL.md has the flows these operations make up.",
        license(name = "MIT", identifier = "MIT"),
    ),
    modifiers(&Security),
    components(schemas(ErrorBody)),
    tags(
        (name = "app", description = "Called by the app's server, with its API key."),
        (name = "extension", description = "Called by the Latch extension: pairing, then its access token."),
        (name = "pages", description = "Pages and scripts for browsers: embed.js, the connect page, the status frame."),
        (name = "operations", description = "Health checks for orchestrators, and this document."),
    )
)]
pub struct ApiDoc;

// Descriptions of the answers many operations share, each listing its codes.
pub const API_KEY_REFUSED: &str =
    "`api_key_required`: no `Authorization: Bearer <apiKey>` header; `api_key_invalid`: the key is unknown or revoked.";
pub const ACCESS_TOKEN_REFUSED: &str = "`access token required`: no `Authorization: Bearer <accessToken>` (or `DPoP <accessToken>`) header; `access token invalid`: the token is not valid, expired, or its binding was revoked (the token gate's exact strings, PROTOCOL §7); `invalid_dpop_proof`: the token is key-bound (`cnf.jkt`) and came as Bearer, without a `DPoP` proof, or with one that is not for this request and key (replayed, another method or URL, wrong `ath`), or it is not key-bound and came as DPoP; `use_dpop_nonce`: the proof's `iat` is too far from the relay's clock, make it again with the `DPoP-Nonce` answered (PROTOCOL §12). Both DPoP refusals carry `WWW-Authenticate: DPoP error=…`.";
pub const DPOP_REFUSED: &str = "`invalid_dpop_proof`: the `DPoP` proof is malformed, not signed by its `jwk`, replayed, made for another method or URL, or (a binding's retry or refresh) not by the binding's key; `use_dpop_nonce`: its `iat` is too far from the relay's clock, make it again with the `DPoP-Nonce` answered (PROTOCOL §12). Both carry `WWW-Authenticate: DPoP error=…`.";
/// The `DPoP` request header (RFC 9449 §4).
pub const DPOP_HEADER: &str = "A DPoP proof (RFC 9449): a compact JWS, `typ` `dpop+jwt`, `alg` ES256, the public `jwk`; claims `jti`, `htm`, `htu`, `iat`, and `ath` where an access token goes with it. Binds a new binding to the key (PROTOCOL §12); required on every later use of a key-bound binding's tokens.";
pub const RATE_LIMITED: &str =
    "`rate_limited`: too many of these requests; `retryAfter` and `Retry-After` say how many seconds to wait.";
pub const STORAGE_UNAVAILABLE: &str = "`storage_unavailable`: the relay's database is unavailable; try again shortly.";
pub const MALFORMED_TOKEN: &str =
    "`malformed_token`: `pairingToken` is missing or not `lpt_` and 43 base64url characters.";
pub const INVALID_REQUEST: &str = "`invalid_request`: the body is not a JSON object of this shape.";

/// The two bearer credentials: the app's API key and the extension's access token.
struct Security;

/// Security scheme names used by `security(...)` in the handlers' attributes.
pub const API_KEY: &str = "apiKey";
pub const ACCESS_TOKEN: &str = "accessToken";

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let api_key = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The app's API key (`lak_…`), made with `latch-relay key create`."))
            .build();
        let access = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("The binding's access token, from a redeem, a code confirm or a refresh; a key-bound binding's as `Authorization: DPoP <token>` with a `DPoP` proof header (PROTOCOL §12)."))
            .build();
        components.add_security_scheme(API_KEY, SecurityScheme::Http(api_key));
        components.add_security_scheme(ACCESS_TOKEN, SecurityScheme::Http(access));
    }
}

/// The answers `http::edge` gives on every route, which no handler states: 408 past the
/// request timeout on any operation; 413 past the body limit on every operation that takes
/// a body, and 415 without a JSON `Content-Type` on every POST, PATCH and PUT. Applied by
/// `http::openapi` once the routes are in (utoipa runs `modifiers` before they are).
pub struct EdgeAnswers;

impl Modify for EdgeAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            // POST, PATCH and PUT are refused without a JSON media type (`http::edge`).
            let operations = [
                (&mut item.get, false),
                (&mut item.delete, false),
                (&mut item.post, true),
                (&mut item.patch, true),
                (&mut item.put, true),
            ];
            for (op, takes_body) in operations {
                let Some(op) = op else { continue };
                let mut add = |status: &str, codes: &str| {
                    op.responses.responses.entry(status.to_owned()).or_insert_with(|| error(codes));
                };
                add("408", "`request_timeout`: the request took too long to arrive or to answer.");
                if op.request_body.is_some() {
                    add("413", "`payload_too_large`: the body is larger than this operation accepts.");
                }
                if takes_body {
                    add(
                        "415",
                        "`unsupported_media_type`: a body that is not `Content-Type: application/json`; on operations that need no credential, also a request with no body and no type.",
                    );
                }
            }
        }
    }
}

/// An error answer in the relay's shape, with the codes it can carry.
fn error(codes: &str) -> RefOr<utoipa::openapi::Response> {
    let body = utoipa::openapi::ContentBuilder::new().schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")));
    RefOr::T(ResponseBuilder::new().description(codes).content("application/json", body.build()).build())
}

/// The document as served, made once.
static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| super::openapi().to_json().expect("the OpenAPI document serialises"));

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json", operation_id = "getOpenApiDocument",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this relay's HTTP API.", content_type = "application/json", body = Object)),
)]
pub async fn document() -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        DOCUMENT.as_str(),
    )
        .into_response()
}
