//! DPoP proofs (RFC 9449) for the key-bound phases, made per request as the extension makes
//! them, and the ceiling's handler: one ES256 verification with the crate the relay uses.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};

/// One client key and its proofs.
pub struct Prover {
    key: SigningKey,
    header: String,
}

static NEXT_JTI: AtomicU64 = AtomicU64::new(0);

impl Prover {
    pub fn new() -> Self {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let (x, y) = (URL_SAFE_NO_PAD.encode(point.x().unwrap()), URL_SAFE_NO_PAD.encode(point.y().unwrap()));
        let header =
            format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}}}"#);
        Self { key, header: URL_SAFE_NO_PAD.encode(header) }
    }

    /// A fresh proof for `method` on `url`, with the access token's hash when one goes with it.
    pub fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        let jti = NEXT_JTI.fetch_add(1, Ordering::Relaxed);
        let iat = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let ath = token.map(|t| format!(r#","ath":"{}""#, URL_SAFE_NO_PAD.encode(Sha256::digest(t.as_bytes()))));
        let claims = format!(
            r#"{{"jti":"b{jti}-{}","htm":"{method}","htu":"{url}","iat":{iat}{}}}"#,
            std::process::id(),
            ath.unwrap_or_default()
        );
        let input = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(claims));
        let sig: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }
}

/// The ceiling: a proof's signature checked against its own `jwk`, nothing else.
pub fn verify_only(proof: &str) -> bool {
    let mut parts = proof.splitn(3, '.');
    let (Some(h), Some(c), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(header) = URL_SAFE_NO_PAD.decode(h) else { return false };
    let Ok(header) = serde_json::from_slice::<serde_json::Value>(&header) else { return false };
    let (Some(x), Some(y)) = (header["jwk"]["x"].as_str(), header["jwk"]["y"].as_str()) else {
        return false;
    };
    let Ok(key) = jsonwebtoken::DecodingKey::from_ec_components(x, y) else { return false };
    let signed = &proof[..h.len() + 1 + c.len()];
    jsonwebtoken::crypto::verify(sig, signed.as_bytes(), &key, jsonwebtoken::Algorithm::ES256).unwrap_or(false)
}
