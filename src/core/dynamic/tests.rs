//! The codec against serde_json on every kind of wire type: the same JSON encodes the
//! same, decodes to the same value, and a mutated message is refused or accepted alike.
//! One difference by design: serde_json also reads a struct from an array of its fields
//! in order; the codec reads structs from objects only.

use proptest::prelude::*;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Map, Value};

use super::{from_dyn, to_dyn, Dynamic, Refused, Shape};
use crate::core::challenge::{ChallengeView, StoredChallenge, ViewState};
use crate::core::offers::{OfferBook, ParkedOffer};
use crate::core::wire::*;

impl Dynamic for Value {
    fn shape(self) -> Shape<Self> {
        match self {
            Value::Null => Shape::Null,
            Value::Bool(b) => Shape::Bool(b),
            Value::Number(n) => Shape::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Shape::String(s),
            Value::Array(items) => Shape::Array(items),
            Value::Object(map) => Shape::Object(map.into_iter().collect()),
        }
    }
    fn null() -> Self {
        Value::Null
    }
    fn bool(b: bool) -> Self {
        Value::Bool(b)
    }
    /// As JS does: an integral number is an integer.
    fn number(n: f64) -> Self {
        if n.fract() == 0.0 && n.abs() <= super::MAX_EXACT {
            if n >= 0.0 {
                json!(n as u64)
            } else {
                json!(n as i64)
            }
        } else {
            json!(n)
        }
    }
    fn string(s: &str) -> Self {
        Value::String(s.to_owned())
    }
    fn array(items: Vec<Self>) -> Self {
        Value::Array(items)
    }
    fn object(entries: Vec<(String, Self)>) -> Self {
        Value::Object(entries.into_iter().collect::<Map<_, _>>())
    }
}

fn encodes_like_serde_json<T: Serialize>(v: &T) -> Value {
    let want = serde_json::to_value(v).unwrap();
    assert_eq!(to_dyn::<T, Value>(v).unwrap(), want);
    want
}

/// Encodes like serde_json and decodes back to itself.
fn round_trips<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: T) {
    let json = encodes_like_serde_json(&v);
    assert_eq!(from_dyn::<T, Value>(json.clone()), Ok(v), "{json}");
}

/// Decodes exactly when serde_json decodes, to the same value.
fn decodes_like_serde_json<T: DeserializeOwned + PartialEq + std::fmt::Debug>(json: &Value) {
    assert_eq!(from_dyn::<T, Value>(json.clone()).ok(), serde_json::from_value::<T>(json.clone()).ok(), "{json}");
}

/// What it decodes, serde_json decodes alike; serde_json may also read a struct from an
/// array (the check for JSON with arrays where a struct may stand).
fn decodes_no_more_than_serde_json<T: DeserializeOwned + PartialEq + std::fmt::Debug>(json: &Value) {
    if let Ok(ours) = from_dyn::<T, Value>(json.clone()) {
        assert_eq!(Some(ours), serde_json::from_value::<T>(json.clone()).ok(), "{json}");
    }
}

fn contains_array(json: &Value) -> bool {
    match json {
        Value::Array(_) => true,
        Value::Object(map) => map.values().any(contains_array),
        _ => false,
    }
}

fn offer() -> ParkedOffer {
    ParkedOffer {
        offer_id: "o1".into(),
        pairing_token: Some("lpt_x".into()),
        tab_id: Some(7),
        state: OfferState::AwaitingApproval,
        created_at: 1_700_000_000_000,
        expires_at: 1_700_000_120_000,
        decided_at: None,
        redeem_by: Some("w1".into()),
        redeem_key: None,
        app_name: Some("Acme".into()),
        tenant_id: Some("acme".into()),
        user_id: None,
        error: None,
        via: PromptVia::OneClick,
        opener: Some("http://localhost:8788".into()),
    }
}

fn panel_reply() -> PanelReply {
    PanelReply {
        ok: true,
        info: None,
        error: None,
        state: Some(PanelState {
            pending: vec![PendingView {
                offer_id: "o1".into(),
                app_name: Some("Acme".into()),
                tenant_id: None,
                user_id: Some("dana".into()),
                expires_at: 5,
                shown_at: 0,
                via: PromptVia::Code,
                opener: None,
                code: Some("ABCD-EFGH".into()),
                app_origin: Some("http://localhost:8788".into()),
            }],
            bindings: vec![BindingView {
                binding_id: "b".into(),
                app_name: "Acme".into(),
                tenant_id: "acme".into(),
                user_id: "dana".into(),
                paired_at: 9,
                needs_repair: Some("revoked".into()),
                managed: true,
            }],
            challenge: Some(ChallengeView {
                state: ViewState::Idle,
                code: Some("ABCD-EFGH".into()),
                expires_at: None,
                retry_at: Some(3),
                error: None,
                reissued: true,
                prompt: Some(crate::core::challenge::CodePrompt { requester: test_requester(), shown_at: 4 }),
            }),
            managed: Some(crate::core::managed::ManagedView {
                outcome: crate::core::managed::Outcome::Refused,
                error: Some("assertion_replayed".into()),
            }),
        }),
    }
}

