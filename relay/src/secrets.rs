//! Secret generation, keyed hashing and constant-time comparison.

use hmac::{Hmac, Mac};
use latch::core::token::{encode_secret, REFRESH_TOKEN_PREFIX};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 bytes from the OS CSPRNG.
pub fn random_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// A new secret `prefix` + 43 base64url characters.
pub fn new_secret(prefix: &str) -> String {
    encode_secret(prefix, &random_bytes())
}

/// A short random identifier (`prefix` + 16 hex digits), not a secret.
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

/// Keyed hash of a high-entropy token, used as its lookup key at rest. The pepper lives
/// apart from the rows it protects (setting or env), so a leaked row alone is useless.
pub fn token_hash(pepper: &[u8], token: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper).expect("HMAC takes any key length");
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The successor of a refresh token: derived, not random, so a retry after a lost
/// response yields the same successor while the relay stores only hashes.
pub fn successor_token(pepper: &[u8], prefix: &str, token: &str) -> String {
    derived_secret(pepper, b"latch refresh successor\0", &[token], prefix)
}

/// The first refresh token of a redeem that carried a redeem key: derived from the pairing
/// token and the key, so a retry of a redeem whose answer was lost gets the same token
/// back while the relay stores only its hash. Without both secrets nobody can derive it.
pub fn redeemed_refresh_token(pepper: &[u8], pairing_token: &str, redeem_key: &str) -> String {
    derived_secret(pepper, b"latch redeem\0", &[pairing_token, "\0", redeem_key], REFRESH_TOKEN_PREFIX)
}

/// The first refresh token of a confirmed code pairing: derived from the challenge id and
/// the confirm's redeem key (both secrets of the requesting extension), so a confirm whose
/// answer was lost, retried with the same key, gets the same token back while the relay
/// stores only its hash. Its own context label: never equal to a redeem's token.
pub fn confirmed_refresh_token(pepper: &[u8], challenge_id: &str, redeem_key: &str) -> String {
    derived_secret(pepper, b"latch code confirm\0", &[challenge_id, "\0", redeem_key], REFRESH_TOKEN_PREFIX)
}

/// A refresh token derived from a secret only its rightful holder knows (a challenge id),
/// under a context label, so it can be handed out again without being stored.
pub fn derived_refresh_token(pepper: &[u8], context: &[u8], secret: &str) -> String {
    derived_secret(pepper, context, &[secret], REFRESH_TOKEN_PREFIX)
}

/// `prefix` + the keyed hash of `context` and `parts`, as a token-shaped secret.
fn derived_secret(pepper: &[u8], context: &[u8], parts: &[&str], prefix: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper).expect("HMAC takes any key length");
    mac.update(context);
    for p in parts {
        mac.update(p.as_bytes());
    }
    let bytes: [u8; 32] = mac.finalize().into_bytes().into();
    encode_secret(prefix, &bytes)
}

/// Salted hash of an API key secret.
pub fn salted_hash(salt: &[u8], secret: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().to_vec()
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_and_distinct() {
        assert_ne!(token_hash(b"a", "t"), token_hash(b"b", "t"));
        assert_eq!(token_hash(b"a", "t"), token_hash(b"a", "t"));
        assert_ne!(salted_hash(b"s1", "k"), salted_hash(b"s2", "k"));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn secrets_have_the_token_shape() {
        assert!(latch::core::token::is_pairing_token(&new_secret("lpt_")));
        assert_ne!(new_secret("lpt_"), new_secret("lpt_"));
    }
}
