//! Messages a hostile web page can send to `onMessageExternal` (any JSON value), and
//! malformed panel requests and relay socket frames: refused, as serde_json refuses them.
//! A refused page message is ignored (answered `undefined`), a refused panel request
//! answered `bad_request`, a refused frame dropped: nothing changes (background/).

use js_sys::{Array, Function, Object, Reflect};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use latch_wire::external::ExternalMessage;
use latch_wire::panel::PanelRequest;
use latch_wire::socket::{ServerFrame, Unread};

use super::samples::seeds;
use super::{decode, decode_json, parse};
use crate::shell::from_js;

/// Malformed `ExternalMessage`s: missing, mistyped or unknown tags and fields, other kinds
/// of JSON altogether, and prototype-pollution shapes (after a JSON round trip `__proto__`
/// is an own key; neither decoder reads through it).
const MALFORMED_PAGE_MESSAGES: &[&str] = &[
    r#"{"type":"pairing.offer"}"#,
    r#"{"type":"pairing.offer","pairingToken":null}"#,
    r#"{"type":"pairing.offer","pairingToken":5}"#,
    r#"{"type":"pairing.offer","pairingToken":true}"#,
    r#"{"type":"pairing.offer","pairingToken":["lpt_x"]}"#,
    r#"{"type":"pairing.offer","pairingToken":{"toString":"lpt_x"}}"#,
    r#"{"type":"pairing.offer","pairingToken":"lpt_x","opener":5}"#,
    r#"{"type":"pairing.offer","pairingToken":"lpt_x","opener":{}}"#,
    r#"{"type":"pairing.result"}"#,
    r#"{"type":"pairing.result","offerId":"o","pairingToken":5}"#,
    r#"{"type":"status"}"#,
    r#"{"type":"status","tenantId":7}"#,
    r#"{"type":"Pairing.Offer","pairingToken":"lpt_x"}"#,
    r#"{"type":"pairing.offer ","pairingToken":"lpt_x"}"#,
    r#"{"type":"nope","pairingToken":"lpt_x"}"#,
    r#"{"type":5,"pairingToken":"lpt_x"}"#,
    r#"{"type":null,"pairingToken":"lpt_x"}"#,
    r#"{"type":["pairing.offer"],"pairingToken":"lpt_x"}"#,
    r#"{"pairingToken":"lpt_x"}"#,
    r#"{"PairingOffer":{"pairingToken":"lpt_x"}}"#,
    r#"{"__proto__":{"type":"status","tenantId":"acme"}}"#,
    r#"{"constructor":{"prototype":{"type":"status","tenantId":"acme"}}}"#,
    r#"{}"#,
    r#"[]"#,
    r#"[{"type":"status","tenantId":"acme"}]"#,
    r#""pairing.offer""#,
    r#"null"#,
    r#"true"#,
    r#"0"#,
];

#[wasm_bindgen_test]
fn malformed_page_messages_are_refused_as_serde_json_refuses_them() {
    for text in MALFORMED_PAGE_MESSAGES {
        assert_eq!(decode::<ExternalMessage>(text), None, "from_js accepted {text}");
        assert_eq!(decode_json::<ExternalMessage>(text), None, "serde_json accepted {text}");
    }
}

/// serde_json reads a struct from an array of its fields in order, so it takes these
/// arrays as messages; from_js reads struct fields by name only and refuses them. Stricter
/// at the boundary a page can reach.
#[wasm_bindgen_test]
fn a_message_spelled_as_an_array_of_its_fields_is_refused() {
    let offer = r#"["pairing.offer","lpt_x",null,null,null]"#;
    assert_eq!(decode::<ExternalMessage>(offer), None);
    let read_by_serde_json = ExternalMessage::PairingOffer { pairing_token: "lpt_x".into(), opener: None };
    assert_eq!(decode_json::<ExternalMessage>(offer), Some(read_by_serde_json));
    let approve = r#"["panel.approve","o",null,null,null]"#;
    assert_eq!(decode::<PanelRequest>(approve), None);
    assert_eq!(decode_json::<PanelRequest>(approve), Some(PanelRequest::Approve { offer_id: "o".into() }));
    let errand = r#"["errand",null,null,null,"e","ping"]"#;
    assert_eq!(decode::<ServerFrame>(errand), None);
    assert_eq!(
        decode_json::<ServerFrame>(errand),
        Some(ServerFrame::Errand { id: "e".into(), kind: "ping".into(), params: Unread })
    );
}