/// Checks that one type decodes a JSON value as serde_json does.
type DecodeCheck = fn(&Value);

/// One JSON sample of each decoded type, and its exact and its one-way decode check.
fn decoded_samples() -> Vec<(Value, DecodeCheck, DecodeCheck)> {
    macro_rules! checks {
        ($t:ty) => {
            (decodes_like_serde_json::<$t> as DecodeCheck, decodes_no_more_than_serde_json::<$t> as DecodeCheck)
        };
    }
    let samples: Vec<(Value, (DecodeCheck, DecodeCheck))> = vec![
        (json!({"type":"pairing.offer","pairingToken":"lpt_x"}), checks!(ExternalMessage)),
        (json!({"type":"pairing.offer","pairingToken":"lpt_x","opener":"http://a.b"}), checks!(ExternalMessage)),
        (json!({"type":"panel.approveCode","offerId":"code-1"}), checks!(PanelRequest)),
        (json!({"type":"panel.approve","offerId":"o1"}), checks!(PanelRequest)),
        (serde_json::to_value(panel_reply()).unwrap(), checks!(PanelReply)),
        (json!({"type":"auth_ack","bindingId":"b","scopes":["errands"]}), checks!(ServerFrame)),
        (
            serde_json::to_value(ChallengeStatusReply {
                status: ChallengeStatus::AwaitingConfirmation,
                interval: Some(5),
                requester: Some(test_requester()),
            })
            .unwrap(),
            checks!(ChallengeStatusReply),
        ),
        (serde_json::to_value(test_grant()).unwrap(), checks!(TokenGrant)),
        (json!({"error":"slow_down","message":"m","interval":5,"retryAfter":2}), checks!(ErrorBody)),
        (serde_json::to_value(OfferBook { offers: vec![offer()], recent: vec![1, 2] }).unwrap(), checks!(OfferBook)),
        (
            json!({"challengeId":"c","code":null,"expiresAt":1,"nextPollAt":2,"attempt":0,"intervalMs":5000}),
            checks!(StoredChallenge),
        ),
        (
            json!({"appName":"Acme","tenantId":"acme","userId":"dana","expiresAt":3,"serverTime":1,
                "appOrigins":["http://localhost:8788"]}),
            checks!(DescribeResponse),
        ),
    ];
    samples.into_iter().map(|(json, (exact, one_way))| (json, exact, one_way)).collect()
}

#[test]
fn every_kind_of_wire_type_encodes_and_decodes_like_serde_json() {
    round_trips(ExternalMessage::PairingResult { offer_id: "o".into() });
    round_trips(PanelRequest::Capture { binding_id: "b".into() });
    round_trips(PanelRequest::State);
    round_trips(panel_reply());
    round_trips(ServerFrame::Errand { id: "e".into(), kind: "ping".into() });
    round_trips(ChallengeStatusReply {
        status: ChallengeStatus::AwaitingConfirmation,
        interval: None,
        requester: Some(test_requester()),
    });
    round_trips(ConfirmRequest { challenge_id: "c".into(), redeem_key: "k".into(), device_name: "Browser".into() });
    round_trips(OfferBook { offers: vec![offer()], recent: vec![] });
    round_trips(StoredBinding::from_grant(test_grant(), 1_700_000_000_000));
    round_trips(OfferReply::Parked { ok: True, offer_id: "o".into(), state: OfferState::AwaitingApproval });
    round_trips(OfferReply::Refused { ok: False, error: OfferRefusal::BadTokenShape });
    round_trips(ResultReply { state: OfferState::Denied, app_name: Some("Acme".into()), error: None });
    round_trips(StatusReply { connected: false });
    round_trips(RedeemRequest { pairing_token: "t".into(), device_name: "Browser".into(), redeem_key: None });
    round_trips(RefreshTokenRequest { refresh_token: "r".into() });
    round_trips(Capture { url: "https://e.x/".into(), title: "T".into(), text: "body".into() });
    round_trips(ClientFrame::Auth { access_token: "t".into() });
    round_trips(ClientFrame::ErrandResult {
        id: "e".into(),
        ok: true,
        result: Some(PingResult { pong: true, app_name: "Acme".into() }),
        error: None,
    });
    for (json, decodes, _) in decoded_samples() {
        decodes(&json);
    }
}

