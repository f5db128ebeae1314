//! Enterprise auto-pair in the extension (PROTOCOL §8): from the admin's policy
//! (`chrome.storage.managed`) and what this browser last did with it
//! (`chrome.storage.local["latch.managed"]`), what to do now. The worker does the IO.
//!
//! An assertion enrolls once: the record keeps a fingerprint of the assertion it was made
//! for, so a worker restart does not enroll again, and a changed policy (a new assertion)
//! does. A refusal is final for that assertion (the panel says why and what to ask the
//! admin for); no answer from the relay is retried with backoff.

use latch_wire::stored::{ManagedOutcome, ManagedPolicy, ManagedRecord};
use latch_wire::EpochMs;

use super::backoff::full_jitter_ms;

/// The next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No policy, or this assertion was already dealt with (or waits for `retry_at`).
    Idle,
    /// Present the assertion to the relay.
    Enroll { assertion: String, fingerprint: String },
    /// The policy can't be used as it is; record why.
    Refuse { fingerprint: String, error: &'static str },
}

/// 64-bit FNV-1a of the assertion, in hex: tells one assertion from the next.
pub fn fingerprint(assertion: &str) -> String {
    let hash =
        assertion.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

/// The longest assertion the extension sends (the relay refuses longer ones too).
const MAX_ASSERTION_LEN: usize = 4096;

/// What to do with `policy`, given the `record` of the last attempt, at `now`.
pub fn decide(policy: &ManagedPolicy, record: Option<&ManagedRecord>, connect_origin: &str, now: EpochMs) -> Step {
    // The relay checks the assertion's tenant; the policy's `tenantId` names it for people,
    // so it only has to be there.
    let (relay_url, assertion) = match (&policy.relay_url, &policy.tenant_id, &policy.assertion) {
        (None, None, None) => return Step::Idle,
        (Some(r), Some(t), Some(a)) if !r.is_empty() && !t.is_empty() && !a.is_empty() => (r, a),
        _ => {
            let fingerprint = fingerprint(policy.assertion.as_deref().unwrap_or_default());
            return Step::Refuse { fingerprint, error: "policy_incomplete" };
        }
    };
    let fingerprint = fingerprint(assertion);
    match record {
        Some(r) if r.fingerprint == fingerprint => match r.outcome {
            ManagedOutcome::Enrolled | ManagedOutcome::Refused => return Step::Idle,
            ManagedOutcome::Retrying if r.retry_at.is_some_and(|t| t > now) => return Step::Idle,
            ManagedOutcome::Retrying => {}
        },
        _ => {}
    }
    if relay_url.trim_end_matches('/') != connect_origin {
        return Step::Refuse { fingerprint, error: "policy_wrong_relay" };
    }
    if assertion.len() > MAX_ASSERTION_LEN {
        return Step::Refuse { fingerprint, error: "malformed_assertion" };
    }
    Step::Enroll { assertion: assertion.clone(), fingerprint }
}

/// The record to store before an attempt: the enroll key of an earlier attempt with the
/// same assertion, or a new one from `new_key`.
pub fn attempting(
    fingerprint: String,
    previous: Option<&ManagedRecord>,
    new_key: impl FnOnce() -> String,
) -> ManagedRecord {
    let same = previous.filter(|r| r.fingerprint == fingerprint);
    ManagedRecord {
        enroll_key: Some(same.and_then(|r| r.enroll_key.clone()).unwrap_or_else(new_key)),
        attempt: same.map_or(0, |r| r.attempt),
        fingerprint,
        outcome: ManagedOutcome::Retrying,
        error: None,
        binding_id: previous.and_then(|r| r.binding_id.clone()),
        retry_at: None,
    }
}

/// The relay's answer to an enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Enrolled {
        binding_id: String,
    },
    Refused {
        error: String,
    },
    /// No answer, or a 5xx.
    Unreachable,
}

