//! Shapes of the secrets that cross the extension boundary. Shape checks run before
//! anything is parked or sent, so junk never reaches storage or the relay.

/// Prefix of a pairing token (`lpt_` + 43 base64url characters = 256 random bits).
pub const PAIRING_TOKEN_PREFIX: &str = "lpt_";
/// Prefix of a refresh token (same body shape as a pairing token).
pub const REFRESH_TOKEN_PREFIX: &str = "lrt_";
/// Prefix of a redeem key: a secret the extension makes for one approval and sends with
/// every redeem attempt of it, so a redeem whose answer was lost can be answered again.
pub const REDEEM_KEY_PREFIX: &str = "lrk_";
/// Length of the base64url body of a 32-byte secret without padding.
pub const SECRET_BODY_LEN: usize = 43;

// Encoding by RustCrypto's base64ct (constant-time), not a hand-written alphabet.
use base64ct::{Base64UrlUnpadded, Encoding};

fn is_base64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// `prefix` followed by exactly 43 base64url characters whose last character encodes
/// only 2 meaningful bits, i.e. a canonical encoding of 32 bytes. Checked by hand rather
/// than by decoding with base64ct: the decoder costs the worker 1.9 KB gzip for a check
/// of shape, and the proptest below holds this against base64ct's own canonical decoding.
fn has_secret_shape(s: &str, prefix: &str) -> bool {
    let Some(body) = s.strip_prefix(prefix) else {
        return false;
    };
    let bytes = body.as_bytes();
    bytes.len() == SECRET_BODY_LEN
        && bytes.iter().all(|&c| is_base64url(c))
        && is_canonical_last_char(bytes[SECRET_BODY_LEN - 1])
}

/// 43 chars carry 258 bits for 256 bits of data: the last char's low 2 bits must be zero.
fn is_canonical_last_char(c: u8) -> bool {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        _ => 63,
    };
    v & 0b11 == 0
}

/// True for a well-formed pairing token. Says nothing about validity at the relay.
pub fn is_pairing_token(s: &str) -> bool {
    has_secret_shape(s, PAIRING_TOKEN_PREFIX)
}

/// True for a well-formed refresh token.
pub fn is_refresh_token(s: &str) -> bool {
    has_secret_shape(s, REFRESH_TOKEN_PREFIX)
}

/// True for a well-formed redeem key.
pub fn is_redeem_key(s: &str) -> bool {
    has_secret_shape(s, REDEEM_KEY_PREFIX)
}

/// Encodes 32 random bytes as a secret with the given prefix.
pub fn encode_secret(prefix: &str, bytes: &[u8; 32]) -> String {
    let mut body = [0u8; SECRET_BODY_LEN];
    let body = Base64UrlUnpadded::encode(bytes, &mut body).expect("43 characters hold 32 bytes");
    [prefix, body].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_a_minted_token() {
        let t = encode_secret(PAIRING_TOKEN_PREFIX, &[7u8; 32]);
        assert_eq!(t.len(), 4 + 43);
        assert!(is_pairing_token(&t));
        assert!(!is_refresh_token(&t));
    }

    #[test]
    fn rejects_wrong_shapes() {
        let good = encode_secret(PAIRING_TOKEN_PREFIX, &[0xAB; 32]);
        let cases = [
            String::new(),
            "lpt_".into(),
            good[..good.len() - 1].to_string(),
            format!("{good}A"),
            good.replacen("lpt_", "LPT_", 1),
            good.replacen("lpt_", "lrt_", 1),
            format!(" {good}"),
            format!("{}=", &good[..good.len() - 1]),
            good.replace(&good[10..11], "+"),
            good.replace(&good[10..11], "é"),
            "lpt_".to_string() + &"A".repeat(42) + "B", // non-canonical tail
            "x".repeat(1 << 20),
        ];
        for c in cases {
            assert!(!is_pairing_token(&c), "{c:?}");
        }
    }

    /// What a canonical 32-byte body is, by base64ct's strict decoder.
    fn decodes_to_32_bytes(body: &str) -> bool {
        let mut out = [0u8; 32];
        Base64UrlUnpadded::decode(body, &mut out).is_ok_and(|b| b.len() == 32)
    }

    #[test]
    fn encodes_as_unpadded_base64url() {
        // RFC 4648 §5 alphabet: 0xfb 0xff → "-_8".
        let mut bytes = [0u8; 32];
        bytes[..2].copy_from_slice(&[0xfb, 0xff]);
        assert!(encode_secret("lrk_", &bytes).starts_with("lrk_-_8A"));
        assert_eq!(encode_secret("", &[0; 32]), "A".repeat(43));
    }

    proptest! {
        #[test]
        fn every_32_byte_secret_round_trips_to_a_valid_shape(bytes in proptest::array::uniform32(any::<u8>())) {
            prop_assert!(is_pairing_token(&encode_secret(PAIRING_TOKEN_PREFIX, &bytes)));
            prop_assert!(is_refresh_token(&encode_secret(REFRESH_TOKEN_PREFIX, &bytes)));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,80}") {
            let _ = is_pairing_token(&s);
        }

        #[test]
        fn shape_accepts_exactly_canonical_bodies(body in "[A-Za-z0-9_-]{43}") {
            let t = format!("lpt_{body}");
            prop_assert_eq!(is_pairing_token(&t), decodes_to_32_bytes(&body));
        }
    }
}
