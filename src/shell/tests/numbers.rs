//! Numbers: JS has one number type, a double. Where serde_json reads the JSON token and
//! from_js the number JSON.parse made of it, the two differ, and the differences are safe:
//! an integral float token (`5.0`, `5e0`, `-0`) is the same integer, and an integer a JS
//! number can't hold exactly (beyond 2^53 - 1) is refused, never rounded.

use wasm_bindgen_test::wasm_bindgen_test;

use latch_wire::api::MintResponse;
use latch_wire::stored::StoredBinding;
use latch_wire::testing::ms;

use super::{decode, decode_json, encode};

/// 2^53 - 1, `Number.MAX_SAFE_INTEGER`: the largest integer below which every integer is
/// a JS number.
const MAX_SAFE: u64 = (1 << 53) - 1;

#[wasm_bindgen_test]
fn integers_up_to_2_pow_53_minus_1_cross_both_ways() {
    for n in [0, 1, 1_700_000_000_000, MAX_SAFE - 1, MAX_SAFE] {
        assert_eq!(encode(&n), Some(n.to_string()), "u64 {n}");
        assert_eq!(decode::<u64>(&n.to_string()), Some(n), "u64 {n}");
        let negative = -(n as i64);
        assert_eq!(encode(&negative), Some(negative.to_string()), "i64 {negative}");
        assert_eq!(decode::<i64>(&negative.to_string()), Some(negative), "i64 {negative}");
    }
    let far = MintResponse { pairing_token: "t".into(), expires_at: ms(MAX_SAFE), connect_url: "u".into() };
    assert_eq!(decode::<MintResponse>(&encode(&far).unwrap()), Some(far));
}

/// serde_json writes and reads these exactly; a JS number can't hold them. `to_js` gives
/// `undefined` for the whole value rather than a rounded one, and from_js refuses the
/// number JSON.parse rounded (2^53 + 1 arrives as 2^53, which is not a safe integer).
/// Safety: refusing fails closed; every time in the wire types is milliseconds since 1970,
/// ~2^40, far below the limit.
#[wasm_bindgen_test]
fn integers_beyond_2_pow_53_minus_1_are_refused_not_rounded() {
    for n in [MAX_SAFE + 1, MAX_SAFE + 2, u64::MAX] {
        assert_eq!(encode(&n), None, "u64 {n}");
        assert_eq!(serde_json::to_string(&n).unwrap(), n.to_string());
        assert_eq!(decode::<u64>(&n.to_string()), None, "u64 {n}");
        assert_eq!(decode_json::<u64>(&n.to_string()), Some(n));
    }
    for n in [-(MAX_SAFE as i64) - 1, i64::MIN] {
        assert_eq!(encode(&n), None, "i64 {n}");
        assert_eq!(decode::<i64>(&n.to_string()), None, "i64 {n}");
        assert_eq!(decode_json::<i64>(&n.to_string()), Some(n));
    }
    // One such integer anywhere makes the whole record `undefined`: storage_set would hand
    // chrome.storage `undefined` for the key. Only a relay sending times near 2^53 could
    // make one (to_local_time shifts its times by the clocks' difference).
    let binding = StoredBinding { access_expires_at: ms(MAX_SAFE + 1), ..super::samples::stored_binding() };
    assert_eq!(encode(&binding), None);
    let text = r#"{"pairingToken":"t","expiresAt":9007199254740993,"connectUrl":"u"}"#;
    assert_eq!(decode::<MintResponse>(text), None);
    assert_eq!(decode_json::<MintResponse>(text).map(|m| m.expires_at), Some(ms(MAX_SAFE + 2)));
}

/// JSON.parse makes the same number of `5.0`, `5e0` and `5`; from_js can't tell them
/// apart and takes the integer, where serde_json refuses a float token for an integer.
/// Safety: the value is the one the sender wrote.
#[wasm_bindgen_test]
fn integral_float_tokens_are_integers() {
    for (text, n) in [("5.0", 5), ("5e0", 5), ("1e3", 1000), ("0.5e1", 5), ("-0", 0), ("-0.0", 0)] {
        assert_eq!(decode::<u64>(text), Some(n), "{text}");
        assert_eq!(decode_json::<u64>(text), None, "{text}");
    }
    let text = r#"{"pairingToken":"t","expiresAt":1.7e12,"connectUrl":"u"}"#;
    assert_eq!(decode::<MintResponse>(text).map(|m| m.expires_at), Some(ms(1_700_000_000_000)));
    assert_eq!(decode_json::<MintResponse>(text), None);
}

/// Everything else both refuse alike: fractions, negatives for unsigned, out of range,
/// numbers for strings and strings for numbers, infinity.
#[wasm_bindgen_test]
fn non_integers_and_out_of_range_numbers_are_refused_alike() {
    for text in ["5.5", "-1", "1e400", "-1e400", "\"5\"", "true", "null", "[5]", "{}"] {
        assert_eq!(decode::<u64>(text), None, "u64 {text}");
        assert_eq!(decode_json::<u64>(text), None, "u64 {text}");
    }
    for text in ["4294967296", "-1", "0.5"] {
        assert_eq!(decode::<u32>(text), None, "u32 {text}");
        assert_eq!(decode_json::<u32>(text), None, "u32 {text}");
    }
    for text in ["2147483648", "-2147483649"] {
        assert_eq!(decode::<i32>(text), None, "i32 {text}");
        assert_eq!(decode_json::<i32>(text), None, "i32 {text}");
    }
    assert_eq!(decode::<i32>("-2147483648"), Some(i32::MIN));
    assert_eq!(decode::<String>("5"), None);
    assert_eq!(decode_json::<String>("5"), None);
}
