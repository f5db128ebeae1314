//! One-click token pairing: mint (app server), describe (connect page / extension),
//! redeem (extension, after the user's Approve).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use latch_wire::api::{
    BindingInfo, DescribeResponse, ErrorBody, MintRequest, MintResponse, PairingTokenRequest, RedeemRequest,
    TokenGrant, REDEEM_RETRY_MS,
};
use latch_wire::name_policy::display_name;
use latch_wire::panel::PromptVia;
use latch_wire::token::{
    is_pairing_token, is_redeem_key, is_refresh_token, PAIRING_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX,
};
use latch_wire::EpochMs;

use super::body::parse_json;
use super::device::pairing_device_name;
use super::dpop::{holds_key, Proof};
use super::extract::{App, PerAddress, PerKey, TokensDescribed, TokensMinted, TokensRedeemed};
use super::openapi::{API_KEY_REFUSED, DPOP_HEADER, DPOP_REFUSED, MALFORMED_TOKEN, RATE_LIMITED, STORAGE_UNAVAILABLE};
use crate::clock::now_ms;
use crate::db::{self, TokenRow};
use crate::error::{ApiError, ApiResult, ErrorWithReturnUrl};
use crate::secrets::{new_secret, redeemed_refresh_token, token_hash};
use crate::AppState;

/// A user id is 1–128 characters with no control or format characters and no
/// surrounding whitespace: it is shown to the user beneath the app name.
pub(super) fn valid_user_id(v: &serde_json::Value) -> Option<String> {
    let s = v.get("userId")?.as_str()?;
    is_valid_user_id(s).then(|| s.to_owned())
}

/// The rule of [`valid_user_id`] for a string (enrollment assertions, the CLI that signs them).
pub fn is_valid_user_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= 128
        && s.trim() == s
        && !s.chars().any(|c| c.is_control() || is_format_char(c))
}

fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

/// The app asks for a pairing token for one of its signed-in users.
#[utoipa::path(
    post,
    path = "/pairing-tokens", operation_id = "createPairingToken",
    tag = "app",
    security(("apiKey" = [])),
    request_body = MintRequest,
    responses(
        (status = 201, description = "A pairing token for this user, and the connect page's link that carries it.", body = MintResponse),
        (status = 400, description = "`invalid_user_id`: `userId` is not 1–128 characters without control or format characters and surrounding spaces (also for a body that is not JSON); `invalid_return_url`: `returnUrl` is not an http(s) URL on one of this app's registered origins, at most 2048 characters.", body = ErrorBody),
        (status = 401, description = API_KEY_REFUSED, body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn mint(
    State(s): State<AppState>,
    PerKey(App { tenant_id, key_id, label, tenant_name }, _): PerKey<TokensMinted>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<MintResponse>)> {
    let body = parse_json::<serde_json::Value>(&body).unwrap_or_default();
    let user_id = valid_user_id(&body).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_user_id",
            "userId must be a string of 1–128 characters without control characters.",
        )
    })?;
    let return_url = mint_return_url(&s, &body, &tenant_id).await?;
    let token = new_secret(PAIRING_TOKEN_PREFIX);
    let now = now_ms();
    let expires_at = now + s.cfg.pairing_ttl_ms;
    let row = db::PairingToken {
        hash: token_hash(&s.pepper, &token),
        tenant_id: tenant_id.clone(),
        user_id,
        key_id: key_id.clone(),
        app_name: display_name(Some(&label), &tenant_name, &tenant_id),
        now,
        expires_at,
    };
    db::insert_pairing_token(&s.store, row).await?;
    tracing::info!(tenant = %tenant_id, key = %key_id, "pairing token minted");
    let mut connect_url = format!("{}/connect#token={token}", s.cfg.public_url);
    if let Some(url) = return_url {
        // The connect page reads its fragment with URLSearchParams.
        let encoded: String = url::form_urlencoded::byte_serialize(url.as_str().as_bytes()).collect();
        connect_url.push_str(&format!("&return={encoded}"));
    }
    s.metrics.started("token");
    Ok((
        StatusCode::CREATED,
        Json(MintResponse { pairing_token: token, expires_at: EpochMs::from_ms(expires_at), connect_url }),
    ))
}

