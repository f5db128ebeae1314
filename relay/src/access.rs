//! Access tokens: short-lived HS256 JWTs with the claims of PROTOCOL §3, and `cnf.jkt`
//! (RFC 9449 §6) when the binding holds a key (§12). Verification accepts the current key
//! and an optional previous one, so rotating the signing key doesn't log anyone out before
//! their token would expire anyway.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const AUDIENCE: &str = "latch-extension";
pub const SCOPES: &[&str] = &["errands", "captures"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The binding id.
    pub sub: String,
    pub tid: String,
    pub uid: String,
    pub scopes: Vec<String>,
    /// Seconds since the epoch, as JWT requires.
    pub iat: u64,
    pub exp: u64,
    /// The key this token is bound to: presented only as `Authorization: DPoP` with a proof
    /// signed by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 9449 §6.1: the confirmation of a DPoP-bound token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Confirmation {
    pub jkt: String,
}

impl Claims {
    /// The thumbprint of the key this token is bound to, if it is.
    pub fn jkt(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.jkt.as_str())
    }
}

pub struct Signer {
    issuer: String,
    current: (EncodingKey, DecodingKey),
    previous: Option<DecodingKey>,
    validation: Validation,
}

impl Signer {
    pub fn new(issuer: &str, current: &[u8], previous: Option<&[u8]>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 0;
        Self {
            issuer: issuer.to_owned(),
            current: (EncodingKey::from_secret(current), DecodingKey::from_secret(current)),
            previous: previous.map(DecodingKey::from_secret),
            validation,
        }
    }

    /// Signs a token for `binding`, bound to the key `jkt` names if any; returns it with its
    /// expiry (ms since epoch).
    pub fn issue(
        &self,
        binding_id: &str,
        tenant_id: &str,
        user_id: &str,
        jkt: Option<&str>,
        now_ms: u64,
        ttl_ms: u64,
    ) -> (String, u64) {
        let exp_ms = now_ms + ttl_ms;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.into(),
            sub: binding_id.into(),
            tid: tenant_id.into(),
            uid: user_id.into(),
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
            iat: now_ms / 1000,
            exp: exp_ms / 1000,
            cnf: jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
        };
        let token =
            encode(&Header::new(Algorithm::HS256), &claims, &self.current.0).expect("HS256 signing cannot fail");
        (token, exp_ms)
    }

    /// Signature, issuer, audience and expiry; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        std::iter::once(&self.current.1)
            .chain(self.previous.as_ref())
            .find_map(|key| decode::<Claims>(token, key, &self.validation).ok())
            .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> u64 {
        crate::clock::now_ms()
    }

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let s = Signer::new("http://relay", b"k1", None);
        let (t, _) = s.issue("b1", "acme", "dana", None, now(), 60_000);
        let c = s.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.tid.as_str(), c.uid.as_str()), ("b1", "acme", "dana"));
        let mut bad = t.clone();
        bad.pop();
        assert!(s.verify(&bad).is_none());
        assert!(Signer::new("http://other", b"k1", None).verify(&t).is_none());
        assert!(Signer::new("http://relay", b"k2", None).verify(&t).is_none());
    }

    #[test]
    fn previous_key_still_verifies_and_expired_tokens_fail() {
        let old = Signer::new("http://relay", b"old", None);
        let (t, _) = old.issue("b1", "acme", "dana", None, now(), 60_000);
        assert!(Signer::new("http://relay", b"new", Some(b"old")).verify(&t).is_some());
        let (expired, _) = old.issue("b1", "acme", "dana", None, now() - 120_000, 60_000);
        assert!(old.verify(&expired).is_none());
    }
}
