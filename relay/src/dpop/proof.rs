//! One DPoP proof (RFC 9449 §4.3) checked without I/O: its shape, header, signature,
//! method, URL, age or nonce, and access-token hash. What is left for the caller is what
//! needs state: that its `jti` was not seen before ([`super::replay`]) and that its key is
//! the one the binding holds.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::de::IgnoredAny;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::nonce::Nonces;

/// A proof is a few hundred bytes; anything much larger is not one.
pub const MAX_PROOF_BYTES: usize = 4096;
/// A `jti` longer than this is refused (panva's `dpop` sends 43 characters).
const MAX_JTI_CHARS: usize = 128;
/// A proof without a nonce is taken this long after its `iat` on the relay's clock
/// (seconds). The extension stamps `iat` on the relay's clock (`serverTime`); a client whose
/// clock is further off is told to use a nonce instead (`use_dpop_nonce`).
pub const MAX_AGE_SECS: u64 = 60;
/// …and this far ahead of it (a clock slightly ahead of the relay's).
pub const MAX_AHEAD_SECS: u64 = 60;

/// What the request looked like, for the proof to be held against.
pub struct Expected<'a> {
    /// `GET`, `POST`…
    pub method: &'a str,
    /// The URL the client called, as the relay's public URL names it, no query.
    pub url: &'a str,
    /// The access token sent with the request (`ath` must be its hash).
    pub access_token: Option<&'a str>,
    /// A nonce the proof must carry exactly (the socket's `hello`), else any nonce the
    /// relay issued lately, or none with a fresh `iat`.
    pub nonce: Option<&'a str>,
}

/// A proof that passed: its key's RFC 7638 thumbprint, its `jti`, when it was made (its
/// `iat`, or its nonce's issue) and until when its `jti` must stay unusable (ms since the
/// epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub jkt: String,
    pub jti: String,
    pub made_at_ms: u64,
    pub replayable_until_ms: u64,
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401 `invalid_dpop_proof`; the reason is for the message and the log.
    Invalid(&'static str),
    /// 401 `use_dpop_nonce`: the proof needs a (fresh) nonce.
    UseNonce,
}

#[derive(Deserialize)]
struct Header {
    typ: String,
    alg: String,
    jwk: PublicJwk,
    /// A header naming extensions it depends on is not one we understand (RFC 7515 §4.1.11).
    crit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct PublicJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    /// A private key in the header is refused (RFC 9449 §4.3 step 7).
    d: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: u64,
    ath: Option<String>,
    nonce: Option<String>,
}

/// The proof's key thumbprint (RFC 7638) for a P-256 key: SHA-256 over the required members
/// in lexicographic order, base64url.
pub fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// `ath`: base64url SHA-256 of the access token's ASCII (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A base64url coordinate of P-256: exactly 32 bytes, canonical (the thumbprint hashes the
/// text, so two spellings of one key must not pass).
fn is_coordinate(c: &str) -> bool {
    c.len() == 43 && URL_SAFE_NO_PAD.decode(c).is_ok_and(|b| b.len() == 32 && URL_SAFE_NO_PAD.encode(&b) == c)
}

fn part<T: serde::de::DeserializeOwned>(b64: &str, what: &'static str) -> Result<T, Refusal> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| Refusal::Invalid(what))?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Invalid(what))
}

/// `htu` names the same resource as `expected`: scheme and host compared as URLs do
/// (case, default port), path exactly, query and fragment ignored (RFC 9449 §4.3 step 9).
fn same_url(htu: &str, expected: &str) -> bool {
    let (Ok(mut got), Ok(want)) = (url::Url::parse(htu), url::Url::parse(expected)) else {
        return false;
    };
    got.set_query(None);
    got.set_fragment(None);
    got.as_str() == want.as_str()
}

