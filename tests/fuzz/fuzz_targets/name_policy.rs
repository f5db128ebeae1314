//! The consent-name policy (PROTOCOL §6) on arbitrary strings: never panics, and whatever it
//! accepts is short, trimmed, NFC, free of forbidden characters, single-script, free of
//! trust-frame words, and accepted again unchanged, also by the extension's re-check (the
//! relay and the extension agree).
#![no_main]

use libfuzzer_sys::fuzz_target;

use latch_wire::name_policy::{check_consent_name, display_name, recheck_shown_name, MAX_NAME_CHARS};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Ok(name) = check_consent_name(raw) {
        let chars = name.chars().count();
        assert!((1..=MAX_NAME_CHARS).contains(&chars), "{name:?}");
        assert_eq!(name.trim_matches(' '), name);
        assert!(
            !name.chars().any(|c| c.is_control()
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}')),
            "{name:?}"
        );
        let lower = name.to_lowercase();
        for word in ["latch", "chrome", "google", "verified"] {
            assert!(!lower.contains(word), "{name:?} contains {word}");
        }
        assert_eq!(check_consent_name(&name).as_deref(), Ok(name.as_str()), "not idempotent");
        // The extension's re-check shows exactly what the relay vouched for.
        assert_eq!(recheck_shown_name(&name).as_deref(), Ok(name.as_str()), "re-check refused {name:?}");
    }
    // The prompt always has a name: the fallback chain ends at the tenant id.
    let shown = display_name(Some(raw), raw, "acme");
    assert!(!shown.is_empty());
    assert!(shown == "acme" || check_consent_name(&shown).is_ok());
});
