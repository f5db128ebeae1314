//! Properties: the machine against a model of the sockets it opened.

use super::*;

#[derive(Debug, Clone)]
enum Step {
    /// Stored bindings: (which, needs repair, paused).
    Sync(Vec<(u8, bool, bool)>),
    Opened(u8),
    Frame(u8, u8),
    Closed(u8, u8),
    AuthToken(u8, bool),
    Refreshed(u8),
    RefreshEnded(u8, bool),
    Disconnect(u8),
    /// Time passes; every wake-up due by then comes.
    Tick(u64),
    /// A wake-up nobody asked for (a timer from an earlier worker, say).
    Stray(u64),
}

const BINDINGS: u8 = 3;

fn step() -> impl Strategy<Value = Step> {
    let b = 0..BINDINGS;
    let conn = any::<u8>();
    prop_oneof![
        proptest::collection::vec((0..BINDINGS, proptest::bool::weighted(0.2), proptest::bool::weighted(0.2)), 0..4)
            .prop_map(Step::Sync),
        conn.prop_map(Step::Opened),
        (conn, 0..6u8).prop_map(|(c, f)| Step::Frame(c, f)),
        (conn, 0..7u8).prop_map(|(c, k)| Step::Closed(c, k)),
        (conn, any::<bool>()).prop_map(|(c, t)| Step::AuthToken(c, t)),
        b.clone().prop_map(Step::Refreshed),
        (b.clone(), any::<bool>()).prop_map(|(b, ok)| Step::RefreshEnded(b, ok)),
        b.prop_map(Step::Disconnect),
        (0..400_000u64).prop_map(Step::Tick),
        (0..400_000u64).prop_map(Step::Stray),
    ]
}

fn binding(n: u8) -> String {
    format!("b{n}")
}

fn frame(kind: u8) -> ServerFrame {
    match kind {
        0 => hello(),
        1 => ack(),
        2 => ServerFrame::Error { code: "invalid_access_token".into() },
        3 => ServerFrame::Errand { id: "e".into(), kind: "ping".into(), params: Default::default() },
        4 => ServerFrame::Errand { id: "e".into(), kind: "other".into(), params: Default::default() },
        _ => ServerFrame::Pong,
    }
}

fn close(kind: u8) -> (u16, &'static str) {
    [
        (CLOSE_REFUSED, "binding_revoked"),
        (CLOSE_REFUSED, "invalid_access_token"),
        (CLOSE_TOKEN_EXPIRED, "access_token_expired"),
        (CLOSE_REPLACED, "replaced"),
        (1006, ""),
        (1001, "relay_restarting"),
        (CLOSE_REFUSED, "binding_paused"),
    ][kind as usize % 7]
}

