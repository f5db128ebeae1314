//! The wire's JSON against PROTOCOL.md: what each boundary decodes, encodes and refuses.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::{ChallengeStatus, ChallengeStatusReply, DescribeResponse};
use crate::clock::{to_local_time, Localize};
use crate::external::{ExternalMessage, OfferRefusal, OfferReply, OfferState, ResultReply};
use crate::panel::PanelRequest;
use crate::socket::{ClientFrame, PingResult, ServerFrame, Unread, PROTOCOL_VERSION};
use crate::testing::test_requester;
use crate::EpochMs;

#[test]
fn relay_times_move_onto_the_local_clock() {
    let local = EpochMs::from_ms(1_700_000_000_000);
    let behind = local - 600_000; // the relay's clock is 10 min behind
    assert_eq!(to_local_time(behind + 120_000, Some(behind), local), local + 120_000);
    let ahead = local + 600_000;
    assert_eq!(to_local_time(ahead + 900_000, Some(ahead), local), local + 900_000);
    assert_eq!(to_local_time(ahead - 5_000, Some(ahead), local), local - 5_000, "already past stays past");
    assert_eq!(
        to_local_time(EpochMs::from_ms(42), None, local),
        EpochMs::from_ms(42),
        "an unstamped time is taken as is"
    );
    assert_eq!(to_local_time(EpochMs::ZERO, Some(EpochMs::MAX), EpochMs::ZERO), EpochMs::ZERO);
    let d = DescribeResponse {
        app_name: "Acme".into(),
        tenant_id: "acme".into(),
        user_id: "dana".into(),
        expires_at: behind + 120_000,
        app_origins: vec![],
        server_time: Some(behind),
    };
    let d = d.localized(local);
    assert_eq!((d.expires_at, d.server_time), (local + 120_000, None));
}

proptest::proptest! {
    /// Moving a time onto the local clock is `local_now + t − server_time`, clamped to the
    /// representable moments, for every triple (the formula it had before `EpochMs`).
    #[test]
    fn local_time_is_the_same_distance_from_now(t: u64, st: u64, now: u64) {
        let expected = (i128::from(now) + i128::from(t) - i128::from(st)).clamp(0, i128::from(u64::MAX)) as u64;
        let got = to_local_time(EpochMs::from_ms(t), Some(EpochMs::from_ms(st)), EpochMs::from_ms(now));
        proptest::prop_assert_eq!(got.as_ms(), expected);
    }
}

#[test]
fn a_moment_is_a_bare_number_on_the_wire_and_saturates() {
    let t = EpochMs::from_ms(1_700_000_000_000);
    assert_eq!(serde_json::to_value(t).unwrap(), json!(1_700_000_000_000_u64));
    assert_eq!(serde_json::from_value::<EpochMs>(json!(1_700_000_000_000_u64)).unwrap(), t);
    assert!(serde_json::from_value::<EpochMs>(json!(-1)).is_err(), "no moment before the epoch");
    assert!(serde_json::from_value::<EpochMs>(json!("1700000000000")).is_err());
    assert_eq!(EpochMs::MAX + 1, EpochMs::MAX);
    assert_eq!(EpochMs::from_ms(5) - 10, EpochMs::ZERO);
    assert_eq!((t.ms_until(t + 250), t.ms_until(t - 250), (t + 250).ms_since(t)), (250, 0, 250));
    assert_eq!(
        (EpochMs::from_js(-3.0), EpochMs::from_js(f64::NAN), EpochMs::from_js(12.9)),
        (EpochMs::ZERO, EpochMs::ZERO, EpochMs::from_ms(12))
    );
    assert_eq!(t.as_js(), 1_700_000_000_000.0);
}

