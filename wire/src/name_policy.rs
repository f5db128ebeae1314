//! Consent-name policy: the one implementation both the relay (before it vouches for a
//! name) and the extension (before it shows one) run. A name that fails is never shown;
//! callers fall back to the next candidate (key label → tenant name → tenant id).

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
use unicode_security::MixedScript;

// Generated (tables_source.rs) and compared byte for byte, so rustfmt stays out.
#[rustfmt::skip]
mod class_table;
#[rustfmt::skip]
mod fold_table;

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

/// [`TRUST_FRAME_WORDS`] folded, once: folding them again for every name was 11 of the
/// 12 folds of a check, ~40,000 instructions of each relay pairing (callgrind).
static TRUST_FRAME_FOLDS: std::sync::LazyLock<Vec<(&str, [String; 2])>> =
    std::sync::LazyLock::new(|| TRUST_FRAME_WORDS.iter().map(|w| (*w, folds_for_comparison(w))).collect());

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
    /// [`recheck_shown_name`] only: certainly not NFC (the relay sends names normalised).
    NotNormalized,
}

/// Normalises (NFC, trimmed) and checks `raw`; returns the name to display.
pub fn check_consent_name(raw: &str) -> Result<String, NameRejection> {
    // Only plain spaces are trimmed: any other whitespace or control character is refused,
    // wherever it stands, rather than quietly dropped.
    let name: String = raw.nfc().collect::<String>().trim_matches(' ').to_string();
    check_normalized(name)
}

/// The extension's re-check of a name the relay vouched for, before it is shown: the same
/// rules on the name as it is, without normalising it. The relay only hands out names
/// [`check_consent_name`] returned, which are NFC, so for those the answer is the relay's.
/// NFC's quick check (a small table; the composition tables are ~60 KB of gzip in wasm)
/// refuses a name that is certainly not NFC. One it cannot decide ("maybe": a combining
/// mark that could compose) is checked as it stands: decomposed text has more marks, so
/// the rules are only stricter on it, and the look-alike folds decompose anyway.
pub fn recheck_shown_name(name: &str) -> Result<String, NameRejection> {
    let name = name.trim_matches(' ');
    if is_nfc_quick(name.chars()) == IsNormalized::No {
        return Err(NameRejection::NotNormalized);
    }
    check_normalized(name.to_owned())
}

/// The name the extension shows for an app: the relay's name if it passes the re-check,
/// else the tenant id (PROTOCOL §6: a name that fails is never shown).
pub fn shown_name(app_name: &str, tenant_id: &str) -> String {
    recheck_shown_name(app_name).unwrap_or_else(|_| tenant_id.to_owned())
}

/// The name a browser goes by ("Chrome 156 on Linux", or what the user typed): the
/// policy's rules on characters (normalised, trimmed, no control, format or bidi
/// characters, no stacked marks, one script, at most [`MAX_NAME_CHARS`]), without the
/// trust-frame words. Those guard the consent prompt against an app posing as its frame;
/// a browser's own name is shown to the app that it is connected to, and "Chrome" is
/// exactly what it should be able to say.
pub fn check_device_name(raw: &str) -> Result<String, NameRejection> {
    let name: String = raw.nfc().collect::<String>().trim_matches(' ').to_string();
    check_characters(&name)?;
    Ok(name)
}

/// A name a pairing sent, for the binding it makes: normalised and trimmed as
/// [`check_device_name`] does, cut to [`MAX_NAME_CHARS`] (an API client's long name is
/// kept, shortened), then checked. `None` when it fails.
pub fn cut_device_name(raw: &str) -> Option<String> {
    let name: String = raw.nfc().collect::<String>().trim_matches(' ').chars().take(MAX_NAME_CHARS).collect();
    check_device_name(&name).ok()
}

/// Every rule after normalisation and trimming.
fn check_normalized(name: String) -> Result<String, NameRejection> {
    check_characters(&name)?;
    let folded = folds_for_comparison(&name);
    let imitates = |w: &[String; 2]| w.iter().zip(&folded).any(|(w, n)| n.contains(w.as_str()));
    if let Some((word, _)) = TRUST_FRAME_FOLDS.iter().find(|(_, w)| imitates(w)) {
        return Err(NameRejection::TrustFrameWord(word));
    }
    Ok(name)
}

/// The rules on a normalised, trimmed name's characters.
fn check_characters(name: &str) -> Result<(), NameRejection> {
    if name.is_empty() {
        return Err(NameRejection::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameRejection::TooLong);
    }
    if let Some(c) = name.chars().find(|&c| is_forbidden_char(c)) {
        return Err(NameRejection::ForbiddenCharacter(c));
    }
    if has_mark_abuse(name) {
        return Err(NameRejection::CombiningMarks);
    }
    if !name.is_single_script() {
        return Err(NameRejection::MixedScript);
    }
    Ok(())
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

/// What the policy makes of a character's general category (`tables_source.rs` derives
/// the table and the rule from unicode-properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Allowed = 0,
    /// Control, format (bidi overrides, zero-width), private-use, unassigned, surrogate,
    /// line/paragraph separators, and every space except U+0020.
    Forbidden = 1,
    /// Combining marks (Mn, Mc, Me).
    Mark = 2,
}

