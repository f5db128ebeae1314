//! What the panel may show of the worker's state: every app name re-checked against the
//! consent-name policy, a failing one replaced by the tenant id (PROTOCOL §6). The worker
//! stores names as the relay sent them and never shows them itself, so it links no Unicode
//! tables; the panel runs this on every state it receives.

use latch_wire::name_policy::shown_name;
use latch_wire::panel::PanelState;

/// An app-chosen code the panel shows in its Activity (an errand's `kind`, the error it
/// failed with): only one in a code's shape (`ping`, `capture.page`, `timeout`; a lower-case
/// ASCII letter, then up to 39 of `a-z 0-9 _ . -`). Anything else — a sentence, a URL, a
/// look-alike in another script — is not shown: a hostile app could otherwise write its own
/// words into the panel ("Task “Latch: approve the next prompt” done").
pub fn shown_code(code: &str) -> Option<&str> {
    let mut chars = code.chars();
    let first = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    (first && rest && code.len() <= 40).then_some(code)
}

pub fn with_shown_names(mut state: PanelState) -> PanelState {
    for p in &mut state.pending {
        if let Some(name) = &p.app_name {
            p.app_name = Some(shown_name(name, p.tenant_id.as_deref().unwrap_or_default()));
        }
    }
    for b in &mut state.bindings {
        b.app_name = shown_name(&b.app_name, &b.tenant_id);
    }
    if let Some(r) = state.challenge.as_mut().and_then(|c| c.prompt.as_mut()).map(|p| &mut p.requester) {
        r.app_name = shown_name(&r.app_name, &r.tenant_id);
    }
    state
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::shown_code;

    #[test]
    fn only_codes_in_a_codes_shape_are_shown() {
        for code in ["ping", "capture.page", "timeout", "unknown_kind", "a", "x-1"] {
            assert_eq!(shown_code(code), Some(code));
        }
        for hostile in [
            "",
            "Latch: approve the next prompt",
            "https://evil.example",
            "Ping",
            "1ping",
            "_ping",
            "pіng", // Cyrillic і
            "ping\u{202e}",
            &"a".repeat(41),
        ] {
            assert_eq!(shown_code(hostile), None, "{hostile:?}");
        }
    }

    proptest! {
        #[test]
        fn a_shown_code_is_always_short_plain_ascii(s in "\\PC{0,60}") {
            if let Some(c) = shown_code(&s) {
                prop_assert!(c.len() <= 40 && c.bytes().all(|b| b.is_ascii_graphic()) && !c.contains(' '));
            }
        }
    }
    use latch_wire::api::CodeRequester;
    use latch_wire::panel::{BindingView, ChallengeView, PendingView, PromptVia, ViewState};
    use latch_wire::stored::CodePrompt;
    use latch_wire::testing::{ms, test_requester};

    use super::*;

    #[test]
    fn the_panel_shows_only_names_that_pass_the_recheck() {
        let pending = |name: Option<&str>| PendingView {
            offer_id: "o".into(),
            app_name: name.map(Into::into),
            tenant_id: Some("acme".into()),
            user_id: Some("dana".into()),
            expires_at: ms(0),
            shown_at: ms(0),
            via: PromptVia::OneClick,
            opener: None,
            code: None,
            app_origin: None,
        };
        let binding = |name: &str| BindingView {
            binding_id: "b".into(),
            app_name: name.into(),
            tenant_id: "acme".into(),
            user_id: "dana".into(),
            paired_at: ms(0),
            needs_repair: None,
            managed: false,
            device_name: None,
            paused: false,
        };
        let prompt = CodePrompt {
            requester: CodeRequester { app_name: "Latch Support".into(), ..test_requester() },
            shown_at: ms(0),
        };
        let challenge = ChallengeView {
            state: ViewState::AwaitingConfirmation,
            code: Some("ABCD-EFGH".into()),
            expires_at: None,
            retry_at: None,
            error: None,
            reissued: false,
            prompt: Some(prompt),
            url: None,
        };
        let state = PanelState {
            pending: vec![pending(Some("Acme")), pending(Some("Latch Verified")), pending(None)],
            bindings: vec![binding("Acme Store"), binding("Ac\u{202E}me")],
            challenge: Some(challenge),
            managed: None,
        };
        let state = with_shown_names(state);
        let code_prompt = state.challenge.as_ref().and_then(|c| c.prompt.as_ref()).unwrap();
        assert_eq!(code_prompt.requester.app_name, "acme", "the code prompt's name is re-checked too");
        let names: Vec<_> = state.pending.iter().map(|p| p.app_name.as_deref()).collect();
        assert_eq!(names, [Some("Acme"), Some("acme"), None]);
        let names: Vec<_> = state.bindings.iter().map(|b| b.app_name.as_str()).collect();
        assert_eq!(names, ["Acme Store", "acme"]);
    }
}
