//! Every wire type encodes as serde_json encodes it (compared as parsed JSON, so key order
//! aside) and decodes back to itself, from the JS value and from its JSON text.

use std::collections::BTreeMap;
use std::fmt::Debug;

use js_sys::Reflect;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

use latch_wire::api::*;
use latch_wire::external::*;
use latch_wire::panel::{ManagedView, ViewState, *};
use latch_wire::socket::*;
use latch_wire::stored::{ManagedOutcome, ManagedPolicy, *};
use latch_wire::testing::{ms, test_grant, test_requester};

use super::samples::{challenge_view, offer, panel_reply, prompt, record, stored_binding, stored_challenge};
use super::{all_pass, decode, encode};
use crate::core::offers::OfferBook;
use crate::shell::{from_js, to_js};

/// A relay error with only its code and sentence.
fn refusal(error: &str, message: &str) -> ErrorBody {
    ErrorBody {
        error: error.into(),
        message: message.into(),
        interval: None,
        retry_after: None,
        revoked_by: None,
        idle_seconds: None,
    }
}

/// Why `v` does not round-trip, if it doesn't.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: T) -> Result<(), String> {
    let want = serde_json::to_value(&v).expect("serde_json encodes every wire value");
    let Some(text) = encode(&v) else {
        return Err(format!("to_js gave undefined for {v:?}"));
    };
    let ours: Value = serde_json::from_str(&text).expect("JSON.stringify writes JSON");
    if ours != want {
        return Err(format!("{v:?}\n  to_js:      {ours}\n  serde_json: {want}"));
    }
    if from_js::<T>(to_js(&v)).as_ref() != Some(&v) {
        return Err(format!("{v:?} does not decode back from its JS value"));
    }
    if decode::<T>(&text).as_ref() != Some(&v) {
        return Err(format!("{v:?} does not decode back from {text}"));
    }
    Ok(())
}

/// Round-trips each value (of any types) and fails with every value that didn't.
macro_rules! all_round_trip {
    ($($v:expr),+ $(,)?) => {
        all_pass([$(round_trip($v)),+].into_iter().filter_map(Result::err).collect())
    };
}

#[wasm_bindgen_test]
fn page_messages_and_their_replies_round_trip() {
    all_round_trip!(
        ExternalMessage::PairingOffer { pairing_token: "lpt_x".into(), opener: None },
        ExternalMessage::PairingOffer { pairing_token: "lpt_x".into(), opener: Some("https://app.example".into()) },
        ExternalMessage::PairingResult { offer_id: "o".into() },
        ExternalMessage::Status { tenant_id: "acme".into() },
        OfferReply::parked("o".into(), OfferState::AwaitingApproval),
        OfferReply::parked("o".into(), OfferState::Approved),
        OfferReply::parked("o".into(), OfferState::Denied),
        OfferReply::parked("o".into(), OfferState::Failed),
        OfferReply::refused(OfferRefusal::BadTokenShape),
        OfferReply::refused(OfferRefusal::RateLimited),
        OfferReply::refused(OfferRefusal::Busy),
        ResultReply { state: OfferState::Denied, app_name: Some("Acme".into()), error: None },
        ResultReply { state: OfferState::Failed, app_name: None, error: Some("token_expired".into()) },
        StatusReply { connected: false },
        Capture { url: "https://e.x/".into(), title: "T".into(), text: "body".into() },
    );
}

