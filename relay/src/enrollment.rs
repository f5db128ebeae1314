//! Enterprise auto-pair (PROTOCOL §8): a tenant's Ed25519 enrollment keys, the assertions
//! an admin signs with one (`{tenantId, userId, aud, exp, nonce}` as an EdDSA JWT whose
//! `kid` names the key), and their verification: signature, audience, expiry, tenant, and
//! single use of the nonce (enforced by the database in `db::enrollment::enroll`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A private key as handed to the admin: this prefix + the 32-byte seed in base64url.
pub const PRIVATE_KEY_PREFIX: &str = "lesk_";
/// The longest an assertion may be valid: a leaked, unused one is worthless after this.
pub const MAX_LIFETIME_MS: u64 = 30 * 24 * 3600 * 1000;
/// How long after its use a nonce still refuses a replay: an assertion accepted then
/// expired at most [`MAX_LIFETIME_MS`] (plus leeway) later and is accepted until its expiry
/// plus leeway. The cleanup keeps used nonces at least this long.
pub const NONCE_NEEDED_MS: u64 = MAX_LIFETIME_MS + 2 * LEEWAY_SECONDS * 1000;
/// Clock difference between the admin's machine and the relay that is forgiven.
const LEEWAY_SECONDS: u64 = 60;

/// What an assertion says. `exp` is JWT seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub tenant_id: String,
    pub user_id: String,
    pub aud: String,
    pub exp: u64,
    pub nonce: String,
}

/// The id of a public key: derived from it, so an assertion can be signed without the
/// relay's database and names its key (`kid`).
pub fn key_id(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    format!("lek_{}", B64.encode(&digest[..12]))
}

/// A fresh key pair: `(private key for the admin, public key in base64url)`.
pub fn generate() -> (String, String) {
    let signing = SigningKey::from_bytes(&crate::secrets::random_bytes());
    let private = format!("{PRIVATE_KEY_PREFIX}{}", B64.encode(signing.to_bytes()));
    (private, B64.encode(signing.verifying_key().to_bytes()))
}

/// A public key given as 32 bytes of base64url, if it is a valid Ed25519 point.
pub fn parse_public_key(text: &str) -> Option<[u8; 32]> {
    let bytes: [u8; 32] = B64.decode(text.trim()).ok()?.try_into().ok()?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()?;
    Some(bytes)
}

fn parse_private_key(text: &str) -> Option<SigningKey> {
    let seed: [u8; 32] = B64.decode(text.trim().strip_prefix(PRIVATE_KEY_PREFIX)?).ok()?.try_into().ok()?;
    Some(SigningKey::from_bytes(&seed))
}

/// Signs `claims` with the admin's private key (`lesk_…`).
pub fn sign(private_key: &str, claims: &Claims) -> Result<String, String> {
    let signing = parse_private_key(private_key).ok_or("the private key is not a Latch enrollment key (lesk_…)")?;
    let der = signing.to_pkcs8_der().map_err(|e| e.to_string())?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key_id(&signing.verifying_key().to_bytes()));
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).map_err(|e| e.to_string())
}

/// A new nonce for an assertion: 128 random bits.
pub fn new_nonce() -> String {
    B64.encode(&crate::secrets::random_bytes()[..16])
}

/// Why an assertion is refused. Each names what the admin has to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a JWT, not EdDSA, no `kid`, or claims of the wrong shape.
    Malformed,
    /// No active key of that id, a bad signature, or a tenant other than the key's.
    Invalid,
    Expired,
    WrongAudience,
    /// Valid for longer than `MAX_LIFETIME_MS`.
    TooLongLived,
    /// Its nonce already enrolled a browser.
    Replayed,
}

/// The assertion's key id, read before the signature is checked (to find the key).
pub fn kid(assertion: &str) -> Result<String, Refusal> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Refusal::Malformed)?;
    if header.alg != Algorithm::EdDSA {
        return Err(Refusal::Malformed);
    }
    header.kid.filter(|k| k.len() <= 64).ok_or(Refusal::Malformed)
}