#[test]
fn numbers_follow_javascript() {
    // JS has one number type: 5.0 is the integer 5, 5.5 is no integer.
    assert_eq!(from_dyn::<u64, Value>(json!(5.0)), Ok(5));
    assert_eq!(from_dyn::<u64, Value>(json!(5.5)), Err(Refused));
    assert_eq!(from_dyn::<u64, Value>(json!(-1)), Err(Refused));
    assert_eq!(from_dyn::<i32, Value>(json!(-7)), Ok(-7));
    assert_eq!(from_dyn::<f64, Value>(json!(1.5)), Ok(1.5));
    // An integer a JS number can't hold exactly is refused, not rounded.
    assert_eq!(to_dyn::<u64, Value>(&(1 << 53)), Err(Refused));
    assert_eq!(to_dyn::<u64, Value>(&((1 << 53) - 1)), Ok(json!(9_007_199_254_740_991_u64)));
    assert_eq!(from_dyn::<u64, Value>(json!(9_007_199_254_740_993_u64)), Err(Refused));
}

#[test]
fn wrong_shapes_are_refused_and_unknown_fields_ignored() {
    assert_eq!(from_dyn::<ExternalMessage, Value>(json!({"type":"pairing.offer"})), Err(Refused));
    assert_eq!(from_dyn::<ExternalMessage, Value>(json!("pairing.offer")), Err(Refused));
    assert_eq!(from_dyn::<ExternalMessage, Value>(json!(null)), Err(Refused));
    assert_eq!(from_dyn::<OfferState, Value>(json!({"pending": 1})), Err(Refused));
    assert_eq!(from_dyn::<OfferState, Value>(json!("nope")), Err(Refused));
    let m = json!({"type":"status","tenantId":"acme","extra":{"deep":[1,{"x":null}]}});
    assert_eq!(from_dyn::<ExternalMessage, Value>(m), Ok(ExternalMessage::Status { tenant_id: "acme".into() }));
    // A struct is an object, never an array of its fields (serde_json takes both).
    let fields = json!(["b", "acme", "Acme", "dana"]);
    assert!(serde_json::from_value::<BindingInfo>(fields.clone()).is_ok());
    assert_eq!(from_dyn::<BindingInfo, Value>(fields), Err(Refused));
    // Map keys must be strings, as in JSON.
    let map: std::collections::BTreeMap<u32, u32> = [(1, 2)].into();
    assert_eq!(to_dyn::<_, Value>(&map), Err(Refused));
}

/// A JSON value as a hostile or broken sender might write it: integers within what JS
/// holds exactly (serde_json treats `5.0` and `5` apart; JS can't), non-integral floats,
/// the strings the wire uses as tags, anything.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1_i64 << 53)..(1_i64 << 53)).prop_map(|n| json!(n)),
        any::<i32>().prop_map(|n| json!(f64::from(n) + 0.5)),
        prop::sample::select(vec![
            "pairing.offer",
            "panel.approve",
            "auth_ack",
            "approved",
            "pending",
            "awaiting_approval",
            "",
        ])
        .prop_map(|s| json!(s)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces, removes or adds one value somewhere in `v`, steered by `path`.
fn mutate(v: &mut Value, path: &[usize], with: Value, op: usize) {
    let (step, rest) = match path.split_first() {
        Some(p) => p,
        None => {
            *v = with;
            return;
        }
    };
    match v {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step % map.len()).cloned().unwrap_or_default();
            match op % 4 {
                0 if rest.is_empty() => {
                    map.remove(&key);
                }
                1 if rest.is_empty() => {
                    map.insert(format!("{key}X"), with);
                }
                _ => mutate(map.get_mut(&key).expect("key exists"), rest, with, op / 4),
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let n = items.len();
            mutate(&mut items[step % n], rest, with, op);
        }
        _ => *v = with,
    }
}

proptest! {
    #[test]
    fn mutated_messages_decode_as_serde_json_decodes_them(
        which in any::<prop::sample::Index>(),
        path in prop::collection::vec(any::<usize>(), 0..4),
        with in any_json(),
        op in any::<usize>(),
    ) {
        let samples = decoded_samples();
        let (mut json, exact, one_way) = samples[which.index(samples.len())].clone();
        // The samples' own arrays are lists; only a new array can stand where a struct is.
        let check = if contains_array(&with) { one_way } else { exact };
        mutate(&mut json, &path, with, op);
        check(&json);
    }

    #[test]
    fn arbitrary_json_decodes_as_serde_json_decodes_it(json in any_json()) {
        for (_, exact, one_way) in decoded_samples() {
            if contains_array(&json) { one_way(&json) } else { exact(&json) }
        }
    }
}
