//! Restoring a stored challenge in a fresh worker, bounded reissues, and waits a hostile
//! relay or corrupted storage asks for.

use super::*;

fn stored(next_poll_at: EpochMs, expires_at: EpochMs) -> StoredChallenge {
    StoredChallenge {
        challenge_id: Some("c1".into()),
        code: Some("ABCD2345".into()),
        expires_at,
        next_poll_at,
        attempt: 0,
        interval_ms: 5_000,
        last_poll_at: Some(next_poll_at - 5_000),
        reissues: 0,
        prompt: None,
        confirm_key: None,
        url: None,
    }
}

#[test]
fn restore_follows_the_recovery_rules() {
    // Nothing stored: nothing to do.
    assert!(Poller::new(1).handle(Event::Restored(None), T0).is_empty());
    // Orphaned metadata (an id without a code, or the requesting marker): ask again.
    let mut orphan = stored(T0, T0 + 100_000);
    orphan.code = None;
    assert_eq!(requests(&Poller::new(1).handle(Event::Restored(Some(orphan)), T0)), 1);
    // Expired by the local clock: reissue immediately.
    assert_eq!(requests(&Poller::new(1).handle(Event::Restored(Some(stored(T0 - 10, T0))), T0)), 1);
    // Due: poll now. Not yet due: schedule.
    assert_eq!(polls(&Poller::new(1).handle(Event::Restored(Some(stored(T0, T0 + 100_000))), T0)).len(), 1);
    let a = Poller::new(1).handle(Event::Restored(Some(stored(T0 + 3_000, T0 + 100_000))), T0);
    assert_eq!(scheduled(&a), Some(T0 + 3_000));
    // The clock jumped backwards an hour: wait one interval from now, not an hour.
    let a = Poller::new(1).handle(Event::Restored(Some(stored(T0 + 3_600_000, T0 + 3_700_000))), T0);
    assert_eq!(scheduled(&a), Some(T0 + 5_000));
}

#[test]
fn reissues_are_bounded() {
    let mut p = started();
    let mut now = T0;
    for i in 0..=MAX_REISSUES {
        p.handle(Event::Issued(issued(&format!("c{i}"), now)), now);
        now += 1;
        p.handle(status(ChallengeStatus::Expired), now);
    }
    assert_eq!(p.view(now).state, ViewState::Expired);
    assert!(p.is_done());
    // The user can start again.
    assert_eq!(requests(&p.handle(Event::Started, now)), 1);
}

/// Found by the `challenge` fuzzer: a relay (or corrupted storage) asking for an absurd
/// interval or wait overflowed the schedule. Every wait is now bounded by the challenge life.
#[test]
fn hostile_waits_are_bounded_not_overflowed() {
    let mut p = started();
    let huge = ChallengeIssued { interval: u64::MAX, expires_at: EpochMs::MAX, ..issued("c1", T0) };
    p.handle(Event::Issued(huge), T0);
    let slow =
        Event::TooMany { error: "slow_down".into(), retry_after_ms: Some(u64::MAX), interval_ms: Some(u64::MAX) };
    let at = scheduled(&p.handle(slow, T0)).expect("a next poll");
    assert!(at <= T0 + MAX_WAIT_MS, "next poll {} ms away", at.ms_since(T0));
    let mut corrupt = stored(EpochMs::MAX, EpochMs::MAX);
    corrupt.interval_ms = u64::MAX;
    corrupt.reissues = u32::MAX;
    corrupt.attempt = u32::MAX;
    corrupt.last_poll_at = Some(EpochMs::MAX);
    let mut fresh = Poller::new(2);
    for a in fresh.handle(Event::Restored(Some(corrupt)), T0) {
        if let Action::Schedule(t) = a {
            assert!(t <= T0 + MAX_WAIT_MS);
        }
    }
    fresh.handle(Event::ServerError, T0);
    fresh.handle(Event::Tick, T0 + MAX_WAIT_MS);
}