/// What the driver would hold: sockets opened and not yet closed, by number.
#[derive(Default)]
struct Model {
    open: std::collections::BTreeMap<Conn, String>,
    /// Every socket ever opened (events of closed ones must change nothing).
    all: Vec<Conn>,
    /// Bindings the last Sync named and nothing removed since.
    allowed: Vec<String>,
    /// Sockets an `auth` was sent on.
    authed: Vec<Conn>,
    /// Sockets whose `auth_ack` came after their `auth` and that have not closed.
    acked: Vec<Conn>,
    /// Wake-ups asked for and not yet delivered.
    timers: Vec<EpochMs>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sockets_stay_one_per_binding_and_stale_events_change_nothing(
        steps in proptest::collection::vec(step(), 1..120),
        seed in any::<u64>(),
    ) {
        let mut links = Links::new(seed);
        let mut model = Model::default();
        let mut now = T0;
        for step in steps {
            let pick = |n: u8| model.all.get(n as usize % model.all.len().max(1)).copied();
            let (event, current) = match step {
                Step::Sync(list) => {
                    let list: Vec<Paired> = list
                        .iter()
                        .map(|(b, r, p)| Paired { needs_repair: *r, paused: *p, ..paired(&binding(*b)) })
                        .collect();
                    // A binding named twice: the first entry counts (on_sync keeps the first).
                    let mut seen = Vec::new();
                    model.allowed = list
                        .iter()
                        .filter(|p| if seen.contains(&p.binding_id) { false } else { seen.push(p.binding_id.clone()); true })
                        .filter(|p| p.wants_socket())
                        .map(|p| p.binding_id.clone())
                        .collect();
                    (Event::Sync(list), None)
                }
                Step::Opened(c) => match pick(c) { Some(conn) => (Event::Opened { conn }, Some(conn)), None => continue },
                Step::Frame(c, f) => match pick(c) { Some(conn) => (Event::Frame { conn, frame: frame(f) }, Some(conn)), None => continue },
                Step::Closed(c, k) => match pick(c) {
                    // The environment closes only sockets that are open.
                    Some(conn) if model.open.contains_key(&conn) => {
                        let (code, reason) = close(k);
                        model.open.remove(&conn);
                        model.acked.retain(|c| *c != conn);
                        model.authed.retain(|c| *c != conn);
                        (Event::Closed { conn, code, reason: reason.into() }, Some(conn))
                    }
                    _ => continue,
                },
                Step::AuthToken(c, t) => match pick(c) {
                    Some(conn) => (Event::AuthToken { conn, token: t.then(|| "at".to_owned()), proof: String::new() }, Some(conn)),
                    None => continue,
                },
                Step::Refreshed(b) => (Event::Refreshed { binding_id: binding(b), access_token: "at2".into(), proof: String::new() }, None),
                Step::RefreshEnded(b, ok) => (Event::RefreshEnded { binding_id: binding(b), ok }, None),
                Step::Disconnect(b) => {
                    model.allowed.retain(|x| *x != binding(b));
                    (Event::Disconnect { binding_id: binding(b) }, None)
                }
                Step::Tick(dt) => {
                    now += dt;
                    model.timers.sort_unstable();
                    match model.timers.first().copied().filter(|t| *t <= now) {
                        Some(at) => {
                            model.timers.remove(0);
                            (Event::Woken { at, paired: None }, None)
                        }
                        None => continue,
                    }
                }
                Step::Stray(at) => (Event::Woken { at: T0 + at, paired: None }, None),
            };
            let stale = current.is_some_and(|c| links.binding_of(c).is_none());
            let acking = matches!(&event, Event::Frame { frame: ServerFrame::AuthAck { .. }, .. });
            let refreshed = matches!(&event, Event::Refreshed { .. });
            let actions = links.handle(event, now);
            if stale {
                prop_assert!(actions.iter().all(|a| matches!(a, Action::WakeAt(_))), "stale event acted: {actions:?}");
            }
            if let Some(conn) = current.filter(|c| acking && !stale && model.authed.contains(c)) {
                model.acked.push(conn);
            }
            prop_assert!(actions.iter().filter(|a| matches!(a, Action::WakeAt(_))).count() <= 1);
            for action in &actions {
                match action {
                    Action::Open { binding_id, conn } => {
                        prop_assert!(model.allowed.contains(binding_id), "opened {binding_id} which may not have a socket");
                        model.open.insert(*conn, binding_id.clone());
                        model.all.push(*conn);
                    }
                    Action::Close { conn } => {
                        prop_assert!(model.open.remove(conn).is_some(), "closed a socket that is not open");
                        model.acked.retain(|c| c != conn);
                        model.authed.retain(|c| c != conn);
                    }
                    Action::Send { conn, frame } => {
                        prop_assert!(model.open.contains_key(conn), "sent on a closed socket");
                        if matches!(frame, ClientFrame::Auth { .. }) {
                            model.authed.push(*conn);
                        }
                        if refreshed {
                            prop_assert!(matches!(frame, ClientFrame::Auth { .. }) && model.acked.contains(conn), "re-auth on an unacknowledged socket");
                        }
                    }
                    Action::Forget { binding_id } | Action::MarkPaused { binding_id } => {
                        model.allowed.retain(|b| b != binding_id)
                    }
                    Action::WakeAt(at) => model.timers.push(*at),
                    _ => {}
                }
            }
            // Whatever is due has its wake-up asked for, and timers don't multiply.
            if let Some(deadline) = links.earliest_deadline() {
                let pending = links.wake_at.expect("a deadline without a wake-up");
                prop_assert!(pending <= deadline && model.timers.contains(&pending), "{pending:?} {deadline:?} {:?}", model.timers);
            }
            prop_assert!(model.timers.len() <= 8, "timers multiply: {:?}", model.timers);
            // No socket outlives its binding's right to one (removed, paused, needs re-pair).
            for (conn, b) in model.open.iter() {
                prop_assert!(model.allowed.contains(b), "socket {conn} of {b} left open");
            }
            // One socket per binding, and the machine's current sockets are exactly the open ones.
            let mut per_binding: Vec<&String> = model.open.values().collect();
            per_binding.sort();
            let before = per_binding.len();
            per_binding.dedup();
            prop_assert_eq!(before, per_binding.len(), "two sockets of one binding");
            for (conn, b) in model.open.iter() {
                let current = links.binding_of(*conn);
                prop_assert_eq!(current.as_ref(), Some(b));
            }
        }
    }

    #[test]
    fn a_closed_binding_reconnects_within_its_bound(kind in 1..6u8, failures in 0..12u32, seed in any::<u64>()) {
        let mut links = Links::new(seed);
        let mut now = T0;
        // The wake-up last asked for: the driver's one live timer.
        let mut timer = None;
        let take = |out: &[Action], timer: &mut Option<EpochMs>| {
            if let Some(t) = wake(out) {
                *timer = Some(t);
            }
        };
        let mut conn = opens(&links.handle(Event::Sync(vec![paired("b1")]), now))[0].1;
        // `failures` failed connections first: the backoff grows to its cap.
        for _ in 0..failures {
            let out = links.handle(Event::Closed { conn, code: 1006, reason: String::new() }, now);
            take(&out, &mut timer);
            let at = timer.take().expect("a reconnect is asked for");
            prop_assert!(at >= now, "time only moves forward");
            now = at;
            let out = links.handle(Event::Woken { at, paired: None }, now);
            take(&out, &mut timer);
            conn = opens(&out).first().map(|o| o.1).expect("reopened at the wake-up");
        }
        let (code, reason) = close(kind);
        let mut out = links.handle(Event::Closed { conn, code, reason: reason.into() }, now);
        let bound = match code {
            CLOSE_REPLACED => REPLACED_RECONNECT_MS,
            CLOSE_TOKEN_EXPIRED => {
                prop_assert_eq!(&out, &[Action::RefreshThenReport { binding_id: "b1".into() }]);
                out = links.handle(Event::RefreshEnded { binding_id: "b1".into(), ok: false }, now);
                prop_assert!(opens(&out).is_empty());
                CAP_MS
            }
            _ => CAP_MS,
        };
        take(&out, &mut timer);
        let closed_at = now;
        let mut reopened = None;
        while let Some(at) = timer.take().filter(|t| *t <= closed_at + bound) {
            prop_assert!(at >= now, "time only moves forward");
            now = at;
            let out = links.handle(Event::Woken { at, paired: None }, now);
            if let Some(o) = opens(&out).first() {
                reopened = Some((o.1, now));
                break;
            }
            take(&out, &mut timer);
        }
        let (_, when) = reopened.expect("reconnected within the bound");
        prop_assert!(when.ms_since(closed_at) <= bound && when.ms_since(closed_at) >= MIN_RECONNECT_MS.min(bound));
    }
}