#[test]
fn external_messages_decode_from_protocol_json() {
    let m: ExternalMessage = serde_json::from_value(json!({"type":"pairing.offer","pairingToken":"x"})).unwrap();
    assert_eq!(m, ExternalMessage::PairingOffer { pairing_token: "x".into(), opener: None });
    let m: ExternalMessage =
        serde_json::from_value(json!({"type":"pairing.offer","pairingToken":"x","opener":"http://localhost:8788"}))
            .unwrap();
    assert_eq!(
        m,
        ExternalMessage::PairingOffer { pairing_token: "x".into(), opener: Some("http://localhost:8788".into()) }
    );
    let m: ExternalMessage = serde_json::from_value(json!({"type":"pairing.result","offerId":"o"})).unwrap();
    assert_eq!(m, ExternalMessage::PairingResult { offer_id: "o".into() });
    let m: ExternalMessage = serde_json::from_value(json!({"type":"status","tenantId":"acme"})).unwrap();
    assert_eq!(m, ExternalMessage::Status { tenant_id: "acme".into() });
    for bad in [
        json!({"type":"pairing.offer"}),
        json!({"type":"pairing.offer","pairingToken":5}),
        json!({"type":"nope"}),
        json!("pairing.offer"),
        json!(null),
    ] {
        assert!(serde_json::from_value::<ExternalMessage>(bad.clone()).is_err(), "{bad}");
    }
}

#[test]
fn socket_frames_match_the_protocol() {
    let f: ServerFrame = serde_json::from_value(json!({"type":"hello","protocol":1})).unwrap();
    assert_eq!(f, ServerFrame::Hello { protocol: 1, nonce: None });
    let f: ServerFrame = serde_json::from_value(json!({"type":"errand","id":"e1","kind":"ping","params":{}})).unwrap();
    assert_eq!(f, ServerFrame::Errand { id: "e1".into(), kind: "ping".into(), params: Unread });
    let f: ServerFrame =
        serde_json::from_value(json!({"type":"auth_ack","bindingId":"b","scopes":["errands"]})).unwrap();
    assert_eq!(f, ServerFrame::AuthAck { binding_id: "b".into(), scopes: vec!["errands".into()], nonce: None });
    let c: ClientFrame = ClientFrame::Auth { access_token: "t".into(), proof: String::new() };
    assert_eq!(serde_json::to_value(c).unwrap(), json!({"type":"auth","accessToken":"t"}));
    let r: ClientFrame = ClientFrame::ErrandResult {
        id: "e1".into(),
        ok: true,
        result: Some(PingResult { pong: true, app_name: "Acme".into() }),
        error: None,
    };
    assert_eq!(
        serde_json::to_value(r).unwrap(),
        json!({"type":"errand_result","id":"e1","ok":true,"result":{"pong":true,"appName":"Acme"}})
    );
}

#[test]
fn replies_encode_as_protocol_json() {
    let r = OfferReply::parked("o1".into(), OfferState::AwaitingApproval);
    assert_eq!(serde_json::to_value(r).unwrap(), json!({"ok":true,"offerId":"o1","state":"awaiting_approval"}));
    let r = OfferReply::refused(OfferRefusal::BadTokenShape);
    assert_eq!(serde_json::to_value(r).unwrap(), json!({"ok":false,"error":"bad_token_shape"}));
    // `ok` is the literal: a reply whose `ok` contradicts its shape is neither.
    for bad in [json!({"ok":false,"offerId":"o1","state":"approved"}), json!({"ok":true,"error":"busy"})] {
        assert!(serde_json::from_value::<OfferReply>(bad.clone()).is_err(), "{bad}");
    }
    let r = ResultReply { state: OfferState::Denied, app_name: Some("Acme".into()), error: None };
    assert_eq!(serde_json::to_value(r).unwrap(), json!({"state":"denied","appName":"Acme"}));
}