/// Checks `proof` against the request at `now_ms` on the relay's clock.
pub fn check(proof: &str, expected: &Expected, nonces: &Nonces, now_ms: u64) -> Result<Checked, Refusal> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(Refusal::Invalid("the proof is too long"));
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(c), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Refusal::Invalid("the proof is not a compact JWS"));
    };
    let header: Header = part(h, "the proof's header is not of the DPoP shape")?;
    if header.typ != "dpop+jwt" {
        return Err(Refusal::Invalid("the proof's typ is not dpop+jwt"));
    }
    if header.alg != "ES256" {
        return Err(Refusal::Invalid("the proof's alg is not ES256"));
    }
    if header.crit.is_some() {
        return Err(Refusal::Invalid("the proof names critical extensions"));
    }
    let jwk = &header.jwk;
    if jwk.d.is_some() {
        return Err(Refusal::Invalid("the proof's jwk holds a private key"));
    }
    if jwk.kty != "EC" || jwk.crv != "P-256" || !is_coordinate(&jwk.x) || !is_coordinate(&jwk.y) {
        return Err(Refusal::Invalid("the proof's jwk is not a P-256 public key"));
    }
    let key = DecodingKey::from_ec_components(&jwk.x, &jwk.y).map_err(|_| Refusal::Invalid("bad key"))?;
    let signed = &proof[..h.len() + 1 + c.len()];
    // An off-curve point fails here as a bad signature does.
    let valid = jsonwebtoken::crypto::verify(sig, signed.as_bytes(), &key, Algorithm::ES256).unwrap_or(false);
    if !valid {
        return Err(Refusal::Invalid("the proof's signature does not verify with its jwk"));
    }
    let claims: Claims = part(c, "the proof's claims are not of the DPoP shape")?;
    if claims.jti.is_empty() || claims.jti.chars().count() > MAX_JTI_CHARS {
        return Err(Refusal::Invalid("the proof's jti is empty or too long"));
    }
    if claims.htm != expected.method {
        return Err(Refusal::Invalid("the proof was made for another method"));
    }
    if !same_url(&claims.htu, expected.url) {
        return Err(Refusal::Invalid("the proof was made for another URL"));
    }
    match (expected.access_token, &claims.ath) {
        (Some(token), Some(ath)) if *ath == access_token_hash(token) => {}
        (Some(_), _) => return Err(Refusal::Invalid("the proof's ath is not the access token's hash")),
        (None, Some(_)) => return Err(Refusal::Invalid("the proof carries an ath but no access token came")),
        (None, None) => {}
    }
    let (made_at_ms, replayable_until_ms) = freshness(&claims, expected.nonce, nonces, now_ms)?;
    Ok(Checked { jkt: thumbprint(&jwk.x, &jwk.y), jti: claims.jti, made_at_ms, replayable_until_ms })
}

/// Whether the proof is fresh: it carries the exact nonce required, or a nonce the relay
/// issued lately, or (no nonce required) an `iat` within the window. When it was made, and
/// until when a proof like it would still pass, so its `jti` is kept that long.
fn freshness(claims: &Claims, required: Option<&str>, nonces: &Nonces, now_ms: u64) -> Result<(u64, u64), Refusal> {
    if let Some(required) = required {
        return match &claims.nonce {
            Some(n) if n == required => Ok((now_ms, now_ms)),
            _ => Err(Refusal::UseNonce),
        };
    }
    if let Some(issued_ms) = claims.nonce.as_deref().and_then(|n| nonces.issued_at(n, now_ms)) {
        return Ok((issued_ms, issued_ms + super::nonce::NONCE_LIFETIME_MS));
    }
    let now_secs = now_ms / 1000;
    let fresh = claims.iat.saturating_add(MAX_AGE_SECS) >= now_secs && claims.iat <= now_secs + MAX_AHEAD_SECS;
    if fresh {
        Ok((claims.iat * 1000, (claims.iat + MAX_AGE_SECS + 1) * 1000))
    } else {
        // Too old, too new, or a nonce that is not ours or expired: the client's clock may
        // be off; a nonce from us makes its clock irrelevant.
        Err(Refusal::UseNonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_is_rfc_7638_s_as_jsonwebtoken_computes_it() {
        let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let (x, y) = (URL_SAFE_NO_PAD.encode(point.x().unwrap()), URL_SAFE_NO_PAD.encode(point.y().unwrap()));
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y})).unwrap();
        assert_eq!(thumbprint(&x, &y), jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256));
    }

    #[test]
    fn htu_is_compared_as_a_url_without_query_or_fragment() {
        let want = "http://localhost:8787/api/me";
        assert!(same_url("HTTP://LOCALHOST:8787/api/me?x=1#f", want));
        assert!(same_url("https://relay.example:443/api/me", "https://relay.example/api/me"));
        assert!(!same_url("http://localhost:8787/api/me/", want));
        assert!(!same_url("http://localhost:8788/api/me", want));
        assert!(!same_url("http://localhost:8787/API/me", want));
        assert!(!same_url("not a url", want));
    }

    #[test]
    fn a_coordinate_is_32_bytes_spelled_one_way_only() {
        let c = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert!(is_coordinate(&c));
        // The last character carries 4 spare bits; another value of them is the same bytes.
        let mut other = c.clone();
        other.pop();
        other.push('D');
        assert_eq!(URL_SAFE_NO_PAD.decode(&other).ok(), None, "the base64 crate refuses non-canonical trailing bits");
        assert!(!is_coordinate(&other));
        assert!(!is_coordinate(&URL_SAFE_NO_PAD.encode([7u8; 31])));
        assert!(!is_coordinate(&format!("{c}=")));
    }
}
