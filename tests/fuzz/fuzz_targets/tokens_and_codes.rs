//! The token shape check and the pairing-code parser against plain reference definitions
//! (PROTOCOL §3): `lpt_`/`lrt_` + the canonical base64url encoding of 32 bytes, and codes of
//! 8 characters of the code alphabet, with an optional dash after the fourth.
#![no_main]

use libfuzzer_sys::fuzz_target;

use latch_wire::code::{display, normalize, ALPHABET, CODE_LEN};
use latch_wire::token::{encode_secret, is_pairing_token, is_refresh_token};

/// Reference decoder: base64url without padding → bytes, `None` if not canonical.
fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = A.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    (bits == 0).then_some(out) // leftover bits must be zero in a canonical encoding
}

fn reference_token(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).and_then(decode_b64url).is_some_and(|b| b.len() == 32)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(is_pairing_token(s), reference_token(s, "lpt_"), "{s:?}");
        assert_eq!(is_refresh_token(s), reference_token(s, "lrt_"), "{s:?}");
        match normalize(s) {
            Some(code) => {
                assert_eq!(code.len(), CODE_LEN);
                assert!(code.bytes().all(|c| ALPHABET.contains(&c)), "{code}");
                // Only a case change and one dash between the halves were forgiven.
                let compact: String = s.trim().chars().filter(|&c| c != '-').collect();
                assert!(compact.eq_ignore_ascii_case(&code), "{s:?} → {code}");
                assert_eq!(normalize(&display(&code)).as_deref(), Some(code.as_str()));
            }
            None => {
                let compact = s.trim().to_ascii_uppercase();
                assert!(!(compact.len() == CODE_LEN && compact.bytes().all(|c| ALPHABET.contains(&c))), "{s:?}");
            }
        }
    }
    if let Ok(bytes) = <[u8; 32]>::try_from(data) {
        let token = encode_secret("lpt_", &bytes);
        assert!(is_pairing_token(&token), "{token}");
        assert_eq!(decode_b64url(&token[4..]).as_deref(), Some(&bytes[..]));
    }
});
