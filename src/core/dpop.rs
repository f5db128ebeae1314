//! DPoP proofs (PROTOCOL §12, RFC 9449 §4.2) as the extension makes them: the JOSE header
//! and claims of a proof, and which requests carry one. The signing is the shell's
//! (`crypto.subtle` with the binding's non-extractable key); what is signed is decided here.

/// The public half of a binding's P-256 key: its coordinates, base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub x: String,
    pub y: String,
}

impl PublicJwk {
    pub fn p256(x: String, y: String) -> Self {
        Self { x, y }
    }

    /// The proof's JOSE header. Written out, not serialised: the worker links no serde code
    /// for it (BENCHMARKS.md, the worker's size), and the coordinates are base64url, which
    /// JSON never escapes (WebCrypto's `exportKey` wrote them).
    pub fn header_json(&self) -> String {
        format!(
            r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}}}"#,
            self.x, self.y
        )
    }
}

/// A proof's claims: a fresh `jti`, the request's method and URL (no query), when it was
/// made (seconds, this browser's clock), the access token's hash when one goes with it, and
/// the relay's nonce when it handed one out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofClaims<'a> {
    pub jti: &'a str,
    pub htm: &'a str,
    pub htu: &'a str,
    pub iat: u64,
    pub ath: Option<&'a str>,
    pub nonce: Option<&'a str>,
}

impl ProofClaims<'_> {
    /// The claims as JSON; `quote` writes a JSON string (the shell's `JSON.stringify`), for
    /// the values a relay or URL chose.
    pub fn to_json(&self, quote: &dyn Fn(&str) -> String) -> String {
        let mut out = format!(
            r#"{{"jti":{},"htm":{},"htu":{},"iat":{}"#,
            quote(self.jti),
            quote(self.htm),
            quote(self.htu),
            self.iat
        );
        if let Some(ath) = self.ath {
            out.push_str(&format!(r#","ath":{}"#, quote(ath)));
        }
        if let Some(nonce) = self.nonce {
            out.push_str(&format!(r#","nonce":{}"#, quote(nonce)));
        }
        out.push('}');
        out
    }
}

/// The IndexedDB slot of the key a pairing makes: named after (the SHA-256 of) the
/// pairing's own retry secret (redeem or enroll key), so a retry after a lost answer signs
/// with the same key the relay bound, and a new pairing never finds an old key.
pub fn pairing_slot(retry_key_hash: &str) -> String {
    format!("pairing:{retry_key_hash}")
}

/// The slot of the key a binding made before keys gets on its next refresh (PROTOCOL §12
/// "no pairing lost on upgrade"): one per binding, so the refresh's retry reuses it.
pub fn upgrade_slot(binding_id: &str) -> String {
    format!("binding:{binding_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    fn parsed(json: &str) -> serde_json::Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn header_and_claims_have_rfc_9449_s_shape() {
        let jwk = PublicJwk::p256("X-_1".into(), "Y".into());
        assert_eq!(
            parsed(&jwk.header_json()),
            serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256", "x": "X-_1", "y": "Y"}})
        );
        let claims = ProofClaims { jti: "j", htm: "GET", htu: "http://r/api/me", iat: 7, ath: Some("h"), nonce: None };
        assert_eq!(
            parsed(&claims.to_json(&quote)),
            serde_json::json!({"jti": "j", "htm": "GET", "htu": "http://r/api/me", "iat": 7, "ath": "h"})
        );
        let hostile = "\"},\"htm\":\"POST";
        let claims = ProofClaims { nonce: Some(hostile), ath: None, ..claims };
        assert_eq!(parsed(&claims.to_json(&quote))["nonce"], hostile, "a relay's nonce can't add a claim");
    }

    #[test]
    fn slots_of_pairings_and_upgrades_never_meet() {
        assert_ne!(pairing_slot("b1"), upgrade_slot("b1"));
        assert_eq!(pairing_slot("lrk_a"), pairing_slot("lrk_a"), "a retry finds the same key");
    }
}
