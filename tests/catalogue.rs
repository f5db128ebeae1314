//! The panel's message catalogues (`extension/_locales/{en,de}/messages.json`): every key
//! the panel asks `chrome.i18n` for exists in each, with the same placeholders, and the
//! English labels PROTOCOL.md fixes are exactly as written. (`chrome.i18n` answers "" for
//! a missing key, so without this check a typo would show an empty button.)

use std::collections::BTreeSet;
use std::fs;

use serde_json::Value;

const LOCALES: [&str; 2] = ["en", "de"];

fn catalogue(locale: &str) -> serde_json::Map<String, Value> {
    let path = format!("{}/extension/_locales/{locale}/messages.json", env!("CARGO_MANIFEST_DIR"));
    match serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap() {
        Value::Object(m) => m,
        _ => panic!("{path} is not an object"),
    }
}

/// Keys the panel's source passes to `t`, `t_with` and `t_around` as literals.
fn keys_in_panel_source() -> BTreeSet<String> {
    let dir = format!("{}/src/panel", env!("CARGO_MANIFEST_DIR"));
    let mut keys = BTreeSet::new();
    for entry in fs::read_dir(dir).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        for call in ["t(\"", "t_with(\"", "t_around(\""] {
            for (i, _) in text.match_indices(call) {
                let preceded_by_ident = text[..i].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_');
                if preceded_by_ident {
                    continue;
                }
                let rest = &text[i + call.len()..];
                keys.insert(rest[..rest.find('"').unwrap()].to_owned());
            }
        }
    }
    keys
}

/// Keys the panel picks at run time: error codes the background or the relay answers
/// (`err_…`, `policy_…`, looked up by code) and the two repair sentences.
const EXPLAINED: &[&str] = &[
    "needs_repair",
    "needs_repair_managed",
    "expired_idle",
    "expired_idle_managed",
    "err_bad_token_shape",
    "err_token_expired",
    "err_token_used",
    "err_token_not_found",
    "err_busy",
    "err_rate_limited",
    "err_relay_unreachable",
    "err_not_described",
    "err_already_decided",
    "err_code_expired",
    "err_not_awaiting_confirmation",
    "err_unknown_binding",
    "err_no_consumer",
    "err_no_page_access",
    "err_needs_repair",
    "err_no_background",
    "err_managed_binding",
    "err_unknown",
    "policy_assertion_replayed",
    "policy_assertion_expired",
    "policy_assertion_invalid",
    "policy_wrong_audience",
    "policy_malformed_assertion",
    "policy_wrong_relay",
    "policy_incomplete",
    "policy_relay_unreachable",
    // Picked by a `match` or an `if` (panel/activity.rs, panel/connected.rs).
    "via_one_click",
    "via_pasted_token",
    "via_code",
    "via_managed",
    "activity_revoked_user",
    "activity_revoked_app",
    "activity_revoked_owner",
    "activity_revoked_reuse",
    "activity_revoked_idle",
    "disconnect_all",
    "disconnect_all_yes",
    "err_paused",
];

fn placeholders(message: &str) -> BTreeSet<String> {
    message.split('$').skip(1).step_by(2).map(str::to_lowercase).collect()
}

#[test]
fn every_key_is_in_every_catalogue() {
    let used = keys_in_panel_source();
    assert!(used.len() > 30, "found only {used:?}: is the scan still right?");
    for locale in LOCALES {
        let c = catalogue(locale);
        for key in used.iter().map(String::as_str).chain(EXPLAINED.iter().copied()) {
            let message = c.get(key).and_then(|m| m["message"].as_str());
            assert!(message.is_some_and(|m| !m.trim().is_empty()), "{locale}: no message {key}");
        }
    }
}

#[test]
fn both_catalogues_have_the_same_keys_and_placeholders() {
    let (en, de) = (catalogue("en"), catalogue("de"));
    assert_eq!(en.keys().collect::<Vec<_>>(), de.keys().collect::<Vec<_>>());
    for (key, m) in &en {
        let declared: BTreeSet<String> =
            m.get("placeholders").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default();
        for (locale, c) in [("en", &en), ("de", &de)] {
            let text = c[key]["message"].as_str().unwrap();
            assert_eq!(placeholders(text), declared, "{locale} {key}: {text}");
            assert_eq!(c[key].get("placeholders"), m.get("placeholders"), "{locale} {key}");
        }
    }
}

#[test]
fn the_english_labels_protocol_fixes_are_exact() {
    let en = catalogue("en");
    for (key, label) in [
        ("prompt_heading", "Allow $APP$ to run tasks in your browser?"),
        ("approve", "Approve"),
        ("deny", "Deny"),
        ("connect_heading", "Connect an app"),
        ("pairing_token_label", "Pairing token"),
        ("connect_button", "Connect"),
        ("code_heading", "Pair with a code"),
        ("connected_heading", "Connected apps"),
        ("disconnect", "Disconnect"),
        ("managed_label", "Managed by your organization"),
        ("prompt_opened_from", "Opened from $ORIGIN$"),
        (
            "prompt_caution",
            "Latch could not confirm which site opened this request. Approve only if you just asked $APP$ to connect.",
        ),
    ] {
        assert_eq!(en[key]["message"], label, "{key}");
    }
}