#[wasm_bindgen_test]
fn relay_bodies_round_trip() {
    all_round_trip!(
        MintRequest { user_id: "dana".into(), return_url: None },
        MintResponse { pairing_token: "lpt_x".into(), expires_at: ms(1_700_000_120_000), connect_url: "u".into() },
        PairingTokenRequest { pairing_token: "lpt_x".into() },
        DescribeResponse {
            app_name: "Acme".into(),
            tenant_id: "acme".into(),
            user_id: "dana".into(),
            expires_at: ms(3),
            app_origins: vec!["http://localhost:8788".into()],
            server_time: Some(ms(1)),
        },
        DescribeResponse {
            app_name: "Acme".into(),
            tenant_id: "acme".into(),
            user_id: "dana".into(),
            expires_at: ms(3),
            app_origins: vec![],
            server_time: None,
        },
        RedeemRequest { pairing_token: "t".into(), device_name: "Browser".into(), redeem_key: None, via: None },
        RedeemRequest {
            pairing_token: "t".into(),
            device_name: String::new(),
            redeem_key: Some("lrk_k".into()),
            via: Some(PromptVia::OneClick)
        },
        EnrollRequest { assertion: "a".into(), device_name: "d".into(), enroll_key: Some("lrk_k".into()) },
        EnrollRequest { assertion: "a".into(), device_name: "d".into(), enroll_key: None },
        test_grant().binding,
        test_grant(),
        TokenGrant { server_time: Some(ms(1_700_000_000_000)), ..test_grant() },
        RefreshTokenRequest { refresh_token: "r".into() },
        RefreshedTokens {
            access_token: "a".into(),
            refresh_token: "r".into(),
            access_expires_at: ms(1),
            refresh_expires_at: ms(2),
            server_time: None,
            token_type: Some("DPoP".into()),
        },
        CaptureAccepted { status: "accepted".into(), capture_id: "c1".into() },
        RevokeResponse { revoked: true },
        DeviceRename { device_name: "Work laptop".into() },
        DeviceRenamed { binding_id: "b".into(), device_name: "Work laptop".into() },
        PauseState { binding_id: "b".into(), paused: true },
        MeResponse { binding_id: "b".into(), tenant_id: "acme".into(), user_id: "dana".into(), scopes: vec![] },
        ErrorBody { interval: Some(5), ..refusal("slow_down", "m") },
        ErrorBody { retry_after: Some(2), ..refusal("rate_limited", "") },
        ErrorBody {
            revoked_by: Some("idle".into()),
            idle_seconds: Some(7_776_000),
            ..refusal("refresh_token_revoked", "This connection expired")
        },
    );
}

#[wasm_bindgen_test]
fn code_pairing_bodies_round_trip() {
    all_round_trip!(
        ChallengeRequest { device_id: "d".into(), device_name: "Browser".into() },
        ChallengeIssued {
            challenge_id: "c".into(),
            code: "ABCD-EFGH".into(),
            expires_at: ms(1),
            interval: 5,
            server_time: None,
            url: Some("http://localhost:8788/pair?code=ABCD-EFGH".into())
        },
        ChallengeStatus::Pending,
        ChallengeStatus::AwaitingConfirmation,
        ChallengeStatus::Confirmed,
        ChallengeStatus::Denied,
        ChallengeStatus::Expired,
        test_requester(),
        CodeRequester { app_origin: None, ..test_requester() },
        ChallengeStatusReply { status: ChallengeStatus::Pending, interval: None, requester: None },
        ChallengeStatusReply {
            status: ChallengeStatus::AwaitingConfirmation,
            interval: Some(5),
            requester: Some(test_requester()),
        },
        ChallengeStatusReply {
            status: ChallengeStatus::AwaitingConfirmation,
            interval: None,
            requester: Some(CodeRequester { app_origin: None, ..test_requester() }),
        },
        ConfirmRequest { challenge_id: "c".into(), redeem_key: "k".into(), device_name: "Browser".into() },
        RejectRequest { challenge_id: "c".into() },
        ApproveCodeRequest { code: "ABCD-EFGH".into(), user_id: "dana".into() },
        ApproveCodeReply { status: ChallengeStatus::Confirmed, app_name: "Acme".into(), user_id: "dana".into() },
        CodeRequest { code: "ABCD-EFGH".into() },
    );
}

#[wasm_bindgen_test]
fn socket_frames_round_trip() {
    // The frames as the extension reads and writes them (the wire types' default payloads).
    type Server = ServerFrame;
    type Client = ClientFrame;
    all_round_trip!(
        Server::Hello { protocol: PROTOCOL_VERSION, nonce: Some("n".into()) },
        Server::AuthAck { binding_id: "b".into(), scopes: vec!["errands".into(), "capture".into()], nonce: None },
        Server::Error { code: "c".into() },
        Server::Errand { id: "e".into(), kind: "ping".into(), params: Unread },
        Server::Pong,
        Client::Hello,
        Client::Auth { access_token: "t".into(), proof: "p".into() },
        Client::ErrandResult {
            id: "e".into(),
            ok: true,
            result: Some(PingResult { pong: true, app_name: "Acme".into() }),
            error: None,
        },
        Client::ErrandResult { id: "e".into(), ok: false, result: None, error: Some("unknown_errand".into()) },
        Client::Ping,
    );
}