/// Extra fields (another variant's, unknown ones, any depth) are ignored, as the relay's
/// and the connect page's newer versions may add them.
#[wasm_bindgen_test]
fn well_formed_page_messages_with_extra_fields_are_accepted_alike() {
    for text in [
        r#"{"type":"status","tenantId":"acme","extra":{"deep":[1,{"x":null}]}}"#,
        r#"{"type":"pairing.offer","pairingToken":"lpt_x","offerId":"o","tenantId":"t"}"#,
        r#"{"type":"pairing.result","offerId":"o","opener":null,"__proto__":{"offerId":5}}"#,
        r#"{"type":"pairing.offer","pairingToken":"","opener":null}"#,
    ] {
        let ours = decode::<ExternalMessage>(text);
        assert!(ours.is_some(), "{text}");
        assert_eq!(ours, decode_json::<ExternalMessage>(text), "{text}");
    }
}

/// `[[[...]]]`, `depth` levels deep.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// A page may nest its junk deep. from_js refuses any value nested deeper than 64 levels,
/// wherever it is, before serde-wasm-bindgen sees it: its refusals are worded with
/// wasm-bindgen's recursive `debugString`, which threw `RangeError` through the Rust frames
/// (the handler unanswered, its shadow stack claimed) for an array nested 10,000–20,000
/// deep where a string stands. serde_json skips deep junk in a field the type doesn't name
/// (so there from_js is stricter) and refuses it in a field it reads.
#[wasm_bindgen_test]
fn deeply_nested_values_are_refused_without_throwing() {
    let unknown = format!(r#"{{"type":"status","tenantId":"acme","extra":{}}}"#, nested_arrays(100_000));
    assert_eq!(decode::<ExternalMessage>(&unknown), None);
    assert_eq!(decode_json::<ExternalMessage>(&unknown), Some(ExternalMessage::Status { tenant_id: "acme".into() }));
    for depth in [1_000, 100_000] {
        let read = format!(r#"{{"type":"status","tenantId":{}}}"#, nested_arrays(depth));
        // Called from JS, so an exception would come back as an `Err` instead of ending the test.
        let value = parse(&read);
        let call: Function =
            Closure::once_into_js(move || from_js::<ExternalMessage>(value).is_none()).unchecked_into();
        assert_eq!(call.call0(&JsValue::NULL).expect("from_js refuses without throwing"), JsValue::TRUE, "{depth}");
        assert_eq!(decode_json::<ExternalMessage>(&read), None);
    }
    // The limit is where it says: the message and 63 arrays in it (64 levels) pass, 65 levels don't.
    let at = |depth| format!(r#"{{"type":"status","tenantId":"acme","extra":{}}}"#, nested_arrays(depth));
    assert_eq!(decode::<ExternalMessage>(&at(63)), Some(ExternalMessage::Status { tenant_id: "acme".into() }));
    assert_eq!(decode::<ExternalMessage>(&at(64)), None);
}

#[wasm_bindgen_test]
fn malformed_panel_requests_and_socket_frames_are_refused_alike() {
    for text in [
        r#"{"type":"panel.approve"}"#,
        r#"{"type":"panel.connect","pairingToken":7}"#,
        r#"{"type":"panel.nope"}"#,
        r#"{"offerId":"o"}"#,
        r#""panel.state""#,
    ] {
        assert_eq!(decode::<PanelRequest>(text), None, "{text}");
        assert_eq!(decode_json::<PanelRequest>(text), None, "{text}");
    }
    for text in [
        r#"{"type":"errand","id":"e"}"#,
        r#"{"type":"auth_ack","bindingId":"b"}"#,
        r#"{"type":"auth_ack","bindingId":"b","scopes":"errands"}"#,
        r#"{"type":"auth_ack","bindingId":"b","scopes":[5]}"#,
        r#"{"type":"x"}"#,
        r#"{"type":"Hello"}"#,
    ] {
        assert_eq!(decode::<ServerFrame>(text), None, "{text}");
        assert_eq!(decode_json::<ServerFrame>(text), None, "{text}");
    }
}

/// from_js looks a struct's fields up as `value[name]`, which reads through the
/// prototype: a field named like a member of Object.prototype or Array.prototype
/// (`constructor`, `length`, `keys`...) would be "present" in every message. No wire field
/// is; this fails if one is added.
#[wasm_bindgen_test]
fn no_wire_field_name_is_inherited_by_plain_objects_or_arrays() {
    fn names(json: &Value, into: &mut Vec<String>) {
        match json {
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                into.push(k.clone());
                names(v, into);
            }),
            Value::Array(items) => items.iter().for_each(|v| names(v, into)),
            _ => {}
        }
    }
    let mut fields = Vec::new();
    seeds().iter().for_each(|seed| names(&seed.json, &mut fields));
    let (object, array) = (Object::new(), Array::new());
    for field in fields {
        let key = field.as_str().into();
        assert!(!Reflect::has(&object, &key).unwrap(), "{field} is inherited by every object");
        assert!(!Reflect::has(&array, &key).unwrap(), "{field} is inherited by every array");
    }
}