/// The record after an attempt; `previous` is the record before it (the attempt count and,
/// for a retry, the enroll key carry over; an answered assertion needs no key).
pub fn record(
    fingerprint: String,
    answer: Answer,
    previous: Option<&ManagedRecord>,
    now: EpochMs,
    random: u64,
) -> ManagedRecord {
    let same = previous.filter(|r| r.fingerprint == fingerprint);
    let attempt = same.map_or(0, |r| r.attempt);
    let enroll_key = same.and_then(|r| r.enroll_key.clone());
    let held = previous.and_then(|r| r.binding_id.clone());
    // Rate limiting is not a verdict on the assertion (a fleet behind one address enrolls
    // at once): wait and try again, as after an outage.
    let answer = match answer {
        Answer::Refused { error } if error == "rate_limited" => Answer::Unreachable,
        other => other,
    };
    match answer {
        Answer::Enrolled { binding_id } => ManagedRecord {
            fingerprint,
            outcome: ManagedOutcome::Enrolled,
            error: None,
            binding_id: Some(binding_id),
            attempt: 0,
            retry_at: None,
            enroll_key: None,
        },
        Answer::Refused { error } => ManagedRecord {
            fingerprint,
            outcome: ManagedOutcome::Refused,
            error: Some(error),
            binding_id: held,
            attempt: 0,
            retry_at: None,
            enroll_key: None,
        },
        Answer::Unreachable => {
            let attempt = attempt.saturating_add(1);
            // At least a second apart, whatever the jitter drew.
            let retry_at = now + full_jitter_ms(attempt, random).max(1_000);
            ManagedRecord {
                fingerprint,
                outcome: ManagedOutcome::Retrying,
                error: Some("relay_unreachable".into()),
                binding_id: held,
                attempt,
                retry_at: Some(retry_at),
                enroll_key,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use latch_wire::testing::ms;
    use proptest::prelude::*;

    use super::*;

    const ORIGIN: &str = "http://localhost:8787";

    fn policy(assertion: &str) -> ManagedPolicy {
        ManagedPolicy {
            relay_url: Some(format!("{ORIGIN}/")),
            tenant_id: Some("acme".into()),
            assertion: Some(assertion.into()),
        }
    }

    #[test]
    fn a_new_assertion_enrolls_once() {
        let p = policy("a.b.c");
        let Step::Enroll { fingerprint, .. } = decide(&p, None, ORIGIN, ms(0)) else { panic!("enroll") };
        let done = record(fingerprint, Answer::Enrolled { binding_id: "b".into() }, None, ms(0), 0);
        assert_eq!(decide(&p, Some(&done), ORIGIN, ms(1)), Step::Idle, "a restarted worker does not enroll again");
        assert!(
            matches!(decide(&policy("d.e.f"), Some(&done), ORIGIN, ms(1)), Step::Enroll { .. }),
            "a new policy does"
        );
        assert_eq!(decide(&ManagedPolicy::default(), Some(&done), ORIGIN, ms(1)), Step::Idle);
    }

    #[test]
    fn refusals_are_final_and_outages_retry_with_backoff() {
        let p = policy("a.b.c");
        let fp = fingerprint("a.b.c");
        let refused = record(fp.clone(), Answer::Refused { error: "assertion_replayed".into() }, None, ms(0), 0);
        assert_eq!(decide(&p, Some(&refused), ORIGIN, ms(10_000_000)), Step::Idle);
        let down = record(fp.clone(), Answer::Unreachable, None, ms(1_000), u64::MAX);
        let at = down.retry_at.unwrap();
        assert!((ms(2_000)..=ms(2_000 + 1_000)).contains(&at), "{at:?}");
        assert_eq!(decide(&p, Some(&down), ORIGIN, at - 1), Step::Idle);
        assert!(matches!(decide(&p, Some(&down), ORIGIN, at), Step::Enroll { .. }));
        let again = record(fp, Answer::Unreachable, Some(&down), at, u64::MAX);
        assert_eq!(again.attempt, 2);
    }

    #[test]
    fn rate_limiting_is_retried_not_final() {
        let fp = fingerprint("a.b.c");
        let limited = record(fp.clone(), Answer::Refused { error: "rate_limited".into() }, None, ms(0), 0);
        assert_eq!(limited.outcome, ManagedOutcome::Retrying);
        assert!(matches!(
            decide(&policy("a.b.c"), Some(&limited), ORIGIN, limited.retry_at.unwrap()),
            Step::Enroll { .. }
        ));
    }

    #[test]
    fn every_attempt_with_one_assertion_sends_the_same_enroll_key() {
        let fp = fingerprint("a.b.c");
        let first = attempting(fp.clone(), None, || "k1".into());
        assert_eq!((first.outcome, first.enroll_key.as_deref()), (ManagedOutcome::Retrying, Some("k1")));
        let down = record(fp.clone(), Answer::Unreachable, Some(&first), ms(0), 0);
        let second = attempting(fp.clone(), Some(&down), || "k2".into());
        assert_eq!(second.enroll_key.as_deref(), Some("k1"), "kept across attempts and worker restarts");
        assert_eq!(second.attempt, 1);
        let other = attempting(fingerprint("d.e.f"), Some(&down), || "k3".into());
        assert_eq!(other.enroll_key.as_deref(), Some("k3"), "a new assertion, a new key");
        // The binding an earlier enrollment made is remembered until a new one replaces it.
        let done = record(fp.clone(), Answer::Enrolled { binding_id: "b1".into() }, Some(&second), ms(0), 0);
        let next = attempting(fingerprint("g.h.i"), Some(&done), || "k4".into());
        assert_eq!(next.binding_id.as_deref(), Some("b1"));
        let refused = record(fingerprint("g.h.i"), Answer::Refused { error: "x".into() }, Some(&next), ms(0), 0);
        assert_eq!(refused.binding_id.as_deref(), Some("b1"), "a refused policy leaves the held binding known");
        // A worker stopped mid-attempt left the attempting record: the next one retries.
        assert!(matches!(decide(&policy("a.b.c"), Some(&second), ORIGIN, ms(0)), Step::Enroll { .. }));
    }

    #[test]
    fn a_policy_for_another_relay_or_half_set_is_refused() {
        let mut p = policy("a.b.c");
        p.relay_url = Some("https://elsewhere.example".into());
        assert!(matches!(decide(&p, None, ORIGIN, ms(0)), Step::Refuse { error: "policy_wrong_relay", .. }));
        for half in [
            ManagedPolicy { assertion: None, ..policy("x") },
            ManagedPolicy { tenant_id: Some(String::new()), ..policy("x") },
            ManagedPolicy { relay_url: None, tenant_id: None, assertion: Some("x".into()) },
        ] {
            assert!(
                matches!(decide(&half, None, ORIGIN, ms(0)), Step::Refuse { error: "policy_incomplete", .. }),
                "{half:?}"
            );
        }
        assert!(matches!(
            decide(&policy(&"x".repeat(5000)), None, ORIGIN, ms(0)),
            Step::Refuse { error: "malformed_assertion", .. }
        ));
    }

    proptest! {
        /// Whatever happened before, the same assertion is never enrolled twice once an
        /// attempt was answered, and a different assertion is always tried.
        #[test]
        fn answered_assertions_are_never_retried(a in "[a-z.]{1,40}", b in "[a-z.]{1,40}", now in (0u64..1 << 50).prop_map(ms), refused in any::<bool>()) {
            let answer = if refused { Answer::Refused { error: "x".into() } } else { Answer::Enrolled { binding_id: "b".into() } };
            let r = record(fingerprint(&a), answer, None, now, 0);
            prop_assert_eq!(decide(&policy(&a), Some(&r), ORIGIN, now + (1 << 40)), Step::Idle);
            if fingerprint(&a) != fingerprint(&b) {
                let enrolls = matches!(decide(&policy(&b), Some(&r), ORIGIN, now), Step::Enroll { .. });
                prop_assert!(enrolls);
            }
        }
    }
}