/// The name the consent prompt shows: the one worked out at mint, or for a token minted
/// before names were stored, key label → tenant name → tenant id, each through the
/// consent-name policy (as mint does).
pub fn app_name(row: &TokenRow) -> String {
    match &row.app_name {
        Some(named) => named.clone(),
        None => display_name(Some(&row.key_label), &row.tenant_name, &row.tenant_id),
    }
}

fn token_from(body: &[u8]) -> ApiResult<String> {
    let req: PairingTokenRequest = parse_json(body).map_err(|_| malformed())?;
    if !is_pairing_token(&req.pairing_token) {
        return Err(malformed());
    }
    Ok(req.pairing_token)
}

fn malformed() -> ApiError {
    ApiError::bad_request("malformed_token", "This is not a Latch pairing token; copy it again from the app.")
}

/// Why a token that could not be used was refused.
fn unusable(row: Option<&TokenRow>, now: u64) -> ApiError {
    match row {
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "token_not_found",
            "This pairing token is unknown; ask the app for a new one.",
        ),
        Some(r) if r.used => ApiError::new(StatusCode::CONFLICT, "token_used", "This pairing token was already used."),
        Some(r) if r.key_revoked => ApiError::new(
            StatusCode::GONE,
            "token_revoked",
            "The app's key that made this pairing token was revoked; ask the app for a new one.",
        ),
        Some(r) if r.expires_at <= now => ApiError::new(
            StatusCode::GONE,
            "token_expired",
            "This pairing token has expired; ask the app for a new one.",
        ),
        Some(_) => ApiError::new(StatusCode::CONFLICT, "token_used", "This pairing token was already used."),
    }
}

/// Describe's request: the token, and the connect page's `return` parameter (its
/// fragment, which never reaches the relay otherwise). The token is read by [`token_from`]
/// first, for its own error; this struct is read for `returnUrl` and documents the shape.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRequest {
    #[allow(dead_code)]
    #[schema(pattern = "^lpt_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")]
    pairing_token: String,
    /// The connect page's `return` parameter: becomes `returnUrl` in the answer when it
    /// is on one of the app's registered origins.
    #[serde(default)]
    return_url: Option<String>,
}

/// Describe's answer: the shared description plus, as an extension of PROTOCOL.md, the
/// connect page's "Back to the app" link ([`back_link`]).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Described {
    #[serde(flatten)]
    description: DescribeResponse,
    /// Where the connect page's "Back to" link leads: an address on the app's origins.
    #[serde(skip_serializing_if = "Option::is_none")]
    return_url: Option<String>,
}

/// Longest `returnUrl` the relay offers back.
const MAX_RETURN_URL: usize = 2048;

/// Where the connect page's "Back to the app" link may lead: `requested` when it is an
/// http(s) URL without userinfo whose origin (as a browser parses it, default ports
/// folded) is one of the tenant's registered `origins`; otherwise the first registered
/// origin; with none registered, nowhere. The link arrives in the page's fragment, which
/// anyone crafting a connect link chooses: a hostile one must never become a link on the
/// relay's page (`javascript:`, a look-alike site, a port or scheme twin).
pub fn back_link(requested: Option<&str>, origins: &[String]) -> Option<String> {
    let registered = registered_origins(origins);
    match requested.and_then(|r| allowed_return(r, &registered)) {
        Some(url) => Some(url.to_string()),
        None => registered.first().map(|o| format!("{}/", o.ascii_serialization())),
    }
}

/// The tenant's registered origins as a browser compares them.
fn registered_origins(origins: &[String]) -> Vec<url::Origin> {
    origins
        .iter()
        .filter(|o| super::is_plain_origin(o))
        .filter_map(|o| url::Url::parse(o).ok())
        .map(|u| u.origin())
        .filter(url::Origin::is_tuple)
        .collect()
}

/// `page` as a browser would link it, when it is an http(s) page on one of `origins` by
/// [`back_link`]'s rule (the owner's `tenant create --pair-url`).
pub fn page_on_origins(page: &str, origins: &[String]) -> Option<String> {
    allowed_return(page, &registered_origins(origins)).map(|u| u.to_string())
}

/// `requested` when it may be a link back to the app (see [`back_link`]).
fn allowed_return(requested: &str, registered: &[url::Origin]) -> Option<url::Url> {
    // The length is held on the URL as parsed (the form that is linked and sent again):
    // normalising can triple non-ASCII text, and describe checks that form.
    url::Url::parse(requested)
        .ok()
        .filter(|u| u.as_str().len() <= MAX_RETURN_URL)
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .filter(|u| u.username().is_empty() && u.password().is_none())
        .filter(|u| registered.contains(&u.origin()))
}

