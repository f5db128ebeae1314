//! Why a binding needs pairing again, as its stored `needs_repair` says: the relay's error
//! code for the refused refresh, or `binding_idle:<seconds>` when the relay revoked the
//! binding for going unused that long (PROTOCOL §11, `revokedBy: "idle"`). The worker
//! writes it from the refusal; the panel reads it back to say "expired after 90 days
//! without use" instead of an error code.

use latch_wire::api::ErrorBody;

/// `needs_repair` of a binding revoked as idle (followed by `:` and the seconds, when the
/// relay said them).
const IDLE: &str = "binding_idle";

/// What to store in `needs_repair` for this refusal of a refresh.
pub fn from_refusal(body: &ErrorBody) -> String {
    match (body.revoked_by.as_deref(), body.idle_seconds) {
        (Some("idle"), Some(seconds)) => format!("{IDLE}:{seconds}"),
        (Some("idle"), None) => IDLE.to_owned(),
        _ => body.error.clone(),
    }
}

/// A stored `needs_repair`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair<'a> {
    /// Revoked for going unused for this long (`None`: the relay didn't say).
    Idle(Option<Span>),
    /// The relay's error code.
    Refused(&'a str),
}

/// A time in the largest whole unit it is made of, for `Intl.NumberFormat`'s unit style
/// ("90 days", "36 hours", "9 seconds").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub count: u64,
    /// A sanctioned `Intl` unit: `day`, `hour`, `minute` or `second`.
    pub unit: &'static str,
}

impl Span {
    fn of(seconds: u64) -> Option<Self> {
        let units = [(86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")];
        let (size, unit) = units.into_iter().find(|(size, _)| seconds.is_multiple_of(*size))?;
        (seconds > 0).then_some(Span { count: seconds / size, unit })
    }
}

pub fn read(stored: &str) -> Repair<'_> {
    match stored.strip_prefix(IDLE) {
        Some("") => Repair::Idle(None),
        Some(rest) => match rest.strip_prefix(':').map(str::parse::<u64>) {
            Some(Ok(seconds)) => Repair::Idle(Span::of(seconds)),
            _ => Repair::Refused(stored),
        },
        None => Repair::Refused(stored),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn refusal(error: &str, revoked_by: Option<&str>, idle_seconds: Option<u64>) -> ErrorBody {
        ErrorBody {
            error: error.into(),
            message: String::new(),
            interval: None,
            retry_after: None,
            revoked_by: revoked_by.map(Into::into),
            idle_seconds,
        }
    }

    fn seconds(span: Span) -> u64 {
        let size = match span.unit {
            "day" => 86_400,
            "hour" => 3_600,
            "minute" => 60,
            _ => 1,
        };
        span.count * size
    }

    #[test]
    fn an_idle_revocation_reads_back_in_its_largest_whole_unit() {
        let stored = from_refusal(&refusal("refresh_token_revoked", Some("idle"), Some(90 * 86_400)));
        assert_eq!(stored, "binding_idle:7776000");
        assert_eq!(read(&stored), Repair::Idle(Some(Span { count: 90, unit: "day" })));
        assert_eq!(read("binding_idle:129600"), Repair::Idle(Some(Span { count: 36, unit: "hour" })));
        assert_eq!(read("binding_idle:9"), Repair::Idle(Some(Span { count: 9, unit: "second" })));
        assert_eq!(read("binding_idle"), Repair::Idle(None));
        assert_eq!(read("binding_idle:0"), Repair::Idle(None));
    }

    #[test]
    fn any_other_refusal_is_its_code() {
        assert_eq!(from_refusal(&refusal("refresh_token_revoked", None, None)), "refresh_token_revoked");
        // Only `idle` means idle: another `revokedBy` (a newer relay's) stays a code.
        assert_eq!(from_refusal(&refusal("refresh_token_revoked", Some("owner"), Some(5))), "refresh_token_revoked");
        for code in ["refresh_token_invalid", "binding_idler", "binding_idle:", "binding_idle:x", "binding_idle:-1"] {
            assert_eq!(read(code), Repair::Refused(code), "{code}");
        }
    }

    proptest! {
        #[test]
        fn whatever_the_relay_says_reads_back_as_what_it_meant(
            error in "[a-z_]{1,30}", idle in proptest::option::of(any::<u64>()), by_idle in any::<bool>()
        ) {
            let body = refusal(&error, by_idle.then_some("idle"), idle);
            let stored = from_refusal(&body);
            match read(&stored) {
                Repair::Idle(span) => {
                    prop_assert!(by_idle);
                    prop_assert_eq!(span.map_or(0, seconds), idle.unwrap_or(0));
                }
                Repair::Refused(code) => {
                    prop_assert!(!by_idle);
                    prop_assert_eq!(code, error.as_str());
                }
            }
        }
    }
}
