//! The hostile-name table: each row is a name an app might give its API key label (or
//! tenant name), what the policy says, and what the prompt shows instead
//! (key label → tenant name → tenant id). Referenced from SECURITY.md.

use super::*;

const TENANT_NAME: &str = "Acme Inc";
const TENANT_ID: &str = "acme";

/// Which rule refuses the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Empty,
    TooLong,
    Forbidden,
    Marks,
    MixedScript,
    TrustFrame,
}

fn rule_of(r: &NameRejection) -> Rule {
    match r {
        NameRejection::Empty => Rule::Empty,
        NameRejection::TooLong => Rule::TooLong,
        NameRejection::ForbiddenCharacter(_) => Rule::Forbidden,
        NameRejection::CombiningMarks => Rule::Marks,
        NameRejection::MixedScript => Rule::MixedScript,
        NameRejection::TrustFrameWord(_) => Rule::TrustFrame,
        NameRejection::NotNormalized => unreachable!("check_consent_name normalises"),
    }
}

/// (key label, rule that refuses it)
const HOSTILE_LABELS: &[(&str, Rule)] = &[
    // Empty or too long.
    ("", Rule::Empty),
    ("   ", Rule::Empty),
    ("\u{3000}", Rule::Forbidden), // an ideographic space is not trimmed: it is refused
    ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Rule::TooLong),
    // Control characters, terminal escapes, line breaks.
    ("Acme\u{0000}", Rule::Forbidden),
    ("Acme\u{0007}", Rule::Forbidden),
    ("Acme\u{001B}[31mLatch", Rule::Forbidden),
    ("Acme\r\nApprove", Rule::Forbidden),
    ("Acme\u{0085}", Rule::Forbidden),
    ("Acme\u{2028}Store", Rule::Forbidden),
    ("Acme\u{2029}Store", Rule::Forbidden),
    // Bidi overrides and isolates (reorder what follows), zero-width and format.
    ("\u{202E}emcA", Rule::Forbidden),
    ("Acme\u{202E}erotS", Rule::Forbidden),
    ("Acme\u{202D}", Rule::Forbidden),
    ("Acme\u{2066}x\u{2069}", Rule::Forbidden),
    ("Acme\u{200F}", Rule::Forbidden),
    ("Ac\u{200B}me", Rule::Forbidden),
    ("Ac\u{200C}me", Rule::Forbidden),
    ("Ac\u{200D}me", Rule::Forbidden),
    ("Ac\u{2060}me", Rule::Forbidden),
    ("\u{FEFF}Acme", Rule::Forbidden),
    ("Ac\u{00AD}me", Rule::Forbidden),
    ("Acme\u{E0001}", Rule::Forbidden), // language tag
    // Private use, unassigned, noncharacters.
    ("\u{E000}Acme", Rule::Forbidden),
    ("Acme\u{F8FF}", Rule::Forbidden),
    ("Acme\u{0378}", Rule::Forbidden),
    ("Acme\u{FFFF}", Rule::Forbidden),
    ("Acme\u{10FFFD}", Rule::Forbidden),
    // Spaces other than U+0020 (width games).
    ("Acme\u{00A0}Store", Rule::Forbidden),
    ("Acme\u{2003}Store", Rule::Forbidden),
    ("Acme\u{200A}Store", Rule::Forbidden),
    ("Acme\u{3000}Store", Rule::Forbidden),
    // Combining marks that draw over the prompt.
    ("\u{0301}Acme", Rule::Marks),
    ("A\u{0300}\u{0301}\u{0302}\u{0303}cme", Rule::Marks),
    ("Acme\u{20DD}\u{20DD}\u{20DD}", Rule::Marks),
    // Mixed-script confusables.
    ("\u{0410}cme", Rule::MixedScript),   // Cyrillic А
    ("Acm\u{0435}", Rule::MixedScript),   // Cyrillic е
    ("P\u{0430}yPal", Rule::MixedScript), // Cyrillic а
    ("\u{0391}cme", Rule::MixedScript),   // Greek Α
    ("Acme \u{0421}\u{0442}\u{043E}re", Rule::MixedScript),
    // The trust frame: Latch and the browser, plainly or in disguise.
    ("Latch", Rule::TrustFrame),
    ("latch", Rule::TrustFrame),
    ("LATCH", Rule::TrustFrame),
    ("VERIFIED", Rule::TrustFrame), // skeleton "VERlFlED": found by the name_policy fuzzer
    ("verIfied Acme", Rule::TrustFrame),
    ("CHROMIUM", Rule::TrustFrame),
    ("OFFICIAL", Rule::TrustFrame),
    ("Latch Security", Rule::TrustFrame),
    ("Latch Support Team", Rule::TrustFrame),
    ("Acme via Latch", Rule::TrustFrame),
    ("L a t c h", Rule::TrustFrame),
    ("L-a-t-c-h", Rule::TrustFrame),
    ("L.A.T.C.H.", Rule::TrustFrame),
    ("Iatch", Rule::TrustFrame),                                         // capital I for l
    ("1atch", Rule::TrustFrame),                                         // digit one for l
    ("\u{FF2C}\u{FF41}\u{FF54}\u{FF43}\u{FF48}", Rule::TrustFrame),      // fullwidth Ｌａｔｃｈ
    ("\u{1D40B}\u{1D41A}\u{1D42D}\u{1D41C}\u{1D421}", Rule::TrustFrame), // mathematical bold 𝐋𝐚𝐭𝐜𝐡
    ("Chrome", Rule::TrustFrame),
    ("Google Chrome", Rule::TrustFrame),
    ("Chromium Helper", Rule::TrustFrame),
    ("Google", Rule::TrustFrame),
    ("G00gle", Rule::TrustFrame), // zeros for o
    ("Verified", Rule::TrustFrame),
    ("Verified Acme", Rule::TrustFrame),
    ("Acme (Official)", Rule::TrustFrame),
    ("Security Check", Rule::TrustFrame),
    ("System", Rule::TrustFrame),
    ("Admin Console", Rule::TrustFrame),
    ("Browser Update", Rule::TrustFrame),
    ("Extension Manager", Rule::TrustFrame),
];

