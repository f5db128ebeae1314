use super::*;
use latch_wire::EpochMs;
use proptest::prelude::*;

const T0: EpochMs = EpochMs::from_ms(1_800_000_000_000);
const MIN: u64 = 60_000;

fn tick(s: &mut Scheduler, now: EpochMs, obtained: EpochMs, expires: EpochMs) -> Vec<Action> {
    s.handle(Event::Tick { bindings: vec![("b".into(), obtained, expires, false)] }, now)
}

#[test]
fn due_is_ahead_of_expiry() {
    assert_eq!(due_at(T0, T0 + 15 * MIN), T0 + 14 * MIN, "15-minute tokens: one minute early");
    assert_eq!(due_at(T0, T0 + 6_000), T0 + 4_000, "short tokens: a third of their life early");
    assert_eq!(due_at(T0, T0), T0);
}

#[test]
fn refreshes_when_due_and_schedules_otherwise() {
    let mut s = Scheduler::new(1);
    assert_eq!(tick(&mut s, T0, T0, T0 + 15 * MIN), vec![Action::Schedule(T0 + 14 * MIN)]);
    assert_eq!(tick(&mut s, T0 + 14 * MIN, T0, T0 + 15 * MIN), vec![Action::Refresh { binding_id: "b".into() }]);
    assert!(s.in_flight("b"));
    // A second tick or a caller while in flight: no second refresh.
    assert!(tick(&mut s, T0 + 14 * MIN + 1, T0, T0 + 15 * MIN).is_empty());
    assert!(s.handle(Event::Needed { binding_id: "b".into() }, T0).is_empty());
    let a = s.handle(Event::Refreshed { binding_id: "b".into(), expires_at: T0 + 30 * MIN }, T0 + 14 * MIN);
    // The new token's refresh is scheduled with it: no other wake-up is armed any more.
    assert_eq!(a, vec![Action::Release { binding_id: "b".into(), ok: true }, Action::Schedule(T0 + 29 * MIN)]);
}

#[test]
fn rejection_marks_needs_repair_and_stops() {
    let mut s = Scheduler::new(1);
    s.handle(Event::Needed { binding_id: "b".into() }, T0);
    let a = s.handle(Event::Rejected { binding_id: "b".into(), error: "refresh_token_revoked".into() }, T0);
    assert!(a.contains(&Action::MarkNeedsRepair { binding_id: "b".into(), error: "refresh_token_revoked".into() }));
    let a = s.handle(Event::Tick { bindings: vec![("b".into(), T0, T0, true)] }, T0 + MIN);
    assert!(a.is_empty(), "a binding that needs re-pair is left alone");
}

#[test]
fn failures_back_off() {
    let mut s = Scheduler::new(3);
    s.handle(Event::Needed { binding_id: "b".into() }, T0);
    let a = s.handle(Event::Failed { binding_id: "b".into() }, T0);
    let Some(Action::Schedule(at)) = a.first().cloned() else { panic!("{a:?}") };
    assert!((T0 + 1_000..=T0 + 1_000 + 1_000).contains(&at), "{}", at.ms_since(T0));
    assert!(tick(&mut s, at - 1, T0, T0).iter().all(|x| matches!(x, Action::Schedule(_))));
    assert_eq!(tick(&mut s, at, T0, T0), vec![Action::Refresh { binding_id: "b".into() }]);
}

#[derive(Debug, Clone)]
enum Op {
    Tick(u64),
    Needed,
    Answer(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![(0u64..120_000).prop_map(Op::Tick), Just(Op::Needed), (0u8..4).prop_map(Op::Answer),]
}

proptest! {
    /// With an injected clock and any interleaving of ticks, callers and answers: at most
    /// one refresh in flight; no scheduled refresh before it is due (callers aside); the
    /// token is refreshed before it expires whenever the relay answers; a rejection marks
    /// the binding and never deletes it; every release matches a refresh; and once ticking,
    /// a wake-up is always armed for a binding that is neither refreshing nor marked (the
    /// driver ticks only when one fires, or on other events it can't count on).
    #[test]
    fn single_flight_and_schedule_hold(ops in proptest::collection::vec(op(), 1..200), seed in any::<u64>()) {
        let mut s = Scheduler::new(seed);
        let mut now = T0;
        let (mut obtained, mut expires) = (T0, T0 + 15 * MIN);
        let mut in_flight = false;
        let mut forced = false;
        let mut needs_repair = false;
        let mut refreshes = 0usize;
        let mut releases = 0usize;
        let mut armed: Option<EpochMs> = None;
        let mut ticking = false;
        for op in ops {
            let actions = match op {
                Op::Tick(dt) => {
                    now += dt;
                    ticking = true;
                    // A tick at or after the armed time is that wake-up firing.
                    armed = armed.filter(|&at| at > now);
                    s.handle(Event::Tick { bindings: vec![("b".into(), obtained, expires, needs_repair)] }, now)
                }
                Op::Needed => { forced = true; s.handle(Event::Needed { binding_id: "b".into() }, now) }
                Op::Answer(kind) if in_flight => {
                    now += 50;
                    in_flight = false;
                    match kind {
                        0 | 1 => { obtained = now; expires = now + 15 * MIN; s.handle(Event::Refreshed { binding_id: "b".into(), expires_at: expires }, now) }
                        2 => s.handle(Event::Failed { binding_id: "b".into() }, now),
                        _ => s.handle(Event::Rejected { binding_id: "b".into(), error: "refresh_token_revoked".into() }, now),
                    }
                }
                Op::Answer(_) => Vec::new(),
            };
            for a in actions {
                match a {
                    Action::Refresh { .. } => {
                        prop_assert!(!in_flight, "two refreshes in flight");
                        prop_assert!(!needs_repair || forced, "refreshing a binding that needs re-pair");
                        prop_assert!(forced || now >= due_at(obtained, expires) || s.slots.get("b").is_some_and(|x| x.failures > 0), "refreshed before due");
                        in_flight = true;
                        forced = false;
                        refreshes += 1;
                    }
                    Action::MarkNeedsRepair { .. } => needs_repair = true,
                    Action::Release { .. } => releases += 1,
                    Action::Schedule(at) => {
                        prop_assert!(at >= now);
                        armed = Some(armed.map_or(at, |a| a.min(at)));
                    }
                }
            }
            prop_assert_eq!(s.in_flight("b"), in_flight);
            prop_assert!(!ticking || in_flight || needs_repair || armed.is_some(), "no wake-up armed for a healthy binding");
        }
        prop_assert!(releases <= refreshes);
    }
}
