//! Sample values of the wire types, and valid JSON of every type the extension decodes
//! (the seeds the mutation tests start from).

use serde_json::{json, Value};

use latch_wire::api::*;
use latch_wire::external::*;
use latch_wire::panel::{ChallengeView, ManagedView, ViewState, *};
use latch_wire::socket::*;
use latch_wire::stored::{CodePrompt, ManagedOutcome, ManagedRecord, StoredChallenge, *};
use latch_wire::testing::{ms, test_grant, test_requester};

use super::{decode, decodes_like_serde_json, decodes_no_more_than_serde_json};
use crate::core::offers::{OfferBook, ParkedOffer};

/// Checks how one type decodes a JSON text.
pub type Check = fn(&str) -> Result<(), String>;

/// Valid JSON of a decoded type, with the exact and the one-way check for that type.
#[derive(Clone)]
pub struct Seed {
    pub json: Value,
    pub exact: Check,
    pub one_way: Check,
    /// Whether from_js decodes a text to that type at all.
    pub accepted: fn(&str) -> bool,
}

pub fn offer() -> ParkedOffer {
    ParkedOffer {
        offer_id: "o1".into(),
        pairing_token: Some("lpt_x".into()),
        tab_id: Some(-7),
        state: OfferState::AwaitingApproval,
        created_at: ms(1_700_000_000_000),
        expires_at: ms(1_700_000_120_000),
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

pub fn prompt() -> CodePrompt {
    CodePrompt { requester: test_requester(), shown_at: ms(4) }
}

pub fn panel_reply() -> PanelReply {
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
                expires_at: ms(5),
                shown_at: ms(0),
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
                paired_at: ms(9),
                needs_repair: Some("revoked".into()),
                managed: true,
                device_name: Some("Work laptop".into()),
                paused: true,
            }],
            challenge: Some(challenge_view()),
            managed: Some(ManagedView { outcome: ManagedOutcome::Refused, error: Some("assertion_replayed".into()) }),
        }),
    }
}

pub fn challenge_view() -> ChallengeView {
    ChallengeView {
        state: ViewState::AwaitingConfirmation,
        code: Some("ABCD-EFGH".into()),
        expires_at: None,
        retry_at: Some(ms(3)),
        error: None,
        reissued: true,
        prompt: Some(prompt()),
        url: Some("https://app.example/pair?code=ABCD-EFGH".into()),
    }
}

pub fn stored_challenge() -> StoredChallenge {
    StoredChallenge {
        challenge_id: Some("c".into()),
        code: None,
        expires_at: ms(1),
        next_poll_at: ms(2),
        attempt: 0,
        interval_ms: 5000,
        last_poll_at: None,
        reissues: 1,
        prompt: Some(prompt()),
        confirm_key: Some("lrk_k".into()),
        url: Some("https://app.example/pair?code=ABCD-EFGH".into()),
    }
}

pub fn record() -> ManagedRecord {
    ManagedRecord {
        fingerprint: "f".into(),
        outcome: ManagedOutcome::Retrying,
        error: None,
        binding_id: Some("b".into()),
        attempt: 2,
        retry_at: Some(ms(1_700_000_000_000)),
        enroll_key: None,
    }
}

pub fn stored_binding() -> StoredBinding {
    StoredBinding {
        needs_repair: Some("revoked".into()),
        device_name: Some("Chromium 130 on Linux".into()),
        dpop_key: Some("binding:b".into()),
        ..StoredBinding::from_grant(test_grant(), ms(1_700_000_000_000))
    }
}

macro_rules! checks {
    ($t:ty) => {
        (
            decodes_like_serde_json::<$t> as Check,
            decodes_no_more_than_serde_json::<$t> as Check,
            (|text| decode::<$t>(text).is_some()) as fn(&str) -> bool,
        )
    };
}

