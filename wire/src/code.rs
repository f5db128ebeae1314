//! Pairing codes (code pairing, PROTOCOL §3): 8 characters of a 32-letter alphabet without
//! look-alikes (no 0/O, 1/I), shown as `XXXX-XXXX`, accepted with or without the dash and in
//! any case. The relay mints them; the relay and the panel parse and format them here.

pub const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
pub const CODE_LEN: usize = 8;

/// Canonical form of user input (`abcd-2345` → `ABCD2345`), or `None` when it isn't a code.
pub fn normalize(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let without_dash = match trimmed.split_once('-') {
        Some((a, b)) if a.len() == 4 && b.len() == 4 => format!("{a}{b}"),
        Some(_) => return None,
        None => trimmed.to_owned(),
    };
    let upper = without_dash.to_ascii_uppercase();
    (upper.len() == CODE_LEN && upper.bytes().all(|c| ALPHABET.contains(&c))).then_some(upper)
}

/// `ABCD2345` → `ABCD-2345`; anything that is not 8 ASCII characters is returned as is.
pub fn display(code: &str) -> String {
    if code.len() == CODE_LEN && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn alphabet_has_no_look_alikes() {
        assert_eq!(ALPHABET.len(), 32);
        // PROTOCOL.md's alphabet keeps L (unlike seed 001's prose) and drops 0, 1, I, O.
        for c in b"01OI" {
            assert!(!ALPHABET.contains(c), "{}", *c as char);
        }
    }

    #[test]
    fn input_forms() {
        assert_eq!(normalize("abcd-2345").as_deref(), Some("ABCD2345"));
        assert_eq!(normalize(" ABCD2345 ").as_deref(), Some("ABCD2345"));
        for bad in
            ["", "ABCD-234", "ABC-D2345", "ABCD--2345", "ABCD0345", "ABCDI345", "ABCD23456", "ÄBCD2345", "ABCD 2345"]
        {
            assert_eq!(normalize(bad), None, "{bad}");
        }
        assert_eq!(display("ABCD2345"), "ABCD-2345");
        assert_eq!(display("ÄBC"), "ÄBC");
    }

    proptest! {
        #[test]
        fn normalize_never_panics_and_only_yields_codes(s in ".{0,20}") {
            if let Some(c) = normalize(&s) {
                prop_assert_eq!(c.len(), CODE_LEN);
                prop_assert!(c.bytes().all(|b| ALPHABET.contains(&b)));
                prop_assert_eq!(normalize(&display(&c)), Some(c));
            }
        }
    }
}