#[wasm_bindgen_test]
fn panel_messages_round_trip() {
    all_round_trip!(
        PanelRequest::State,
        PanelRequest::Approve { offer_id: "o".into() },
        PanelRequest::Deny { offer_id: "o".into() },
        PanelRequest::ApproveCode { offer_id: "code-o".into() },
        PanelRequest::DenyCode { offer_id: "code-o".into() },
        PanelRequest::Connect { pairing_token: "t".into() },
        PanelRequest::Disconnect { binding_id: "b".into() },
        PanelRequest::PairCode,
        PanelRequest::CancelCode,
        PanelRequest::Capture { binding_id: "b".into() },
        PanelRequest::Rename { binding_id: "b".into(), device_name: "Work laptop".into() },
        PanelRequest::Pause { binding_id: "b".into() },
        PanelRequest::Resume { binding_id: "b".into() },
        panel_reply(),
        PanelReply { ok: false, info: Some("i".into()), error: Some("bad_request".into()), state: None },
        PanelState::default(),
        PromptVia::OneClick,
        PromptVia::PastedToken,
        PromptVia::Code,
        challenge_view(),
        prompt(),
        ManagedView { outcome: ManagedOutcome::Enrolled, error: None },
    );
    all_round_trip!(
        ViewState::Idle,
        ViewState::Requesting,
        ViewState::Pending,
        ViewState::WaitingForRelay,
        ViewState::AwaitingConfirmation,
        ViewState::Confirming,
        ViewState::Approved,
        ViewState::Denied,
        ViewState::Expired,
        ViewState::Failed,
    );
}

#[wasm_bindgen_test]
fn stored_records_round_trip() {
    all_round_trip!(
        vec![stored_binding(), StoredBinding { managed: true, needs_repair: None, paused: true, ..stored_binding() }],
        OfferBook { offers: vec![offer()], recent: vec![ms(1_700_000_000_000)] },
        OfferBook::default(),
        stored_challenge(),
        record(),
        ManagedOutcome::Enrolled,
        ManagedOutcome::Refused,
        ManagedOutcome::Retrying,
        ManagedPolicy::default(),
        ManagedPolicy {
            relay_url: Some("https://r".into()),
            tenant_id: Some("acme".into()),
            assertion: Some("a".into())
        },
        "a device id".to_string(),
    );
}

/// chrome.storage keeps a key whose value is null; `undefined` would drop it, and a field
/// without `default` would then fail to decode.
#[wasm_bindgen_test]
fn none_is_null_and_skipped_fields_are_absent() {
    let reply = to_js(&PanelReply { ok: true, info: None, error: None, state: Some(PanelState::default()) });
    let state = Reflect::get(&reply, &"state".into()).unwrap();
    assert!(Reflect::get(&state, &"challenge".into()).unwrap().is_null());
    assert!(Reflect::get(&state, &"managed".into()).unwrap().is_null());
    // `skip_serializing_if` fields are not there at all, as with serde_json.
    assert!(!Reflect::has(&reply, &"error".into()).unwrap());
    assert!(to_js(&None::<u64>).is_null());
    assert!(to_js(&()).is_null());
}

#[wasm_bindgen_test]
fn maps_encode_as_plain_objects() {
    let map: BTreeMap<String, u64> = [("b".to_string(), 2), ("a".to_string(), 1), ("é".to_string(), 0)].into();
    let js = to_js(&map);
    assert!(!js.is_instance_of::<js_sys::Map>(), "a plain object, as JSON and chrome.storage hold it");
    all_round_trip!(map, BTreeMap::<String, Option<String>>::from([("k".into(), None)]));
    all_round_trip!(BTreeMap::<String, u64>::new());
}

/// Unicode, escapes and characters JSON must escape survive both ways, and JSON escapes in
/// the text decode to the same characters as in serde_json.
#[wasm_bindgen_test]
fn strings_keep_every_character() {
    let text = "é ü 中文 😀 \u{202E}rtl \"q\" \\ / \n\t\r \u{0} \u{1F} \u{7F} \u{2028}\u{2029} \u{FEFF} \u{10FFFF}";
    all_round_trip!(
        Capture { url: "https://e.x/?q=a&b=%20#f".into(), title: text.into(), text: text.repeat(3) },
        Capture { url: String::new(), title: String::new(), text: String::new() },
    );
    let escaped = r#"{"url":"\u0068ttps:\/\/e.x","title":"\u00e9\ud83d\ude00\"\\","text":"a\u0000b\u2028"}"#;
    let ours = decode::<Capture>(escaped).expect("escapes decode");
    assert_eq!(Some(&ours), serde_json::from_str::<Capture>(escaped).ok().as_ref());
    assert_eq!(ours.title, "é😀\"\\");
    // The JS value is checked too, not only its JSON: a string crosses as a JS string.
    let title = Reflect::get(&to_js(&ours), &"title".into()).unwrap();
    assert_eq!(title, JsValue::from_str("é😀\"\\"));
}