/// Valid JSON of every type `from_js` decodes: from web pages (ExternalMessage; Capture,
/// the page text capture.js returns), the panel, the relay's answers and socket frames,
/// and the records in chrome.storage.
pub fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |json: Value, (exact, one_way, accepted)| seeds.push(Seed { json, exact, one_way, accepted });
    add(json!({"type":"pairing.offer","pairingToken":"lpt_x"}), checks!(ExternalMessage));
    add(json!({"type":"pairing.offer","pairingToken":"lpt_x","opener":"http://a.b"}), checks!(ExternalMessage));
    add(json!({"type":"pairing.result","offerId":"o1"}), checks!(ExternalMessage));
    add(json!({"type":"status","tenantId":"acme"}), checks!(ExternalMessage));
    add(json!({"url":"https://e.x/","title":"T","text":"body"}), checks!(Capture));
    add(json!({"type":"panel.approveCode","offerId":"code-1"}), checks!(PanelRequest));
    add(json!({"type":"panel.state"}), checks!(PanelRequest));
    add(serde_json::to_value(panel_reply()).unwrap(), checks!(PanelReply));
    add(json!({"type":"auth_ack","bindingId":"b","scopes":["errands"]}), checks!(ServerFrame));
    add(json!({"type":"errand","id":"e","kind":"ping","params":{}}), checks!(ServerFrame));
    let status = ChallengeStatusReply {
        status: ChallengeStatus::AwaitingConfirmation,
        interval: Some(5),
        requester: Some(test_requester()),
    };
    add(serde_json::to_value(status).unwrap(), checks!(ChallengeStatusReply));
    add(serde_json::to_value(TokenGrant { server_time: Some(ms(1)), ..test_grant() }).unwrap(), checks!(TokenGrant));
    add(
        json!({"accessToken":"a","refreshToken":"r","accessExpiresAt":1,"refreshExpiresAt":2}),
        checks!(RefreshedTokens),
    );
    add(json!({"challengeId":"c","code":"ABCD-EFGH","expiresAt":1,"interval":5}), checks!(ChallengeIssued));
    add(
        json!({"challengeId":"c","code":"ABCD-EFGH","expiresAt":1,"interval":5,"url":"https://a.example/p?code=ABCD-EFGH"}),
        checks!(ChallengeIssued),
    );
    add(
        json!({"appName":"Acme","tenantId":"acme","userId":"dana","expiresAt":3,"serverTime":1,
            "appOrigins":["http://localhost:8788"]}),
        checks!(DescribeResponse),
    );
    add(json!({"error":"slow_down","message":"m","interval":5,"retryAfter":2}), checks!(ErrorBody));
    add(json!({"status":"accepted","captureId":"c1"}), checks!(CaptureAccepted));
    add(json!({"revoked":true}), checks!(RevokeResponse));
    add(json!({"bindingId":"b","deviceName":"Work laptop"}), checks!(DeviceRenamed));
    add(json!({"bindingId":"b","paused":true}), checks!(PauseState));
    add(json!({"type":"panel.pause","bindingId":"b"}), checks!(PanelRequest));
    add(json!({"type":"panel.rename","bindingId":"b","deviceName":"Work laptop"}), checks!(PanelRequest));
    add(json!({"type":"panel.activity","bindingId":"b"}), checks!(PanelRequest));
    add(json!({"type":"panel.disconnectAll"}), checks!(PanelRequest));
    add(
        serde_json::to_value(OfferBook { offers: vec![offer()], recent: vec![ms(1), ms(2)] }).unwrap(),
        checks!(OfferBook),
    );
    add(serde_json::to_value(vec![stored_binding()]).unwrap(), checks!(Vec<StoredBinding>));
    add(serde_json::to_value(stored_challenge()).unwrap(), checks!(StoredChallenge));
    add(serde_json::to_value(challenge_view()).unwrap(), checks!(ChallengeView));
    add(serde_json::to_value(record()).unwrap(), checks!(ManagedRecord));
    seeds
}