/// Checks signature (with `public_key`, base64url), audience, expiry, lifetime and tenant.
pub fn verify(
    assertion: &str,
    public_key: &str,
    key_tenant: &str,
    audience: &str,
    now_ms: u64,
) -> Result<Claims, Refusal> {
    use jsonwebtoken::errors::ErrorKind;
    // A stored key is always 32 bytes (checked when registered); jsonwebtoken slices it.
    parse_public_key(public_key).ok_or(Refusal::Invalid)?;
    let key = DecodingKey::from_ed_components(public_key).map_err(|_| Refusal::Invalid)?;
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "aud"]);
    // Expiry is checked below against the relay's clock (`now_ms`), not jsonwebtoken's.
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<Claims>(assertion, &key, &v)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => Refusal::Expired,
            ErrorKind::InvalidAudience => Refusal::WrongAudience,
            ErrorKind::InvalidSignature | ErrorKind::InvalidEddsaKey => Refusal::Invalid,
            _ => Refusal::Malformed,
        })?
        .claims;
    if claims.exp.saturating_add(LEEWAY_SECONDS).saturating_mul(1000) <= now_ms {
        return Err(Refusal::Expired);
    }
    if claims.tenant_id != key_tenant {
        return Err(Refusal::Invalid);
    }
    if claims.exp.saturating_mul(1000) > now_ms + MAX_LIFETIME_MS + LEEWAY_SECONDS * 1000 {
        return Err(Refusal::TooLongLived);
    }
    let nonce_ok = (16..=128).contains(&claims.nonce.len())
        && claims.nonce.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if !nonce_ok {
        return Err(Refusal::Malformed);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "https://latch.example.com";
    const NOW: u64 = 1_800_000_000_000;

    fn claims(exp_ms: u64) -> Claims {
        Claims {
            tenant_id: "acme".into(),
            user_id: "dana".into(),
            aud: AUD.into(),
            exp: exp_ms / 1000,
            nonce: "n0nce-0123456789abcdef".into(),
        }
    }

    #[test]
    fn a_signed_assertion_verifies_with_its_key_and_names_it() {
        let (private, public) = generate();
        let a = sign(&private, &claims(NOW + 3_600_000)).unwrap();
        assert_eq!(kid(&a).unwrap(), key_id(&parse_public_key(&public).unwrap()));
        assert_eq!(verify(&a, &public, "acme", AUD, NOW), Ok(claims(NOW + 3_600_000)));
    }

    #[test]
    fn tampering_expiry_audience_tenant_and_lifetime_are_refused() {
        let (private, public) = generate();
        let a = sign(&private, &claims(NOW + 3_600_000)).unwrap();
        // Another user id with the original signature.
        let mut parts: Vec<String> = a.split('.').map(String::from).collect();
        let mut body: serde_json::Value = serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
        body["userId"] = "mallory".into();
        parts[1] = B64.encode(serde_json::to_vec(&body).unwrap());
        assert_eq!(verify(&parts.join("."), &public, "acme", AUD, NOW), Err(Refusal::Invalid));
        // Another key's signature.
        let (_, other_public) = generate();
        assert_eq!(verify(&a, &other_public, "acme", AUD, NOW), Err(Refusal::Invalid));
        assert_eq!(verify(&a, &public, "other-tenant", AUD, NOW), Err(Refusal::Invalid));
        assert_eq!(verify(&a, &public, "acme", "https://elsewhere.example", NOW), Err(Refusal::WrongAudience));
        let old = sign(&private, &claims(NOW - 120_000)).unwrap();
        assert_eq!(verify(&old, &public, "acme", AUD, NOW), Err(Refusal::Expired));
        let forever = sign(&private, &claims(NOW + MAX_LIFETIME_MS + 3_600_000)).unwrap();
        assert_eq!(verify(&forever, &public, "acme", AUD, NOW), Err(Refusal::TooLongLived));
        let short_nonce = sign(&private, &Claims { nonce: "x".into(), ..claims(NOW + 60_000) }).unwrap();
        assert_eq!(verify(&short_nonce, &public, "acme", AUD, NOW), Err(Refusal::Malformed));
        for junk in ["", "a.b.c", "not a jwt", &"x".repeat(5000)] {
            assert!(kid(junk).is_err() || verify(junk, &public, "acme", AUD, NOW).is_err(), "{junk}");
        }
        // HS256 with the public key as the secret (algorithm confusion) is not EdDSA.
        let hs = jsonwebtoken::encode(
            &Header { kid: Some("lek_x".into()), ..Header::new(Algorithm::HS256) },
            &claims(NOW + 60_000),
            &EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap();
        assert_eq!(kid(&hs), Err(Refusal::Malformed));
    }

    #[test]
    fn keys_are_checked_when_given() {
        let (private, public) = generate();
        assert!(parse_public_key(&public).is_some());
        assert!(parse_public_key("AAAA").is_none());
        assert!(parse_public_key(&B64.encode([0u8; 31])).is_none());
        assert!(sign("lak_not_an_enrollment_key", &claims(NOW)).is_err());
        assert!(private.starts_with(PRIVATE_KEY_PREFIX));
        assert!(new_nonce().len() >= 16);
    }
}