fn char_class(c: char) -> CharClass {
    // The last run starting at or before `c` (RUNS[0] starts at 0).
    let i = class_table::RUNS.partition_point(|&run| run >> 2 <= c as u32) - 1;
    match class_table::RUNS[i] & 3 {
        1 => CharClass::Forbidden,
        2 => CharClass::Mark,
        _ => CharClass::Allowed,
    }
}

fn is_forbidden_char(c: char) -> bool {
    char_class(c) == CharClass::Forbidden
}

fn is_mark(c: char) -> bool {
    char_class(c) == CharClass::Mark
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

/// The two comparison folds of `s`: each character's lower-cased confusable skeleton
/// (UTS #39), letters and digits kept, every non-ASCII one as the breaker `*`, so
/// "L a t c h", "LATCH" and "Ⓛatch"/"1atch" style look-alikes compare equal to "latch".
/// Two orders, because case and look-alikes interact: skeleton first catches "Iatch" (a
/// capital i looks like l), lower-case first catches "VERIFIED" (whose skeleton reads
/// "VERlFlED"; found by the name_policy fuzzer). Per character from a table generated from
/// unicode-security (`tables_source.rs`): the full confusables table is ~90 KB of gzip
/// in the extension's wasm, the few thousand entries that can spell an ASCII word ~10 KB.
fn folds_for_comparison(s: &str) -> [String; 2] {
    let mut folds = [String::new(), String::new()];
    for c in s.chars() {
        let i = fold_table::CHARS.binary_search(&(c as u32));
        let skeleton_first =
            i.ok().map(|i| &fold_table::FOLDS[fold_table::STARTS[i].into()..fold_table::STARTS[i + 1].into()]);
        let lower_first = fold_table::LOWER_FIRST
            .binary_search_by_key(&(c as u32), |e| e.0)
            .ok()
            .map(|j| fold_table::LOWER_FIRST[j].1);
        for (fold, table) in folds.iter_mut().zip([skeleton_first, lower_first.or(skeleton_first)]) {
            match table {
                Some(t) => fold.push_str(t),
                None => fold.extend(c.to_lowercase().filter(|l| l.is_alphanumeric()).map(|l| {
                    if l.is_ascii() {
                        l
                    } else {
                        '*'
                    }
                })),
            }
        }
    }
    folds
}

#[cfg(test)]
mod hostile_names;
#[cfg(test)]
mod tables_source;

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
    fn device_names_may_say_chrome_but_keep_every_character_rule() {
        for (raw, name) in [
            ("Chrome 156 on Linux", "Chrome 156 on Linux"),
            ("  Work laptop ", "Work laptop"),
            ("Latch test browser", "Latch test browser"),
            ("Cafe\u{301} PC", "Caf\u{e9} PC"),
        ] {
            assert_eq!(check_device_name(raw).as_deref(), Ok(name), "{raw:?}");
        }
        for raw in ["", "   ", "PC\u{202E}xe", "Ac\u{200B}me", "PC\nTwo", "\u{0410}cme", "x\u{301}\u{302}\u{303}"] {
            assert!(check_device_name(raw).is_err(), "{raw:?}");
        }
        assert_eq!(check_device_name(&"a".repeat(65)), Err(NameRejection::TooLong));
        // Anything the consent policy accepts is a fine device name, unchanged.
        for raw in ["Acme", " Café Crème ", "東京ストア", "Cafe\u{301}"] {
            assert_eq!(check_device_name(raw), check_consent_name(raw), "{raw:?}");
        }
    }

    #[test]
    fn the_extension_recheck_agrees_on_normalised_names_and_refuses_others() {
        for name in ["Acme", "Café Crème", "東京ストア", "Latch", "Ac\u{200B}me", "\u{0410}cme", "Iatch", ""] {
            let relay = check_consent_name(name);
            assert_eq!(recheck_shown_name(name), relay, "{name:?}");
            if let Ok(normalised) = relay {
                assert_eq!(recheck_shown_name(&normalised).as_ref(), Ok(&normalised));
            }
        }
        // The Angstrom sign is never NFC (it normalises to Å): a relay that sends it is refused.
        assert_eq!(recheck_shown_name("\u{212B}cme"), Err(NameRejection::NotNormalized));
        assert_eq!(shown_name("\u{212B}cme", "acme"), "acme");
        // NFC with a mark that could compose elsewhere (quick check "maybe"): as the relay says.
        assert_eq!(recheck_shown_name("A\u{324}"), check_consent_name("A\u{324}"));
        assert_eq!(recheck_shown_name("A\u{324}").as_deref(), Ok("A\u{324}"));
        assert_eq!(shown_name("Latch Helper", "acme"), "acme");
        assert_eq!(shown_name(" Acme ", "acme"), "Acme");
    }

    proptest::proptest! {
        /// Whatever the relay vouches for, the extension shows unchanged.
        #[test]
        fn the_recheck_accepts_what_the_relay_returns(raw in "\\PC{0,20}") {
            if let Ok(name) = check_consent_name(&raw) {
                proptest::prop_assert_eq!(recheck_shown_name(&name), Ok(name.clone()));
            }
        }
    }

    #[test]
    fn fallback_takes_the_first_acceptable_candidate() {
        assert_eq!(first_acceptable(["Latch Official", "Acme", "acme"]).as_deref(), Some("Acme"));
        assert_eq!(first_acceptable(["\u{202E}x", ""]), None);
    }
}