/// Mint's optional `returnUrl` (seed 000: the user comes back to the app): a page on one of
/// the tenant's registered origins, by [`back_link`]'s rule, or a 400 — an app gets told,
/// not silently given a connect link without its way back.
async fn mint_return_url(s: &AppState, body: &serde_json::Value, tenant_id: &str) -> ApiResult<Option<url::Url>> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_return_url",
            "returnUrl must be an http(s) URL on one of this app's registered origins, at most 2048 characters.",
        )
    };
    let requested = match body.get("returnUrl") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(r)) => r,
        Some(_) => return Err(invalid()),
    };
    let origins = db::tenant(&s.db, tenant_id).await?.map(|t| t.origins).unwrap_or_default();
    allowed_return(requested, &registered_origins(&origins)).map(Some).ok_or_else(invalid)
}

/// The connect page (and the extension) read what a pairing token is for, without using it.
#[utoipa::path(
    post,
    path = "/pairing-tokens/describe", operation_id = "describePairingToken",
    tag = "extension",
    request_body = DescribeRequest,
    responses(
        (status = 200, description = "Who asks: the app's name and origins, the user, the token's expiry.", body = Described),
        (status = 400, description = MALFORMED_TOKEN, body = ErrorBody),
        (status = 404, description = "`token_not_found`: no such pairing token.", body = ErrorBody),
        (status = 409, description = "`token_used`: the token was already used. Carries `returnUrl` when the app registered an origin.", body = ErrorWithReturnUrl),
        (status = 410, description = "`token_revoked`: the key that minted it was revoked; `token_expired`: it expired. Both carry `returnUrl` when the app registered an origin.", body = ErrorWithReturnUrl),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn describe(
    State(s): State<AppState>,
    _: PerAddress<TokensDescribed>,
    body: Bytes,
) -> ApiResult<Json<Described>> {
    let token = token_from(&body)?;
    let requested = parse_json::<DescribeRequest>(&body).ok().and_then(|e| e.return_url);
    let now = now_ms();
    let row = db::pairing_token(&s.db, &token_hash(&s.pepper, &token)).await?;
    let return_url = row.as_ref().and_then(|r| back_link(requested.as_deref(), &r.tenant_origins));
    match row {
        Some(r) if !r.used && !r.key_revoked && r.expires_at > now => Ok(Json(Described {
            description: DescribeResponse {
                app_name: app_name(&r),
                app_origins: r.tenant_origins.iter().filter(|o| super::is_plain_origin(o)).cloned().collect(),
                tenant_id: r.tenant_id,
                user_id: r.user_id,
                expires_at: EpochMs::from_ms(r.expires_at),
                server_time: Some(EpochMs::from_ms(now)),
            },
            return_url,
        })),
        other => {
            let mut refused = unusable(other.as_ref(), now);
            refused.return_url = return_url;
            Err(refused)
        }
    }
}

/// The extension, after the user's Approve, turns the pairing token into a binding.
#[utoipa::path(
    post,
    path = "/pairing-tokens/redeem", operation_id = "redeemPairingToken",
    tag = "extension",
    request_body = RedeemRequest,
    params(("DPoP" = Option<String>, Header, description = DPOP_HEADER)),
    responses(
        (status = 200, description = "The binding and its first tokens. A retry with the same `redeemKey` whose first answer was lost gets the same binding.", body = TokenGrant),
        (status = 400, description = "`malformed_token`: `pairingToken` is missing or not `lpt_` and 43 base64url characters; `invalid_request`: the body is not of this shape; `invalid_redeem_key`: `redeemKey` is not `lrk_` and 43 base64url characters.", body = ErrorBody),
        (status = 401, description = DPOP_REFUSED, body = ErrorBody),
        (status = 404, description = "`token_not_found`: no such pairing token.", body = ErrorBody),
        (status = 409, description = "`token_used`: the token was already used.", body = ErrorBody),
        (status = 410, description = "`token_revoked`: the key that minted it was revoked; `token_expired`: it expired.", body = ErrorBody),
        (status = 429, description = RATE_LIMITED, body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = STORAGE_UNAVAILABLE, body = ErrorBody),
    ),
)]
pub async fn redeem(
    State(s): State<AppState>,
    _: PerAddress<TokensRedeemed>,
    proof: Proof,
    body: Bytes,
) -> ApiResult<Json<TokenGrant>> {
    let token = token_from(&body)?;
    // Strict: a `redeemKey` beside a `deviceName` of another type must not be dropped
    // silently (a retry would then make a second binding).
    let req = parse_json::<RedeemRequest>(&body)?;
    let device_name = pairing_device_name(&req.device_name);
    let redeem_key = req.redeem_key;
    if redeem_key.as_deref().is_some_and(|k| !is_redeem_key(k)) {
        return Err(ApiError::bad_request(
            "invalid_redeem_key",
            "redeemKey must be lrk_ followed by 43 base64url characters.",
        ));
    }
    let via = match req.via {
        Some(PromptVia::OneClick) => db::Via::OneClick,
        None | Some(PromptVia::PastedToken) => db::Via::PastedToken,
        Some(PromptVia::Code) => {
            return Err(ApiError::bad_request("invalid_request", "via is one_click or pasted_token for a redeem."))
        }
    };
    let now = now_ms();
    let hash = token_hash(&s.pepper, &token);
    let refresh_token = match &redeem_key {
        Some(key) => redeemed_refresh_token(&s.pepper, &token, key),
        None => new_secret(REFRESH_TOKEN_PREFIX),
    };
    debug_assert!(is_refresh_token(&refresh_token));
    let refresh_hash = token_hash(&s.pepper, &refresh_token);
    let refresh_expires_at = now + s.cfg.refresh_ttl_ms;
    let redeem = db::Redeem {
        hash: hash.clone(),
        device_name,
        dpop_jkt: proof.jkt().map(str::to_owned),
        via,
        now,
        refresh_hash: refresh_hash.clone(),
        refresh_expires_at,
    };
    let redeemed = db::redeem_pairing_token(&s.store, redeem).await?;
    let (b, refresh_expires_at) = match redeemed {
        Some(b) => {
            tracing::info!(tenant = %b.tenant_id, binding = %b.binding_id, "pairing token redeemed");
            s.metrics.completed("token");
            (b, refresh_expires_at)
        }
        None => {
            let row = db::pairing_token(&s.db, &hash).await?;
            // A retry of a redeem that committed but whose answer was lost: same key, same
            // binding, while its refresh token is unused. Never a second binding.
            let retry_window = row.as_ref().is_some_and(|r| r.used && now < r.expires_at + REDEEM_RETRY_MS);
            let again = match redeem_key {
                Some(_) if retry_window => db::unanswered_redeem(&s.db, &refresh_hash).await?,
                _ => None,
            };
            let Some(again) = again else {
                if row.as_ref().is_some_and(|r| r.used) {
                    s.metrics.redeem_conflicts.inc();
                }
                return Err(unusable(row.as_ref(), now));
            };
            // The retry must come from the browser that holds the binding's key.
            holds_key(again.0.dpop_jkt.as_deref(), proof.0.as_ref())?;
            tracing::info!(tenant = %again.0.tenant_id, binding = %again.0.binding_id, "redeem answered again after a lost answer");
            again
        }
    };
    let jkt = b.dpop_jkt.clone();
    Ok(Json(token_grant(&s, b.into(), jkt.as_deref(), refresh_token, refresh_expires_at, now)))
}

/// The answer that hands a binding's tokens to the extension (redeem, code confirm,
/// enroll): a fresh access token, bound to `dpop_jkt` when the binding holds a key, beside
/// the given refresh token, stamped with the relay's clock.
pub(super) fn token_grant(
    s: &AppState,
    binding: BindingInfo,
    dpop_jkt: Option<&str>,
    refresh_token: String,
    refresh_expires_at: u64,
    now: u64,
) -> TokenGrant {
    let (access_token, access_expires_at) =
        s.signer.issue(&binding.binding_id, &binding.tenant_id, &binding.user_id, dpop_jkt, now, s.cfg.access_ttl_ms);
    TokenGrant {
        binding,
        access_token,
        refresh_token,
        access_expires_at: EpochMs::from_ms(access_expires_at),
        refresh_expires_at: EpochMs::from_ms(refresh_expires_at),
        server_time: Some(EpochMs::from_ms(now)),
        token_type: Some(super::auth::token_type(dpop_jkt).into()),
    }
}