/// The flat decode shapes (flat.rs) read exactly what the derived encoders write.
#[test]
fn tagged_messages_round_trip_through_their_flat_decoders() {
    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(v: T) {
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(serde_json::from_value::<T>(json.clone()).unwrap(), v, "{json}");
    }
    for m in [
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
        PanelRequest::Activity { binding_id: "b".into() },
        PanelRequest::DisconnectAll,
    ] {
        round_trip(m);
    }
    let frames: [ServerFrame; 5] = [
        ServerFrame::Hello { protocol: PROTOCOL_VERSION, nonce: None },
        ServerFrame::AuthAck { binding_id: "b".into(), scopes: vec!["errands".into()], nonce: None },
        ServerFrame::Error { code: "c".into() },
        ServerFrame::Errand { id: "e".into(), kind: "ping".into(), params: Unread },
        ServerFrame::Pong,
    ];
    for f in frames {
        round_trip(f);
    }
    for m in [
        ExternalMessage::PairingOffer { pairing_token: "t".into(), opener: None },
        ExternalMessage::PairingOffer { pairing_token: "t".into(), opener: Some("https://app.example".into()) },
        ExternalMessage::PairingResult { offer_id: "o".into() },
        ExternalMessage::Status { tenant_id: "acme".into() },
    ] {
        round_trip(m);
    }
    round_trip(ChallengeStatusReply {
        status: ChallengeStatus::AwaitingConfirmation,
        interval: Some(5),
        requester: Some(test_requester()),
    });
    round_trip(ChallengeStatusReply { status: ChallengeStatus::Pending, interval: None, requester: None });
    let awaiting: ChallengeStatusReply = serde_json::from_value(json!({"status":"awaiting_confirmation",
        "appName":"Acme","tenantId":"acme","userId":"dana","appOrigin":"http://localhost:8788"}))
    .unwrap();
    assert_eq!(awaiting.requester, Some(test_requester()));
    // A partial requester is no requester (as with `flatten` on an Option).
    let partial: ChallengeStatusReply =
        serde_json::from_value(json!({"status":"awaiting_confirmation","appName":"Acme"})).unwrap();
    assert_eq!(partial.requester, None);
    assert!(serde_json::from_value::<ChallengeStatusReply>(json!({"status":"approved"})).is_err());
    for bad in [
        json!({"type":"panel.approve"}),
        json!({"type":"panel.connect","pairingToken":7}),
        json!({"type":"panel.nope"}),
        json!({"offerId":"o"}),
    ] {
        assert!(serde_json::from_value::<PanelRequest>(bad.clone()).is_err(), "{bad}");
    }
    for bad in [json!({"type":"errand","id":"e"}), json!({"type":"auth_ack","bindingId":"b"}), json!({"type":"x"})] {
        assert!(serde_json::from_value::<ServerFrame>(bad.clone()).is_err(), "{bad}");
    }
    assert!(serde_json::from_value::<ChallengeStatusReply>(json!({"status":"nope"})).is_err());
}

/// The relay's side of the socket: an errand's params and an answer's result or error are
/// the app's JSON, passed through whole.
#[test]
fn the_relay_passes_open_payloads_through() {
    use serde_json::Value;
    let errand: ServerFrame<Value> =
        ServerFrame::Errand { id: "e1".into(), kind: "capture".into(), params: json!({"selector": ["a", 1]}) };
    let encoded = serde_json::to_value(&errand).unwrap();
    assert_eq!(encoded, json!({"type":"errand","id":"e1","kind":"capture","params":{"selector":["a",1]}}));
    assert_eq!(serde_json::from_value::<ServerFrame<Value>>(encoded.clone()).unwrap(), errand);
    // The extension reads the same frame without its params.
    let seen: ServerFrame = serde_json::from_value(encoded).unwrap();
    assert_eq!(seen, ServerFrame::Errand { id: "e1".into(), kind: "capture".into(), params: Unread });
    let hello: ServerFrame<Value> = ServerFrame::Hello { protocol: PROTOCOL_VERSION, nonce: None };
    assert_eq!(serde_json::to_value(hello).unwrap(), json!({"type":"hello","protocol":1}));

    let answer = json!({"type":"errand_result","id":"e1","ok":false,"error":{"code":"x","n":[1]}});
    let read: ClientFrame<Value, Value> = serde_json::from_value(answer).unwrap();
    assert_eq!(
        read,
        ClientFrame::ErrandResult {
            id: "e1".into(),
            ok: false,
            result: None,
            error: Some(json!({"code":"x","n":[1]}))
        }
    );
    let bare: ClientFrame<Value, Value> =
        serde_json::from_value(json!({"type":"errand_result","id":"e2","ok":true})).unwrap();
    assert_eq!(bare, ClientFrame::ErrandResult { id: "e2".into(), ok: true, result: None, error: None });
}

