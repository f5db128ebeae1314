//! Why a binding needs pairing again, as its stored `needs_repair` says: the relay's error
//! code for the refused refresh, or `idle:<seconds>` when the relay revoked the binding for
//! going unused that long (PROTOCOL §11, `revokedBy: "idle"`). The worker writes it from
//! the refusal; the panel reads it back to say "expired after 90 days without use" instead
//! of an error code. No relay error code holds a `:`, so none reads back as idle.

use latch_wire::api::ErrorBody;

/// `needs_repair` of a binding revoked as idle, before the seconds (none when the relay
/// didn't say them).
const IDLE: &str = "idle:";

/// What to store in `needs_repair` for this refusal of a refresh.
pub fn from_refusal(body: &ErrorBody) -> String {
    match (body.revoked_by.as_deref(), body.idle_seconds) {
        (Some("idle"), Some(seconds)) => format!("{IDLE}{seconds}"),
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

/// A time in the largest unit it holds at least one of, rounded down, for
/// `Intl.NumberFormat`'s unit style ("90 days", "3 hours", "9 seconds"): the relay says how
/// long the binding had really gone unused, a little over its idle days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub count: u64,
    /// A sanctioned `Intl` unit: `day`, `hour`, `minute` or `second`.
    pub unit: &'static str,
}

impl Span {
    fn of(seconds: u64) -> Option<Self> {
        let units = [(86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")];
        let (size, unit) = units.into_iter().find(|(size, _)| seconds >= *size)?;
        Some(Span { count: seconds / size, unit })
    }
}

pub fn read(stored: &str) -> Repair<'_> {
    match stored.strip_prefix(IDLE).map(|rest| (rest, rest.parse::<u64>())) {
        Some(("", _)) => Repair::Idle(None),
        Some((_, Ok(seconds))) => Repair::Idle(Span::of(seconds)),
        _ => Repair::Refused(stored),
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

    fn size(unit: &str) -> u64 {
        match unit {
            "day" => 86_400,
            "hour" => 3_600,
            "minute" => 60,
            _ => 1,
        }
    }

    #[test]
    fn an_idle_revocation_reads_back_in_the_largest_unit_it_holds() {
        let stored = from_refusal(&refusal("refresh_token_revoked", Some("idle"), Some(90 * 86_400 + 542)));
        assert_eq!(stored, "idle:7776542");
        assert_eq!(read(&stored), Repair::Idle(Some(Span { count: 90, unit: "day" })));
        assert_eq!(read("idle:129600"), Repair::Idle(Some(Span { count: 1, unit: "day" })));
        assert_eq!(read("idle:86399"), Repair::Idle(Some(Span { count: 23, unit: "hour" })));
        assert_eq!(read("idle:9"), Repair::Idle(Some(Span { count: 9, unit: "second" })));
        assert_eq!(read("idle:"), Repair::Idle(None));
        assert_eq!(read("idle:0"), Repair::Idle(None));
    }

    #[test]
    fn any_other_refusal_is_its_code() {
        assert_eq!(from_refusal(&refusal("refresh_token_revoked", None, None)), "refresh_token_revoked");
        // Only `idle` means idle: another `revokedBy` (a newer relay's) stays a code.
        assert_eq!(from_refusal(&refusal("refresh_token_revoked", Some("owner"), Some(5))), "refresh_token_revoked");
        for code in ["refresh_token_invalid", "idle", "binding_idle", "idle:x", "idle:-1", "idle: 5"] {
            assert_eq!(read(code), Repair::Refused(code), "{code}");
        }
    }

    proptest! {
        #[test]
        fn whatever_the_relay_says_reads_back_as_what_it_meant(
            error in "(idle|[a-z_]{1,30})", idle in proptest::option::of(any::<u64>()), by_idle in any::<bool>()
        ) {
            let body = refusal(&error, by_idle.then_some("idle"), idle);
            let stored = from_refusal(&body);
            match read(&stored) {
                Repair::Idle(span) => {
                    prop_assert!(by_idle);
                    // Never more than it was, and less by under one of the unit shown.
                    let (shown, said) = (span.map_or(0, |s| s.count * size(s.unit)), idle.unwrap_or(0));
                    prop_assert!(shown <= said && said - shown < span.map_or(1, |s| size(s.unit)));
                }
                Repair::Refused(code) => {
                    prop_assert!(!by_idle);
                    prop_assert_eq!(code, error.as_str());
                }
            }
        }
    }
}
