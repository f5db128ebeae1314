//! Consent-name policy: the one implementation both the relay (before it vouches for a
//! name) and the extension (before it shows one) run. A name that fails is never shown;
//! callers fall back to the next candidate (key label → tenant name → tenant id).

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use unicode_security::{confusable_detection::skeleton, MixedScript};

/// Longest acceptable name, in characters after normalisation.
pub const MAX_NAME_CHARS: usize = 64;

/// Words that belong to the trust frame around the prompt. An app name that equals or
/// contains one of them (also via confusable look-alikes) could impersonate it.
const TRUST_FRAME_WORDS: &[&str] = &[
    "latch",
    "chrome",
    "chromium",
    "google",
    "verified",
    "official",
    "security",
    "extension",
    "browser",
    "system",
    "admin",
];

/// Why a name was refused. Never shown to the user as the name itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameRejection {
    Empty,
    TooLong,
    ForbiddenCharacter(char),
    /// Starts with a combining mark, or stacks more than two (overlays other text).
    CombiningMarks,
    MixedScript,
    TrustFrameWord(&'static str),
}

/// Normalises (NFC, trimmed) and checks `raw`; returns the name to display.
pub fn check_consent_name(raw: &str) -> Result<String, NameRejection> {
    // Only plain spaces are trimmed: any other whitespace or control character is refused,
    // wherever it stands, rather than quietly dropped.
    let name: String = raw.nfc().collect::<String>().trim_matches(' ').to_string();
    if name.is_empty() {
        return Err(NameRejection::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameRejection::TooLong);
    }
    if let Some(c) = name.chars().find(|&c| is_forbidden_char(c)) {
        return Err(NameRejection::ForbiddenCharacter(c));
    }
    if has_mark_abuse(&name) {
        return Err(NameRejection::CombiningMarks);
    }
    if !name.as_str().is_single_script() {
        return Err(NameRejection::MixedScript);
    }
    let folded = folds_for_comparison(&name);
    let imitates = |w: &str| folds_for_comparison(w).iter().zip(&folded).any(|(w, n)| n.contains(w.as_str()));
    if let Some(word) = TRUST_FRAME_WORDS.iter().find(|w| imitates(w)) {
        return Err(NameRejection::TrustFrameWord(word));
    }
    Ok(name)
}

/// The name a consent prompt shows for an app: the minting key's label, else the tenant's
/// display name, else the tenant id — each through the policy. Tenant ids are checked
/// against the policy when tenants are created, so the last fallback is always safe.
pub fn display_name(key_label: Option<&str>, tenant_name: &str, tenant_id: &str) -> String {
    first_acceptable(key_label.into_iter().chain([tenant_name])).unwrap_or_else(|| tenant_id.to_owned())
}

/// The first candidate that passes the policy, normalised.
pub fn first_acceptable<'a>(candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates.into_iter().find_map(|c| check_consent_name(c).ok())
}

/// Control, format (bidi overrides, zero-width), private-use, unassigned and surrogate
/// characters, line/paragraph separators, and every space except U+0020.
fn is_forbidden_char(c: char) -> bool {
    use GeneralCategory::*;
    match c.general_category() {
        Control | Format | PrivateUse | Unassigned | Surrogate | LineSeparator | ParagraphSeparator => true,
        SpaceSeparator => c != ' ',
        _ => false,
    }
}

fn is_mark(c: char) -> bool {
    use GeneralCategory::*;
    matches!(c.general_category(), NonspacingMark | SpacingMark | EnclosingMark)
}

/// A leading combining mark, or a run of more than two: "zalgo" text that draws over
/// the prompt around the name.
fn has_mark_abuse(name: &str) -> bool {
    let mut run = 0;
    for (i, c) in name.chars().enumerate() {
        if is_mark(c) {
            run += 1;
            if i == 0 || run > 2 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Lower-cased confusable skeletons with spaces and punctuation dropped, so "L a t c h",
/// "LATCH" and "Ⓛatch"/"1atch" style look-alikes compare equal to "latch". Two orders,
/// because case and look-alikes interact: skeleton first catches "Iatch" (a capital i looks
/// like l), lower-case first catches "VERIFIED" (whose skeleton reads "VERlFlED"; found by
/// the name_policy fuzzer).
fn folds_for_comparison(s: &str) -> [String; 2] {
    let fold = |t: &str| -> String { skeleton(t).flat_map(char::to_lowercase).collect() };
    let keep = |t: String| -> String { t.chars().filter(|c| c.is_alphanumeric()).collect() };
    let lowered: String = s.chars().flat_map(char::to_lowercase).collect();
    [keep(fold(&fold(s))), keep(fold(&lowered))]
}

#[cfg(test)]
mod hostile_names;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_normalised() {
        assert_eq!(check_consent_name("  Acme  ").unwrap(), "Acme");
        assert_eq!(check_consent_name("Acme Store").unwrap(), "Acme Store");
        assert_eq!(check_consent_name("Café Crème").unwrap(), "Café Crème");
        // NFD input comes out NFC.
        assert_eq!(check_consent_name("Cafe\u{301}").unwrap(), "Caf\u{e9}");
        assert_eq!(check_consent_name("東京ストア").unwrap(), "東京ストア");
        assert_eq!(check_consent_name(&"a".repeat(64)).unwrap().len(), 64);
    }

    #[test]
    fn hostile_names_fail() {
        use NameRejection::*;
        type Expect = fn(&NameRejection) -> bool;
        let cases: &[(&str, Expect)] = &[
            ("", |r| *r == Empty),
            ("    ", |r| *r == Empty),
            ("  \t ", |r| matches!(r, ForbiddenCharacter(_))),
            (&"a".repeat(65), |r| *r == TooLong),
            ("Acme\u{202E}erotS", |r| matches!(r, ForbiddenCharacter(_))),
            ("Ac\u{200B}me", |r| matches!(r, ForbiddenCharacter(_))),
            ("Acme\u{0007}", |r| matches!(r, ForbiddenCharacter(_))),
            ("Acme\nLatch", |r| matches!(r, ForbiddenCharacter(_))),
            ("Acme\u{E000}", |r| matches!(r, ForbiddenCharacter(_))),
            ("Acme\u{00A0}Store", |r| matches!(r, ForbiddenCharacter(_))),
            ("Acme\u{0378}", |r| matches!(r, ForbiddenCharacter(_))),
            ("\u{0410}cme", |r| *r == MixedScript), // Cyrillic А
            ("Latch", |r| matches!(r, TrustFrameWord("latch"))),
            ("Latch Security", |r| matches!(r, TrustFrameWord(_))),
            ("LATCH", |r| matches!(r, TrustFrameWord("latch"))),
            ("L a t c h", |r| matches!(r, TrustFrameWord("latch"))),
            ("Iatch", |r| matches!(r, TrustFrameWord("latch"))), // capital i
            ("Google", |r| matches!(r, TrustFrameWord("google"))),
            ("Chrome Helper", |r| matches!(r, TrustFrameWord("chrome"))),
            ("Verified Acme", |r| matches!(r, TrustFrameWord("verified"))),
        ];
        for (name, expect) in cases {
            let got = check_consent_name(name).expect_err(name);
            assert!(expect(&got), "{name:?} -> {got:?}");
        }
    }

    #[test]
    fn fallback_takes_the_first_acceptable_candidate() {
        assert_eq!(first_acceptable(["Latch Official", "Acme", "acme"]).as_deref(), Some("Acme"));
        assert_eq!(first_acceptable(["\u{202E}x", ""]), None);
    }
}