/// The relay reads an `auth` or `errand_result` with a field of the wrong kind as that
/// frame (refused or failed), as it did when it indexed into untyped JSON.
#[test]
fn the_relay_reads_odd_fields_the_way_it_always_has() {
    use serde_json::Value;
    let read = |v: Value| serde_json::from_value::<ClientFrame<Value, Value>>(v).unwrap();
    for token in [json!(null), json!(5), json!(["t"]), json!({"t": 1}), json!(true)] {
        let frame = read(json!({"type": "auth", "accessToken": token}));
        assert_eq!(frame, ClientFrame::Auth { access_token: String::new(), proof: String::new() }, "{token}");
    }
    assert_eq!(read(json!({"type": "auth"})), ClientFrame::Auth { access_token: String::new(), proof: String::new() });
    for ok in [json!(null), json!(1), json!("true"), json!(false), json!([true])] {
        let frame = read(json!({"type": "errand_result", "id": 7, "ok": ok, "error": "x"}));
        let failed = ClientFrame::ErrandResult { id: String::new(), ok: false, result: None, error: Some(json!("x")) };
        assert_eq!(frame, failed, "{ok}");
    }
    let answered = read(json!({"type": "errand_result", "id": "e1", "ok": true, "result": [1]}));
    assert_eq!(
        answered,
        ClientFrame::ErrandResult { id: "e1".into(), ok: true, result: Some(json!([1])), error: None }
    );
}

/// The worker reads the relay's `hello` version strictly: a `protocol` that is not a
/// version number makes the frame no hello (the worker's handshake then times out and it
/// reconnects with backoff, as with a relay that does not answer). Reading any value as a
/// version cost the worker 1.2 KB gzip of wasm (serde's any-value visitor); this relay
/// always sends 1. Absent, it reads as 1 (a relay before the field).
#[test]
fn a_hello_reads_its_protocol_version_strictly() {
    let read = |protocol: serde_json::Value| {
        serde_json::from_value::<ServerFrame>(json!({"type": "hello", "protocol": protocol})).ok()
    };
    assert_eq!(read(json!(2)), Some(ServerFrame::Hello { protocol: 2, nonce: None }));
    for odd in [json!(null), json!("1"), json!(-1), json!(1.5)] {
        assert_eq!(read(odd.clone()), None, "{odd}");
    }
    let old: ServerFrame = serde_json::from_value(json!({"type": "hello"})).unwrap();
    assert_eq!(old, ServerFrame::Hello { protocol: 1, nonce: None }, "a relay before the field spoke version 1");
}

/// A `latch.bindings` record as the build before key-bound sessions wrote it: read, it keeps
/// every field, names no key and says it is of the current shape (PROTOCOL §12: no pairing
/// is lost on upgrade).
#[test]
fn a_binding_stored_before_keys_is_migrated_not_dropped() {
    use crate::stored::{StoredBinding, BINDING_RECORD_VERSION};
    let old = serde_json::json!({
        "bindingId": "bnd_1", "tenantId": "acme", "appName": "Acme", "userId": "dana",
        "accessToken": "at", "refreshToken": "lrt_x", "accessExpiresAt": 5, "refreshExpiresAt": 9,
        "pairedAt": 1, "accessObtainedAt": 2, "deviceName": "Chromium 156 on Linux", "paused": true
    });
    let read: StoredBinding = serde_json::from_value(old.clone()).unwrap();
    assert_eq!(read.version, 1);
    let migrated = read.clone().migrated();
    assert_eq!(migrated.version, BINDING_RECORD_VERSION);
    assert_eq!(migrated.dpop_key, None);
    assert_eq!(StoredBinding { version: read.version, ..migrated.clone() }, read, "every other field kept");
    let written = serde_json::to_value(&migrated).unwrap();
    for (k, v) in old.as_object().unwrap() {
        assert_eq!(&written[k], v, "{k}");
    }
    // A version-2 record keeps its key.
    let current = StoredBinding { dpop_key: Some("binding:bnd_1".into()), ..migrated };
    assert_eq!(current.clone().migrated(), current);
}
