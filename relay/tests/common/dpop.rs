//! A DPoP client for tests (RFC 9449): a P-256 key and the proofs it signs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The fixtures' public URL: every `htu` names it.
pub const BASE: &str = "http://localhost:8787";

pub struct Key {
    signing: SigningKey,
    pub x: String,
    pub y: String,
}

pub fn now_secs() -> u64 {
    latch_relay::clock::now_ms() / 1000
}

pub fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

impl Key {
    pub fn new() -> Self {
        let signing = SigningKey::random(&mut rand::rngs::OsRng);
        let point = signing.verifying_key().to_encoded_point(false);
        let x = URL_SAFE_NO_PAD.encode(point.x().unwrap());
        let y = URL_SAFE_NO_PAD.encode(point.y().unwrap());
        Self { signing, x, y }
    }

    /// RFC 7638 thumbprint, computed here from the RFC's text, not by the relay's code.
    pub fn jkt(&self) -> String {
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, self.x, self.y);
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    pub fn jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y})
    }

    /// A proof with this header and these claims, signed.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig: Signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    /// The claims of a fresh proof for `method` on the relay's `path`, with the access
    /// token's hash when one goes with it.
    pub fn claims(&self, method: &str, path: &str, token: Option<&str>) -> Value {
        let mut c = json!({
            "jti": latch_relay::secrets::new_id("jti_"),
            "htm": method,
            "htu": format!("{BASE}{path}"),
            "iat": now_secs(),
        });
        if let Some(t) = token {
            c["ath"] = json!(ath(t));
        }
        c
    }

    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()})
    }

    /// A fresh proof for `method` on `path`.
    pub fn proof(&self, method: &str, path: &str, token: Option<&str>) -> String {
        self.sign(&self.header(), &self.claims(method, path, token))
    }

    /// A fresh proof with some claims changed.
    pub fn proof_with(&self, method: &str, path: &str, token: Option<&str>, change: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims(method, path, token);
        change(&mut claims);
        self.sign(&self.header(), &claims)
    }
}
