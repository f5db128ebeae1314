//! Server nonces (RFC 9449 §8) without state: a nonce is its issue time and a MAC over it,
//! so any instance sharing the token secret can check one another issued, and a restart
//! forgets nothing. A client whose clock is off gets one with `use_dpop_nonce` and puts it
//! in its next proofs instead of relying on `iat`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A nonce is good this long after it was issued (ms).
pub const NONCE_LIFETIME_MS: u64 = 300_000;
/// The MAC's length in the nonce: 128 bits.
const TAG_BYTES: usize = 16;

pub struct Nonces {
    key: Vec<u8>,
}

impl Nonces {
    /// `secret` is the token signing secret; the nonce key is derived from it so a nonce
    /// MAC is never an access-token signature.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"latch dpop nonce key");
        Self { key: mac.finalize().into_bytes().to_vec() }
    }

    fn tag(&self, issued_ms: u64) -> [u8; TAG_BYTES] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(&issued_ms.to_be_bytes());
        let full = mac.finalize().into_bytes();
        full[..TAG_BYTES].try_into().expect("a SHA-256 MAC is 32 bytes")
    }

    /// A nonce issued now.
    pub fn issue(&self, now_ms: u64) -> String {
        let mut raw = now_ms.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.tag(now_ms));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// When `nonce` was issued, if this relay issued it and it is still good at `now_ms`.
    pub fn issued_at(&self, nonce: &str, now_ms: u64) -> Option<u64> {
        let raw = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        if raw.len() != 8 + TAG_BYTES {
            return None;
        }
        let issued_ms = u64::from_be_bytes(raw[..8].try_into().ok()?);
        let authentic: bool = self.tag(issued_ms).ct_eq(&raw[8..]).into();
        let live = issued_ms <= now_ms && now_ms - issued_ms <= NONCE_LIFETIME_MS;
        (authentic && live).then_some(issued_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_for_its_lifetime_from_the_relay_that_issued_it_only() {
        let nonces = Nonces::new(b"secret");
        let n = nonces.issue(1_000_000);
        assert_eq!(nonces.issued_at(&n, 1_000_000), Some(1_000_000));
        assert_eq!(nonces.issued_at(&n, 1_000_000 + NONCE_LIFETIME_MS), Some(1_000_000));
        assert_eq!(nonces.issued_at(&n, 1_000_001 + NONCE_LIFETIME_MS), None, "expired");
        assert_eq!(nonces.issued_at(&n, 999_999), None, "issued in the future");
        assert_eq!(Nonces::new(b"other").issued_at(&n, 1_000_000), None, "another relay's");
        let mut forged = URL_SAFE_NO_PAD.decode(&n).unwrap();
        forged[7] ^= 1; // another issue time under the same tag
        assert_eq!(nonces.issued_at(&URL_SAFE_NO_PAD.encode(forged), 1_000_000), None);
        assert_eq!(nonces.issued_at("not base64!", 1_000_000), None);
    }
}
