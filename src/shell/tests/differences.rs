//! Where from_js (serde-wasm-bindgen) decodes JSON differently from serde_json, beyond
//! numbers (numbers.rs) and the array-of-fields messages (hostile.rs): asserted as they
//! are, each with why it is or isn't a safety matter.

use std::collections::BTreeMap;

use wasm_bindgen_test::wasm_bindgen_test;

use latch_wire::api::BindingInfo;
use latch_wire::external::{ExternalMessage, OfferState};
use latch_wire::stored::ManagedPolicy;
use latch_wire::token::is_pairing_token;

use super::{decode, decode_json, encode};

/// A struct reads its fields by name from any JS object, and an array is one: a struct
/// with a required field never decodes from an array, of any length. (The proptest of the
/// hand-written codec, 96dcf0a, found it reading structs from over-long arrays; here both
/// refuse them.)
#[wasm_bindgen_test]
fn a_struct_never_decodes_from_an_array_of_its_fields() {
    let fields = r#"["b","acme","Acme","dana"]"#;
    assert_eq!(decode::<BindingInfo>(fields), None);
    assert!(decode_json::<BindingInfo>(fields).is_some(), "serde_json reads fields in order");
    for text in [r#"["b","acme","Acme","dana","extra"]"#, r#"["b","acme","Acme"]"#, "[]"] {
        assert_eq!(decode::<BindingInfo>(text), None, "{text}");
        assert_eq!(decode_json::<BindingInfo>(text), None, "{text}");
    }
}

/// ...but a struct whose every field may be absent decodes from any array, of any content,
/// as if all were absent; serde_json reads the array's elements as the fields in order, or
/// refuses it. Such decoded types: `ManagedPolicy` (chrome.storage.managed, the admin's policy,
/// which Chrome checks against managed_schema.json as an object), and in capture.rs the tab
/// and injection records Chrome itself builds. Safety: an array is read as no policy at
/// all, which enrolls nothing.
#[wasm_bindgen_test]
fn a_struct_of_optional_fields_decodes_from_any_array_as_empty() {
    let no_policy = Some(ManagedPolicy::default());
    assert_eq!(decode::<ManagedPolicy>("[]"), no_policy);
    assert_eq!(decode_json::<ManagedPolicy>("[]"), no_policy);
    let fields = r#"["https://relay.example","acme","assertion"]"#;
    assert_eq!(decode::<ManagedPolicy>(fields), no_policy);
    assert_eq!(decode_json::<ManagedPolicy>(fields).and_then(|p| p.assertion), Some("assertion".into()));
    let junk = r#"[1,{},[],null,"x"]"#;
    assert_eq!(decode::<ManagedPolicy>(junk), no_policy);
    assert_eq!(decode_json::<ManagedPolicy>(junk), None);
}

/// JSON.parse keeps the last of a repeated key; serde_json refuses a repeated field.
/// Safety: not reachable from a page or the relay: Chrome passes a page's message as a JS
/// object (one value per key), and the relay's answers are parsed by `Response.json()`
/// before Rust sees them, so the last value is what any JS reader of the message gets too.
#[wasm_bindgen_test]
fn a_repeated_key_reads_as_its_last_value() {
    let text = r#"{"type":"status","tenantId":"a","tenantId":"b"}"#;
    assert_eq!(decode::<ExternalMessage>(text), Some(ExternalMessage::Status { tenant_id: "b".into() }));
    assert_eq!(decode_json::<ExternalMessage>(text), None);
    let text = r#"{"type":"status","tenantId":"a","type":"pairing.offer","pairingToken":"t"}"#;
    let last_type = ExternalMessage::PairingOffer { pairing_token: "t".into(), opener: None };
    assert_eq!(decode::<ExternalMessage>(text), Some(last_type));
    assert_eq!(decode_json::<ExternalMessage>(text), None);
}

/// A JS string may hold an unpaired surrogate (`"\ud800"`), which is no Unicode; serde_json
/// refuses it, from_js replaces it with U+FFFD (as TextEncoder does). Safety: the string
/// is then judged as any other: a token with it fails the token shape check, an opener the
/// plain-origin check, a name the consent-name policy. Nothing is matched against the
/// unreplaced text.
#[wasm_bindgen_test]
fn an_unpaired_surrogate_becomes_the_replacement_character() {
    let text = r#"{"type":"status","tenantId":"a\ud800b\udfff"}"#;
    let replaced = ExternalMessage::Status { tenant_id: "a\u{FFFD}b\u{FFFD}".into() };
    assert_eq!(decode::<ExternalMessage>(text), Some(replaced));
    assert_eq!(decode_json::<ExternalMessage>(text), None);
    let token = format!(r#"{{"type":"pairing.offer","pairingToken":"lpt_{}\ud800"}}"#, "A".repeat(42));
    let Some(ExternalMessage::PairingOffer { pairing_token, .. }) = decode::<ExternalMessage>(&token) else {
        panic!("decodes, with the surrogate replaced");
    };
    assert!(!is_pairing_token(&pairing_token), "then fails the shape check, and is refused as bad_token_shape");
    // A pair, high then low, is one character in both.
    let pair = r#"{"type":"status","tenantId":"\ud83d\ude00"}"#;
    assert_eq!(decode::<ExternalMessage>(pair), Some(ExternalMessage::Status { tenant_id: "😀".into() }));
    assert_eq!(decode::<ExternalMessage>(pair), decode_json(pair));
}

/// Enums: a unit variant is its name as a string, or an object with that one key and a
/// null value, in both.
#[wasm_bindgen_test]
fn unit_variants_decode_from_a_name_or_a_one_key_object_alike() {
    for text in
        [r#""approved""#, r#"{"approved":null}"#, r#"{"approved":1}"#, r#"{"approved":null,"denied":null}"#, "{}"]
    {
        assert_eq!(decode::<OfferState>(text), decode_json::<OfferState>(text), "{text}");
    }
    assert_eq!(decode::<OfferState>(r#"{"approved":null}"#), Some(OfferState::Approved));
}

/// JSON object keys are strings. serde_json writes an integer map key as a string and reads
/// it back; serde-wasm-bindgen refuses both ways (`to_js` gives `undefined`). No wire type
/// holds a map, so this reaches nothing.
#[wasm_bindgen_test]
fn map_keys_must_be_strings() {
    let by_number: BTreeMap<u32, u32> = [(1, 2)].into();
    assert_eq!(encode(&by_number), None);
    assert_eq!(serde_json::to_string(&by_number).unwrap(), r#"{"1":2}"#);
    assert_eq!(decode::<BTreeMap<u32, u32>>(r#"{"1":2}"#), None);
    assert_eq!(decode_json::<BTreeMap<u32, u32>>(r#"{"1":2}"#), Some(by_number));
}
