//! Secret generation, keyed hashing and constant-time comparison.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use latch_wire::token::{encode_secret, REFRESH_TOKEN_PREFIX};

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

/// A tenant's webhook signing secret (`whsec_…`): derived from the pepper, the tenant and
/// the random nonce stored when it was issued, so the database holds no usable secret and
/// a new nonce (`tenant update --webhook-url`) issues a new one.
pub fn webhook_secret(pepper: &[u8], tenant_id: &str, nonce: &str) -> String {
    derived_secret(pepper, b"latch webhook secret\0", &[tenant_id, "\0", nonce], "whsec_")
}

/// The SHA-256 of a secret, hex: stored beside a derived secret's nonce to tell which pepper
/// made it. (A digest of 256 random bits reveals nothing usable.)
pub fn fingerprint(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
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

/// Fewest bytes a configured secret may have: 256 bits, as the generated ones.
pub const MIN_SECRET_BYTES: usize = 32;

/// The keys of the token layer: the HMAC pepper of every token hash at rest and the HS256
/// access-token signing secret, each with the previous one kept while rotating. They come
/// from outside the database (env or files), so a copy of the database (a backup, a
/// replica, the SQLite file) can neither forge access tokens nor derive refresh tokens.
pub struct TokenKeys {
    pub pepper: Vec<u8>,
    /// Refresh tokens hashed under it still rotate (onto `pepper`), so rotating the pepper
    /// logs nobody out; drop it after one refresh lifetime.
    pub previous_pepper: Option<Vec<u8>>,
    pub signing: Vec<u8>,
    /// Access tokens signed with it still verify until they expire.
    pub previous_signing: Option<Vec<u8>>,
    /// Generated and kept in the database (`--dev` only).
    pub from_database: bool,
}

impl TokenKeys {
    /// `LATCH_TOKEN_SECRET`, `LATCH_TOKEN_PEPPER` and their `PREVIOUS_` companions, each as
    /// the value or `…_FILE`. Without the current two: generated once and kept in the
    /// database if `allow_database` (development), else an error that says what to set.
    /// `stored(name)` reads (or first generates) a secret kept in the database.
    pub async fn load(
        allow_database: bool,
        stored: impl AsyncFn(&'static str) -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<Self> {
        let signing = secret_from_env("LATCH_TOKEN_SECRET")?;
        let pepper = secret_from_env("LATCH_TOKEN_PEPPER")?;
        let previous_signing = secret_from_env("LATCH_TOKEN_PREVIOUS_SECRET")?;
        let previous_pepper = secret_from_env("LATCH_TOKEN_PREVIOUS_PEPPER")?;
        let (signing, pepper, from_database) = match (signing, pepper) {
            (Some(signing), Some(pepper)) => (signing, pepper, false),
            (signing, pepper) if allow_database => {
                let signing = match signing {
                    Some(s) => s,
                    None => stored("token_secret").await?,
                };
                let pepper = match pepper {
                    Some(p) => p,
                    None => stored("token_pepper").await?,
                };
                (signing, pepper, true)
            }
            _ => anyhow::bail!(
                "set LATCH_TOKEN_SECRET and LATCH_TOKEN_PEPPER (or LATCH_TOKEN_SECRET_FILE and \
                 LATCH_TOKEN_PEPPER_FILE), each at least {MIN_SECRET_BYTES} bytes, e.g. `openssl rand -hex 32`; \
                 they must not live in the database. For development only, --dev generates them into the database"
            ),
        };
        Ok(Self { pepper, previous_pepper, signing, previous_signing, from_database })
    }
}

impl TokenKeys {
    /// Random keys kept nowhere, for owner commands that neither hash nor sign a token.
    pub fn throwaway() -> Self {
        let (pepper, signing) = (random_bytes().to_vec(), random_bytes().to_vec());
        Self { pepper, previous_pepper: None, signing, previous_signing: None, from_database: false }
    }
}

/// A secret from `NAME` (the value) or `NAME_FILE` (a file holding it, trimmed), at least
/// [`MIN_SECRET_BYTES`] long either way; `None` when neither is set.
fn secret_from_env(name: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let (secret, from) = if let Ok(path) = std::env::var(format!("{name}_FILE")) {
        let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{name}_FILE {path}: {e}"))?;
        (text.trim().to_owned(), format!("{name}_FILE"))
    } else {
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => (v, name.to_owned()),
            _ => return Ok(None),
        }
    };
    anyhow::ensure!(
        secret.len() >= MIN_SECRET_BYTES,
        "{from} must hold at least {MIN_SECRET_BYTES} bytes (it has {}); e.g. `openssl rand -hex 32`",
        secret.len()
    );
    Ok(Some(secret.into_bytes()))
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
        assert!(latch_wire::token::is_pairing_token(&new_secret("lpt_")));
        assert_ne!(new_secret("lpt_"), new_secret("lpt_"));
    }
}