#[test]
fn every_hostile_label_is_refused_by_its_rule_and_falls_back_to_the_tenant_name() {
    assert!(HOSTILE_LABELS.len() >= 50, "{} rows", HOSTILE_LABELS.len());
    let mut wrong = Vec::new();
    for &(label, rule) in HOSTILE_LABELS {
        match check_consent_name(label) {
            Ok(shown) => wrong.push(format!("{label:?} was accepted as {shown:?}")),
            Err(r) if rule_of(&r) != rule => wrong.push(format!("{label:?}: {r:?}, expected {rule:?}")),
            Err(_) => {}
        }
        let shown = display_name(Some(label), TENANT_NAME, TENANT_ID);
        if shown != TENANT_NAME {
            wrong.push(format!("{label:?} showed {shown:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_hostile_tenant_name_falls_back_to_the_tenant_id() {
    for &(name, _) in HOSTILE_LABELS {
        assert_eq!(display_name(Some(name), name, TENANT_ID), TENANT_ID, "{name:?}");
        assert_eq!(display_name(None, name, TENANT_ID), TENANT_ID, "{name:?}");
    }
}

#[test]
fn honest_names_are_shown_as_given() {
    for name in [
        "Acme",
        "Acme Store",
        "Café Crème",
        "東京ストア",
        "Ünïcödé GmbH",
        "O'Reilly & Sons",
        "ACME-2 (EU)",
        "Москва Маркет",
        "Αθήνα",
    ] {
        assert_eq!(display_name(Some(name), TENANT_NAME, TENANT_ID), name, "{name:?}");
    }
}
