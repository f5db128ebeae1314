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
    MixedScript,
    TrustFrameWord(&'static str),
}

/// Normalises (NFC, trimmed) and checks `raw`; returns the name to display.
pub fn check_consent_name(raw: &str) -> Result<String, NameRejection> {
    let name: String = raw.nfc().collect::<String>().trim().to_string();
    if name.is_empty() {
        return Err(NameRejection::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameRejection::TooLong);
    }
    if let Some(c) = name.chars().find(|&c| is_forbidden_char(c)) {
        return Err(NameRejection::ForbiddenCharacter(c));
    }
    if !name.as_str().is_single_script() {
        return Err(NameRejection::MixedScript);
    }
    let folded = fold_for_comparison(&name);
    if let Some(word) = TRUST_FRAME_WORDS.iter().find(|w| folded.contains(&fold_for_comparison(w))) {
        return Err(NameRejection::TrustFrameWord(word));
    }
    Ok(name)
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

/// Lower-cased confusable skeleton with spaces and punctuation dropped, so "L a t c h",
/// "LATCH" and "Ⓛatch"/"1atch" style look-alikes compare equal to "latch".
fn fold_for_comparison(s: &str) -> String {
    // Skeleton before and after lower-casing: "I" looks like "l" only in upper case.
    let lowered: String = skeleton(s).flat_map(char::to_lowercase).collect();
    skeleton(&lowered).flat_map(char::to_lowercase).filter(|c| c.is_alphanumeric()).collect()
}

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
            ("   \t ", |r| *r == Empty),
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
