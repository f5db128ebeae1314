//! DPoP on HTTP (PROTOCOL §12): the `DPoP` header, its check against the request, the
//! `jti` spent, and the refusals in the error shape with their `WWW-Authenticate` challenge.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};

use crate::clock::now_ms;
use crate::dpop::{self, Checked, Expected, Refusal};
use crate::error::{ApiError, ApiResult, DpopChallenge};
use crate::AppState;

pub const DPOP_HEADER: &str = "dpop";

/// 401 `invalid_dpop_proof` with the reason.
pub fn invalid(reason: &str) -> ApiError {
    let mut e = ApiError::unauthorized("invalid_dpop_proof", format!("The DPoP proof was refused: {reason}."));
    e.dpop = Some(Box::new(DpopChallenge {
        www_authenticate: r#"DPoP error="invalid_dpop_proof", algs="ES256""#,
        nonce: None,
    }));
    e
}

/// 401 `use_dpop_nonce` with a fresh nonce in `DPoP-Nonce`.
pub fn use_nonce(s: &AppState) -> ApiError {
    let mut e = ApiError::unauthorized(
        "use_dpop_nonce",
        "Make the DPoP proof again with the nonce in this answer's DPoP-Nonce header.",
    );
    e.dpop = Some(Box::new(DpopChallenge {
        www_authenticate: r#"DPoP error="use_dpop_nonce", algs="ES256""#,
        nonce: Some(s.nonces.issue(now_ms())),
    }));
    e
}

fn refused(s: &AppState, r: Refusal) -> ApiError {
    match r {
        Refusal::Invalid(reason) => invalid(reason),
        Refusal::UseNonce => use_nonce(s),
    }
}

/// The request's one `DPoP` header, if it sent one.
pub fn proof_header(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    let mut all = headers.get_all(DPOP_HEADER).iter();
    let (Some(one), None) = (all.next(), all.next()) else {
        return match headers.contains_key(DPOP_HEADER) {
            true => Err(invalid("send one DPoP header, not several")),
            false => Ok(None),
        };
    };
    one.to_str().map(Some).map_err(|_| invalid("the DPoP header is not text"))
}

/// The URL a request for `path` was sent to, as the proof's `htu` names it.
pub fn request_url(s: &AppState, path: &str) -> String {
    format!("{}{path}", s.cfg.public_url)
}

/// Checks the request's proof, if it has one, against its method, URL and access token,
/// and spends the proof's `jti`; its key's thumbprint. `None`: no proof came.
pub async fn verify(
    s: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    access_token: Option<&str>,
) -> ApiResult<Option<Checked>> {
    let Some(proof) = proof_header(headers)? else {
        return Ok(None);
    };
    let url = request_url(s, path);
    let expected = Expected { method: method.as_str(), url: &url, access_token, nonce: None };
    let now = now_ms();
    let checked = dpop::check(proof, &expected, &s.nonces, now).map_err(|r| refused(s, r))?;
    s.replay.spend(&checked, now).await?.map_err(|r| refused(s, r))?;
    Ok(Some(checked))
}

/// The key a binding holds must be the proof's: refused otherwise (no proof, or another
/// key's). A binding with no key takes any request, with or without a proof.
pub fn holds_key(bound: Option<&str>, proof: Option<&Checked>) -> ApiResult<()> {
    match (bound, proof) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(invalid("this binding is key-bound; send a DPoP proof signed by its key")),
        (Some(jkt), Some(p)) if p.jkt == jkt => Ok(()),
        (Some(_), Some(_)) => Err(invalid("the proof is signed by another key than this binding's")),
    }
}

/// The request's DPoP proof where no access token comes with it (the requests that create
/// a binding, refresh, revoke), checked and its `jti` spent; `None` when it sent none.
pub struct Proof(pub Option<Checked>);

impl FromRequestParts<AppState> for Proof {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> ApiResult<Self> {
        verify(s, &parts.method, parts.uri.path(), &parts.headers, None).await.map(Self)
    }
}

impl Proof {
    /// The key's thumbprint, if a proof came.
    pub fn jkt(&self) -> Option<&str> {
        self.0.as_ref().map(|p| p.jkt.as_str())
    }
}

/// The nonce a socket's next `auth` proof must carry (PROTOCOL §12): fresh in `hello` and
/// in each `auth_ack`, so a recorded `auth` frame is good for no other socket and no later
/// renewal. Kept as 16 bytes: 10,000 idle sessions each hold one.
#[derive(Clone, Copy)]
pub struct SocketNonce([u8; 16]);

impl SocketNonce {
    pub fn fresh() -> Self {
        Self(rand::random())
    }

    pub fn text(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0)
    }
}

pub const SESSION_PATH: &str = "/api/session";

/// The `auth` frame's proof, for a token bound to a key: made by that key for `GET` on the
/// session URL, with the token's hash and the socket's nonce. The `error` frame's code when
/// refused; a token not bound to a key needs none.
pub fn check_socket_proof(
    s: &AppState,
    jkt: Option<&str>,
    token: &str,
    proof: &str,
    nonce: SocketNonce,
) -> Result<(), &'static str> {
    let Some(jkt) = jkt else {
        return Ok(());
    };
    if proof.is_empty() {
        return Err("invalid_dpop_proof");
    }
    let (url, nonce) = (request_url(s, SESSION_PATH), nonce.text());
    let expected = Expected { method: "GET", url: &url, access_token: Some(token), nonce: Some(&nonce) };
    match dpop::check(proof, &expected, &s.nonces, now_ms()) {
        Ok(p) if p.jkt == jkt => Ok(()),
        Err(Refusal::UseNonce) => Err("use_dpop_nonce"),
        Ok(_) | Err(Refusal::Invalid(_)) => Err("invalid_dpop_proof"),
    }
}
